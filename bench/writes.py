"""Writes: a batch of events through events_ingest, and RFM/lifecycle scoring, beside SQL."""

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from bench.timing import case, same_rows, timed_ms
from customers.choices import Lifecycle, RfmSegment
from customers.ingest import events_ingest
from customers.models import Customer, Event, Identity, ScoringSettings
from customers.scoring import customers_score


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def event_rows(*, count: int, run: int) -> list[dict]:
    """A batch as the events/batch API receives it: nine in ten from known Mini Program users
    (by openid), one in ten from first-time visitors; event ids fresh for each run."""
    known = list(
        Identity.objects.filter(kind="wechat_openid", scope="mini")
        .order_by("id")
        .values_list("value", flat=True)[:2000]
    )
    now = timezone.now()
    rows = []
    for n in range(count):
        if n % 10 and known:
            identity = {"kind": "wechat_openid", "scope": "mini", "value": known[n % len(known)]}
        else:
            identity = {"kind": "wechat_unionid", "value": f"bench-new-{run}-{n}"}
        rows.append(
            {
                "event_id": f"bench-{run}-{n}",
                "name": "page_view" if n % 3 else "view_product",
                "occurred_at": (now - timedelta(minutes=n)).isoformat(),
                "channel": "mini",
                "identities": [identity],
                "properties": {"page": f"/pages/item?id={n % 50}"},
            }
        )
    return rows


def _ingest(rows: list[dict]) -> int:
    result = events_ingest(rows=rows, actor_label="bench")
    if result.errors:
        raise RuntimeError(f"bench events rejected: {result.errors[:3]}")
    return result.accepted


def raw_insert(*, source_prefix: str, run: int) -> int:
    """The floor: re-insert the rows `events_ingest` stored, with fresh source ids, through one
    executemany INSERT … ON CONFLICT DO NOTHING (no validation, no identity resolution)."""
    table = _table(Event)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT customer_id, channel_account_id, name, occurred_at, properties, source_id"
            f" FROM {table} WHERE source_id LIKE %s",
            [f"{source_prefix}-%"],
        )
        stored = cursor.fetchall()
    now = adapt(timezone.now())
    params = [
        (customer, account, name, occurred, props, f"raw-{run}-{source}", now)
        for customer, account, name, occurred, props, source in stored
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (customer_id, channel_account_id, name, occurred_at,"
            " properties, source_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            params,
        )
    return len(params)


def measure_ingest(*, count: int, repeats: int) -> dict:
    """`events_ingest` of one batch (validation, dedupe, resolution, insert, first/last seen)."""
    batches = [event_rows(count=count, run=run) for run in range(repeats)]
    accepted = []
    ours = timed_ms(lambda run: accepted.append(_ingest(batches[run])), repeats=repeats)
    written = []
    baseline = timed_ms(
        lambda run: written.append(raw_insert(source_prefix=f"bench-{run}", run=run)),
        repeats=repeats,
    )
    rows = same_rows("events_ingest", accepted[0], written[0])
    return case(
        name=f"events_ingest_{count}",
        ours_ms=ours,
        baseline_ms=baseline,
        repeats=repeats,
        rows=rows,
        what="executemany INSERT … ON CONFLICT DO NOTHING of the stored rows, fresh ids",
    )


def _score_case(field: str, breaks: list, params: list, *, days: bool, now) -> str:
    """CASE giving 1…5: one point per breakpoint passed (as customers.scoring does)."""
    whens = []
    for score, brk in sorted(enumerate(breaks, start=2), reverse=True):
        whens.append(f"WHEN {field} >= %s THEN {score}")
        params.append(now - timedelta(days=brk) if days else brk)
    return f"CASE {' '.join(whens)} ELSE 1 END"


def score_sql(*, now) -> int:
    """Lifecycle and RFM for everyone in three hand-written UPDATEs; returns customers updated."""
    s = ScoringSettings.load()
    adapt = connection.ops.adapt_datetimefield_value
    table = _table(Customer)
    first = "COALESCE(first_seen_at, created_at)"
    activity = "COALESCE(last_seen_at, created_at)"
    lifecycle = (
        f"UPDATE {table} SET lifecycle = CASE WHEN {first} >= %s THEN %s"
        f" WHEN {activity} >= %s THEN %s WHEN {activity} >= %s THEN %s ELSE %s END"
    )
    life_params = [
        adapt(now - timedelta(days=s.new_days)), Lifecycle.NEW,
        adapt(now - timedelta(days=s.active_days)), Lifecycle.ACTIVE,
        adapt(now - timedelta(days=s.churn_days)), Lifecycle.SLEEPING, Lifecycle.CHURNED,
    ]  # fmt: skip
    rfm_params: list = []
    recency = _score_case("last_order_at", s.recency_days, rfm_params, days=True, now=now)
    rfm_params[:] = [adapt(p) for p in rfm_params]
    frequency = _score_case("total_orders", s.frequency_breaks, rfm_params, days=False, now=now)
    monetary = _score_case("total_revenue", s.monetary_breaks, rfm_params, days=False, now=now)
    buyer = "total_orders > 0 AND last_order_at IS NOT NULL"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(lifecycle, life_params)
        updated = cursor.rowcount
        cursor.execute(
            f"UPDATE {table} SET rfm_recency = {recency}, rfm_frequency = {frequency},"
            f" rfm_monetary = {monetary} WHERE {buyer}",
            rfm_params,
        )
        cursor.execute(
            f"UPDATE {table} SET rfm_segment = CASE"
            f" WHEN rfm_recency >= 4 AND rfm_frequency >= 4 THEN '{RfmSegment.CHAMPIONS}'"
            f" WHEN rfm_recency >= 3 AND rfm_frequency >= 3 THEN '{RfmSegment.LOYAL}'"
            f" WHEN rfm_recency >= 4 AND rfm_frequency <= 1 THEN '{RfmSegment.NEW_CUSTOMERS}'"
            f" WHEN rfm_recency >= 3 THEN '{RfmSegment.POTENTIAL}'"
            f" WHEN rfm_recency <= 2 AND rfm_frequency >= 3 THEN '{RfmSegment.AT_RISK}'"
            f" WHEN rfm_recency = 2 THEN '{RfmSegment.HIBERNATING}'"
            f" ELSE '{RfmSegment.LOST}' END WHERE {buyer}"
        )
        cursor.execute(
            f"UPDATE {table} SET rfm_recency = NULL, rfm_frequency = NULL, rfm_monetary = NULL,"
            f" rfm_segment = '{RfmSegment.PROSPECTS}' WHERE NOT ({buyer})"
        )
    return updated


def _scores() -> list[tuple]:
    return list(
        Customer.objects.order_by("id").values_list(
            "id", "lifecycle", "rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_segment"
        )
    )


def measure_score(*, repeats: int) -> dict:
    """`customers_score` over every customer; the SQL must give the very same scores."""
    now = timezone.now()
    counted = []
    ours = timed_ms(lambda _run: counted.append(customers_score(now=now)), repeats=repeats)
    expected = _scores()
    updated = []
    baseline = timed_ms(lambda _run: updated.append(score_sql(now=now)), repeats=repeats)
    if _scores() != expected:
        raise AssertionError("customers_score: the SQL baseline scored customers differently")
    return case(
        name="customers_score",
        ours_ms=ours,
        baseline_ms=baseline,
        repeats=repeats,
        rows=same_rows("customers_score", counted[0], updated[0]),
        what="four UPDATE … SET … = CASE … statements",
    )
