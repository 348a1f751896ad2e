"""A push in a real browser: build it for an audience, read the confirmation (reach per
channel, skip reasons), launch, watch the progress bar reach done, see the deliveries."""

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from campaigns.choices import DeliveryStatus
from campaigns.models import Delivery
from channels.services import channel_account_create
from tests.campaigns.test_materialise import bulk_customers, make_audience, make_content
from tests.conftest import make_user
from tests.e2e.conftest import shot
from tests.e2e.test_console import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def daytime():
    """Outside quiet hours (21:00–09:00 Shanghai), whenever the suite runs."""
    with time_machine.travel(datetime(2026, 11, 23, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))):
        yield


@pytest.fixture
def shop(sandbox, django_user_model):
    """An SMS account on the sandbox, 12 reachable customers and 3 without a phone."""
    sms = channel_account_create(
        kind="sms", code="sms", name="短信通道", app_id=uuid.uuid4().hex, sandbox=True,
        api_base_url=sandbox.base_url, rate_limit=100_000, options={"provider": "sandbox"},
    )  # fmt: skip
    bulk_customers(12)
    bulk_customers(3, phones=False)
    make_audience()
    make_content()
    make_user(django_user_model, "ops", "operator")
    return sms


def test_build_confirm_launch_and_watch_progress(page, shop, sandbox):
    login(page, "ops")
    page.goto(page.base + "/pushes/new/")
    page.fill("input[name=name]", "冬季新品推送")
    page.select_option("select[name=audience]", label="上海客户")
    page.select_option("select[name=content]", label="新品上市")
    page.locator("#channel-order li[data-channel=sms] input[type=checkbox]").check()
    page.get_by_test_id("push-save").click()

    expect(page.get_by_test_id("push-confirm")).to_be_visible()
    expect(page.get_by_test_id("estimate-audience")).to_have_text("15")
    expect(page.get_by_test_id("estimate-reach")).to_have_text("12")
    expect(page.get_by_test_id("reach-table")).to_contain_text("短信通道")
    expect(page.get_by_test_id("skip-table")).to_contain_text("该渠道没有身份")
    shot(page, "push-confirm")

    page.once("dialog", lambda dialog: dialog.accept())  # "send to 12 customers?"
    page.get_by_test_id("push-launch").click()
    expect(page.get_by_test_id("run-progress")).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("run-progress")).to_contain_text("100%")
    expect(page.get_by_test_id("delivery-table")).to_contain_text("已发送")
    shot(page, "push-run")
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 12
    assert len(sandbox.messages(appid=shop.app_id)) == 12
