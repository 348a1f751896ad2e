"""Console pages for pushes: list, form (channels in order), the confirmation with reach and
skip reasons, approval, launch, the run page with its progress partial; analysts only read."""

import pytest

from campaigns.choices import PushStatus
from campaigns.models import MessagingSettings, Push
from tests.campaigns.test_materialise import (
    bulk_customers,
    make_accounts,
    make_audience,
    make_content,
    make_push,
)
from tests.conftest import make_user

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
