"""Normalising identities so that one person's phone or email always looks the same."""

from dataclasses import dataclass

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from customers.choices import SCOPED_KINDS, IdentityKind

MAX_VALUE_LENGTH = 191


@dataclass(frozen=True, order=True)
class IdentityKey:
    """An identity's natural key, normalised."""

    kind: str
    scope: str
    value: str


def normalize_phone(raw: str) -> str:
    """Return the E.164 form of a phone number; numbers without a country code are Chinese."""
    text = str(raw).strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(_("无法识别的手机号：%(value)s") % {"value": raw}) from exc
    if not phonenumbers.is_possible_number(number):
        raise ValidationError(_("无法识别的手机号：%(value)s") % {"value": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    value = str(raw).strip().lower()
    validate_email(value)
    return value


def normalize_identity(kind: str, value, scope: str | None = "") -> IdentityKey:
    """Validate and normalise one identity; raise ValidationError with a clear message."""
    if kind not in IdentityKind.values:
        raise ValidationError(
            _("未知的身份类型 %(kind)s，可选：%(choices)s")
            % {"kind": kind, "choices": ", ".join(IdentityKind.values)}
        )
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError(_("身份标识的值不能为空"))
    if not isinstance(value, str | int):
        raise ValidationError(_("身份标识的值必须是字符串"))
    scope = (scope or "").strip()
    if kind in SCOPED_KINDS:
        if not scope:
            raise ValidationError(_("%(kind)s 需要 scope（所属渠道账号代码）") % {"kind": kind})
    else:
        scope = ""
    if kind == IdentityKind.PHONE:
        value = normalize_phone(value)
    elif kind == IdentityKind.EMAIL:
        value = normalize_email(value)
    else:
        value = str(value).strip()
    if len(value) > MAX_VALUE_LENGTH:
        raise ValidationError(_("身份标识的值过长（最多 %(n)s 个字符）") % {"n": MAX_VALUE_LENGTH})
    return IdentityKey(kind=kind, scope=scope, value=value)
