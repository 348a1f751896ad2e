"""A push from nothing in a real browser: compose content with an SMS variant and
placeholders, build a push to an audience on the sandbox SMS account, read the confirmation
(reach, skip reasons), confirm, watch the run's progress reach done and read its deliveries.

The live server runs in this process with Celery eager (tests/conftest.py): launching commits,
then the run is materialised and dispatched to the sandbox platform for real."""

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.choices import DeliveryStatus, PushStatus
from campaigns.models import ContentItem, Delivery, Push
from campaigns.pushes import push_launch, push_save
from channels.services import channel_account_create
from customers.choices import ConsentChannel, ConsentStatus
from customers.models import Consent, Order
from tests.campaigns.test_materialise import bulk_customers, make_audience, make_content
from tests.conftest import make_user, resolve
from tests.e2e.conftest import shot
from tests.e2e.test_console import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PEOPLE = [("王芳", "13800000001"), ("李娜", "13800000002"), ("张伟", "13800000003"),
          ("刘洋", "13800000004"), ("陈静", "13800000005"), ("杨磊", "13800000006")]  # fmt: skip
SMS_TEXT = "{{ name }}，{{ city }}门店冬季新品到店，凭短信享第二杯半价。回复TD退订"


@pytest.fixture(autouse=True)
def daytime():
    """Outside quiet hours (21:00–09:00 Shanghai), whenever the suite runs."""
    with time_machine.travel(datetime(2026, 11, 23, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))):
        yield


@pytest.fixture
def shop(sandbox, django_user_model):
    """The sandbox SMS account; in 上海: six reachable customers, one who unsubscribed from
    SMS and two without a phone."""
    sms = channel_account_create(
        kind="sms", code="sms", name="短信通道", app_id=uuid.uuid4().hex, sandbox=True,
        api_base_url=sandbox.base_url, rate_limit=100_000, options={"provider": "sandbox"},
    )  # fmt: skip
    for name, phone in PEOPLE:
        resolve(("phone", phone, ""), name=name, city="上海")
    quit_sms = resolve(("phone", "13800000009", ""), name="周敏", city="上海")
    Consent.objects.create(
        customer=quit_sms, channel=ConsentChannel.SMS, status=ConsentStatus.REVOKED
    )
    bulk_customers(2, phones=False)
    make_audience()
    make_user(django_user_model, "ops", "operator")
    return sms


