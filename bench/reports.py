"""`make bench ONLY=reports SCALE=S|L`: the Reports app beside hand-written SQL.

On `bench/dataset.py`'s customers, events and orders plus campaigns with weekly spend, one
push each and its sent deliveries (5% of the customers) and some link clicks:

- the rollups (`rollups_refresh`) over the dataset's whole span, once, beside hand-written
  GROUP BYs for the channel-day event and order columns (the two must agree);
- every dashboard page's server time through the test client (view, rollup reads,
  template) and the two report API endpoints, goal 300 ms, beside the SQL a dashboard
  minimally needs over the rollup tables;
- funnel and retention on raw events (`reports.analysis`), goal 2 s, beside hand-written SQL
  for the same result (the bench fails when the numbers differ), and the analysis pages.

Figures are medians of `--repeats` runs after one warm-up, in ms. Writes
`bench/results-reports-<scale>.json` and `….<database>.json`.
"""

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.run import RESULTS, SCALES, _own_database, result

PAGE_GOAL_MS = 300
ANALYSIS_GOAL_MS = 2000
CAMPAIGNS = ["春茶上新", "618 大促", "会员日", "双十一预热"]
CAMPAIGN_CHANNELS = ["oa", "mini", "app"]  # each campaign's push: these, in this order
DELIVERY_SHARE = 0.05
CLICK_SHARE = 0.1  # of the deliveries
FUNNEL_STEPS = ["view_product", "add_to_cart", "checkout", "order_paid"]
FUNNEL_WINDOW_HOURS = 72
RANGE_DAYS = 30
RETENTION_WEEKS = 8


def _ms(fn, repeats: int) -> tuple[float, list[float]]:
    """Median wall time of `fn` in ms over `repeats` runs after one warm-up, and the runs."""
    fn()
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), [round(r, 1) for r in runs]


def _table(model) -> str:
    from django.db import connection

    return connection.ops.quote_name(model._meta.db_table)


