"""Syncs against the sandbox platform: a 20,000-follower OA sync through an expired token and a
burst of 45009, incremental re-runs, a token that never works, WeCom contacts with staff,
follow info and tags, Mini Program analysis, Douyin fans, and the Beat tasks."""

import math
import time
from unittest import mock

import pytest
from celery.exceptions import Retry
from django.db.models import Count
from django.utils import timezone

from channels.choices import SyncStatus, TokenState
from channels.models import GroupChat, Staff
from channels.syncs import account_sync
from channels.tasks import (
    account_sync_task,
    accounts_due,
    reconcile_task,
    sync_due_accounts_task,
)
from config.periodic import PERIODIC_TASKS
from customers.ingest import events_ingest
from customers.models import Customer, Event, Identity
from tags.models import CustomerTag, TagSource

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.channels.test_adapters"]  # the sandbox fixtures

BATCHGET = "/cgi-bin/user/info/batchget"


def follow_events(account, name: str) -> int:
    return Event.objects.filter(channel_account=account, name=name).count()


def test_20k_followers_through_token_expiry_and_rate_limits(sandbox, account):
    oa = account("wechat_oa", "oa", followers=20_000)
    sandbox.fault(appid=oa.app_id, path=BATCHGET, errcode=40001, times=1)
    sandbox.fault(appid=oa.app_id, path=BATCHGET, errcode=45009, times=3)

    started = time.monotonic()
    run = account_sync(account=oa, kind="followers")
    seconds = time.monotonic() - started
    print(f"\n20k follower sync: {seconds:.1f} s, {run.api_calls} calls, {run.retries} retries")

    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert (run.fetched, run.created) == (20_000, 20_000)
    calls = sandbox.calls(oa.app_id)
    # 2 pages of openids, 200 batchgets + 4 refused, 2 tokens (the first, the refresh), tags
    assert calls == {"/cgi-bin/token": 2, "/cgi-bin/user/get": 2, BATCHGET: 204,
                     "/cgi-bin/tags/get": 1}  # fmt: skip
    assert run.api_calls == sum(calls.values()) and run.retries == 4
    assert Identity.objects.filter(scope=oa.code, kind="wechat_openid").count() == 20_000
    assert Identity.objects.filter(kind="wechat_unionid").count() == 20_000
    assert Customer.objects.count() == 20_000
    assert follow_events(oa, "subscribe") == 20_000
    assert Customer.objects.exclude(city="").count() == 20_000  # profiles filled
    assert CustomerTag.objects.filter(source=TagSource.CHANNEL_SYNC).count() > 10_000
    oa.refresh_from_db()
    assert oa.token_state == TokenState.OK and oa.last_sync_at and not oa.last_error
    assert seconds < 120  # about 10–25 s here (SQLite and PostgreSQL), a guard against N+1s

    # between two syncs: 30 follow, 10 leave
    changes = sandbox.mutate(oa.app_id, follow=30, unfollow=10)
    second = account_sync(account=oa, kind="followers")
    assert second.status == SyncStatus.SUCCEEDED, second.error
    assert sandbox.calls(oa.app_id)[BATCHGET] - 204 == math.ceil(30 / 100)
    assert (second.created, second.updated) == (30, 10)
    assert second.cursor["unfollowed"] == 10 and second.cursor["new"] == 30
    gone = Event.objects.filter(channel_account=oa, name="unsubscribe")
    assert set(gone.values_list("source_id", flat=True)) == {
        f"unfollow:{o}" for o in changes["unfollowed"]
    }
    assert Customer.objects.count() == 20_030

    # nothing changed: no user info, no events
    third = account_sync(account=oa, kind="followers")
    assert sandbox.calls(oa.app_id)[BATCHGET] == 205
    assert (third.created, third.updated) == (0, 0)
    assert follow_events(oa, "subscribe") == 20_030 and gone.count() == 10


def callback_event(account, name: str, identity: tuple[str, str], **properties) -> None:
    """An event as the callback handlers record it (their own source id)."""
    kind, value = identity
    result = events_ingest(
        rows=[{"event_id": f"callback:{name}:{value}", "name": name, "channel": account.code,
               "occurred_at": timezone.now().isoformat(), "properties": properties,
               "identities": [{"kind": kind, "value": value, "scope": account.code}]}]
    )  # fmt: skip
    assert result.accepted == 1, result.errors


