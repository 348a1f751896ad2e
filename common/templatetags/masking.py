"""Template filters that show contact details masked unless the user has `view_pii`."""

from django import template

from common.masking import display_email, display_identity_value, display_phone

register = template.Library()


@register.filter
def phone_for(phone: str, user) -> str:
    return display_phone(phone, user)


@register.filter
def email_for(email: str, user) -> str:
    return display_email(email, user)


@register.simple_tag
def identity_value(identity, user) -> str:
    return display_identity_value(identity.kind, identity.value, user)