def _local_date(value) -> date:
    """A day as the backend returns it (a date, or text on SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _cents(value) -> Decimal:
    """Money to the cent (SQLite sums decimals as floats)."""
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


# --- dataset ---------------------------------------------------------------------------------


def extras_build(*, first_id: int, customers: int, first_day: date, last_day: date, seed=13):
    """Campaigns with goals and weekly spend per channel, one push each with a run, sent
    deliveries for DELIVERY_SHARE of the customers spread over the span, and link clicks."""
    from django.db import transaction
    from django.utils import timezone

    from bench.dataset import accounts_ensure, db_time, rows_insert
    from campaigns.choices import CampaignStatus, GoalMetric, PushStatus, RunStatus
    from campaigns.models import (
        Campaign,
        CampaignGoal,
        ContentItem,
        Delivery,
        LinkClick,
        Push,
        PushChannel,
        PushRun,
        SpendEntry,
        TrackingLink,
    )
    from tags.models import Audience

    rng = random.Random(seed)
    accounts = accounts_ensure()
    channels = [accounts[code] for code in CAMPAIGN_CHANNELS]
    span_days = (last_day - first_day).days + 1
    start_at = timezone.make_aware(datetime.combine(first_day, datetime.min.time()))
    with transaction.atomic():
        content = ContentItem.objects.create(name="bench reports", core_text="春茶上新")
        audience = Audience.objects.create(name="bench reports everyone", definition={"all": []})
        runs = []
        for i, name in enumerate(CAMPAIGNS):
            campaign = Campaign.objects.create(
                name=name, status=CampaignStatus.ACTIVE, starts_on=first_day, ends_on=last_day,
                budget=Decimal(200_000), utm_code=f"bench-reports-{i}",
            )  # fmt: skip
            CampaignGoal.objects.bulk_create([
                CampaignGoal(campaign=campaign, metric=GoalMetric.REVENUE, target=500_000,
                             deadline=last_day),
                CampaignGoal(campaign=campaign, metric=GoalMetric.ORDERS, target=2_000,
                             deadline=last_day),
            ])  # fmt: skip
            SpendEntry.objects.bulk_create(
                SpendEntry(campaign=campaign, channel_account=account,
                           spent_on=first_day + timedelta(days=week * 7),
                           amount=Decimal(rng.randrange(50_000, 500_000)) / 100)
                for account in channels
                for week in range((span_days + 6) // 7)
            )  # fmt: skip
            push = Push.objects.create(
                name=f"{name} 推送", campaign=campaign, audience=audience, content=content,
                status=PushStatus.DONE,
            )  # fmt: skip
            for position, account in enumerate(channels):
                PushChannel.objects.create(push=push, channel_account=account, position=position)
            run = PushRun.objects.create(push=push, status=RunStatus.DONE, planned=0)
            PushRun.objects.filter(pk=run.pk).update(started_at=start_at)
            link = TrackingLink.objects.create(
                code=f"bench-r{i}", url="https://example.com/", campaign=campaign, push=push
            )
            runs.append((run, link))
        picked = rng.sample(range(customers), int(customers * DELIVERY_SHARE))
        first_delivery = (Delivery.objects.order_by("-id").values_list("id", flat=True).first()
                          or 0) + 1  # fmt: skip
        sends = []
        for n, index in enumerate(picked):
            run, link = runs[n % len(runs)]
            sent_at = start_at + timedelta(seconds=rng.randrange(span_days * 86_400))
            sends.append((first_delivery + n, run.pk, first_id + index,
                          channels[rng.randrange(len(channels))].pk, sent_at, link.pk))  # fmt: skip
        rows_insert(
            Delivery,
            ["id", "run", "customer", "channel_account", "recipient", "status", "skip_reason",
             "platform_id", "error", "sent_at"],
            ((pk, run_id, customer_id, account_id, "", "sent", "", f"bench-{pk}", "",
              db_time(sent_at)) for pk, run_id, customer_id, account_id, sent_at, _l in sends),
        )  # fmt: skip
        clicks = rows_insert(
            LinkClick,
            ["link", "delivery", "customer", "clicked_at"],
            ((link_id, pk, customer_id, db_time(sent_at + timedelta(minutes=rng.randrange(600))))
             for pk, _r, customer_id, _a, sent_at, link_id in sends
             if rng.random() < CLICK_SHARE),
        )  # fmt: skip
        for run, _link in runs:
            PushRun.objects.filter(pk=run.pk).update(planned=run.deliveries.count())
    _sequences_reset([Delivery])
    _analyse([Delivery, LinkClick])
    return {"deliveries": len(sends), "clicks": clicks}


def _sequences_reset(models) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return  # SQLite's rowid follows the largest id by itself
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )


def _analyse(models) -> None:
    """Statistics (and on PostgreSQL the visibility map) for the tables just filled."""
    from django.db import connection

    command = "VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE"
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"{command} {_table(model)}")


def dataset_ensure(*, customers: int, events: int) -> dict:
    """The dataset and the extras in the current database, built unless already there (a
    `--reuse`d database); returns its facts."""
    from django.db.models import Max, Min

    from bench.dataset import dataset_build
    from campaigns.models import Campaign, Delivery, LinkClick, SpendEntry
    from customers.models import Customer, Event, Order
    from reports.rollups import local_day

    facts: dict = {}
    started = time.perf_counter()
    if Event.objects.count() < events or Customer.objects.count() < customers:
        dataset_build(customers=customers, events=events)
        facts["build_seconds"] = round(time.perf_counter() - started, 1)
    span = Event.objects.aggregate(low=Min("occurred_at"), high=Max("occurred_at"))
    first_day, last_day = local_day(span["low"]), local_day(span["high"])
    if not Campaign.objects.filter(utm_code__startswith="bench-reports-").exists():
        started = time.perf_counter()
        first_id = Customer.objects.order_by("id").values_list("id", flat=True).first()
        extras_build(first_id=first_id, customers=customers, first_day=first_day,
                     last_day=last_day)  # fmt: skip
        facts["extras_seconds"] = round(time.perf_counter() - started, 1)
    facts.update(
        customers=Customer.objects.count(),
        events=Event.objects.count(),
        orders=Order.objects.count(),
        campaigns=Campaign.objects.filter(utm_code__startswith="bench-reports-").count(),
        spend_entries=SpendEntry.objects.count(),
        deliveries_sent=Delivery.objects.filter(status="sent").count(),
        link_clicks=LinkClick.objects.count(),
        first_day=first_day.isoformat(),
        last_day=last_day.isoformat(),
    )
    return facts


# --- rollups ---------------------------------------------------------------------------------


def _day_sql(column: str, tz: str) -> tuple[str, list]:
    """The local day of a timestamp column."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return f"({column} AT TIME ZONE %s)::date", [tz]
    sql, params = connection.ops.datetime_cast_date_sql(column, (), tz)
    return sql, list(params)