def test_refollow_and_full_refresh(sandbox, account, callback_sink):
    oa = account("wechat_oa", "oa", followers=120)
    account_sync(account=oa, kind="followers")
    leaver, told = sandbox.mutate(oa.app_id, unfollow=2)["unfollowed"]
    callback_event(oa, "unsubscribe", ("wechat_openid", told))  # this callback came
    assert account_sync(account=oa, kind="followers").cursor["unfollowed"] == 1
    sandbox.tenant(oa.app_id, token="cb", callback_url=callback_sink)
    sandbox.simulate(oa.app_id, "subscribe", openid=leaver)  # back, and we missed the callback
    back = account_sync(account=oa, kind="followers")
    assert back.cursor["returned"] == 1
    assert set(
        Event.objects.filter(channel_account=oa, source_id__contains=leaver).values_list(
            "source_id", flat=True
        )
    ) == {f"follow:{leaver}", f"unfollow:{leaver}", f"follow:{leaver}:2"}

    sandbox.mutate(oa.app_id, update=5)  # new tags on the platform
    before = sandbox.calls(oa.app_id)[BATCHGET]
    full = account_sync(account=oa, kind="reconcile")
    assert full.status == SyncStatus.SUCCEEDED and full.full
    assert sandbox.calls(oa.app_id)[BATCHGET] - before == 2  # everyone's user info again
    assert (full.fetched, full.updated, full.created) == (119, 119, 0)  # 120 - 2 + 1


def test_persistent_token_failure_ends_the_run(sandbox, account):
    oa = account("wechat_oa", "oa", followers=50)
    sandbox.fault(appid=oa.app_id, path="*", errcode=40001)
    run = account_sync(account=oa, kind="followers")
    assert run.status == SyncStatus.FAILED and run.finished_at
    assert "40001" in run.error and "still refused after a new token" in run.error
    assert run.api_calls == 4 and run.retries == 1  # token, call, new token, call
    oa.refresh_from_db()
    assert oa.token_state == TokenState.FAILED and "40001" in oa.last_error


def test_transient_errors_are_retried_then_raised_for_the_task(sandbox, account):
    oa = account("wechat_oa", "oa", followers=50)
    sandbox.fault(appid=oa.app_id, path="/cgi-bin/user/get", status=502)
    with pytest.raises(Exception) as raised:
        account_sync(account=oa, kind="followers", raise_transient=True)
    assert raised.value.code == -1
    run = oa.sync_runs.get()
    assert run.status == SyncStatus.FAILED and run.retries == 2  # three tries in all


def test_wecom_contacts_with_staff_follow_info_tags_and_groups(sandbox, account):
    corp = account("wecom", "wecom", staff=3, contacts=50, groups=2, seed=7)
    first = sandbox.state(corp.app_id)["recent_follows"][0]
    callback_event(  # the callback of one add came before the sync
        corp, "add_external_contact", ("wecom_external_userid", first["external_userid"]),
        staff=first["userid"], state="",
    )  # fmt: skip
    run = account_sync(account=corp, kind="contacts")
    assert run.status == SyncStatus.SUCCEEDED, run.error
    staff = dict(Staff.objects.filter(account=corp).values_list("userid", "name"))
    assert len(staff) == 3 and all(staff.values())
    contacts = Identity.objects.filter(kind="wecom_external_userid", scope=corp.code)
    assert contacts.count() == 50 and run.created == 49
    assert Identity.objects.filter(kind="wechat_unionid").count() == 50
    adds = Event.objects.filter(channel_account=corp, name="add_external_contact")
    assert adds.count() == 55  # every tenth contact is kept by two staff; one add came before
    assert set(adds.values_list("properties__staff", flat=True)) == set(staff)
    assert adds.filter(properties__has_key="state").count() == 55
    tagged = CustomerTag.objects.filter(source=TagSource.CHANNEL_SYNC, source_ref=corp.code)
    assert tagged.values("customer").distinct().count() == 50
    assert set(tagged.values_list("tag__group__name", flat=True)) == {f"{corp.name}标签"}
    groups = GroupChat.objects.filter(account=corp)
    assert groups.count() == 2 and all(g.member_count > 1 for g in groups)

    again = account_sync(account=corp, kind="contacts")
    assert (again.created, again.updated) == (0, 0) and adds.count() == 55
    left = sandbox.mutate(corp.app_id, follow=2, unfollow=4)
    third = account_sync(account=corp, kind="contacts")
    assert (third.created, third.updated) == (2, 4)
    lost = Event.objects.filter(channel_account=corp, name="del_external_contact")
    assert lost.count() == 4
    lost_customers = set(lost.values_list("customer", flat=True))
    assert lost_customers == set(
        Identity.objects.filter(value__in=left["unfollowed"]).values_list("customer", flat=True)
    )


