"""Content in a real browser: compose a message with an SMS variant, watch the counter,
preview it for a customer, save it."""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from campaigns.models import ContentItem
from tests.conftest import resolve
from tests.e2e.conftest import shot
from tests.e2e.test_console import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def writer(django_user_model):
    resolve(("phone", "13800000001", ""), name="王芳", city="杭州")
    user = django_user_model.objects.create_user(username="ops", password="pw-ops")
    user.groups.add(Group.objects.get(name="operator"))
    return user


def test_compose_content_with_an_sms_variant(page, writer):
    login(page, "ops")
    page.goto(page.base + "/campaigns/content/")
    page.get_by_test_id("content-new").click()
    page.fill("input[name=name]", "秋季新品上市")
    page.fill("textarea[name=core_text]", "{{ name }}，秋季新品已到店，欢迎品尝。")
    page.get_by_test_id("tab-sms").click()
    counter = page.get_by_test_id("sms-counter")
    sms = page.locator("textarea[name=sms-text]")
    sms.fill("{{ name }}，" + "新" * 220)
    expect(counter).to_contain_text("4 条")
    expect(counter).to_have_class(re.compile("text-danger"))
    sms.fill("{{ name }}，秋季新品到店，凭短信享第二杯半价。回复TD退订")
    expect(counter).to_contain_text("1 条")
    expect(counter).not_to_have_class(re.compile("text-danger"))
    page.get_by_test_id("tab-app").click()
    page.fill("input[name=app-title]", "秋季新品")
    page.get_by_test_id("preview-button").click()
    preview = page.get_by_test_id("content-preview")
    expect(preview.get_by_test_id("preview-sms")).to_contain_text("【茶小满】王芳，秋季新品到店")
    expect(preview.get_by_test_id("preview-wechat_oa")).to_contain_text("王芳，秋季新品已到店")
    expect(preview.get_by_test_id("preview-app")).to_contain_text("王芳，秋季新品已到店")
    expect(preview.get_by_test_id("preview-problems")).to_have_count(0)
    page.get_by_test_id("tab-sms").click()
    expect(page.get_by_test_id("tab-sms")).to_have_class(re.compile("active"))
    expect(counter).to_be_visible()
    page.wait_for_timeout(300)
    shot(page, "content-editor")
    page.get_by_test_id("content-save").click()
    expect(page).to_have_url(re.compile(r"/campaigns/content/\d+/$"))
    expect(page.locator(".alert-success")).to_contain_text("秋季新品上市")
    item = ContentItem.objects.get()
    assert {v.channel_kind for v in item.variants.all()} == {"sms", "app"}
