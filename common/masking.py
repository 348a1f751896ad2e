"""PII masking for users without the `customers.view_pii` permission."""

PII_PERMISSION = "customers.view_pii"


def can_view_pii(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(PII_PERMISSION))


def mask_phone(phone: str | None) -> str:
    """+8613812345678 → 138****5678; other numbers keep their first 3 and last 4 digits."""
    if not phone:
        return ""
    digits = phone[3:] if phone.startswith("+86") else phone.lstrip("+")
    if len(digits) <= 7:
        return digits[:1] + "*" * max(len(digits) - 2, 1) + digits[-1:]
    return f"{digits[:3]}****{digits[-4:]}"


def mask_email(email: str | None) -> str:
    """alice@example.com → a***@example.com"""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else f"{local[:1]}***"


def display_phone(phone: str | None, user) -> str:
    if not phone:
        return ""
    if can_view_pii(user):
        return phone[3:] if phone.startswith("+86") else phone
    return mask_phone(phone)


def display_email(email: str | None, user) -> str:
    return (email or "") if can_view_pii(user) else mask_email(email)


def display_identity_value(kind: str, value: str, user) -> str:
    if kind == "phone":
        return display_phone(value, user)
    if kind == "email":
        return display_email(value, user)
    return value
