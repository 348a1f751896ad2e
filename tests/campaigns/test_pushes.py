"""Push services: validation, approval, launch now / at a time / periodic, pause, resume,
cancel, progress, and the A/B result (click or conversion rate) and winner, by hand or timed."""

import itertools
import json
import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django_celery_beat.models import PeriodicTask

from campaigns.choices import DeliveryStatus, PushStatus, RunStatus, ScheduleKind
from campaigns.models import Delivery, LinkClick, MessagingSettings, PushRun, TrackingLink
from campaigns.pushes import (
    _z_test,
    ab_decide_at,
    ab_pick_winner,
    ab_result,
    push_approve,
    push_cancel,
    push_launch,
    push_pause,
    push_resume,
    push_sync_status,
    run_progress,
)
from campaigns.tasks import ab_decide_due_task, push_run_task, pushes_launch_due_task
from channels.services import channel_account_create
from common.models import AuditLog
from customers.models import Customer, Order
from tests.campaigns.test_materialise import (
    bulk_customers,
    make_accounts,
    make_audience,
    make_content,
    make_push,
)
from tests.conftest import make_user, sms_account

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI)


def sandbox_sms(sandbox):
    return sms_account(sandbox.base_url)


@pytest.fixture(autouse=True)
def noon():
    with time_machine.travel(NOON, tick=True):
        yield


@pytest.fixture
def accounts():
    return make_accounts()


@pytest.fixture
def creator(django_user_model):
    return make_user(django_user_model, "creator", "operator")


@pytest.fixture
def approver(django_user_model):
    return make_user(django_user_model, "approver", "operator")


# --- save ----------------------------------------------------------------------------------


def test_save_refuses_what_cannot_be_sent(accounts, django_user_model):
    with pytest.raises(ValidationError) as caught:
        make_push([], schedule_kind=ScheduleKind.AT, send_at=None)
    assert {"channels", "send_at"} <= set(caught.value.message_dict)
    tmall = channel_account_create(kind="tmall", code="tmall", name="天猫")
    with pytest.raises(ValidationError) as caught:
        make_push([tmall], schedule_kind=ScheduleKind.PERIODIC, cron="every monday")
    assert {"channels", "cron"} <= set(caught.value.message_dict)
    past = NOON - timedelta(minutes=1)
    with pytest.raises(ValidationError, match="将来"):
        make_push([accounts["sms"]], schedule_kind=ScheduleKind.AT, send_at=past)
    with pytest.raises(ValidationError) as caught:
        make_push(
            [accounts["sms"]],
            variants=[{"label": "A", "content": make_content(), "share": 60},
                      {"label": "B", "content": make_content("B", "b"), "share": 30}],
        )  # fmt: skip
    assert "variants" in caught.value.message_dict


def test_save_runs_the_content_check(accounts):
    from campaigns.models import ForbiddenWord

    bad = make_content("违规", "全网最便宜")
    ForbiddenWord.objects.create(word="最便宜")  # added after the content was written
    with pytest.raises(ValidationError) as caught:
        make_push([accounts["sms"]], content=bad)
    assert "最便宜" in str(caught.value.message_dict["content"])


# --- approval ------------------------------------------------------------------------------


def test_large_push_needs_another_operator_to_approve(accounts, creator, approver, analyst):
    MessagingSettings.objects.update_or_create(pk=1, defaults={"approval_threshold": 5})
    bulk_customers(6)
    push = make_push([accounts["sms"]], actor=creator)
    with pytest.raises(ValidationError, match="审批"):
        push_launch(push=push, user=creator)
    push.refresh_from_db()
    assert push.status == PushStatus.AWAITING_APPROVAL and push.estimated_reach == 6
    with pytest.raises(ValidationError, match="创建人以外"):
        push_approve(push=push, user=creator)
    with pytest.raises(PermissionDenied):
        push_approve(push=push, user=analyst)
    push_approve(push=push, user=approver)
    assert AuditLog.objects.filter(action="push.approve", actor=approver).exists()
    push_launch(push=push, user=creator)
    push.refresh_from_db()
    assert push.status == PushStatus.RUNNING and push.runs.count() == 1


