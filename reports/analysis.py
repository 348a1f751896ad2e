"""Behaviour analysis on raw events: funnels, cohort retention, event series, distributions
and top paths.

Every function is a read (a selector): keyword arguments in, plain dicts and lists out. They
work set-wise in SQL on the event indexes — (customer, name, occurred_at), (name, occurred_at,
customer) and (customer, occurred_at) — and never load the events of a range into Python
(paths read the events of a bounded sample of customers only). Days are local days in
settings.TIME_ZONE; `account_ids` empty means every channel.
"""

import json
import re
from collections import Counter, defaultdict
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    F,
    FloatField,
    Func,
    Max,
    Min,
    Q,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Floor, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.models import ChannelAccount
from customers.choices import EVENT_LABELS
from customers.models import Customer, Event

EVENT_TABLE = Event._meta.db_table
CUSTOMER_TABLE = Customer._meta.db_table
MAX_PERIODS = 12
TOP_VALUES = 8
PATH_SAMPLE = 5_000
TIMES_BUCKETS = [(1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 5, "4-5"), (6, 10, "6-10"),
                 (11, None, "11+")]  # fmt: skip
PROP_BUCKETS = 10
PROP_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
OTHER = "__other__"


# --- helpers -------------------------------------------------------------------------------


def event_label(name: str) -> str:
    """The event's display name (the catalogue's Chinese label), else its code."""
    return str(EVENT_LABELS.get(name, name))


def valid_prop(name: str) -> bool:
    """A property key we accept from the URL: letters, digits, `_` and `-`, no `__` (which the
    ORM would read as a path)."""
    return bool(PROP_NAME.match(name or "")) and "__" not in name


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The aware instants of the local days start..end: [start 00:00, end+1 00:00)."""
    return (
        timezone.make_aware(datetime.combine(start, time.min)),
        timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min)),
    )


def _fixed_offset(low: datetime, high: datetime) -> str | None:
    """SQLite's modifier for local time ("+28800 seconds") when the zone keeps one UTC offset
    over [low, high], else None. SQLite then computes local days in C instead of calling
    Django's Python function once per event."""
    if connection.vendor != "sqlite":
        return None
    tz = timezone.get_current_timezone()
    offsets, moment = {high.astimezone(tz).utcoffset()}, low
    while moment <= high:
        offsets.add(moment.astimezone(tz).utcoffset())
        moment += timedelta(hours=12)
    if len(offsets) != 1:
        return None
    return f"{int(offsets.pop().total_seconds()):+d} seconds"


def _period_sql(period: str, column: str, offset: str | None) -> tuple[str, tuple]:
    """SQL for the local week (its Monday) or month (its 1st) of a UTC datetime column."""
    if offset is None:
        return connection.ops.datetime_trunc_sql(
            period, column, (), timezone.get_current_timezone_name()
        )
    if period == "week":  # 'weekday 0' moves on to Sunday (or stays), 6 days back is Monday
        return f"date({column}, %s, 'weekday 0', '-6 days')", (offset,)
    return f"date({column}, %s, 'start of month')", (offset,)


def _local_day(low: datetime, high: datetime):
    """The local day of `occurred_at`, as an ORM expression."""
    offset = _fixed_offset(low, high)
    if offset is None:
        return TruncDate("occurred_at", tzinfo=timezone.get_current_timezone())
    return Func(F("occurred_at"), Value(offset), function="date", output_field=DateField())


def _number(prop: str) -> RawSQL:
    """A property's value as a float when it is a JSON number, else NULL (casting text such
    as "上海" would be an error on PostgreSQL)."""
    column = f"{EVENT_TABLE}.properties"
    if connection.vendor == "postgresql":
        sql = (
            f"CASE WHEN jsonb_typeof({column} -> %s) = 'number'"
            f" THEN ({column} ->> %s)::double precision END"
        )
        return RawSQL(sql, (prop, prop), output_field=FloatField())
    path = f"$.{json.dumps(prop)}"
    sql = (
        f"CASE WHEN json_type({column}, %s) IN ('integer', 'real')"
        f" THEN CAST(json_extract({column}, %s) AS REAL) END"
    )
    return RawSQL(sql, (path, path), output_field=FloatField())