def rollup_baseline(*, start: date, end: date) -> dict:
    """ChannelDay's event and order columns by hand, over the whole span at once: (day,
    account) → events, active users, new users (first event ever on the account in the
    range), paid orders and GMV."""
    from django.db import connection
    from django.utils import timezone

    from customers.choices import REVENUE_STATUSES
    from customers.models import Event, Order
    from reports.rollups import day_bounds

    lo, hi = (connection.ops.adapt_datetimefield_value(v) for v in day_bounds(start, end))
    tz = timezone.get_current_timezone_name()
    ev, od = _table(Event), _table(Order)
    day_e, pe = _day_sql("e.occurred_at", tz)
    day_f, pf = _day_sql("f.first", tz)
    day_o, po = _day_sql("o.paid_at", tz)
    rows: dict = defaultdict(lambda: {"events": 0, "active_users": 0, "new_users": 0,
                                      "orders": 0, "gmv": Decimal(0)})  # fmt: skip
    marks = ", ".join(["%s"] * len(REVENUE_STATUSES))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {day_e}, e.channel_account_id, e.name, COUNT(*), COUNT(DISTINCT e.customer_id)"
            f" FROM {ev} e WHERE e.occurred_at >= %s AND e.occurred_at < %s"
            f" AND e.channel_account_id IS NOT NULL GROUP BY 1, 2, 3",
            [*pe, lo, hi],
        )
        for day, account, _name, n, _users in cursor.fetchall():
            rows[(_local_date(day), account)]["events"] += n
        cursor.execute(
            f"SELECT {day_e}, e.channel_account_id, COUNT(DISTINCT e.customer_id)"
            f" FROM {ev} e WHERE e.occurred_at >= %s AND e.occurred_at < %s"
            f" AND e.channel_account_id IS NOT NULL GROUP BY 1, 2",
            [*pe, lo, hi],
        )
        for day, account, users in cursor.fetchall():
            rows[(_local_date(day), account)]["active_users"] = users
        cursor.execute(
            f"SELECT {day_f}, f.channel_account_id, COUNT(*) FROM (SELECT e.customer_id,"
            f" e.channel_account_id, MIN(e.occurred_at) AS first FROM {ev} e"
            f" WHERE e.channel_account_id IS NOT NULL GROUP BY 1, 2) f"
            f" WHERE f.first >= %s AND f.first < %s GROUP BY 1, 2",
            [*pf, lo, hi],
        )
        for day, account, n in cursor.fetchall():
            rows[(_local_date(day), account)]["new_users"] = n
        cursor.execute(
            f"SELECT {day_o}, o.channel_account_id, COUNT(*), SUM(o.amount) FROM {od} o"
            f" WHERE o.paid_at >= %s AND o.paid_at < %s AND o.channel_account_id IS NOT NULL"
            f" AND o.status IN ({marks}) GROUP BY 1, 2",
            [*po, lo, hi, *REVENUE_STATUSES],
        )
        for day, account, n, gmv in cursor.fetchall():
            rows[(_local_date(day), account)].update(orders=n, gmv=_cents(gmv))
    return dict(rows)


def rollups_measure(*, start: date, end: date) -> dict:
    """Time one `rollups_refresh` over the span and the hand-written GROUP BYs; check that
    the channel rows agree on what both compute."""
    from reports.models import ChannelDay
    from reports.rollups import ROLLUP_MODELS, rollups_refresh

    started = time.perf_counter()
    run = rollups_refresh(start=start, end=end)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    expected = rollup_baseline(start=start, end=end)
    baseline = time.perf_counter() - started
    got = {
        (r.day, r.channel_account_id): {"events": r.events, "active_users": r.active_users,
                                        "new_users": r.new_users, "orders": r.orders,
                                        "gmv": _cents(r.gmv)}
        for r in ChannelDay.objects.all()
        if r.events or r.orders
    }  # fmt: skip
    if got != expected:
        wrong = sorted(k for k in set(got) | set(expected) if got.get(k) != expected.get(k))
        raise AssertionError(
            f"rollups differ from the hand-written SQL on {len(wrong)} channel days, e.g. "
            f"{wrong[0]}: ours {got.get(wrong[0])}, SQL {expected.get(wrong[0])}"
        )
    return {
        "ours_ms": ours * 1000,
        "baseline_ms": baseline * 1000,
        "rows_written": run.rows_written,
        "rows": {m.__name__: m.objects.count() for m in ROLLUP_MODELS},
        "channel_days_checked": len(got),
    }


# --- dashboards --------------------------------------------------------------------------------


def _fetch(statements) -> int:
    """Run (sql, params) statements on a raw cursor and fetch every row; returns the rows."""
    from django.db import connection

    count = 0
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            count += len(cursor.fetchall())
    return count


def _in(column: str, ids) -> tuple[str, list]:
    if not ids:
        return "", []
    return f" AND {column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def channel_days_sql(*, start: date, end: date, account_ids=None) -> list:
    """What a KPI dashboard minimally reads: the range's and the previous period's summed
    columns, and the range's rows per day and account (event counts included) for trends and
    the per-account table."""
    from reports.metrics import SUM_FIELDS, previous_period
    from reports.models import ChannelDay

    table = _table(ChannelDay)
    acc, acc_params = _in("channel_account_id", account_ids)
    sums = ", ".join(f"SUM({name})" for name in SUM_FIELDS)
    before_start, before_end = previous_period(start, end)
    return [
        (f"SELECT {sums} FROM {table} WHERE day >= %s AND day <= %s{acc}",
         [start, end, *acc_params]),
        (f"SELECT {sums} FROM {table} WHERE day >= %s AND day <= %s{acc}",
         [before_start, before_end, *acc_params]),
        (f"SELECT day, channel_account_id, {', '.join(SUM_FIELDS)}, event_counts, event_users"
         f" FROM {table} WHERE day >= %s AND day <= %s{acc}", [start, end, *acc_params]),
    ]  # fmt: skip


