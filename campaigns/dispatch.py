"""Dispatch: a run's deliveries sent through the channel adapters, each at most once.

A worker claims a batch of due rows (`SELECT … FOR UPDATE SKIP LOCKED`), marks them `sending`
and commits before the platform is called; the results are written after the call. A worker
killed between the two leaves its rows `sending`: `deliveries_sweep` marks them `unknown`,
never to be sent again, and the run's other rows are dispatched by whoever comes next (the
redelivered task, or the sweeper's new one).
"""

import random
import time
from collections import defaultdict
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from campaigns.choices import DeliveryStatus, RunStatus, SkipReason
from campaigns.content import content_render
from campaigns.models import ContentItem, Delivery, MessagingSettings, PushRun
from channels.adapters import OutMessage, SendResult, adapter_for
from channels.models import ChannelAccount
from customers.placeholders import placeholders_for

BATCH = 500
CLAIM_TRIES = 20
# A row `sending` for longer than this was claimed by a worker that died: no batch takes as
# long (settings.DELIVERY_SWEEP_SECONDS overrides it).
SWEEP_AFTER = timedelta(minutes=2)
TASK_SECONDS = 10 * 60  # a dispatch task's share of a long run (the soft limit is 15 minutes)
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING)
SKIP_CODES = {
    45015: SkipReason.OUTSIDE_WINDOW,  # customer-service message outside the 48-hour window
    45009: SkipReason.PLATFORM_QUOTA,  # the API's daily quota
    45028: SkipReason.PLATFORM_QUOTA,  # nobody left under this month's OA mass quota
}


def sweep_after() -> timedelta:
    seconds = getattr(settings, "DELIVERY_SWEEP_SECONDS", None)
    return SWEEP_AFTER if seconds is None else timedelta(seconds=seconds)


def deliveries_sweep(*, older_than: timedelta | None = None, run: PushRun | None = None) -> int:
    """Mark rows left `sending` longer than `older_than` `unknown` (all runs, or one);
    returns how many. Whether the platform got them cannot be known, so they are not sent
    again."""
    rows = Delivery.objects.filter(
        status=DeliveryStatus.SENDING,
        claimed_at__lt=timezone.now() - (older_than if older_than is not None else sweep_after()),
    )
    if run is not None:
        rows = rows.filter(run=run)
    return rows.update(status=DeliveryStatus.UNKNOWN)


def run_dispatch(*, run: PushRun, batch: int = BATCH, seconds: float | None = None) -> int:
    """Send the run's due rows batch by batch while the run is `sending` (a pause or cancel
    stops it after the batch in flight) and, with `seconds`, until that time is up; returns
    how many messages were handed to the platforms. A run with no open row left is marked
    done."""
    handed, contents = 0, _contents(run)
    signature = MessagingSettings.load().sms_signature
    deadline = time.monotonic() + seconds if seconds is not None else None
    while True:
        status = PushRun.objects.filter(pk=run.pk).values_list("status", flat=True).first()
        if status != RunStatus.SENDING:
            return handed
        claimed = _claim(run, batch)
        if not claimed:
            break
        handed += _send(claimed, contents, signature)
        if deadline is not None and time.monotonic() >= deadline:
            break
    _finish_if_done(run)
    return handed


def _claim(run: PushRun, batch: int) -> list[Delivery]:
    """Take up to `batch` due rows of the run for this worker: `sending`, committed."""
    for _attempt in range(CLAIM_TRIES - 1):
        try:
            return _claim_once(run, batch)
        except OperationalError:
            # SQLite has no row locks: a transaction that read before another worker's claim
            # committed may not write ("database is locked" at once); it starts again
            if connection.vendor != "sqlite":
                raise
            time.sleep(random.uniform(0.01, 0.1))
    return _claim_once(run, batch)


def _due(run: PushRun, now=None):
    """The run's rows to send now: pending, or deferred to a time that has come."""
    now = now or timezone.now()
    due = Q(status=DeliveryStatus.PENDING) | Q(
        status=DeliveryStatus.DEFERRED, deferred_until__lte=now
    )
    return Delivery.objects.filter(due, run=run)


def _claim_once(run: PushRun, batch: int) -> list[Delivery]:
    now = timezone.now()
    with transaction.atomic():
        locked = _due(run, now).select_for_update(skip_locked=True)
        ids = list(locked.order_by("id").values_list("pk", flat=True)[:batch])
        # due again: SQLite has no row locks, another worker may have taken some meanwhile
        _due(run, now).filter(pk__in=ids).update(status=DeliveryStatus.SENDING, claimed_at=now)
    claimed = Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.SENDING, claimed_at=now)
    return list(claimed.order_by("id"))