def test_one_person_across_oa_and_wecom(sandbox, account):
    oa = account("wechat_oa", "oa", followers=30, seed=3)
    corp = account("wecom", "wecom", staff=2, contacts=30, seed=3)
    account_sync(account=oa, kind="followers")
    account_sync(account=corp, kind="contacts")
    assert Customer.objects.count() == 30  # the unionid joined follower n and contact n
    kinds = Customer.objects.annotate(n=Count("identities")).values_list("n", flat=True)
    assert set(kinds) == {3}


def test_mini_program_analysis(sandbox, account):
    mini = account("wechat_mini", "mini")
    run = account_sync(account=mini, kind="analysis")
    assert run.status == SyncStatus.SUCCEEDED, run.error
    mini.refresh_from_db()
    days = mini.sync_cursor["analysis"]
    assert len(days) == run.created == 30
    latest = days[max(days)]
    assert latest["visits"]["visit_uv"] >= latest["visits"]["visit_uv_new"]
    assert latest["retention"]["visit_uv"]["0"] > 0
    again = account_sync(account=mini, kind="analysis")
    assert again.fetched == 0 and again.api_calls == 0


def test_douyin_fans_videos_and_comments(sandbox, account):
    douyin = account("douyin", "douyin", followers=45, videos=3)
    douyin.options = {"open_id": sandbox.state(douyin.app_id)["open_id"]}
    douyin.save(update_fields=["options"])
    run = account_sync(account=douyin, kind="fans")
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert Identity.objects.filter(kind="douyin_open_id", scope=douyin.code).count() == 45
    assert follow_events(douyin, "subscribe") == 45
    comments = follow_events(douyin, "comment")
    douyin.refresh_from_db()
    videos = douyin.sync_cursor["videos"]
    assert len(videos) == 3 and comments == sum(v["comment_count"] for v in videos.values())

    sandbox.mutate(douyin.app_id, follow=2, unfollow=1)  # and a new comment on each video
    again = account_sync(account=douyin, kind="fans")
    assert (again.created, again.updated) == (2, 1)
    assert follow_events(douyin, "comment") == comments + 3


def test_beat_tasks_start_due_syncs_and_the_nightly_reconcile(
    sandbox, account, django_capture_on_commit_callbacks
):
    assert PERIODIC_TASKS["channels: sync due accounts (every 5 minutes)"][1] == {"minute": "*/5"}
    assert PERIODIC_TASKS["channels: reconcile (nightly)"][:2] == (
        "channels.reconcile",
        {"minute": "0", "hour": "4"},
    )
    mini = account("wechat_mini", "mini")
    oa = account("wechat_oa", "oa", followers=10)
    account("sms", "sms")
    assert {a.code for a in accounts_due()} == {"mini", "oa"}
    with django_capture_on_commit_callbacks(execute=True):
        assert sync_due_accounts_task.delay().get() == 2  # eager: the syncs run
    assert {r.kind for r in mini.sync_runs.all()} == {"analysis"}
    assert accounts_due() == []
    with (
        mock.patch("channels.tasks.account_sync_task.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert reconcile_task.delay().get() == 1
    delay.assert_called_once_with(oa.pk, "reconcile")


def test_sync_task_retries_only_transient_errors_and_a_bounded_number_of_times(sandbox, account):
    assert (account_sync_task.max_retries, account_sync_task.retry_backoff) == (3, 60)
    oa = account("wechat_oa", "oa", followers=10)
    sandbox.fault(appid=oa.app_id, path="/cgi-bin/user/get", status=503)
    with pytest.raises(Retry):  # a worker would run it again later, up to three times
        account_sync_task.delay(oa.pk, "followers").get()
    sandbox.clear_faults()
    sandbox.fault(appid=oa.app_id, path="*", errcode=40001)  # permanent: no retry
    account_sync_task.delay(oa.pk, "followers").get()
    assert list(oa.sync_runs.values_list("status", flat=True)) == [SyncStatus.FAILED] * 2
