"""Tracking links (`/t/<code>`: a click recorded, then a redirect with UTM parameters) and
opt-out links (`/u/<token>`: a signed customer + channel that revokes consent)."""

import secrets
import string
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import Campaign, Delivery, LinkClick, Push, TrackingLink
from channels.choices import ChannelKind
from customers.choices import ConsentChannel, ConsentStatus
from customers.models import Consent, Customer, Event
from customers.services import consent_set

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 8
CLICK_SALT = "campaigns.tracking.delivery"
OPTOUT_SALT = "campaigns.tracking.unsubscribe"

CONSENT_CHANNELS = {
    ChannelKind.WECHAT_OA: ConsentChannel.WECHAT_OA,
    ChannelKind.WECOM: ConsentChannel.WECOM,
    ChannelKind.WECHAT_MINI: ConsentChannel.WECHAT_MINI,
    ChannelKind.SMS: ConsentChannel.SMS,
    ChannelKind.EMAIL: ConsentChannel.EMAIL,
    ChannelKind.APP: ConsentChannel.APP_PUSH,
    ChannelKind.DOUYIN: ConsentChannel.DOUYIN,
}


def _public(path: str) -> str:
    return settings.PUBLIC_URL.rstrip("/") + path


def tracking_link_create(
    *, url: str, campaign: Campaign | None = None, push: Push | None = None
) -> TrackingLink:
    """A new short link to `url`, credited to a campaign and/or a push."""
    for _attempt in range(5):
        code = "".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH))
        try:
            with transaction.atomic():
                return TrackingLink.objects.create(code=code, url=url, campaign=campaign, push=push)
        except IntegrityError:  # 62^8 codes: a clash is rare, five in a row never happens
            continue
    raise RuntimeError("no free tracking code")


def tracking_url(*, link: TrackingLink, delivery: Delivery) -> str:
    """The link as one message carries it: the delivery id signed, so a click is credited."""
    token = signing.dumps(delivery.pk, salt=CLICK_SALT)
    return _public(f"/t/{link.code}?{urlencode({'d': token})}")


@transaction.atomic
def link_click_record(*, link: TrackingLink, token: str = "") -> tuple[LinkClick, str]:
    """Record a click (with its delivery and customer when the token is genuine) and a
    `link_click` event; returns the click and the address to redirect to."""
    delivery = None
    try:
        delivery_id = signing.loads(token, salt=CLICK_SALT) if token else None
    except signing.BadSignature:
        delivery_id = None
    if delivery_id is not None:
        delivery = (
            Delivery.objects.select_related("channel_account", "run__push__campaign")
            .filter(pk=delivery_id)
            .first()
        )
    click = LinkClick.objects.create(
        link=link, delivery=delivery, customer_id=delivery.customer_id if delivery else None
    )
    if delivery is not None:
        Event.objects.create(
            customer_id=delivery.customer_id,
            channel_account=delivery.channel_account,
            name="link_click",
            occurred_at=timezone.now(),
            source_id=f"click:{click.pk}",
            properties={"code": link.code, "url": link.url, "push": link.push_id},
        )
    return click, _with_utm(link, delivery)


def _with_utm(link: TrackingLink, delivery: Delivery | None) -> str:
    campaign = link.campaign or (link.push.campaign if link.push_id else None)
    if campaign is None and delivery is not None:
        campaign = delivery.run.push.campaign
    utm = {"utm_medium": "push"}
    if delivery is not None:
        utm["utm_source"] = delivery.channel_account.code
    if campaign is not None:
        utm["utm_campaign"] = campaign.utm_code
    parts = urlsplit(link.url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _value in query}
    query += [(key, value) for key, value in utm.items() if key not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- opt-out -------------------------------------------------------------------------------


def unsubscribe_url(*, customer: Customer, channel_kind: str) -> str:
    """The opt-out link for a message footer: revokes consent for that kind of channel."""
    token = signing.dumps({"c": customer.pk, "k": channel_kind}, salt=OPTOUT_SALT)
    return _public(f"/u/{token}")


def unsubscribe_read(token: str) -> tuple[Customer, str]:
    """The customer and consent channel a token names; `BadSignature` if it is not ours."""
    try:
        data = signing.loads(token, salt=OPTOUT_SALT)
        channel = CONSENT_CHANNELS[data["k"]]
        customer = Customer.objects.get(pk=data["c"])
    except (KeyError, TypeError, Customer.DoesNotExist):
        raise signing.BadSignature("unknown customer or channel")
    return customer, channel


def unsubscribe_apply(*, customer: Customer, channel: str) -> Consent:
    """Revoke marketing consent on the channel (the customer clicked an opt-out link)."""
    return consent_set(
        customer=customer, channel=channel, status=ConsentStatus.REVOKED, source="unsubscribe_link"
    )