def _db_time(value: datetime):
    """A datetime as the database stores it (UTC text on SQLite), for raw SQL parameters."""
    return connection.ops.adapt_datetimefield_value(value)


def _accounts_sql(alias: str, account_ids: list[int]) -> tuple[str, list]:
    if not account_ids:
        return "", []
    marks = ", ".join(["%s"] * len(account_ids))
    return f" AND {alias}.channel_account_id IN ({marks})", list(account_ids)


def _account_names(ids) -> dict:
    names = dict(ChannelAccount.objects.filter(pk__in=[i for i in ids if i]).values_list(
        "pk", "name"))  # fmt: skip
    return {i: names.get(i, _("未知渠道")) if i else _("未知渠道") for i in ids}


def _events(*, start: date, end: date, account_ids: list[int], name: str = ""):
    low, high = _bounds(start, end)
    qs = Event.objects.filter(occurred_at__gte=low, occurred_at__lt=high).order_by()
    if name:
        qs = qs.filter(name=name)
    if account_ids:
        qs = qs.filter(channel_account_id__in=account_ids)
    return qs


def _rate(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 2) if whole else None


# --- funnel ----------------------------------------------------------------------------------


def _within_sql(event: str, first: str) -> str:
    """`event` no later than `first` + N hours (N is the next parameter)."""
    if connection.vendor == "postgresql":
        return f"{event} <= {first} + make_interval(hours => %s)"
    # SQLite keeps datetimes as UTC text; julianday() turns them into comparable numbers
    return f"julianday({event}) <= julianday({first}) + %s / 24.0"


def _funnel_sql(steps, low, high, window_hours: int, account_ids: list[int], by_channel: bool):
    acc_e, acc_params = _accounts_sql("e", account_ids)
    params: list = [steps[0], _db_time(low), _db_time(high), *acc_params]
    where = f"WHERE e.name = %s AND e.occurred_at >= %s AND e.occurred_at < %s{acc_e}"
    if connection.vendor == "postgresql" and (by_channel or account_ids):
        first = (
            f"s1 AS (SELECT DISTINCT ON (e.customer_id) e.customer_id, e.occurred_at AS t1,"
            f" e.channel_account_id AS account_id FROM {EVENT_TABLE} e {where}"
            f" ORDER BY e.customer_id, e.occurred_at, e.id)"
        )
    elif by_channel or account_ids:
        # SQLite: with a single MIN() the bare column comes from the row holding the minimum
        first = (
            f"s1 AS (SELECT e.customer_id, MIN(e.occurred_at) AS t1,"
            f" e.channel_account_id AS account_id FROM {EVENT_TABLE} e {where}"
            f" GROUP BY e.customer_id)"
        )
    else:
        # no channel wanted: the (name, occurred_at, customer) index alone answers
        null = "NULL::bigint" if connection.vendor == "postgresql" else "NULL"
        first = (
            f"s1 AS (SELECT e.customer_id, MIN(e.occurred_at) AS t1, {null} AS account_id"
            f" FROM {EVENT_TABLE} e {where} GROUP BY e.customer_id)"
        )
    ctes = [first]
    # a later step can happen after the range ends, as long as it is inside the window
    horizon = _db_time(high + timedelta(hours=window_hours))
    for k, name in enumerate(steps[1:], start=2):
        previous = "p.t1" if k == 2 else "p.t"
        ctes.append(
            f"s{k} AS (SELECT p.customer_id, p.t1, p.account_id, MIN(e.occurred_at) AS t"
            f" FROM s{k - 1} p JOIN {EVENT_TABLE} e ON e.customer_id = p.customer_id"
            f" WHERE e.name = %s AND e.occurred_at > {previous}"
            f" AND {_within_sql('e.occurred_at', 'p.t1')}"
            f" AND e.occurred_at >= %s AND e.occurred_at < %s{acc_e}"
            f" GROUP BY p.customer_id, p.t1, p.account_id)"
        )
        params += [name, window_hours, _db_time(low), horizon, *acc_params]
    # each step is a subset of the one before, so counting each CTE needs no join
    counts = " UNION ALL ".join(
        f"SELECT {k}, account_id, COUNT(*) FROM s{k} GROUP BY account_id"
        for k in range(1, len(steps) + 1)
    )
    return f"WITH {', '.join(ctes)} {counts}", params


