"""Writes on channel accounts."""

from channels.models import ChannelAccount


def channel_account_create(
    *, kind: str, code: str, name: str, app_id: str = "", sandbox: bool = False
) -> ChannelAccount:
    """Register a platform account of the brand; `code` names it in identities and events."""
    account = ChannelAccount(kind=kind, code=code, name=name, app_id=app_id, sandbox=sandbox)
    account.full_clean()
    account.save()
    return account