def test_small_push_needs_no_approval(accounts, creator):
    bulk_customers(3)
    push = make_push([accounts["sms"]], actor=creator, schedule_kind=ScheduleKind.AT,
                     send_at=NOON + timedelta(hours=1))  # fmt: skip
    push_launch(push=push, user=creator)
    push.refresh_from_db()
    assert push.status == PushStatus.SCHEDULED and not push.runs.exists()


# --- launch --------------------------------------------------------------------------------


def test_launch_now_materialises_and_sends(sandbox, creator, django_capture_on_commit_callbacks):
    sms = sandbox_sms(sandbox)
    bulk_customers(5)
    push = make_push([sms], actor=creator)
    with django_capture_on_commit_callbacks(execute=True):
        run = push_launch(push=push, user=creator)
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.planned == 5
    assert run_progress(run) == {
        "total": 5, "by_status": {"sent": 5}, "skips": {}, "finished": 5, "percent": 100,
    }  # fmt: skip
    assert len(sandbox.messages(appid=sms.app_id)) == 5
    assert push_sync_status(push=push).status == PushStatus.DONE


def test_at_push_starts_once_when_its_minute_comes(
    accounts, creator, django_capture_on_commit_callbacks
):
    bulk_customers(4)
    send_at = NOON + timedelta(minutes=30)
    push = make_push([accounts["sms"]], actor=creator, schedule_kind=ScheduleKind.AT,
                     send_at=send_at)  # fmt: skip
    push_launch(push=push, user=creator)
    with time_machine.travel(send_at - timedelta(minutes=1), tick=False):
        assert pushes_launch_due_task() == 0
    with (
        time_machine.travel(send_at + timedelta(seconds=20), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert pushes_launch_due_task() == 1
        assert pushes_launch_due_task() == 0
    # a retry asking again for the same occurrence makes no second run
    assert push_run_task(push.pk, scheduled_for=send_at.isoformat()) is None
    run = PushRun.objects.get(push=push)
    assert run.scheduled_for == send_at and run.planned == 4
    push.refresh_from_db()
    # its one run started, was dispatched (eagerly) and ended: the one-off push is done
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and push.status == PushStatus.DONE


def test_periodic_push_gets_a_beat_task(accounts, creator):
    bulk_customers(2)
    push = make_push([accounts["sms"]], actor=creator, schedule_kind=ScheduleKind.PERIODIC,
                     cron="0 10 * * 1")  # fmt: skip
    push_launch(push=push, user=creator)
    task = PeriodicTask.objects.get(name=f"push:{push.pk}")
    assert task.task == "campaigns.run_push" and json.loads(task.args) == [push.pk]
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "10", "1")
    assert task.enabled and str(task.crontab.timezone) == "Asia/Shanghai"
    # each occurrence (Beat calls with the push id only) is one run
    assert push_run_task(push.pk) is not None
    assert push_run_task(push.pk) is None
    assert push.runs.count() == 1
    push_pause(push=push, user=creator)
    task.refresh_from_db()
    assert not task.enabled
    push_resume(push=push, user=creator)
    task.refresh_from_db()
    push.refresh_from_db()
    assert task.enabled and push.status == PushStatus.SCHEDULED
    push_cancel(push=push, user=creator)
    task.refresh_from_db()
    assert not task.enabled


def test_pause_resume_cancel_act_on_the_run(accounts, creator):
    bulk_customers(3)
    push = make_push([accounts["sms"]], actor=creator)
    run = push_launch(push=push, user=creator)  # callbacks not run: materialise by hand
    assert push_run_task(push.pk, run_id=run.pk) == run.pk
    push_pause(push=push, user=creator)
    run.refresh_from_db()
    assert run.status == RunStatus.PAUSED
    push_resume(push=push, user=creator)
    run.refresh_from_db()
    assert run.status == RunStatus.SENDING
    push_cancel(push=push, user=creator)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run_progress(run)["skips"] == {"cancelled": 3}
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SKIPPED}
    assert (
        AuditLog.objects.filter(action__in=["push.pause", "push.resume", "push.cancel"]).count()
        == 3
    )


# --- A/B -----------------------------------------------------------------------------------


