"""Celery tasks of the channels app: thin, they find the row and call the service."""

from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from channels.adapters import PlatformError
from channels.callbacks import process_callback_task  # noqa: F401  (the worker registers it)
from channels.choices import AccountStatus, ChannelKind, SyncKind
from channels.models import ChannelAccount, SyncRun
from channels.syncs import DEFAULT_KINDS, account_sync

RECONCILED_KINDS = (ChannelKind.WECHAT_OA, ChannelKind.WECOM)


@shared_task(
    name="channels.sync_account",
    autoretry_for=(PlatformError, ConnectionError),
    retry_backoff=60,
    retry_backoff_max=900,
    max_retries=3,
)
def account_sync_task(account_id: int, kind: str, full: bool = False) -> None:
    """One sync of an account; a transient platform error (busy, quota) is retried later."""
    account = ChannelAccount.objects.filter(pk=account_id, status=AccountStatus.ACTIVE).first()
    if account is None:
        return
    account_sync(account=account, kind=kind, full=full, raise_transient=True)


def accounts_due(now=None) -> list[ChannelAccount]:
    """Active accounts with a default sync whose interval has passed since their last sync
    (`last_sync_at`) and since their last attempt (a failing account waits its turn too)."""
    now = now or timezone.now()
    accounts = list(
        ChannelAccount.objects.filter(
            status=AccountStatus.ACTIVE, kind__in=DEFAULT_KINDS, sync_interval_minutes__gt=0
        )
    )
    started = {
        (account_id, kind): at
        for account_id, kind, at in SyncRun.objects.filter(account__in=accounts)
        .values("account", "kind")
        .annotate(at=Max("started_at"))
        .values_list("account", "kind", "at")
    }
    due = []
    for account in accounts:
        times = [account.last_sync_at, started.get((account.pk, DEFAULT_KINDS[account.kind]))]
        latest = max((t for t in times if t), default=None)
        if latest is None or now - latest >= timedelta(minutes=account.sync_interval_minutes):
            due.append(account)
    return due


@shared_task(name="channels.sync_due_accounts")
def sync_due_accounts_task() -> int:
    """Every 5 minutes: queue the default sync of each account whose interval has passed."""
    due = accounts_due()
    for account in due:
        kind = DEFAULT_KINDS[account.kind]
        transaction.on_commit(lambda pk=account.pk, kind=kind: account_sync_task.delay(pk, kind))
    return len(due)


@shared_task(name="channels.reconcile")
def reconcile_task() -> int:
    """Nightly: a full sync of every WeChat OA and WeCom account, catching the callbacks
    that never arrived."""
    accounts = ChannelAccount.objects.filter(
        status=AccountStatus.ACTIVE, kind__in=RECONCILED_KINDS
    ).values_list("pk", flat=True)
    for pk in accounts:
        transaction.on_commit(lambda pk=pk: account_sync_task.delay(pk, SyncKind.RECONCILE))
    return len(accounts)


@shared_task(name="channels.refresh_live_codes")
def live_codes_refresh_task() -> int:
    """Every quarter hour: re-point live codes whose opening hours or daily caps moved on."""
    from channels.livecodes import live_codes_refresh

    return live_codes_refresh()