def roi_sql(*, start: date, end: date, model: str, campaign_id=None) -> list:
    """The ROI matrix by hand: attributed credit and spend per (campaign, channel account)."""
    from reports.models import AttributionDay, CampaignDay

    one, one_params = _in("campaign_id", [campaign_id] if campaign_id else [])
    return [
        (f"SELECT campaign_id, channel_account_id, SUM(revenue), SUM(orders), SUM(new_buyers)"
         f" FROM {_table(AttributionDay)} WHERE model = %s AND day >= %s AND day <= %s{one}"
         f" GROUP BY campaign_id, channel_account_id", [model, start, end, *one_params]),
        (f"SELECT campaign_id, channel_account_id, SUM(spend) FROM {_table(CampaignDay)}"
         f" WHERE day >= %s AND day <= %s{one} GROUP BY campaign_id, channel_account_id",
         [start, end, *one_params]),
    ]  # fmt: skip


def campaigns_sql(*, start: date, end: date, model: str, campaign_id=None) -> list:
    """Each campaign's spend, reach and clicks and its attributed credit in the range."""
    from reports.models import AttributionDay, CampaignDay

    one, one_params = _in("campaign_id", [campaign_id] if campaign_id else [])
    return [
        (f"SELECT campaign_id, SUM(spend), SUM(sent), SUM(clicks), SUM(clickers)"
         f" FROM {_table(CampaignDay)} WHERE day >= %s AND day <= %s{one} GROUP BY campaign_id",
         [start, end, *one_params]),
        (f"SELECT campaign_id, SUM(revenue), SUM(orders), SUM(new_buyers)"
         f" FROM {_table(AttributionDay)} WHERE model = %s AND day >= %s AND day <= %s"
         f" AND campaign_id IS NOT NULL{one} GROUP BY campaign_id",
         [model, start, end, *one_params]),
    ]  # fmt: skip


def campaign_detail_sql(*, campaign_id: int, start: date, end: date, model: str) -> list:
    """One campaign's page: its totals, spend and credit per day, its channels (the ROI rows)
    and its pushes."""
    from campaigns.models import Push
    from reports.models import AttributionDay, CampaignDay, PushDay

    return [
        *campaigns_sql(start=start, end=end, model=model, campaign_id=campaign_id),
        (f"SELECT day, SUM(spend) FROM {_table(CampaignDay)} WHERE campaign_id = %s"
         f" AND day >= %s AND day <= %s GROUP BY day", [campaign_id, start, end]),
        (f"SELECT day, SUM(revenue) FROM {_table(AttributionDay)} WHERE campaign_id = %s"
         f" AND model = %s AND day >= %s AND day <= %s GROUP BY day",
         [campaign_id, model, start, end]),
        *roi_sql(start=start, end=end, model=model, campaign_id=campaign_id),
        (f"SELECT d.push_id, SUM(d.sent), SUM(d.failed), SUM(d.skipped), SUM(d.clicks),"
         f" SUM(d.orders), SUM(d.revenue) FROM {_table(PushDay)} d"
         f" JOIN {_table(Push)} p ON p.id = d.push_id WHERE p.campaign_id = %s"
         f" AND d.day >= %s AND d.day <= %s GROUP BY d.push_id", [campaign_id, start, end]),
    ]  # fmt: skip