def test_a_run_paused_before_its_list_is_made_gets_it_on_resume(accounts, creator):
    bulk_customers(2)
    push = make_push([accounts["sms"]], actor=creator)
    run = push_launch(push=push, user=creator)  # its task has not run yet (no commit)
    push_pause(push=push, user=creator)
    assert push_run_task(push.pk, run_id=run.pk) is None  # paused: nothing made
    push_resume(push=push, user=creator)
    run.refresh_from_db()
    assert run.status == RunStatus.MATERIALISING
    assert push_run_task(push.pk, run_id=run.pk) == run.pk
    assert run.deliveries.count() == 2


def test_z_test_on_known_counts():
    z, p = _z_test(120, 1000, 90, 1000)
    assert math.isclose(z, 2.1883, abs_tol=1e-4) and math.isclose(p, 0.02865, abs_tol=1e-4)
    assert _z_test(0, 0, 5, 10) == (0.0, 1.0)


def test_ab_result_and_winner_for_the_rest(accounts, creator):
    bulk_customers(200)
    push = make_push(
        [accounts["sms"]], actor=creator, ab_test_percent=10, ab_auto_winner=True,
        variants=[{"label": "A", "content": make_content(), "share": 50},
                  {"label": "B", "content": make_content("B 版", "新茶八折"), "share": 50}],
    )  # fmt: skip
    run = push_launch(push=push, user=creator)
    push_run_task(push.pk, run_id=run.pk)
    assert run.deliveries.count() == 20
    split_evenly(run)
    run.deliveries.update(status=DeliveryStatus.SENT)
    link = TrackingLink.objects.create(code="spring", url="https://example.com/")
    for label, clickers in (("A", 5), ("B", 1)):
        for delivery in run.deliveries.filter(variant__label=label)[:clickers]:
            for _twice in range(2):  # a customer clicking twice counts once
                LinkClick.objects.create(link=link, delivery=delivery, customer=delivery.customer)
    result = ab_result(push)
    assert result["metric"] == "click_rate"
    assert [(r["variant"].label, r["sent"], r["hits"]) for r in result["variants"]] == [
        ("A", 10, 5), ("B", 10, 1),
    ]  # fmt: skip
    assert math.isclose(result["z"], 1.9518, abs_tol=1e-4)
    assert math.isclose(result["p_value"], 0.05096, abs_tol=1e-4)
    assert not result["significant"] and result["leader"].label == "A"
    winner = ab_pick_winner(push=push, user=creator)
    assert winner.label == "A" and push.variants.get(label="A").winner
    assert run.deliveries.count() == 200
    assert run.deliveries.filter(variant__label="A").count() == 190
    run.refresh_from_db()
    assert run.planned == 200 and run.status == RunStatus.SENDING


def test_the_estimate_is_stored_on_launch(accounts, creator):
    bulk_customers(3)
    bulk_customers(2, phones=False)
    make_audience()
    push = make_push([accounts["sms"]], actor=creator)
    push_launch(push=push, user=creator)
    push.refresh_from_db()
    assert push.estimated_reach == 3
    assert Customer.objects.count() == 5


def two_variants(**extra) -> dict:
    return {
        "variants": [{"label": "A", "content": make_content(), "share": 50},
                     {"label": "B", "content": make_content("B 版", "新茶八折"), "share": 50}],
        **extra,
    }  # fmt: skip


ORDER_NUMBERS = itertools.count(1)