@contextmanager
def _analytic_cursor():
    """A cursor for one large read: on PostgreSQL with enough sort/hash memory that the
    plans stay in memory (the default 4 MB spills a funnel's hash joins to disk)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL work_mem = '64MB'")
        yield cursor


def _funnel_steps(steps: list[str], counts: list[int]) -> list[dict]:
    rows = []
    for i, (name, count) in enumerate(zip(steps, counts, strict=True)):
        previous = counts[i - 1] if i else count
        rows.append(
            {
                "index": i + 1,
                "name": name,
                "label": event_label(name),
                "count": count,
                "from_previous": _rate(count, previous),
                "from_first": _rate(count, counts[0]),
                "drop": previous - count,
                "drop_rate": _rate(previous - count, previous) if i else None,
            }
        )
    return rows


def funnel(
    *,
    steps: list[str],
    start: date,
    end: date,
    window_hours: int,
    account_ids: list[int],
    breakdown: str = "",
) -> dict:
    """Ordered steps within a window. A customer enters at their first step-1 event in the
    range; each next step counts when it happens after the previous step and within
    `window_hours` of step 1. `breakdown="channel"` adds one row per channel account of the
    step-1 event."""
    if len(steps) < 2:
        raise ValueError("a funnel needs at least two steps")
    low, high = _bounds(start, end)
    sql, params = _funnel_sql(steps, low, high, window_hours, account_ids,
                              breakdown == "channel")  # fmt: skip
    with _analytic_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    totals = [0] * len(steps)
    by_account: dict = {}
    for step, account_id, count in rows:
        by_account.setdefault(account_id, [0] * len(steps))[step - 1] = count
        totals[step - 1] += count
    result = {"steps": _funnel_steps(steps, totals), "entered": totals[0],
              "converted": totals[-1], "breakdown": []}  # fmt: skip
    if breakdown == "channel":
        names = _account_names(list(by_account))
        result["breakdown"] = sorted(
            (
                {
                    "account_id": pk,
                    "account": str(names[pk]),
                    "counts": counts,
                    "conversion": _rate(counts[-1], counts[0]),
                }
                for pk, counts in by_account.items()
            ),
            key=lambda r: (-r["counts"][0], r["account"]),
        )
    return result


# --- retention -------------------------------------------------------------------------------


def _period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _period_add(day: date, period: str, n: int) -> date:
    if period == "week":
        return day + timedelta(weeks=n)
    months = day.year * 12 + day.month - 1 + n
    return date(months // 12, months % 12 + 1, 1)


def _period_index(cohort: date, other: date, period: str) -> int:
    if period == "week":
        return (other - cohort).days // 7
    return (other.year - cohort.year) * 12 + other.month - cohort.month


def _as_date(value) -> date:
    """A truncated timestamp as the backend returns it (a datetime, or text on SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _retention_sql(*, period, first_event, return_event, low, high, horizon, account_ids):
    offset = _fixed_offset(low, horizon)
    acc_e, acc_params = _accounts_sql("e", account_ids)
    if first_event:
        t0, t0_params = _period_sql(period, "MIN(e.occurred_at)", offset)
        cohort = (
            f"SELECT e.customer_id, MIN(e.occurred_at) AS t0, {t0} AS cp FROM {EVENT_TABLE} e"
            f" WHERE e.name = %s AND e.occurred_at >= %s AND e.occurred_at < %s{acc_e}"
            f" GROUP BY e.customer_id"
        )
        cohort_params = [*t0_params, first_event, _db_time(low), _db_time(high), *acc_params]
    else:
        t0, t0_params = _period_sql(period, "c.first_seen_at", offset)
        cohort = (
            f"SELECT c.id AS customer_id, c.first_seen_at AS t0, {t0} AS cp"
            f" FROM {CUSTOMER_TABLE} c WHERE c.first_seen_at >= %s AND c.first_seen_at < %s"
        )
        cohort_params = [*t0_params, _db_time(low), _db_time(high)]
    event_period, event_params = _period_sql(period, "e.occurred_at", offset)
    returning = " AND e.name = %s" if return_event else ""
    # Subqueries rather than one CTE: PostgreSQL may then run the join in parallel workers.
    # Each (customer, period) pair is made distinct once (a hash), then counted.
    sql = (
        f"SELECT c.cp, NULL, COUNT(*) FROM ({cohort}) c GROUP BY c.cp"
        f" UNION ALL"
        f" SELECT s.cp, s.rp, COUNT(*) FROM (SELECT DISTINCT c.customer_id, c.cp,"
        f" {event_period} AS rp FROM ({cohort}) c"
        # SQLite keeps a CROSS JOIN's order: from each cohort customer into their events by
        # index, rather than every event of the range and then its customer
        f" CROSS JOIN {EVENT_TABLE} e WHERE e.customer_id = c.customer_id"
        # the range's start bounds the index scan; c.t0 alone would not
        f" AND e.occurred_at >= c.t0 AND e.occurred_at >= %s AND e.occurred_at < %s"
        f"{returning}{acc_e}) s GROUP BY s.cp, s.rp"
    )
    params = [*cohort_params, *event_params, *cohort_params, _db_time(low), _db_time(horizon)]
    if return_event:
        params.append(return_event)
    return sql, params + acc_params


def retention(
    *,
    start: date,
    end: date,
    period: str,
    first_event: str,
    return_event: str,
    account_ids: list[int],
) -> dict:
    """Cohort retention as a triangle. A customer's cohort is the local week (from Monday) or
    month of their first `first_event` in the range ("" = when the customer was first seen);
    period index n counts the cohort's customers who did `return_event` ("" = any event) at or
    after that first moment, n whole weeks/months after the cohort's start. Periods that have
    not begun yet are None."""
    if period not in ("week", "month"):
        raise ValueError(period)
    today = timezone.localdate()
    low, high = _bounds(start, end)
    first_cohort, last_cohort = _period_start(start, period), _period_start(end, period)
    horizon_day = min(_period_add(last_cohort, period, MAX_PERIODS + 1), today + timedelta(days=1))
    horizon = timezone.make_aware(datetime.combine(horizon_day, time.min))
    sql, params = _retention_sql(period=period, first_event=first_event, low=low, high=high,
                                 return_event=return_event, horizon=horizon,
                                 account_ids=account_ids)  # fmt: skip
    with _analytic_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    sizes: dict[date, int] = {}
    returned: dict[date, dict[int, int]] = defaultdict(dict)
    for cp, rp, count in rows:
        cohort = _as_date(cp)
        if rp is None:
            sizes[cohort] = count
            continue
        index = _period_index(cohort, _as_date(rp), period)
        if 0 <= index <= MAX_PERIODS:
            returned[cohort][index] = count
    current = _period_start(today, period)
    columns = min(MAX_PERIODS, max(_period_index(first_cohort, current, period), 0)) + 1
    cohorts = []
    day = first_cohort
    while day <= last_cohort and day <= current:
        size = sizes.get(day, 0)
        elapsed = _period_index(day, current, period)
        counts = [returned[day].get(i, 0) if i <= elapsed else None for i in range(columns)]
        cohorts.append({
            "cohort": day, "size": size, "counts": counts,
            "rates": [None if c is None else _rate(c, size) for c in counts],
        })  # fmt: skip
        day = _period_add(day, period, 1)
    return {"period": period, "periods": list(range(columns)), "cohorts": cohorts,
            "customers": sum(sizes.values())}  # fmt: skip


# --- event series ----------------------------------------------------------------------------


def _measure(measure: str, prop: str):
    if measure == "count":
        return Count("id")
    if measure == "customers":
        return Count("customer_id", distinct=True)
    if measure == "sum":
        return Sum(_number(prop))
    raise ValueError(measure)


def _where(qs, where: dict[str, str]):
    for key, value in (where or {}).items():
        # compare as text: a number stored in JSON matches its digits typed in the URL
        alias = f"where_{len(qs.query.annotations)}"
        qs = qs.annotate(**{alias: Cast(KT(f"properties__{key}"), TextField())})
        qs = qs.filter(**{alias: str(value)})
    return qs


def event_series(
    *,
    event: str,
    measure: str,
    prop: str = "",
    start: date,
    end: date,
    account_ids: list[int],
    breakdown: str = "",
    where: dict[str, str] | None = None,
) -> dict:
    """A daily series of one event: how many times (`count`), how many customers
    (`customers`) or the sum of a numeric property (`sum`, `prop`), optionally split by
    channel account or a property's value (`prop:<name>`): the top 8 values by total, the
    rest as "其他". `where` keeps events whose properties equal the given values."""
    qs = _where(_events(start=start, end=end, account_ids=account_ids, name=event), where)
    if measure == "sum":
        qs = qs.annotate(number=_number(prop)).filter(number__isnull=False)
    value = _measure(measure, prop)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    top, totals = [""], {}
    bucket = Value("", output_field=TextField())
    if breakdown:
        qs = qs.annotate(key=_breakdown_key(breakdown))
        ranked = list(qs.values("key").annotate(v=value).order_by("-v", "key")[: TOP_VALUES + 1])
        top = [row["key"] for row in ranked[:TOP_VALUES]]
        totals = {row["key"]: row["v"] or 0 for row in ranked[:TOP_VALUES]}
        bucket = F("key")
        if len(ranked) > TOP_VALUES:
            # one pass for every series: values outside the top 8 fall into "其他"
            bucket = Case(
                When(key__in=top, then=F("key")), default=Value(OTHER), output_field=TextField()
            )
    grouped: dict = defaultdict(dict)
    day = _local_day(*_bounds(start, end))
    for row in qs.annotate(day=day, bucket=bucket).values("bucket", "day").annotate(v=value):
        grouped[row["bucket"]][row["day"]] = row["v"] or 0
    labels = _breakdown_labels(breakdown, top)
    series = []
    for k in [*top, *([OTHER] if OTHER in grouped else [])]:
        values = [grouped[k].get(d, 0) for d in days]
        series.append({"key": k, "label": labels.get(k, k), "values": values,
                       "total": totals.get(k, sum(values))})  # fmt: skip
    if measure == "customers":
        # distinct customers do not add up across days or values
        total = qs.aggregate(v=value)["v"] or 0
        if not breakdown:
            series[0]["total"] = total
        if OTHER in grouped:
            series[-1]["total"] = None
    else:
        total = sum(s["total"] for s in series)
    return {"days": days, "series": series, "total": total}


def _breakdown_key(breakdown: str):
    """The value an event is split by, as text ("" when it has none)."""
    if breakdown == "channel":
        value = Cast("channel_account_id", TextField())
    elif breakdown.startswith("prop:") and valid_prop(breakdown[5:]):
        value = Cast(KT(f"properties__{breakdown[5:]}"), TextField())
    else:
        raise ValueError(breakdown)
    return Coalesce(value, Value(""), output_field=TextField())


def _breakdown_labels(breakdown: str, keys: list[str]) -> dict:
    labels = {OTHER: _("其他")}
    if not breakdown:
        return {**labels, "": _("全部")}
    if breakdown == "channel":
        names = _account_names([int(k) if k else None for k in keys])
        return {**labels, **{k: str(names[int(k) if k else None]) for k in keys}}
    return {**labels, **{k: k or _("（空）") for k in keys}}


# --- distribution ----------------------------------------------------------------------------


def _times_distribution(qs) -> list[dict]:
    inner, params = qs.values("customer_id").annotate(n=Count("id")).query.sql_with_params()
    cases = " ".join(
        f"WHEN t.n <= {high} THEN {i}" for i, (_low, high, _label) in enumerate(TIMES_BUCKETS)
        if high is not None
    )  # fmt: skip
    sql = (
        f"SELECT CASE {cases} ELSE {len(TIMES_BUCKETS) - 1} END AS bucket, COUNT(*)"
        f" FROM ({inner}) t GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        counts = dict(cursor.fetchall())
    total = sum(counts.values())
    return [
        {
            "label": label,
            "low": low,
            "high": high,
            "customers": counts.get(i, 0),
            "share": _rate(counts.get(i, 0), total),
        }  # fmt: skip
        for i, (low, high, label) in enumerate(TIMES_BUCKETS)
    ]


def _nice_step(span: float) -> float:
    """A round bucket width (1, 2 or 5 × 10^k) giving at most PROP_BUCKETS buckets."""
    raw = span / PROP_BUCKETS if span > 0 else 1
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1
    for factor in (1, 2, 5, 10):
        if magnitude * factor >= raw:
            return magnitude * factor
    return raw  # pragma: no cover - the loop always returns


def _prop_distribution(qs, prop: str) -> list[dict]:
    qs = qs.annotate(v=_number(prop)).filter(v__isnull=False)
    span = qs.aggregate(low=Min("v"), high=Max("v"))
    if span["low"] is None:
        return []
    step = _nice_step(span["high"] - span["low"])
    base = (span["low"] // step) * step
    rows = (
        qs.annotate(bucket=Floor((F("v") - base) / step))
        .values("bucket")
        .annotate(events=Count("id"), customers=Count("customer_id", distinct=True))
        .order_by("bucket")
    )
    total = sum(row["events"] for row in rows)
    result = []
    for row in rows:
        low = base + int(row["bucket"]) * step
        result.append({"label": f"{low:g}–{low + step:g}", "low": low, "high": low + step,
                       "events": row["events"], "customers": row["customers"],
                       "share": _rate(row["events"], total)})  # fmt: skip
    return result


def distribution(*, event: str, start: date, end: date, account_ids: list[int], by: str) -> dict:
    """`by="times"`: customers by how many times they did the event in the range (1, 2, 3,
    4-5, 6-10, 11+). `by="prop:<name>"`: events by value of a numeric property in equal, round
    buckets [low, high)."""
    qs = _events(start=start, end=end, account_ids=account_ids, name=event)
    if by == "times":
        return {"by": by, "buckets": _times_distribution(qs)}
    if by.startswith("prop:") and valid_prop(by[5:]):
        return {"by": by, "buckets": _prop_distribution(qs, by[5:])}
    raise ValueError(by)


# --- paths -----------------------------------------------------------------------------------


def top_paths(
    *,
    start_event: str,
    start: date,
    end: date,
    account_ids: list[int],
    depth: int = 4,
    limit: int = 20,
    sample: int = PATH_SAMPLE,
) -> dict:
    """What customers do after `start_event`: from each customer's first start event in the
    range, the next `depth` events in the range (consecutive repeats collapsed into one).
    Reads at most `sample` customers (those with the lowest ids), so the page stays quick;
    `sampled` says how many were read and `customers` how many there were."""
    starts = (
        _events(start=start, end=end, account_ids=account_ids, name=start_event)
        .values("customer_id")
        .annotate(t=Min("occurred_at"))
    )
    customers = starts.count()
    first = dict(starts.order_by("customer_id")[:sample].values_list("customer_id", "t"))
    paths: Counter = Counter()
    if first:
        low, high = min(first.values()), _bounds(start, end)[1]
        events = (
            Event.objects.filter(
                customer_id__in=list(first), occurred_at__gte=low, occurred_at__lt=high
            )  # fmt: skip
            .filter(Q(channel_account_id__in=account_ids) if account_ids else Q())
            .order_by("customer_id", "occurred_at", "id")
            .values_list("customer_id", "name", "occurred_at")
        )
        trail: dict[int, list[str]] = {}
        for customer_id, name, occurred_at in events.iterator(chunk_size=5_000):
            steps = trail.setdefault(customer_id, [])
            # the path starts at the first start event, not at whatever shares its instant
            if occurred_at < first[customer_id] or (not steps and name != start_event):
                continue
            if len(steps) <= depth and (not steps or steps[-1] != name):
                steps.append(name)
        paths.update(tuple(steps) for steps in trail.values() if steps)
    sampled = sum(paths.values())
    top = [
        {
            "steps": list(steps),
            "labels": [event_label(s) for s in steps],
            "customers": n,
            "share": _rate(n, sampled),
        }  # fmt: skip
        for steps, n in sorted(paths.items(), key=lambda item: (-item[1], item[0]))[:limit]
    ]
    return {"paths": top, "customers": customers, "sampled": sampled, "depth": depth,
            "links": _path_links(paths)}  # fmt: skip


def _path_links(paths: Counter) -> list[dict]:
    """Sankey links between (step index, event) nodes, summed over every sampled path."""
    links: Counter = Counter()
    for steps, n in paths.items():
        for i in range(len(steps) - 1):
            links[((i, steps[i]), (i + 1, steps[i + 1]))] += n
    return [{"source": a, "target": b, "customers": n}
            for (a, b), n in sorted(links.items(), key=lambda x: (-x[1], x[0]))]  # fmt: skip