def dashboards(*, start: date, end: date, campaign) -> list[dict]:
    """Each dashboard URL with its query and the hand-written SQL it minimally needs."""
    from django.utils import timezone

    from channels.models import ChannelAccount
    from reports.choices import AttributionModel

    rng = {"start": start.isoformat(), "end": end.isoformat()}
    last = AttributionModel.LAST_TOUCH
    kind_ids = {
        kind: list(ChannelAccount.objects.filter(kind=kind).values_list("pk", flat=True))
        for kind in ("wechat_oa", "wechat_mini", "tmall")
    }
    mini = list(ChannelAccount.objects.filter(code="mini").values_list("pk", flat=True))
    life_end = min(campaign.ends_on, timezone.localdate())
    pages = [
        ("page_home", "/reports/", rng,
         channel_days_sql(start=start, end=end) + roi_sql(start=start, end=end, model=last)),
        *((f"page_channel_{kind}", f"/reports/channels/{kind}/", rng,
           channel_days_sql(start=start, end=end, account_ids=ids))
          for kind, ids in kind_ids.items()),
        ("page_campaigns", "/reports/campaigns/", rng,
         campaigns_sql(start=start, end=end, model=last)),
        ("page_campaign_detail", f"/reports/campaigns/{campaign.pk}/", {},
         campaign_detail_sql(campaign_id=campaign.pk, start=campaign.starts_on, end=life_end,
                             model=last)),
        ("page_roi_last_touch", "/reports/roi/", {**rng, "model": last},
         roi_sql(start=start, end=end, model=last)),
        ("page_roi_linear_by_kind", "/reports/roi/",
         {**rng, "model": AttributionModel.LINEAR, "by": "kind"},
         roi_sql(start=start, end=end, model=AttributionModel.LINEAR)),
        ("api_kpis_mini", "/api/v1/reports/kpis", {**rng, "channel": "mini"},
         channel_days_sql(start=start, end=end, account_ids=mini)),
        ("api_roi_matrix", "/api/v1/reports/roi-matrix", rng,
         roi_sql(start=start, end=end, model=last)),
    ]  # fmt: skip
    return [{"name": n, "url": u, "params": p, "sql": s} for n, u, p, s in pages]


def kpis_check(client, *, start: date, end: date) -> None:
    """The KPI API's GMV and orders for the Mini Program equal SUMs over its rollup rows."""
    from django.db import connection

    from channels.models import ChannelAccount
    from reports.models import ChannelDay

    mini = ChannelAccount.objects.get(code="mini").pk
    body = client.get("/api/v1/reports/kpis", {"start": start, "end": end, "channel": "mini"})
    kpis = body.json()["kpis"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT SUM(gmv), SUM(orders) FROM {_table(ChannelDay)}"
            f" WHERE day >= %s AND day <= %s AND channel_account_id = %s",
            [start, end, mini],
        )
        gmv, orders = cursor.fetchone()
    if (round(kpis["gmv"]["value"], 2), kpis["orders"]["value"]) != (
        float(_cents(gmv)),
        orders or 0,
    ):
        raise AssertionError(f"KPI API {kpis['gmv']}, {kpis['orders']} != SQL {gmv}, {orders}")


# --- analysis on raw events ------------------------------------------------------------------


def _bounds(start: date, end: date):
    from django.db import connection

    from reports.rollups import day_bounds

    low, high = day_bounds(start, end)
    return low, high, connection.ops.adapt_datetimefield_value


def _within(later: str, first: str, hours: int) -> tuple[str, list]:
    from django.db import connection

    if connection.vendor == "postgresql":
        return f"{later} <= {first} + %s * interval '1 hour'", [hours]
    return f"julianday({later}) <= julianday({first}) + %s / 24.0", [hours]


def funnel_baseline_sql(*, steps, start, end, window_hours, account_ids, by_channel):
    """The funnel by hand: each customer's first step-1 event in the range, then per next
    step the earliest such event after the previous step and within the window of step 1
    (a join on the step's events, which the (name, occurred_at, customer) index gives),
    and one pass counting every step per channel of step 1 over LEFT JOINs."""
    from django.db import connection

    from customers.models import Event

    ev = _table(Event)
    low, high, db = _bounds(start, end)
    horizon = high + timedelta(hours=window_hours)
    acc, acc_params = _in("e.channel_account_id", account_ids)
    range_sql = f"e.name = %s AND e.occurred_at >= %s AND e.occurred_at < %s{acc}"
    params = [steps[0], db(low), db(high), *acc_params]
    postgres = connection.vendor == "postgresql"
    if by_channel or account_ids:
        if postgres:
            first = (f"SELECT DISTINCT ON (e.customer_id) e.customer_id, e.occurred_at AS t,"
                     f" e.channel_account_id AS account_id FROM {ev} e WHERE {range_sql}"
                     f" ORDER BY e.customer_id, e.occurred_at, e.id")  # fmt: skip
        else:
            first = (f"SELECT customer_id, t, account_id FROM (SELECT e.customer_id,"
                     f" e.occurred_at AS t, e.channel_account_id AS account_id, ROW_NUMBER()"
                     f" OVER (PARTITION BY e.customer_id ORDER BY e.occurred_at, e.id) AS n"
                     f" FROM {ev} e WHERE {range_sql}) f WHERE n = 1")  # fmt: skip
    else:
        null = "NULL::bigint" if postgres else "NULL"
        first = (f"SELECT e.customer_id, MIN(e.occurred_at) AS t, {null} AS account_id"
                 f" FROM {ev} e WHERE {range_sql} GROUP BY e.customer_id")  # fmt: skip
    ctes = [f"s1 AS ({first})"]
    for k, name in enumerate(steps[1:], start=2):
        within, within_params = _within("e.occurred_at", "s1.t", window_hours)
        ctes.append(
            f"s{k} AS (SELECT p.customer_id, MIN(e.occurred_at) AS t FROM s{k - 1} p"
            f" JOIN s1 ON s1.customer_id = p.customer_id"
            f" JOIN {ev} e ON e.customer_id = p.customer_id"
            f" WHERE e.name = %s AND e.occurred_at > p.t AND {within}"
            f" AND e.occurred_at >= %s AND e.occurred_at < %s{acc} GROUP BY p.customer_id)"
        )
        params += [name, *within_params, db(low), db(horizon), *acc_params]
    counts = ", ".join(f"COUNT(s{k}.t)" for k in range(2, len(steps) + 1))
    joins = " ".join(
        f"LEFT JOIN s{k} ON s{k}.customer_id = s1.customer_id" for k in range(2, len(steps) + 1)
    )
    sql = (f"WITH {', '.join(ctes)} SELECT s1.account_id, COUNT(*), {counts} FROM s1 {joins}"
           f" GROUP BY s1.account_id")  # fmt: skip
    return sql, params


