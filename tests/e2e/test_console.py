"""The console in a real browser: log in, filter customers, open a profile, switch language,
and an analyst's view with masked phone numbers."""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from customers.ingest import events_ingest
from tags.models import Tag
from tags.services import customer_tags_change
from tests.conftest import resolve
from tests.e2e.conftest import shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop(channels, django_user_model):
    wang = resolve(
        ("wechat_openid", "o-wang", "oa"),
        ("platform_buyer_id", "tb-wang", "tmall"),
        ("phone", "13812345678", ""),
        name="王小明",
        city="上海",
    )
    li = resolve(("app_user_id", "app-li", "app"), ("phone", "13900001111", ""), name="李娜")
    resolve(("wecom_external_userid", "wm-zhao", "wecom"), name="赵雷", city="杭州")
    customer_tags_change(customer=wang, add=["绿茶"])
    customer_tags_change(customer=li, add=["绿茶"])
    events_ingest(
        rows=[
            {
                "event_id": "e-sub",
                "name": "subscribe",
                "occurred_at": "2026-10-01T10:00:00+08:00",
                "channel": "oa",
                "identities": [{"kind": "wechat_openid", "value": "o-wang", "scope": "oa"}],
            },
            {
                "event_id": "e-pay",
                "name": "order_paid",
                "occurred_at": "2026-10-02T10:00:00+08:00",
                "channel": "tmall",
                "identities": [{"kind": "phone", "value": "13812345678"}],
                "properties": {"amount": 128},
            },
        ]
    )
    for username, role in (("ops", "operator"), ("ana", "analyst")):
        user = django_user_model.objects.create_user(username=username, password="pw-" + username)
        user.groups.add(Group.objects.get(name=role))
    return {"wang": wang, "li": li}


def login(page, username: str) -> None:
    page.goto(page.base + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-" + username)
    page.get_by_role("button", name=re.compile("登录|Log in")).click()
    expect(page.get_by_test_id("current-user")).to_contain_text(username)


def test_operator_filters_opens_a_profile_and_switches_language(page, shop):
    page.goto(page.base + "/customers/")
    expect(page).to_have_url(re.compile(r"/login/"))
    shot(page, "login")
    login(page, "ops")

    page.goto(page.base + "/customers/")
    expect(page.get_by_test_id("customer-row")).to_have_count(3)
    green_tea = Tag.objects.get(name="绿茶")
    page.get_by_test_id("filter-tag").select_option(str(green_tea.pk))
    expect(page.get_by_test_id("customer-row")).to_have_count(2)
    page.get_by_test_id("filter-channel").select_option("tmall")
    expect(page.get_by_test_id("customer-row")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"channel=tmall"))
    expect(page.get_by_test_id("customer-phone")).to_have_text("13812345678")
    shot(page, "customers-filtered")

    page.get_by_test_id("customer-link").click()
    expect(page.get_by_test_id("profile-name")).to_have_text("王小明")
    expect(page.get_by_test_id("timeline")).to_contain_text("order_paid")
    expect(page.get_by_test_id("profile-tags")).to_contain_text("绿茶")
    page.get_by_test_id("tab-identities").click()
    expect(page.get_by_test_id("identity-table")).to_contain_text("tb-wang")
    page.get_by_test_id("tab-timeline").click()
    expect(page.get_by_test_id("timeline")).to_be_visible()
    page.wait_for_timeout(300)  # let the tab's fade finish before the screenshot
    shot(page, "profile")
    page.get_by_test_id("tag-input").fill("高意向")
    page.get_by_test_id("tag-add").click()
    expect(page.get_by_test_id("profile-tags")).to_contain_text("高意向")

    page.get_by_test_id("lang-en").click()
    expect(page.locator("nav")).to_contain_text("Customers")
    expect(page.get_by_test_id("profile-name")).to_have_text("王小明")
    shot(page, "profile-en")
    page.get_by_test_id("lang-zh-hans").click()
    expect(page.locator("nav")).to_contain_text("客户")


def test_analyst_sees_masked_phone_numbers(page, shop):
    login(page, "ana")
    page.goto(page.base + "/customers/?channel=tmall")
    expect(page.get_by_test_id("customer-phone")).to_have_text("138****5678")
    shot(page, "customers-analyst")
    page.get_by_test_id("customer-link").click()
    expect(page.get_by_test_id("profile-phone")).to_have_text("138****5678")
    assert "13812345678" not in page.content()
