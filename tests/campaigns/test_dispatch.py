"""Dispatch against the sandbox platform: each recipient messaged once, results per row,
platform rules as skip reasons, pause and cancel, finished runs, stale claims."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import dispatch
from campaigns.choices import DeliveryStatus, PushStatus, RunStatus, SkipReason
from campaigns.dispatch import (
    deliveries_sweep,
    dispatch_run_task,
    run_dispatch,
    sweep_deliveries_task,
)
from campaigns.models import ContentItem, ContentVariant, Delivery, Push, PushRun
from channels.adapters import adapter_for
from channels.sandbox.client import SandboxControl
from channels.services import channel_account_create
from customers.models import Customer
from tags.models import Audience
from tests.conftest import sms_account

pytestmark = pytest.mark.django_db

SIGNATURE = "【茶小满】"


def oa_account(sandbox: SandboxControl, followers: int):
    """A sandbox OA with followers; returns the account and their openids."""
    app_id = f"wx-{uuid.uuid4().hex[:10]}"
    sandbox.tenant(app_id, kind="wechat_oa", secret="s", followers=followers)
    account = channel_account_create(
        kind="wechat_oa", code=app_id, name="公众号", app_id=app_id, secret="s", sandbox=True,
        api_base_url=sandbox.base_url, rate_limit=100_000,
    )  # fmt: skip
    return account, adapter_for(account).follower_openids()


def run_build(recipients: dict, *, core_text: str = "{{ name }}，春茶上新", variants=None):
    """A sending run of a push with a pending delivery per (account, recipient): one new
    customer each, named after the recipient. `variants`: {kind: fields}."""
    content = ContentItem.objects.create(name="春茶", core_text=core_text)
    for kind, fields in (variants or {}).items():
        ContentVariant.objects.create(content=content, channel_kind=kind, fields=fields)
    audience = Audience.objects.create(name=f"人群 {uuid.uuid4().hex[:6]}", definition={})
    push = Push.objects.create(
        name="春茶推送", audience=audience, content=content, status=PushStatus.RUNNING
    )
    run = PushRun.objects.create(push=push, status=RunStatus.SENDING)
    pairs = [(account, to) for account, tos in recipients.items() for to in tos]
    customers = Customer.objects.bulk_create(Customer(name=f"客户{to}") for _a, to in pairs)
    Delivery.objects.bulk_create(
        Delivery(run=run, customer=c, channel_account=account, recipient=to)
        for c, (account, to) in zip(customers, pairs, strict=True)
    )
    run.planned = len(pairs)
    run.save(update_fields=["planned"])
    return run


def phones(n: int, start: int = 0) -> list[str]:
    return [f"138{i:08d}" for i in range(start, start + n)]


def statuses(run) -> dict[str, int]:
    rows = Delivery.objects.filter(run=run).values_list("status", flat=True)
    return {s: list(rows).count(s) for s in set(rows)}


def test_each_recipient_is_messaged_once_by_sms_and_oa_mass(sandbox):
    sms = sms_account(sandbox.base_url)
    oa, openids = oa_account(sandbox, followers=12)
    run = run_build(
        {sms: phones(23), oa: openids}, variants={"wechat_oa": {"text": "春茶上新，点击查看"}}
    )

    assert run_dispatch(run=run, batch=7) == 35

    texts = {m["to"]: m["text"] for m in sandbox.messages(appid=sms.app_id, kind="sms")}
    assert sorted(texts) == phones(23)
    assert len(sandbox.messages(appid=sms.app_id)) == 23
    assert texts[phones(1)[0]] == f"{SIGNATURE}客户{phones(1)[0]}，春茶上新"
    mass = sandbox.messages(appid=oa.app_id, kind="mass")
    assert sorted(m["to"] for m in mass) == sorted(openids)
    assert {m["text"] for m in mass} == {"春茶上新，点击查看"}
    assert statuses(run) == {DeliveryStatus.SENT: 35}
    assert not Delivery.objects.filter(run=run).filter(platform_id="").exists()
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.finished_at


def test_a_finished_run_dispatched_again_sends_nothing(sandbox):
    sms = sms_account(sandbox.base_url)
    run = run_build({sms: phones(5)})
    assert run_dispatch(run=run) == 5
    Delivery.objects.filter(run=run).update(status=DeliveryStatus.PENDING)  # even then

    assert run_dispatch(run=run) == 0
    dispatch_run_task.delay(run.pk)
    assert len(sandbox.messages(appid=sms.app_id)) == 5


def test_platform_rules_become_skip_reasons(sandbox):
    oa, openids = oa_account(sandbox, followers=3)
    sms = sms_account(sandbox.base_url)
    # customer-service text: generated followers last spoke long ago (45015)
    run = run_build({oa: openids, sms: phones(2)}, variants={"wechat_oa": {"type": "text"}})
    sandbox.fault(appid=sms.app_id, path="/sandbox/providers/sms", errcode=45009)

    run_dispatch(run=run)

    rows = Delivery.objects.filter(run=run)
    assert set(
        rows.filter(channel_account=oa).values_list("status", "skip_reason", "error_code")
    ) == {(DeliveryStatus.SKIPPED, SkipReason.OUTSIDE_WINDOW, 45015)}
    assert set(rows.filter(channel_account=sms).values_list("status", "skip_reason")) == {
        (DeliveryStatus.SKIPPED, SkipReason.PLATFORM_QUOTA)
    }
    assert sandbox.messages(appid=oa.app_id) == sandbox.messages(appid=sms.app_id) == []


def test_an_unknown_error_fails_the_row(sandbox):
    oa, openids = oa_account(sandbox, followers=2)
    run = run_build({oa: openids}, variants={"wechat_oa": {"type": "voice"}})
    run_dispatch(run=run)
    assert set(Delivery.objects.filter(run=run).values_list("status", "error_code")) == {
        (DeliveryStatus.FAILED, 47001)
    }
    assert PushRun.objects.get(pk=run.pk).status == RunStatus.DONE


def test_pausing_stops_after_the_batch_in_flight_and_resuming_finishes(sandbox, monkeypatch):
    sms = sms_account(sandbox.base_url)
    run = run_build({sms: phones(20)})
    send = dispatch._send

    def pause_then_send(*args):
        PushRun.objects.filter(pk=run.pk).update(status=RunStatus.PAUSED)
        return send(*args)

    monkeypatch.setattr(dispatch, "_send", pause_then_send)
    assert run_dispatch(run=run, batch=8) == 8
    assert statuses(run) == {DeliveryStatus.SENT: 8, DeliveryStatus.PENDING: 12}
    assert PushRun.objects.get(pk=run.pk).status == RunStatus.PAUSED
    assert run_dispatch(run=run) == 0

    monkeypatch.undo()
    PushRun.objects.filter(pk=run.pk).update(status=RunStatus.SENDING)  # resumed
    assert run_dispatch(run=run, batch=8) == 12
    assert sorted(m["to"] for m in sandbox.messages(appid=sms.app_id)) == phones(20)
    assert PushRun.objects.get(pk=run.pk).status == RunStatus.DONE


@pytest.mark.parametrize("status", [RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.PAUSED])
def test_a_stopped_run_sends_nothing(sandbox, status):
    sms = sms_account(sandbox.base_url)
    run = run_build({sms: phones(4)})
    PushRun.objects.filter(pk=run.pk).update(status=status)  # push_cancel skips the rows
    assert run_dispatch(run=run) == 0
    assert statuses(run) == {DeliveryStatus.PENDING: 4}
    assert PushRun.objects.get(pk=run.pk).status == status
    assert sandbox.messages(appid=sms.app_id) == []


def test_deferred_rows_wait_for_their_time(sandbox):
    sms = sms_account(sandbox.base_url)
    run = run_build({sms: phones(3)})
    now = timezone.now()
    later, due, _pending = Delivery.objects.filter(run=run).order_by("id")
    Delivery.objects.filter(pk=later.pk).update(
        status=DeliveryStatus.DEFERRED, deferred_until=now + timedelta(hours=9)
    )
    Delivery.objects.filter(pk=due.pk).update(
        status=DeliveryStatus.DEFERRED, deferred_until=now - timedelta(minutes=1)
    )

    assert run_dispatch(run=run) == 2
    assert statuses(run) == {DeliveryStatus.SENT: 2, DeliveryStatus.DEFERRED: 1}
    assert PushRun.objects.get(pk=run.pk).status == RunStatus.SENDING  # not done yet


def test_stale_sending_rows_become_unknown_and_are_never_sent(sandbox):
    sms = sms_account(sandbox.base_url)
    run = run_build({sms: phones(6)})
    rows = list(Delivery.objects.filter(run=run).order_by("id"))
    dead, live = rows[:2], rows[2:3]  # a killed worker's claim; one still being sent
    Delivery.objects.filter(pk__in=[d.pk for d in dead]).update(
        status=DeliveryStatus.SENDING, claimed_at=timezone.now() - timedelta(minutes=10)
    )
    Delivery.objects.filter(pk=live[0].pk).update(
        status=DeliveryStatus.SENDING, claimed_at=timezone.now()
    )

    dispatch_run_task.delay(run.pk)

    assert statuses(run) == {
        DeliveryStatus.UNKNOWN: 2,
        DeliveryStatus.SENDING: 1,
        DeliveryStatus.SENT: 3,
    }
    assert sorted(m["to"] for m in sandbox.messages(appid=sms.app_id)) == [
        r.recipient for r in rows[3:]
    ]
    assert PushRun.objects.get(pk=run.pk).status == RunStatus.SENDING  # a claim is out
    assert deliveries_sweep(older_than=timedelta(0)) == 1
    assert run_dispatch(run=run) == 0
    assert PushRun.objects.get(pk=run.pk).status == RunStatus.DONE
    assert len(sandbox.messages(appid=sms.app_id)) == 3


def test_the_periodic_sweep_marks_stale_rows_and_resumes_sending_runs(
    sandbox, django_capture_on_commit_callbacks
):
    sms = sms_account(sandbox.base_url)
    run = run_build({sms: phones(5)})
    stale = Delivery.objects.filter(run=run).order_by("id").first()
    Delivery.objects.filter(pk=stale.pk).update(
        status=DeliveryStatus.SENDING, claimed_at=timezone.now() - timedelta(minutes=3)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_deliveries_task.delay().get() == 1

    assert statuses(run) == {DeliveryStatus.UNKNOWN: 1, DeliveryStatus.SENT: 4}
    assert stale.recipient not in {m["to"] for m in sandbox.messages(appid=sms.app_id)}
    assert PushRun.objects.get(pk=run.pk).status == RunStatus.DONE


def test_a_dispatch_task_hands_over_to_a_new_one_when_its_time_is_up(sandbox, monkeypatch):
    sms = sms_account(sandbox.base_url)
    run = run_build({sms: phones(12)})
    monkeypatch.setattr(dispatch, "BATCH", 5)
    monkeypatch.setattr(dispatch, "TASK_SECONDS", 0)  # one batch a task
    calls = []
    monkeypatch.setattr(
        dispatch, "_send", lambda *args, send=dispatch._send: calls.append(1) or send(*args)
    )

    dispatch_run_task.delay(run.pk)

    assert len(calls) == 3  # 5 + 5 + 2, by three tasks
    assert statuses(run) == {DeliveryStatus.SENT: 12}
    assert PushRun.objects.get(pk=run.pk).status == RunStatus.DONE
    assert sorted(m["to"] for m in sandbox.messages(appid=sms.app_id)) == phones(12)


def test_the_sweep_leaves_a_run_with_a_batch_out_to_its_dispatcher(
    sandbox, django_capture_on_commit_callbacks
):
    sms = sms_account(sandbox.base_url)
    run = run_build({sms: phones(3)})
    out = Delivery.objects.filter(run=run).order_by("id").first()
    Delivery.objects.filter(pk=out.pk).update(
        status=DeliveryStatus.SENDING, claimed_at=timezone.now()
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert sweep_deliveries_task.delay().get() == 0

    assert callbacks == []
    assert statuses(run) == {DeliveryStatus.SENDING: 1, DeliveryStatus.PENDING: 2}


# --- SMS sent several at a time: the same results, the database on the dispatching thread ---


def _rows(run) -> dict[str, tuple]:
    """recipient → (status, error code, platform id set)."""
    return {
        d.recipient: (d.status, d.error_code, bool(d.platform_id))
        for d in Delivery.objects.filter(run=run)
    }


def test_concurrent_sms_results_are_each_recipients_own(sandbox):
    sms = sms_account(sandbox.base_url)
    run = run_build({sms: phones(40)})
    # three calls answered "not allowed" (a recipient's error: the rest go on), whichever
    # three arrive first
    sandbox.fault(appid=sms.app_id, path="/sandbox/providers/sms", errcode=43004, times=3)

    assert run_dispatch(run=run) == 40

    rows = _rows(run)
    failed = {to for to, row in rows.items() if row == (DeliveryStatus.FAILED, 43004, False)}
    sent = {to for to, row in rows.items() if row == (DeliveryStatus.SENT, None, True)}
    assert len(failed) == 3 and len(sent) == 37
    logged = [m["to"] for m in sandbox.messages(appid=sms.app_id)]
    assert sorted(logged) == sorted(sent)  # each sent row messaged once, no failed one
    ids = {m["key"]: m["id"] for m in sandbox.messages(appid=sms.app_id)}
    for delivery in Delivery.objects.filter(run=run, status=DeliveryStatus.SENT):
        assert delivery.platform_id == str(ids[str(delivery.pk)])  # its own answer


def test_concurrent_sms_retries_a_lost_call_once_per_message(sandbox):
    sms = sms_account(sandbox.base_url)
    run = run_build({sms: phones(30)})
    sandbox.fault(appid=sms.app_id, path="/sandbox/providers/sms", status=503, times=4)

    assert run_dispatch(run=run) == 30

    assert statuses(run) == {DeliveryStatus.SENT: 30}
    assert sorted(m["to"] for m in sandbox.messages(appid=sms.app_id)) == phones(30)


def test_concurrent_sms_platform_down_fails_the_batch_and_writes_on_one_thread(
    sandbox, monkeypatch
):
    import threading

    from channels.adapters.providers import SEND_THREADS, SandboxProvider
    from channels.models import ChannelAccount

    sms = sms_account(sandbox.base_url)
    run = run_build({sms: phones(25)})
    sandbox.fault(appid=sms.app_id, path="/sandbox/providers/sms", status=503)
    writers, save = set(), ChannelAccount.save

    def save_on(self, *args, **kwargs):
        writers.add(threading.current_thread())
        return save(self, *args, **kwargs)

    monkeypatch.setattr(ChannelAccount, "save", save_on)
    calls, send = [], SandboxProvider.send
    monkeypatch.setattr(SandboxProvider, "send", lambda *a: calls.append(1) or send(*a))

    assert run_dispatch(run=run) == 25

    assert set(Delivery.objects.filter(run=run).values_list("status", "error_code")) == {
        (DeliveryStatus.FAILED, -1)
    }
    assert writers == {threading.current_thread()}  # the account's last error, recorded here
    assert "503" in ChannelAccount.objects.get(pk=sms.pk).last_error
    assert sandbox.messages(appid=sms.app_id) == []
    # the first message's three tries and the first tries already in flight; no more
    assert len(calls) <= SEND_THREADS + 3, len(calls)
