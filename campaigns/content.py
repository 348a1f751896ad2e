"""The content library: one core message, a variant per channel kind, checked before it is
saved and rendered per customer when sent (docs/campaigns.md, "Content")."""

import math

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import linebreaks, strip_tags
from django.utils.translation import gettext as _

from campaigns.models import ContentItem, ContentVariant, ForbiddenWord, MessagingSettings
from channels.choices import ChannelKind
from customers.placeholders import placeholders_check, placeholders_render

SMS_SEGMENT = 70  # characters per SMS segment (Chinese text)
SMS_MAX_SEGMENTS = 3

# the fields a variant of each kind holds, as the console edits them
VARIANT_FIELDS = {
    ChannelKind.WECHAT_OA: ("text",),
    ChannelKind.WECOM: ("text", "link"),
    ChannelKind.WECHAT_MINI: ("template_id", "data", "page"),
    ChannelKind.SMS: ("text",),
    ChannelKind.EMAIL: ("subject", "html"),
    ChannelKind.APP: ("title", "text"),
}


def sms_segments(text: str) -> int:
    """How many segments an SMS of this text (signature included) is billed as."""
    return max(1, math.ceil(len(text) / SMS_SEGMENT))


def sms_signed(text: str, signature: str) -> str:
    """The SMS as sent: the signature first, unless the text already starts with one."""
    return text if text.startswith("【") else f"{signature}{text}"


def content_render(
    *,
    content: ContentItem,
    channel_kind: str,
    values: dict[str, str],
    variants: dict[str, dict] | None = None,
    signature: str | None = None,
) -> dict:
    """The message one customer gets on one kind of channel (`OutMessage.content`), the
    variant's placeholders filled with `values` (one customer's `placeholders_for`); kinds
    without a variant get the core text. `variants` (kind → fields) renders content not saved
    yet (a preview); `signature` saves a query per message in batches."""
    if variants is not None:
        fields = variants.get(channel_kind)
    else:
        fields = _variant(content, channel_kind)
    if not fields:
        fields = _fallback(content, channel_kind)
    message = {key: _fill(value, values) for key, value in fields.items() if value != ""}
    if "text" in VARIANT_FIELDS.get(channel_kind, ()) and not message.get("text"):
        message["text"] = placeholders_render(content.core_text, values)
    if channel_kind == ChannelKind.WECHAT_OA:
        message.setdefault("type", "template" if message.get("template_id") else "mass_text")
    elif channel_kind == ChannelKind.SMS:
        if signature is None:
            signature = MessagingSettings.load().sms_signature
        message["text"] = sms_signed(message.get("text", ""), signature)
    elif channel_kind == ChannelKind.EMAIL:
        message.setdefault("subject", content.name)
        core = placeholders_render(content.core_text, values)
        message.setdefault("html", linebreaks(core, autoescape=True))
        message["text"] = strip_tags(message["html"]).strip()
    elif channel_kind == ChannelKind.WECHAT_MINI:
        message.setdefault("data", {})
    return message


def _variant(content: ContentItem, channel_kind: str) -> dict | None:
    # through .all() so that a prefetched content renders a whole batch without queries
    for variant in content.variants.all():
        if variant.channel_kind == channel_kind:
            return variant.fields
    return None


def _fallback(content: ContentItem, channel_kind: str) -> dict:
    if channel_kind == ChannelKind.APP:
        return {"title": content.name, "text": content.core_text}
    if channel_kind == ChannelKind.EMAIL:
        return {"subject": content.name}
    return {"text": content.core_text}


def _fill(value, values: dict[str, str]):
    if isinstance(value, str):
        return placeholders_render(value, values)
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    return value


def content_check(*, content: ContentItem, variants: dict[str, dict] | None = None) -> None:
    """Refuse content that must not be sent: forbidden words, unknown placeholders, SMS too
    long or unsigned, email without a subject. Errors are keyed by field: `core_text`, or
    `<kind>.<field>` for a variant's field. `variants` (kind → fields) checks content not
    saved yet; by default the saved variants are checked."""
    if variants is None:
        variants = {v.channel_kind: v.fields for v in content.variants.all()}
    variants = {kind: fields for kind, fields in variants.items() if fields}
    words = list(ForbiddenWord.objects.values_list("word", flat=True))
    errors: dict[str, list] = {}
    texts = {"name": content.name, "core_text": content.core_text}
    for kind, fields in variants.items():
        for name, value in fields.items():
            texts[f"{kind}.{name}"] = _text_of(value)
    for key, text in texts.items():
        found = [w for w in words if w.lower() in text.lower()]
        if found:
            errors.setdefault(key, []).append(
                _("包含违禁词：%(words)s") % {"words": "、".join(found)}
            )
        try:
            placeholders_check(text)
        except ValidationError as exc:
            errors.setdefault(key, []).extend(exc.messages)
    if ChannelKind.SMS in variants:
        _check_sms(variants[ChannelKind.SMS].get("text", ""), errors)
    if ChannelKind.EMAIL in variants and not variants[ChannelKind.EMAIL].get("subject"):
        errors.setdefault("email.subject", []).append(_("邮件必须有主题"))
    if errors:
        raise ValidationError(errors)


def _check_sms(text: str, errors: dict) -> None:
    signature = MessagingSettings.load().sms_signature
    if not text.startswith("【") and not signature:
        errors.setdefault("sms.text", []).append(_("短信缺少签名：请在发送设置中填写短信签名"))
        return
    signed = sms_signed(text, signature)
    if sms_segments(signed) > SMS_MAX_SEGMENTS:
        errors.setdefault("sms.text", []).append(
            _("短信连签名共 %(n)s 字，超过 %(max)s 条（每条 %(size)s 字）")
            % {"n": len(signed), "max": SMS_MAX_SEGMENTS, "size": SMS_SEGMENT}
        )


def _text_of(value) -> str:
    if isinstance(value, dict):
        return " ".join(_text_of(item) for item in value.values())
    if isinstance(value, list):
        return " ".join(_text_of(item) for item in value)
    return str(value)


@transaction.atomic
def content_save(*, content: ContentItem, variants: dict[str, dict], user=None) -> ContentItem:
    """Check and save a content item with its variants (kind → fields); a kind left out or
    with no fields has its variant removed, so it falls back to the core text."""
    variants = {kind: fields for kind, fields in variants.items() if fields}
    content_check(content=content, variants=variants)
    if content.pk is None and user is not None and user.is_authenticated:
        content.created_by = user
    content.save()
    content.variants.exclude(channel_kind__in=list(variants)).delete()
    for kind, fields in variants.items():
        ContentVariant.objects.update_or_create(
            content=content, channel_kind=kind, defaults={"fields": fields}
        )
    return content
