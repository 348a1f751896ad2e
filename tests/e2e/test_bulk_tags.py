"""Bulk tagging from the customer list in a real browser: tick rows, apply, watch progress."""

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from customers.models import Customer
from tags.models import CustomerTag, Tag, TagGroup
from tests.e2e.conftest import shot
from tests.e2e.test_console import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def crowd(django_user_model):
    Customer.objects.bulk_create(
        [Customer(name=f"客户{i}", city="杭州" if i % 2 else "上海") for i in range(8)]
    )
    tag = Tag.objects.create(group=TagGroup.objects.create(name="活动"), name="双十一候选")
    user = django_user_model.objects.create_user(username="ops", password="pw-ops")
    user.groups.add(Group.objects.get(name="operator"))
    return tag


def test_tick_rows_then_tag_the_whole_filter_result(page, crowd):
    login(page, "ops")
    page.goto(page.base + "/customers/?city=杭州")
    expect(page.get_by_test_id("customer-row")).to_have_count(4)
    page.get_by_test_id("select-row").nth(0).check()
    page.get_by_test_id("select-row").nth(1).check()
    page.get_by_test_id("bulk-tag").select_option(label="活动 / 双十一候选")
    page.get_by_test_id("bulk-selected").click()
    expect(page.get_by_test_id("bulk-progress")).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("bulk-progress")).to_contain_text("100%")
    shot(page, "bulk-progress")
    assert CustomerTag.objects.filter(tag=crowd).count() == 2

    page.goto(page.base + "/customers/?city=杭州")
    page.get_by_test_id("bulk-tag").select_option(label="活动 / 双十一候选")
    page.once("dialog", lambda dialog: dialog.accept())  # "apply to all 4?"
    page.get_by_test_id("bulk-filter").click()
    expect(page.get_by_test_id("bulk-progress")).to_have_attribute("data-status", "done")
    tagged = set(CustomerTag.objects.filter(tag=crowd).values_list("customer__city", flat=True))
    assert tagged == {"杭州"} and CustomerTag.objects.filter(tag=crowd).count() == 4
