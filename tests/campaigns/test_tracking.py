"""Tracking links (click → event → redirect with UTM) and opt-out links."""

from urllib.parse import parse_qs, urlsplit

import pytest

from campaigns.models import Campaign, ContentItem, Delivery, LinkClick, Push, PushRun
from campaigns.tracking import (
    tracking_link_create,
    tracking_url,
    unsubscribe_url,
)
from customers.models import Consent, Event
from tags.models import Audience
from tests.conftest import resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery(channels):
    campaign = Campaign.objects.create(name="秋季上新", utm_code="autumn")
    push = Push.objects.create(
        name="秋季推送", campaign=campaign, audience=Audience.objects.create(name="全部"),
        content=ContentItem.objects.create(name="内容", core_text="你好"),
    )  # fmt: skip
    customer = resolve(("phone", "13800000001", ""), name="王芳")
    return Delivery.objects.create(run=PushRun.objects.create(push=push), customer=customer,
                                   channel_account=channels["wecom"], status="sent")  # fmt: skip


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def test_a_click_is_recorded_and_redirected_with_utm(client, delivery):
    push = delivery.run.push
    link = tracking_link_create(url="https://shop.example.com/p/1?sku=9&utm_medium=qr", push=push)
    assert len(link.code) == 8
    url = tracking_url(link=link, delivery=delivery)
    assert url.startswith("http") and f"/t/{link.code}?d=" in url
    answer = client.get(_path(url))
    assert answer.status_code == 302
    target = urlsplit(answer["Location"])
    assert target.netloc == "shop.example.com" and target.path == "/p/1"
    assert parse_qs(target.query) == {"sku": ["9"], "utm_medium": ["qr"], "utm_source": ["wecom"],
                                      "utm_campaign": ["autumn"]}  # fmt: skip
    click = LinkClick.objects.get()
    assert click.delivery == delivery and click.customer == delivery.customer
    event = Event.objects.get(name="link_click")
    assert event.customer == delivery.customer and event.channel_account.code == "wecom"
    assert event.source_id == f"click:{click.pk}"
    assert event.properties == {"code": link.code, "url": link.url, "push": push.pk}


def test_a_tampered_token_still_redirects_but_credits_nobody(client, delivery):
    link = tracking_link_create(
        url="https://shop.example.com/", campaign=delivery.run.push.campaign
    )
    url = _path(tracking_url(link=link, delivery=delivery))
    answer = client.get(url[:-2] + "xx")
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer["Location"]).query) == {
        "utm_medium": ["push"], "utm_campaign": ["autumn"]}  # fmt: skip
    click = LinkClick.objects.get()
    assert click.delivery is None and click.customer is None
    assert not Event.objects.filter(name="link_click").exists()
    assert client.get(f"/t/{link.code}").status_code == 302  # no token at all


def test_an_unknown_code_is_a_404_page(client, db):
    answer = client.get("/t/nothing")
    assert answer.status_code == 404
    assert 'data-testid="link-missing"' in answer.content.decode()


def test_opt_out_confirms_then_revokes_consent(client, delivery):
    customer = delivery.customer
    Consent.objects.create(customer=customer, channel="sms", status="granted")
    path = _path(unsubscribe_url(customer=customer, channel_kind="sms"))
    page = client.get(path)
    assert page.status_code == 200 and 'data-testid="unsubscribe-form"' in page.content.decode()
    assert Consent.objects.get(channel="sms").status == "granted"  # a GET changes nothing
    done = client.post(path)
    assert done.status_code == 200 and 'data-testid="unsubscribe-done"' in done.content.decode()
    consent = Consent.objects.get(customer=customer, channel="sms")
    assert consent.status == "revoked" and consent.source == "unsubscribe_link"
    client.post(_path(unsubscribe_url(customer=customer, channel_kind="app")))
    assert Consent.objects.get(customer=customer, channel="app_push").status == "revoked"


def test_a_tampered_opt_out_token_is_a_400_page(client, delivery):
    path = _path(unsubscribe_url(customer=delivery.customer, channel_kind="sms"))
    for bad in (path[:-3] + "abc", "/u/garbage"):
        answer = client.post(bad)
        assert answer.status_code == 400
        assert 'data-testid="unsubscribe-invalid"' in answer.content.decode()
    assert not Consent.objects.exists()