def _analytic(sql: str, params: list) -> list:
    """Run one large read the way reports.analysis does (same work_mem on PostgreSQL)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(sql, params)
        return cursor.fetchall()


def funnel_compare(ours: dict, rows: list, *, by_channel: bool) -> None:
    """Fail unless the product's funnel equals the hand-written one."""
    totals = [sum(r[i] for r in rows) for i in range(1, len(rows[0]))] if rows else []
    got = [s["count"] for s in ours["steps"]]
    if got != totals:
        raise AssertionError(f"funnel steps: ours {got}, SQL {totals}")
    if by_channel:
        mine = {b["account_id"]: list(b["counts"]) for b in ours["breakdown"]}
        theirs = {r[0]: list(r[1:]) for r in rows}
        if mine != theirs:
            raise AssertionError(f"funnel by channel: ours {mine}, SQL {theirs}")


def retention_baseline_sql(*, start: date, end: date, today: date) -> tuple[str, list, date]:
    """Weekly retention of the customers first seen in the range, any event, by hand: the
    cohort's (customer, week) pairs made distinct once, then counted; with the cohort sizes
    as rows whose return week is NULL. Returns the SQL, its parameters and the first day
    past the events it reads."""
    from django.db import connection
    from django.utils import timezone

    from customers.models import Customer, Event
    from reports.analysis import MAX_PERIODS

    tz = timezone.get_current_timezone_name()
    low, high, db = _bounds(start, end)
    last_monday = end - timedelta(days=end.weekday())
    horizon_day = min(last_monday + timedelta(weeks=MAX_PERIODS + 1), today + timedelta(days=1))
    horizon = _bounds(horizon_day, horizon_day)[0]
    if connection.vendor == "postgresql":
        week_c, week_e = (f"date_trunc('week', {c} AT TIME ZONE %s)" for c in
                          ("c.first_seen_at", "e.occurred_at"))  # fmt: skip
        wc, we = [tz], [tz]
    else:
        week_c, wc = connection.ops.datetime_trunc_sql("week", "c.first_seen_at", (), tz)
        week_e, we = connection.ops.datetime_trunc_sql("week", "e.occurred_at", (), tz)
        wc, we = list(wc), list(we)
    sql = (
        f"WITH cohort AS (SELECT c.id, c.first_seen_at AS t0, {week_c} AS cw"
        f" FROM {_table(Customer)} c WHERE c.first_seen_at >= %s AND c.first_seen_at < %s),"
        f" seen AS (SELECT DISTINCT c.id, c.cw, {week_e} AS rw FROM cohort c"
        f" JOIN {_table(Event)} e ON e.customer_id = c.id"
        f" WHERE e.occurred_at >= c.t0 AND e.occurred_at >= %s AND e.occurred_at < %s)"
        f" SELECT cw, NULL, COUNT(*) FROM cohort GROUP BY cw"
        f" UNION ALL SELECT cw, rw, COUNT(*) FROM seen GROUP BY cw, rw"
    )
    params = [*wc, db(low), db(high), *we, db(low), db(horizon)]
    return sql, params, horizon_day


def retention_compare(ours: dict, rows: list) -> None:
    """Fail unless the product's triangle equals the hand-written counts (for the periods it
    shows: 0..MAX_PERIODS, none in the future)."""
    from reports.analysis import MAX_PERIODS

    sizes, counts = {}, {}
    for cw, rw, n in rows:
        cohort = _local_date(cw)
        if rw is None:
            sizes[cohort] = n
            continue
        index = (_local_date(rw) - cohort).days // 7
        if 0 <= index <= MAX_PERIODS and n:
            counts[(cohort, index)] = n
    mine_sizes = {c["cohort"]: c["size"] for c in ours["cohorts"] if c["size"]}
    mine = {(c["cohort"], i): n for c in ours["cohorts"] for i, n in enumerate(c["counts"]) if n}
    shown = {k: v for k, v in counts.items() if k[1] < len(ours["periods"])}
    if mine_sizes != sizes or mine != shown:
        raise AssertionError(f"retention: ours {mine_sizes} {mine}, SQL {sizes} {shown}")


