"""Secrets encrypted at rest (Fernet). The key comes from the environment
(`CHANNEL_SECRET_KEY`, a Fernet key); without one it is derived from SECRET_KEY, so a
development database still round-trips, and production sets its own."""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

PREFIX = "fernet:"


@cache
def _fernet() -> Fernet:
    key = getattr(settings, "CHANNEL_SECRET_KEY", "") or base64.urlsafe_b64encode(
        hashlib.sha256(settings.SECRET_KEY.encode()).digest()
    )
    return Fernet(key)


def encrypt(value: str) -> str:
    return PREFIX + _fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(stored: str) -> str:
    if not stored or not stored.startswith(PREFIX):
        return stored or ""
    try:
        return _fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ValueError("channel secret cannot be decrypted: wrong CHANNEL_SECRET_KEY") from exc


def masked(value: str) -> str:
    """What the console and the API show of a secret: never more than its last four."""
    if not value:
        return ""
    return "••••" + value[-4:] if len(value) > 8 else "••••"


class EncryptedTextField(models.TextField):
    """A text column holding ciphertext; Python sees the plain value."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value is not None else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else (value or "")
