"""Console pages for pushes: list, form (channels in order), the confirmation with reach and
skip reasons, approval, launch, the run page with its progress partial; analysts only read.
Schedules through the console: a push set for a time starts when it comes; quiet hours, the
frequency cap and consent show on the run's deliveries."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from campaigns.choices import DeliveryStatus, PushStatus, RunStatus, SkipReason
from campaigns.models import Delivery, MessagingSettings, Push, PushRun
from campaigns.tasks import pushes_launch_due_task
from customers.choices import ConsentChannel, ConsentStatus
from customers.models import Consent
from tests.campaigns.test_materialise import (
    bulk_customers,
    make_accounts,
    make_audience,
    make_content,
    make_push,
)
from tests.conftest import make_user, resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts():
    return make_accounts()


def form_data(accounts, **extra) -> dict:
    data = {
        "name": "新品推送",
        "audience": make_audience().pk,
        "channels": [accounts["sms"].pk, accounts["wecom"].pk],  # submitted order = fallback
        "content": make_content().pk,
        "ab_test_percent": 100,
        "schedule_kind": "now",
        "respect_quiet_hours": "on",
        "apply_frequency_cap": "on",
    }
    data.update(extra)
    return data


def test_create_push_then_confirm_with_reach_and_skips(client, operator, accounts):
    bulk_customers(3)
    bulk_customers(2, phones=False)
    client.force_login(operator)
    assert 'data-testid="empty-state"' in client.get("/pushes/").content.decode()
    assert client.get("/pushes/new/").status_code == 200
    response = client.post("/pushes/new/", form_data(accounts))
    push = Push.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/pushes/{push.pk}/"
    assert [c.channel_account.code for c in push.channels.all()] == ["sms", "wecom"]
    page = client.get(response["Location"])
    assert page.context["reach"] == 3 and page.context["skipped"] == 2
    assert [n for _a, n in page.context["reach_rows"]] == [3, 0]
    assert page.context["skip_rows"] == [("该渠道没有身份", 2)]
    html = page.content.decode()
    assert 'data-testid="push-launch"' in html and 'data-testid="approval-banner"' not in html
    assert "新品推送" in client.get("/pushes/").content.decode()
    assert client.get(f"/pushes/{push.pk}/edit/").status_code == 200


def test_bad_form_is_a_400(client, operator, accounts):
    client.force_login(operator)
    no_channel = client.post("/pushes/new/", form_data(accounts, channels=[]))
    assert no_channel.status_code == 400 and "channels" in no_channel.context["form"].errors
    bad_cron = client.post("/pushes/new/", form_data(accounts, cron="x", schedule_kind="periodic"))
    assert bad_cron.status_code == 400 and "cron" in bad_cron.context["form"].errors
    assert 'data-testid="field-error"' in bad_cron.content.decode()
    assert not Push.objects.exists()


def test_approval_banner_and_approve_by_another_operator(client, operator, accounts,
                                                         django_user_model):  # fmt: skip
    MessagingSettings.objects.update_or_create(pk=1, defaults={"approval_threshold": 1})
    bulk_customers(2)
    push = make_push([accounts["sms"]], actor=operator)
    client.force_login(operator)
    html = client.get(f"/pushes/{push.pk}/").content.decode()
    assert 'data-testid="approval-banner"' in html and 'data-testid="push-approve"' not in html
    client.post(f"/pushes/{push.pk}/launch/")
    push.refresh_from_db()
    assert push.status == PushStatus.AWAITING_APPROVAL and not push.runs.exists()
    client.force_login(make_user(django_user_model, "boss", "operator"))
    assert 'data-testid="push-approve"' in client.get(f"/pushes/{push.pk}/").content.decode()
    client.post(f"/pushes/{push.pk}/approve/")
    push.refresh_from_db()
    assert push.approved_by.username == "boss"


def test_launch_leads_to_the_run_page(client, operator, accounts):
    bulk_customers(3)
    push = make_push([accounts["sms"]], actor=operator)
    client.force_login(operator)
    response = client.post(f"/pushes/{push.pk}/launch/")
    run = push.runs.get()
    assert response["Location"] == f"/pushes/runs/{run.pk}/"
    page = client.get(response["Location"])
    assert page.status_code == 200 and 'data-testid="run-progress"' in page.content.decode()
    assert client.get(f"/pushes/runs/{run.pk}/progress/").status_code == 200
    assert client.get(f"/pushes/runs/{run.pk}/?status=pending&channel=1").status_code == 200
    client.post(f"/pushes/{push.pk}/pause/", {"run": run.pk})
    push.refresh_from_db()
    assert push.status == PushStatus.PAUSED


def test_analyst_reads_but_cannot_change(client, analyst, operator, accounts):
    bulk_customers(1)
    push = make_push([accounts["sms"]], actor=operator)
    client.force_login(analyst)
    assert client.get("/pushes/").status_code == 200
    page = client.get(f"/pushes/{push.pk}/").content.decode()
    assert 'data-testid="push-launch"' not in page
    assert client.get("/pushes/new/").status_code == 403
    assert client.post("/pushes/new/", form_data(accounts)).status_code == 403
    assert client.post(f"/pushes/{push.pk}/launch/").status_code == 403
    assert client.post(f"/pushes/{push.pk}/approve/").status_code == 403
    assert client.post(f"/pushes/{push.pk}/cancel/").status_code == 403
    push.refresh_from_db()
    assert push.status == PushStatus.DRAFT


SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_ab_metric_and_test_length_in_the_form_and_on_the_page(client, operator, accounts):
    client.force_login(operator)
    b = make_content("B 版", "新茶八折").pk
    bad = client.post("/pushes/new/", form_data(accounts, variant_b=b, ab_decide_after_hours=0))
    assert bad.status_code == 400 and "ab_decide_after_hours" in bad.context["form"].errors
    data = form_data(accounts, variant_b=b, variant_b_share=50, ab_test_percent=20,
                     ab_auto_winner="on", ab_metric="conversion_rate",
                     ab_decide_after_hours=24)  # fmt: skip
    response = client.post("/pushes/new/", data)
    assert response.status_code == 302
    push = Push.objects.get()
    assert (push.ab_metric, push.ab_decide_after_hours, push.ab_auto_winner) == (
        "conversion_rate", 24, True,
    )  # fmt: skip
    html = client.get(f"/pushes/{push.pk}/").content.decode()
    assert "转化率" in html and "测试发送完成 24 小时后自动选出" in html
    edit = client.get(f"/pushes/{push.pk}/edit/")
    assert edit.context["form"].initial["ab_decide_after_hours"] == 24
    assert 'name="ab_decide_after_hours"' in edit.content.decode()


def test_a_push_set_for_a_time_in_the_console_starts_when_it_comes(
    client, operator, accounts, django_capture_on_commit_callbacks
):
    bulk_customers(3)
    client.force_login(operator)
    send_at = datetime(2026, 11, 23, 12, 30, tzinfo=SHANGHAI)
    with time_machine.travel(datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI), tick=False):
        data = form_data(accounts, channels=[accounts["sms"].pk], schedule_kind="at",
                         send_at="2026-11-23T12:30")  # fmt: skip
        push = Push.objects.get(pk=client.post("/pushes/new/", data)["Location"].split("/")[2])
        assert push.send_at == send_at
        assert "确认排期" in client.get(f"/pushes/{push.pk}/").content.decode()
        response = client.post(f"/pushes/{push.pk}/launch/")
        assert response["Location"] == f"/pushes/{push.pk}/"
        push.refresh_from_db()
        assert push.status == PushStatus.SCHEDULED and not push.runs.exists()
    with time_machine.travel(send_at - timedelta(seconds=1), tick=False):
        assert pushes_launch_due_task() == 0  # Beat a second early: nothing
    assert not push.runs.exists()
    with (
        time_machine.travel(send_at + timedelta(seconds=3), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert pushes_launch_due_task() == 1
    with time_machine.travel(send_at + timedelta(minutes=1), tick=False):
        assert pushes_launch_due_task() == 0  # the next minute: started once
    run = push.runs.get()
    assert run.scheduled_for == send_at and run.planned == 3
    push.refresh_from_db()
    assert run.status == RunStatus.DONE and push.status == PushStatus.DONE
    html = client.get(f"/pushes/{push.pk}/").content.decode()
    assert f"/pushes/runs/{run.pk}/" in html and "2026-11-23 12:30" in html


def test_quiet_hours_cap_and_consent_show_on_the_run_page(
    client, operator, accounts, django_capture_on_commit_callbacks
):
    MessagingSettings.objects.update_or_create(pk=1, defaults={"frequency_cap": 2})
    for i, name in enumerate(["甲", "乙", "丙", "丁"], start=1):
        resolve(("phone", f"1380000000{i}", ""), name=name, city="上海")
    yi = resolve(("phone", "13800000002", ""))
    Consent.objects.create(customer=yi, channel=ConsentChannel.SMS, status=ConsentStatus.REVOKED)
    bing = resolve(("phone", "13800000003", ""))
    earlier = make_push([accounts["sms"]], name="上周推送")
    night = datetime(2026, 11, 23, 22, 30, tzinfo=SHANGHAI)
    for days in (1, 2):
        Delivery.objects.create(
            run=PushRun.objects.create(push=earlier), customer=bing,
            channel_account=accounts["sms"], status=DeliveryStatus.SENT,
            sent_at=night - timedelta(days=days),
        )  # fmt: skip
    push = make_push([accounts["sms"]], actor=operator, name="夜间推送")
    client.force_login(operator)
    with (
        time_machine.travel(night, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(f"/pushes/{push.pk}/launch/")
    run = push.runs.get()
    assert response["Location"] == f"/pushes/runs/{run.pk}/"
    by_name = {d.customer.name: d for d in run.deliveries.select_related("customer")}
    assert by_name["乙"].skip_reason == SkipReason.NO_CONSENT
    assert by_name["丙"].skip_reason == SkipReason.FREQUENCY_CAP
    for name in ("甲", "丁"):
        assert by_name[name].status == DeliveryStatus.DEFERRED
        assert by_name[name].deferred_until == datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)
    with time_machine.travel(night, tick=False):
        page = client.get(f"/pushes/runs/{run.pk}/")
    html = page.content.decode()
    assert html.count("延后到 11-24 09:00") == 2
    assert "未同意或已退订" in html and "超过频次上限" in html
    assert page.context["skip_rows"] == [("超过频次上限", 1), ("未同意或已退订", 1)]
    skipped = client.get(f"/pushes/runs/{run.pk}/?status=skipped").content.decode()
    assert "延后到" not in skipped and "超过频次上限" in skipped