def test_compose_build_confirm_and_send_a_push(page, shop, sandbox):
    login(page, "ops")

    # 1. content with an SMS variant and placeholders
    page.goto(page.base + "/campaigns/content/")
    page.get_by_test_id("content-new").click()
    page.fill("input[name=name]", "冬季新品短信")
    page.fill("textarea[name=core_text]", "{{ name }}，冬季新品已到店，欢迎品尝。")
    page.get_by_test_id("tab-sms").click()
    page.fill("textarea[name=sms-text]", SMS_TEXT)
    expect(page.get_by_test_id("sms-counter")).to_contain_text("1 条")
    page.get_by_test_id("content-save").click()
    expect(page).to_have_url(re.compile(r"/campaigns/content/\d+/$"))
    content = ContentItem.objects.get(name="冬季新品短信")
    assert content.variants.get(channel_kind="sms").fields["text"] == SMS_TEXT

    # 2. the push: audience, the SMS channel, that content, now
    page.goto(page.base + "/pushes/")
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    shot(page, "push-sms-list-empty")
    page.get_by_test_id("push-new").click()
    page.fill("input[name=name]", "冬季新品短信推送")
    page.select_option("select[name=audience]", label="上海客户")
    page.select_option("select[name=content]", label="冬季新品短信")
    page.locator("#channel-order li[data-channel=sms] input[type=checkbox]").check()
    expect(page.locator("#ab-more")).to_be_hidden()  # no B version: no A/B settings
    expect(page.locator("input[name=send_at]")).to_be_hidden()  # "now": no time to pick
    shot(page, "push-sms-form")
    page.get_by_test_id("push-save").click()

    # 3. the confirmation: reach and every skip reason
    expect(page.get_by_test_id("push-confirm")).to_be_visible()
    expect(page.get_by_test_id("estimate-audience")).to_have_text("9")
    expect(page.get_by_test_id("estimate-reach")).to_have_text("6")
    expect(page.get_by_test_id("estimate-skipped")).to_have_text("3")
    expect(page.get_by_test_id("reach-table")).to_contain_text("短信通道")
    skips = page.get_by_test_id("skip-table")
    expect(skips).to_contain_text("该渠道没有身份")
    expect(skips).to_contain_text("未同意或已退订")
    shot(page, "push-sms-confirm")

    # 4. confirm, then the run: progress to done, the deliveries
    page.once("dialog", lambda dialog: dialog.accept())  # "send to 6 customers?"
    page.get_by_test_id("push-launch").click()
    expect(page).to_have_url(re.compile(r"/pushes/runs/\d+/$"))
    progress = page.get_by_test_id("run-progress")
    expect(progress).to_have_attribute("data-status", "done")
    expect(progress).to_contain_text("100%")
    expect(page.get_by_test_id("run-counts")).to_contain_text("已发送 6")
    expect(page.get_by_test_id("run-skips")).to_contain_text("未同意或已退订 1")
    table = page.get_by_test_id("delivery-table")
    expect(table.locator("tbody tr")).to_have_count(9)
    expect(table).to_contain_text("王芳")
    expect(table).to_contain_text("已发送")
    expect(table).to_contain_text("该渠道没有身份")
    shot(page, "push-sms-run")

    page.select_option("[data-testid=delivery-filter] select[name=status]", "skipped")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table).not_to_contain_text("已发送")
    shot(page, "push-sms-run-skipped")

    page.get_by_role("link", name="冬季新品短信推送").first.click()
    expect(page.get_by_test_id("push-status")).to_have_text("已完成")
    expect(page.get_by_test_id("run-table")).to_contain_text("已完成")
    shot(page, "push-sms-detail-done")
    page.goto(page.base + "/pushes/")
    expect(page.get_by_test_id("push-table")).to_contain_text("冬季新品短信推送")
    expect(page.get_by_test_id("push-table")).to_contain_text("100%")
    shot(page, "push-sms-list")

    # what the platform got: the SMS variant, filled for each customer
    push = Push.objects.get()
    assert push.status == PushStatus.DONE
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 6
    texts = {m["to"]: m["text"] for m in sandbox.messages(appid=shop.app_id, kind="sms")}
    assert len(texts) == 6
    assert texts["+8613800000001"].endswith(
        "王芳，上海门店冬季新品到店，凭短信享第二杯半价。回复TD退订"
    )
    assert not any("{{" in text for text in texts.values())


def test_an_ab_push_shows_its_result_by_conversion_and_its_timed_decision(
    page, shop, sandbox, django_user_model
):
    """The A/B card: the metric chosen, the counts, the z-test and when the winner is picked."""
    creator = make_user(django_user_model, "writer", "operator")
    push = push_save(
        name="冬季新品 A/B", audience=make_audience(), content=make_content(), channels=[shop],
        variants=[{"label": "A", "content": make_content(), "share": 50},
                  {"label": "B", "content": make_content("B 版", "{{ name }}，第二杯半价"),
                   "share": 50}],
        ab_metric="conversion_rate", ab_decide_after_hours=24, actor=creator,
    )  # fmt: skip
    push_launch(push=push, user=creator)  # committed: materialised and sent at once (eager)
    run = push.runs.get()
    sent_b = run.deliveries.filter(variant__label="B", status=DeliveryStatus.SENT)
    for i, delivery in enumerate(sent_b[:2]):
        Order.objects.create(
            customer_id=delivery.customer_id, channel_account=shop, external_id=f"ab-{i}",
            amount=58, status="paid", paid_at=timezone.now() + timedelta(hours=1),
        )  # fmt: skip
    login(page, "ops")
    page.goto(f"{page.base}/pushes/{push.pk}/")
    card = page.get_by_test_id("ab-result")
    expect(card).to_contain_text("转化率")
    expect(card.locator("tr[data-variant=B]")).to_contain_text("领先")
    expect(page.get_by_test_id("ab-decide")).to_contain_text("自动选出领先的版本为胜出")
    expect(page.get_by_test_id("ab-rule")).to_contain_text("24 小时")
    shot(page, "push-ab-detail")