def _send(claimed: list[Delivery], contents: dict, signature: str) -> int:
    """One adapter call per channel account (outside any transaction), then the results."""
    values = placeholders_for({d.customer_id for d in claimed})
    by_account: dict[int, list[Delivery]] = defaultdict(list)
    for delivery in claimed:
        by_account[delivery.channel_account_id].append(delivery)
    accounts = ChannelAccount.objects.in_bulk(list(by_account))
    for account_id, deliveries in by_account.items():
        account = accounts[account_id]
        batch = [
            OutMessage(
                to=d.recipient,
                content=content_render(
                    content=contents.get(d.variant_id, contents[None]),
                    channel_kind=account.kind,
                    values=values.get(d.customer_id, {}),
                    signature=signature,
                ),
                key=str(d.pk),
            )
            for d in deliveries
        ]
        results = adapter_for(account).send(batch)
        _record(deliveries, results)
    return len(claimed)


def _record(deliveries: list[Delivery], results: list[SendResult]) -> None:
    """Write each row's outcome (sent, skipped by a platform rule, failed) in one statement:
    `UPDATE … FROM (VALUES …)` (PostgreSQL, SQLite ≥ 3.33); `bulk_update`'s CASE per row
    costs more than the platform calls."""
    rows = []
    for delivery, result in zip(deliveries, results, strict=True):
        if result.ok:
            status, reason = DeliveryStatus.SENT, ""
        elif result.error_code in SKIP_CODES:
            status, reason = DeliveryStatus.SKIPPED, SKIP_CODES[result.error_code]
        else:
            status, reason = DeliveryStatus.FAILED, ""
        code = None if result.error_code is None else str(result.error_code)
        rows.append((delivery.pk, status, reason, result.platform_id[:100], code,
                     (result.error or "")[:300]))  # fmt: skip
    table = connection.ops.quote_name(Delivery._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    sent_at = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = v.column2, skip_reason = v.column3, "
            f"platform_id = v.column4, error_code = CAST(v.column5 AS integer), "
            f"error = v.column6, sent_at = CASE WHEN v.column2 = %s THEN %s ELSE NULL END "
            f"FROM (VALUES {values}) AS v WHERE {table}.id = v.column1",
            [DeliveryStatus.SENT, sent_at, *(field for row in rows for field in row)],
        )


def _finish_if_done(run: PushRun) -> None:
    if Delivery.objects.filter(run=run, status__in=OPEN).exists():
        return  # rows deferred to later, or another worker's batch still out
    if PushRun.objects.filter(pk=run.pk, status=RunStatus.SENDING).update(
        status=RunStatus.DONE, finished_at=timezone.now()
    ):
        from campaigns.pushes import push_sync_status  # pushes imports dispatch

        push_sync_status(push=run.push)


def _contents(run: PushRun) -> dict[int | None, ContentItem]:
    """The run's content by A/B variant id (None: the push's own), channel variants
    prefetched so that rendering a batch makes no query."""
    push = PushRun.objects.select_related("push").get(pk=run.pk).push
    item_ids = {None: push.content_id}
    item_ids.update(push.variants.values_list("pk", "content_id"))
    items = ContentItem.objects.prefetch_related("variants").in_bulk(set(item_ids.values()))
    return {key: items[item_id] for key, item_id in item_ids.items()}


@shared_task(name="campaigns.dispatch_run", acks_late=True, reject_on_worker_lost=True)
def dispatch_run_task(run_id: int, sweep_seconds: float | None = None) -> None:
    """Dispatch a run. Acked late: a worker killed mid-run leaves the task to be delivered
    again, and the new one first marks the dead worker's batch `unknown`. A task sends for
    `TASK_SECONDS` at most, well inside the soft time limit (which would interrupt a batch
    mid-call), then hands over to a new one."""
    run = PushRun.objects.filter(pk=run_id).first()
    if run is None:
        return
    deliveries_sweep(older_than=_seconds(sweep_seconds), run=run)
    run_dispatch(run=run, batch=BATCH, seconds=TASK_SECONDS)
    if _due(run).exists() and PushRun.objects.filter(pk=run.pk, status=RunStatus.SENDING).exists():
        dispatch_run_task.delay(run.pk, sweep_seconds)  # time is up: a new task carries on


@shared_task(name="campaigns.sweep_deliveries")
def sweep_deliveries_task(sweep_seconds: float | None = None) -> int:
    """Periodic: stale `sending` rows → `unknown`, then a dispatch for each sending run that
    has no batch out (nobody is dispatching it), so a dispatch lost with its worker resumes,
    deferred rows that came due go out and a run whose last batch was swept is finished."""
    swept = deliveries_sweep(older_than=_seconds(sweep_seconds))
    busy = Delivery.objects.filter(run=OuterRef("pk"), status=DeliveryStatus.SENDING)
    idle = PushRun.objects.filter(status=RunStatus.SENDING).exclude(Exists(busy))
    for run_id in idle.values_list("pk", flat=True):
        transaction.on_commit(lambda run_id=run_id: dispatch_run_task.delay(run_id, sweep_seconds))
    return swept


def _seconds(seconds: float | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds is not None else None