def analysis_measures(*, start: date, end: date, repeats: int) -> list[dict]:
    """Funnel (with and without the channel split) and weekly retention on raw events, each
    beside its hand-written SQL, after checking that both give the same numbers."""
    from django.utils import timezone

    from reports.analysis import funnel, retention

    measures = []
    for by_channel in (False, True):
        kwargs = {"steps": FUNNEL_STEPS, "start": start, "end": end,
                  "window_hours": FUNNEL_WINDOW_HOURS, "account_ids": []}  # fmt: skip
        sql, params = funnel_baseline_sql(**kwargs, by_channel=by_channel)
        ours = funnel(**kwargs, breakdown="channel" if by_channel else "")
        funnel_compare(ours, _analytic(sql, params), by_channel=by_channel)
        ours_ms, runs = _ms(lambda kw=kwargs, b=by_channel: funnel(
            **kw, breakdown="channel" if b else ""), repeats)  # fmt: skip
        base_ms, base_runs = _ms(lambda s=sql, p=params: _analytic(s, p), repeats)
        measures.append({
            "name": "funnel_30d_by_channel" if by_channel else "funnel_30d",
            "ours_ms": ours_ms, "baseline_ms": base_ms, "goal_ms": ANALYSIS_GOAL_MS,
            "runs_ms": runs, "baseline_runs_ms": base_runs,
            "how": "hand-written SQL: first step-1 event per customer, a MIN per customer "
                   "for each next step, counted in one pass over LEFT JOINs; same counts",
            "facts": {"entered": ours["entered"], "converted": ours["converted"],
                      "steps": [s["count"] for s in ours["steps"]]},
        })  # fmt: skip
    r_start = end - timedelta(weeks=RETENTION_WEEKS) + timedelta(days=1)
    sql, params, _horizon = retention_baseline_sql(
        start=r_start, end=end, today=timezone.localdate()
    )
    kwargs = {"start": r_start, "end": end, "period": "week", "first_event": "",
              "return_event": "", "account_ids": []}  # fmt: skip
    ours = retention(**kwargs)
    retention_compare(ours, _analytic(sql, params))
    ours_ms, runs = _ms(lambda: retention(**kwargs), repeats)
    base_ms, base_runs = _ms(lambda: _analytic(sql, params), repeats)
    measures.append({
        "name": "retention_8w_weekly", "ours_ms": ours_ms, "baseline_ms": base_ms,
        "goal_ms": ANALYSIS_GOAL_MS, "runs_ms": runs, "baseline_runs_ms": base_runs,
        "how": "hand-written SQL: cohort by first seen, DISTINCT (customer, week) of its "
               "events, counted per (cohort, week); same triangle",
        "facts": {"customers": ours["customers"], "cohorts": len(ours["cohorts"])},
    })  # fmt: skip
    return measures


def analysis_pages(*, start: date, end: date) -> list[tuple[str, str, dict]]:
    """The analysis pages with their defaults over the range (retention: RETENTION_WEEKS)."""
    rng = {"start": start.isoformat(), "end": end.isoformat()}
    r_start = end - timedelta(weeks=RETENTION_WEEKS) + timedelta(days=1)
    return [
        ("page_funnel", "/reports/funnel/", rng),
        ("page_funnel_by_channel", "/reports/funnel/", {**rng, "breakdown": "channel"}),
        ("page_retention", "/reports/retention/", {"start": r_start.isoformat(),
                                                   "end": end.isoformat()}),
        ("page_events", "/reports/events/", rng),
        ("page_distribution", "/reports/distribution/", rng),
        ("page_paths", "/reports/paths/", rng),
    ]  # fmt: skip


# --- the run ---------------------------------------------------------------------------------


def _row(scale: str, m: dict) -> dict:
    row = result(m["name"], m["ours_ms"], m.get("unit", "ms"), scale, m["baseline_ms"], m["how"])
    goal = m.get("goal_ms")
    row.update(goal_ms=goal, goal_met=None if goal is None else m["ours_ms"] <= goal,
               runs_ms=m.get("runs_ms"), baseline_runs_ms=m.get("baseline_runs_ms"))  # fmt: skip
    if m.get("facts"):
        row["facts"] = m["facts"]
    return row


