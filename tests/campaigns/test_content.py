"""The content library: rendering per channel kind with placeholders, and the checks."""

import pytest
from django.core.exceptions import ValidationError

from campaigns.content import content_check, content_render, content_save, sms_segments
from campaigns.models import ContentItem, ForbiddenWord, MessagingSettings
from customers.placeholders import placeholders_for
from tests.conftest import resolve

pytestmark = pytest.mark.django_db

VARIANTS = {
    "wechat_oa": {"text": "{{ name }}，新品上市"},
    "wecom": {"text": "{{ name }}您好", "link": "https://shop.example.com/new"},
    "wechat_mini": {
        "template_id": "TPL1",
        "data": {"thing1": {"value": "{{ name }}"}, "number2": {"value": "{{ points }}"}},
        "page": "pages/index",
    },
    "sms": {"text": "{{ name }}，您有 {{ points }} 积分"},
    "email": {"subject": "{{ name }}的专属礼遇", "html": "<p>{{ city }}门店见</p>"},
    "app": {"title": "新品", "text": "{{ name }}，来看看"},
}


@pytest.fixture
def values():
    customer = resolve(("phone", "13800000001", ""), name="王芳", city="杭州")
    customer.points_balance = 520
    customer.save(update_fields=["points_balance"])
    return placeholders_for([customer.pk])[customer.pk]


@pytest.fixture
def content():
    item = ContentItem(name="秋季新品", core_text="{{ name }}，秋季新品到店")
    return content_save(content=item, variants=VARIANTS)


def test_each_kind_renders_its_variant_with_placeholders(content, values):
    def render(kind):
        return content_render(content=content, channel_kind=kind, values=values)

    assert render("wechat_oa") == {"type": "mass_text", "text": "王芳，新品上市"}
    assert render("wecom") == {"text": "王芳您好", "link": "https://shop.example.com/new"}
    assert render("wechat_mini") == {
        "template_id": "TPL1",
        "data": {"thing1": {"value": "王芳"}, "number2": {"value": "520"}},
        "page": "pages/index",
    }
    assert render("sms") == {"text": "【茶小满】王芳，您有 520 积分"}
    assert render("email") == {"subject": "王芳的专属礼遇", "html": "<p>杭州门店见</p>",
                               "text": "杭州门店见"}  # fmt: skip
    assert render("app") == {"title": "新品", "text": "王芳，来看看"}


def test_kinds_without_a_variant_fall_back_to_the_core_text(values):
    item = content_save(content=ContentItem(name="提醒", core_text="{{ name }}，积分快过期"),
                        variants={"sms": {}})  # fmt: skip
    assert not item.variants.exists()
    assert content_render(content=item, channel_kind="sms", values=values) == {
        "text": "【茶小满】王芳，积分快过期"
    }
    assert content_render(content=item, channel_kind="wechat_oa", values=values)["text"] == (
        "王芳，积分快过期"
    )
    email = content_render(content=item, channel_kind="email", values=values)
    assert email["subject"] == "提醒" and email["text"] == "王芳，积分快过期"
    app = content_render(content=item, channel_kind="app", values=values)
    assert app == {"title": "提醒", "text": "王芳，积分快过期"}


def test_a_prefetched_batch_renders_without_queries(content, values, django_assert_num_queries):
    item = ContentItem.objects.prefetch_related("variants").get(pk=content.pk)
    with django_assert_num_queries(0):
        for _ in range(3):
            content_render(content=item, channel_kind="sms", values=values, signature="【X】")


def _errors(**variants) -> dict:
    item = ContentItem(name="测试", core_text=variants.pop("core", "你好"))
    with pytest.raises(ValidationError) as caught:
        content_check(content=item, variants=variants)
    return caught.value.message_dict


def test_forbidden_words_are_refused_wherever_they_are():
    ForbiddenWord.objects.create(word="最低价")
    errors = _errors(core="全网最低价", sms={"text": "最低价来袭"},
                     wechat_mini={"data": {"thing1": {"value": "最低价"}}})  # fmt: skip
    assert set(errors) == {"core_text", "sms.text", "wechat_mini.data"}
    assert "最低价" in errors["core_text"][0]
    with pytest.raises(ValidationError):
        content_save(content=ContentItem(name="x", core_text="最低价"), variants={})
    assert not ContentItem.objects.exists()


def test_unknown_placeholders_and_email_without_subject():
    errors = _errors(app={"text": "{{ nickname }}"}, email={"html": "<p>hi</p>"})
    assert "nickname" in errors["app.text"][0]
    assert errors["email.subject"]


def test_sms_length_counts_the_signature_in_segments_of_70():
    assert sms_segments("a" * 70) == 1 and sms_segments("a" * 71) == 2
    signature = MessagingSettings.load().sms_signature  # 【茶小满】: 5 characters
    fits = "字" * (210 - len(signature))
    content_check(content=ContentItem(name="x", core_text="x"), variants={"sms": {"text": fits}})
    errors = _errors(sms={"text": fits + "多"})
    assert "211" in errors["sms.text"][0]
    # a text with its own signature is counted as it is
    content_check(content=ContentItem(name="x", core_text="x"),
                  variants={"sms": {"text": "【别家】" + "字" * 206}})  # fmt: skip


def test_sms_without_any_signature_is_refused():
    settings = MessagingSettings.load()
    settings.sms_signature = ""
    settings.save(update_fields=["sms_signature"])
    assert "签名" in _errors(sms={"text": "您好"})["sms.text"][0]
    content_check(content=ContentItem(name="x", core_text="x"),
                  variants={"sms": {"text": "【茶小满】您好"}})  # fmt: skip
