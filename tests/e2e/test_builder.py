"""The audience builder in a real browser: build a nested audience and watch the count, save
it and open its members; the JSON tab round-trips; a bad condition is marked in place."""

import json
import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from tags.models import Audience
from tags.services import customer_tags_change
from tests.conftest import resolve
from tests.e2e.conftest import shot
from tests.e2e.test_console import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROUND_TRIP = {
    "all": [
        {"not": {"any": [{"tag": {"none": ["绿茶"]}},
                         {"attr": "total_orders", "op": "gte", "value": 3}]}},
        {"event": "order_paid", "within": "30d", "channel": "tmall",
         "where": [{"prop": "amount", "op": "between", "value": [100, 500]}],
         "sum": {"prop": "amount", "gte": 128}},
        {"identity": "wechat_openid", "scope": "oa"},
        {"consent": "sms", "status": "revoked"},
        {"attr": "lifecycle", "op": "in", "value": ["new", "active"]},
        {"event": "add_to_cart", "count": {"gte": 1, "lte": 5}},
        {"not": {"not": {"attr": "attributes.shoe_size", "op": "gt", "value": 37}}},
    ]
}  # fmt: skip


@pytest.fixture
def people(channels, django_user_model):
    wang = resolve(("phone", "13812345678", ""), name="王小明", city="上海")
    li = resolve(("phone", "13900001111", ""), name="李娜", city="上海")
    resolve(("phone", "13700002222", ""), name="赵雷", city="杭州")
    customer_tags_change(customer=wang, add=["绿茶"])
    customer_tags_change(customer=li, add=["红茶"])
    user = django_user_model.objects.create_user(username="ops", password="pw-ops")
    user.groups.add(Group.objects.get(name="operator"))


def count(page) -> int:
    return int(page.get_by_test_id("preview-count").get_attribute("data-count"))


def expect_count(page, n: int) -> None:
    expect(page.get_by_test_id("preview-count")).to_have_attribute("data-count", str(n))


def json_tab(page) -> dict:
    page.get_by_test_id("tab-json").click()
    return json.loads(page.get_by_test_id("definition-json").input_value())


def test_build_nested_audience_save_and_open_members(page, people):
    login(page, "ops")
    page.goto(page.base + "/tags/audiences/new/")
    expect_count(page, 3)  # all of nothing: everyone
    root = page.get_by_test_id("qb-group").first
    root.locator("[data-qb=connector]").first.select_option("any")
    root.locator("[data-qb=add-group]").first.click()  # any → [ {any: [city = ""]} ]
    inner = page.get_by_test_id("qb-group").nth(1)
    inner.locator("[data-qb=connector]").first.select_option("all")
    inner = page.get_by_test_id("qb-group").nth(1)
    inner.get_by_test_id("qb-leaf").first.locator("[data-qb=value]").fill("上海")
    expect_count(page, 2)
    inner.locator("[data-qb=add-condition]").first.click()
    inner.get_by_test_id("qb-leaf").nth(1).locator("[data-qb=kind]").select_option("tag")
    inner.get_by_test_id("qb-leaf").nth(1).locator("[data-qb=tag]").select_option("绿茶")
    expect_count(page, 1)
    root.locator("[data-qb=add-condition]").first.click()
    page.get_by_test_id("qb-leaf").nth(2).locator("[data-qb=value]").fill("杭州")
    expect_count(page, 2)
    expect(page.get_by_test_id("preview-sample")).to_contain_text("王小明")
    shot(page, "audience-builder")

    assert json_tab(page) == {
        "any": [
            {"all": [{"attr": "city", "op": "eq", "value": "上海"}, {"tag": "绿茶"}]},
            {"attr": "city", "op": "eq", "value": "杭州"},
        ]
    }
    page.get_by_test_id("tab-builder").click()
    page.fill("#id_name", "上海绿茶或杭州")
    page.get_by_test_id("audience-save").click()
    expect(page).to_have_url(re.compile(r"/tags/audiences/\d+/$"))
    expect(page.get_by_test_id("audience-size")).to_have_text("2")
    members = page.get_by_test_id("member-table")
    expect(members).to_contain_text("王小明")
    expect(members).to_contain_text("赵雷")
    shot(page, "audience-detail")
    members.get_by_role("link", name="赵雷").click()
    expect(page.locator("h1")).to_contain_text("赵雷")
    assert Audience.objects.get().definition["any"][1]["value"] == "杭州"


def test_json_tab_round_trips_and_errors_are_marked(page, people):
    login(page, "ops")
    page.goto(page.base + "/tags/audiences/new/")
    expect_count(page, 3)
    page.get_by_test_id("tab-json").click()
    page.get_by_test_id("definition-json").fill(json.dumps(ROUND_TRIP, ensure_ascii=False))
    page.get_by_test_id("tab-builder").click()
    expect(page.get_by_test_id("qb-leaf")).to_have_count(6)
    expect(page.get_by_test_id("qb-raw")).to_have_count(2)  # two comparisons; double negation
    # an edit forces the builder to write the whole tree back: nothing may be lost or changed
    negate = page.get_by_test_id("qb-leaf").nth(4).locator("[data-qb=not]")
    negate.check()
    negate = page.get_by_test_id("qb-leaf").nth(4).locator("[data-qb=not]")
    negate.uncheck()
    assert json_tab(page) == ROUND_TRIP
    shot(page, "audience-json")

    page.get_by_test_id("definition-json").fill('{"all": [')
    page.get_by_test_id("tab-builder").click()  # refuses until the JSON parses
    expect(page.get_by_test_id("json-error")).not_to_be_empty()
    bad = {"all": [{"attr": "city", "op": "eq", "value": "上海"},
                   {"event": "add_to_cart", "within": "soon"}]}  # fmt: skip
    page.get_by_test_id("definition-json").fill(json.dumps(bad))
    expect(page.get_by_test_id("preview-errors")).to_contain_text("all[1].within")
    page.get_by_test_id("tab-builder").click()
    expect(page.locator(".qb-invalid")).to_have_count(1)
    page.fill("#id_name", "坏规则")
    page.get_by_test_id("audience-save").click()
    expect(page.get_by_test_id("field-error")).to_contain_text("all[1].within")
    assert not Audience.objects.exists()