def measure(*, scale: str, customers: int, events: int, repeats: int) -> dict:
    """Build (or find) the dataset and time everything (Django is set up, the database is
    the bench's own): the raw-event analysis first (a mismatch with the SQL fails early),
    then the rollups, then the dashboards that read them."""
    from bench.console import _client, _get
    from campaigns.models import Campaign

    facts = dataset_ensure(customers=customers, events=events)
    first_day = date.fromisoformat(facts["first_day"])
    end = date.fromisoformat(facts["last_day"])
    start = end - timedelta(days=RANGE_DAYS - 1)
    facts["range"] = {"start": start.isoformat(), "end": end.isoformat()}
    client = _client()
    measures = analysis_measures(start=start, end=end, repeats=repeats)
    by_name = {m["name"]: m for m in measures}
    for name, url, params in analysis_pages(start=start, end=end):
        ours_ms, runs = _ms(lambda u=url, p=params: _get(client, u, p), repeats)
        twin = by_name.get("retention_8w_weekly" if "retention" in name else
                           name.replace("page_funnel", "funnel_30d"), {})  # fmt: skip
        measures.append({
            "name": name, "ours_ms": ours_ms, "baseline_ms": twin.get("baseline_ms", 0),
            "goal_ms": None, "runs_ms": runs,
            "how": f"server time of GET {url} with its defaults"
                   + (" vs the hand-written SQL of its analysis" if twin else " (no baseline)"),
        })  # fmt: skip
    print("analysis measured", flush=True)
    rollup = rollups_measure(start=first_day, end=end)
    facts.update(rollup_rows=rollup["rows"],
                 rollup_channel_days_checked=rollup["channel_days_checked"])  # fmt: skip
    measures.append({
        "name": "rollups_refresh_span", "unit": "ms", "ours_ms": rollup["ours_ms"],
        "baseline_ms": rollup["baseline_ms"],
        "how": f"hand-written GROUP BYs for ChannelDay's event and order columns only (events, "
               f"active, new users, orders, GMV) over the {facts['first_day']}..{end} span at "
               f"once; the product also does messages, clicks, spend, journeys and 5 "
               f"attribution models. Checked equal on {rollup['channel_days_checked']} "
               f"channel days. One run each.",
    })  # fmt: skip
    print("rollups measured", flush=True)
    kpis_check(client, start=start, end=end)
    campaign = Campaign.objects.filter(utm_code="bench-reports-0").get()
    for page in dashboards(start=start, end=end, campaign=campaign):
        ours_ms, runs = _ms(lambda p=page: _get(client, p["url"], p["params"]), repeats)
        base_ms, base_runs = _ms(lambda p=page: _fetch(p["sql"]), repeats)
        measures.append({
            "name": page["name"], "ours_ms": ours_ms, "baseline_ms": base_ms,
            "goal_ms": PAGE_GOAL_MS, "runs_ms": runs, "baseline_runs_ms": base_runs,
            "how": f"server time of GET {page['url']} (test client, view + template) vs "
                   f"{len(page['sql'])} hand-written SELECTs over the rollup tables",
        })  # fmt: skip
    return {"scale": scale, "dataset": facts, "results": [_row(scale, m) for m in measures]}


def _print(report: dict) -> None:
    d = report["dataset"]
    print(f"dataset: {d['customers']:,} customers, {d['events']:,} events, {d['orders']:,} "
          f"orders, {d['deliveries_sent']:,} deliveries, {d['first_day']}..{d['last_day']}; "
          f"range {d['range']['start']}..{d['range']['end']}")  # fmt: skip
    print(f"{'measure':28} {'ours ms':>10} {'SQL ms':>10} {'ratio':>7} {'goal':>6}  met")
    for r in report["results"]:
        met = {True: "yes", False: "NO", None: "-"}[r["goal_met"]]
        print(f"{r['name']:28} {r['value']:>10,.1f} {r['baseline']:>10,.1f} "
              f"{r['ratio_to_baseline'] or 0:>7.2f} {r['goal_ms'] or '':>6}  {met}")  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["S", "L"], default="S")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the bench database when it holds the dataset"
    )
    args = parser.parse_args(argv)
    from bench.materialise import _kept_database

    database = _kept_database() if args.reuse else _own_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    customers, events = SCALES[args.scale]
    print(f"Quanyu reports bench, scale {args.scale}: {customers:,} customers / {events:,} "
          f"events, database {database}", flush=True)  # fmt: skip
    report = measure(scale=args.scale, customers=customers, events=events, repeats=args.repeats)
    report.update(
        database=database.split()[0],
        repeats=args.repeats,
        goals_ms={"dashboard": PAGE_GOAL_MS, "analysis": ANALYSIS_GOAL_MS},
        generated_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        machine={"python": platform.python_version(), "cpus": os.cpu_count()},
    )
    text = json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n"
    output = RESULTS.with_name(f"results-reports-{args.scale}.json")
    by_database = output.with_name(f"{output.stem}.{report['database']}{output.suffix}")
    for path in (output, by_database):
        Path(path).write_text(text)
    _print(report)
    print(f"written to {output} and {by_database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