def split_evenly(run) -> None:
    """Half the run's rows on A, half on B. The split itself hashes customer ids, which
    differ between databases; the A/B result tests need known counts."""
    ids = list(run.deliveries.order_by("id").values_list("id", flat=True))
    for label, half in (("A", ids[: len(ids) // 2]), ("B", ids[len(ids) // 2 :])):
        run.deliveries.filter(id__in=half).update(variant=run.push.variants.get(label=label))


def order(customer_id: int, paid_at, status: str = "paid") -> Order:
    n = next(ORDER_NUMBERS)
    account = channel_account_create(kind="tmall", code=f"tmall-{n}", name="天猫")
    return Order.objects.create(
        customer_id=customer_id, channel_account=account, external_id=f"o-{n}", amount=99,
        status=status, paid_at=paid_at,
    )  # fmt: skip


def test_ab_result_by_conversion_rate(accounts, creator):
    bulk_customers(20)
    push = make_push([accounts["sms"]], actor=creator, **two_variants(ab_metric="conversion_rate"))
    run = push_launch(push=push, user=creator)
    push_run_task(push.pk, run_id=run.pk)
    split_evenly(run)
    run.deliveries.update(status=DeliveryStatus.SENT, sent_at=NOON)
    a = list(run.deliveries.filter(variant__label="A").values_list("customer", flat=True))
    b = list(run.deliveries.filter(variant__label="B").values_list("customer", flat=True))
    assert (len(a), len(b)) == (10, 10)
    hour, week = timedelta(hours=1), timedelta(days=7)
    # A: six customers converted within the 7-day window after their message …
    order(a[0], NOON + hour)
    order(a[0], NOON + timedelta(days=2))  # a second order: still one customer
    order(a[1], NOON + timedelta(days=3), status="shipped")
    order(a[2], NOON + week, status="completed")  # the window's last moment counts
    for customer in a[3:6]:
        order(customer, NOON + hour)
    # … and these do not count: before the message, after the window, refunded, unpaid
    order(a[6], NOON - hour)
    order(a[7], NOON + week + timedelta(minutes=1))
    order(a[8], NOON + hour, status="refunded")
    order(a[9], None, status="created")
    # B: one conversion (a cancelled order does not count), but four clickers
    order(b[0], NOON + timedelta(days=1))
    order(b[1], NOON + hour, status="cancelled")
    link = TrackingLink.objects.create(code="winter", url="https://example.com/")
    for delivery in run.deliveries.filter(variant__label="B")[:4]:
        LinkClick.objects.create(link=link, delivery=delivery, customer=delivery.customer)

    result = ab_result(push)
    assert result["metric"] == "conversion_rate" and result["metric_label"] == "转化率"
    assert [(r["variant"].label, r["sent"], r["hits"]) for r in result["variants"]] == [
        ("A", 10, 6), ("B", 10, 1),
    ]  # fmt: skip
    # by hand: pooled p = 7/20 = 0.35, se = sqrt(0.35 · 0.65 · (1/10 + 1/10)) = 0.213307,
    # z = (0.6 − 0.1) / 0.213307 = 2.3440, two-sided p = erfc(2.3440 / √2) = 0.01908
    assert math.isclose(result["z"], 2.3440, abs_tol=1e-4)
    assert math.isclose(result["p_value"], 0.01908, abs_tol=1e-4)
    assert result["significant"] and result["leader"].label == "A"

    push.ab_metric = "click_rate"  # the same sends judged by clicks: B leads (4/10 vs 0/10)
    push.save(update_fields=["ab_metric"])
    by_clicks = ab_result(push)
    assert [r["hits"] for r in by_clicks["variants"]] == [0, 4]
    assert by_clicks["leader"].label == "B"


def test_save_refuses_a_bad_metric_or_test_length(accounts):
    with pytest.raises(ValidationError) as caught:
        make_push([accounts["sms"]], **two_variants(ab_metric="opens", ab_decide_after_hours=0))
    assert {"ab_metric", "ab_decide_after_hours"} <= set(caught.value.message_dict)
    plain = make_push([accounts["sms"]], ab_decide_after_hours=3)  # no variants: not timed
    assert plain.ab_decide_after_hours is None and plain.ab_metric == ""


def test_timed_winner_is_picked_when_the_test_hours_have_passed(
    sandbox, creator, django_capture_on_commit_callbacks
):
    sms = sandbox_sms(sandbox)
    bulk_customers(200)
    push = make_push(
        [sms], actor=creator,
        **two_variants(ab_test_percent=10, ab_auto_winner=True, ab_metric="conversion_rate",
                       ab_decide_after_hours=2),
    )  # fmt: skip
    with (
        time_machine.travel(NOON, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        run = push_launch(push=push, user=creator)
    run.refresh_from_db()
    push.refresh_from_db()
    assert run.status == RunStatus.DONE and run.finished_at == NOON
    assert run.deliveries.filter(status=DeliveryStatus.SENT).count() == 20
    assert push.status == PushStatus.DONE
    assert ab_decide_at(push) == NOON + timedelta(hours=2)
    # B converts better: three of its customers pay, and one of A's only before the message
    for delivery in run.deliveries.filter(variant__label="B")[:3]:
        order(delivery.customer_id, NOON + timedelta(hours=1))
    order(run.deliveries.filter(variant__label="A").first().customer_id, NOON - timedelta(days=1))

    with time_machine.travel(NOON + timedelta(hours=1, minutes=59), tick=False):
        assert ab_decide_due_task() == 0
    assert not push.variants.filter(winner=True).exists()
    with (
        time_machine.travel(NOON + timedelta(hours=2, minutes=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert ab_decide_due_task() == 1
        assert ab_decide_due_task() == 0  # decided once
    assert push.variants.get(winner=True).label == "B"
    assert AuditLog.objects.filter(action="push.ab_winner", actor=None).count() == 1
    # the rest of the audience got the winner, for real
    run.refresh_from_db()
    push.refresh_from_db()
    assert run.deliveries.count() == 200
    tested_on_b = run.deliveries.filter(variant__label="B", sent_at__lt=NOON + timedelta(hours=2))
    assert run.deliveries.filter(variant__label="B").count() == 180 + tested_on_b.count()
    assert run.status == RunStatus.DONE and push.status == PushStatus.DONE
    assert len(sandbox.messages(appid=sms.app_id)) == 200
    with time_machine.travel(NOON + timedelta(days=1), tick=False):
        assert ab_decide_due_task() == 0


def test_timed_winner_waits_for_the_test_to_be_sent_and_skips_untimed(accounts, creator):
    bulk_customers(40)
    timed = make_push([accounts["sms"]], actor=creator, **two_variants(ab_decide_after_hours=1))
    manual = make_push([accounts["sms"]], actor=creator, name="手动", **two_variants())
    for push in (timed, manual):
        run = push_launch(push=push, user=creator)  # dispatch not run: rows stay pending
        push_run_task(push.pk, run_id=run.pk)
    later = NOON + timedelta(hours=5)
    with time_machine.travel(later, tick=False):
        assert ab_decide_at(timed) is None and ab_decide_due_task() == 0  # still sending
    for push in (timed, manual):
        push.runs.get().deliveries.update(status=DeliveryStatus.SENT, sent_at=NOON)
    # its sends are done (the run not yet marked so): NOON + 1 h
    assert ab_decide_at(timed) == NOON + timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        assert ab_decide_due_task() == 1
    assert timed.variants.filter(winner=True).count() == 1
    assert not manual.variants.filter(winner=True).exists()  # no test length: picked by hand
    assert timed.runs.get().deliveries.count() == 40  # all of it was the test: nothing more


def test_beat_calling_a_periodic_push_makes_one_run_per_minute(accounts, creator):
    from config.celery import app

    bulk_customers(2)
    push = make_push([accounts["sms"]], actor=creator, schedule_kind=ScheduleKind.PERIODIC,
                     cron="*/5 9-18 * * 1-5")  # fmt: skip
    push_launch(push=push, user=creator)
    task = PeriodicTask.objects.get(name=f"push:{push.pk}")
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year,
            crontab.day_of_week) == ("*/5", "9-18", "*", "*", "1-5")  # fmt: skip

    def beat_fires():  # what Beat sends: the task by name, with the stored args and kwargs
        return (
            app.tasks[task.task]
            .apply(args=json.loads(task.args), kwargs=json.loads(task.kwargs or "{}"))
            .get()
        )

    at = datetime(2026, 11, 23, 12, 5, tzinfo=SHANGHAI)
    with time_machine.travel(at + timedelta(seconds=2), tick=False):
        assert beat_fires() is not None
    with time_machine.travel(at + timedelta(seconds=40), tick=False):
        assert beat_fires() is None  # the same minute again: no second run
    with time_machine.travel(at + timedelta(minutes=5, seconds=1), tick=False):
        assert beat_fires() is not None
    assert sorted(push.runs.values_list("scheduled_for", flat=True)) == [
        at, at + timedelta(minutes=5),
    ]  # fmt: skip
    assert [r.planned for r in push.runs.all()] == [2, 2]
