"""Rollups equal the same metrics computed straight from the raw rows (on demo data), are
idempotent, and the attribution models split every day's revenue exactly."""

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from campaigns.models import Campaign, Delivery, LinkClick, SpendEntry
from campaigns.results import campaign_results
from config.demo import demo_load
from customers.choices import REVENUE_STATUSES
from customers.models import Event, Order
from reports import metrics
from reports.choices import AttributionModel, RollupStatus
from reports.models import AttributionDay, CampaignDay, ChannelDay, PushDay, RollupRun
from reports.rollups import rollups_refresh

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 20)


def local(moment: datetime) -> date:
    return timezone.localtime(moment).date()


@pytest.fixture
def demo():
    with time_machine.travel(datetime(2026, 11, 20, 15, 0, tzinfo=timezone.get_current_timezone())):
        demo_load(customers=250, seed=11)
        yield


def raw_channel_days(start: date, end: date) -> dict:
    """(day, account) → the metrics, computed row by row in Python from the raw tables."""
    out = defaultdict(
        lambda: {
            **{"events": defaultdict(int), "users": defaultdict(set), "active": set()},
            **{"gmv": Decimal(0), "orders": 0, "buyers": set()},
            **{"sent": 0, "clicks": 0, "spend": Decimal(0)},
        }
    )
    first_seen: dict = {}
    for customer, account, name, at in Event.objects.exclude(channel_account=None).values_list(
        "customer", "channel_account", "name", "occurred_at"
    ):
        key = (customer, account)
        first_seen[key] = min(first_seen.get(key, at), at)
        day = local(at)
        if start <= day <= end:
            row = out[(day, account)]
            row["events"][name] += 1
            row["users"][name].add(customer)
            row["active"].add(customer)
    new_users = defaultdict(int)
    for (_customer, account), at in first_seen.items():
        if start <= local(at) <= end:
            new_users[(local(at), account)] += 1
    for customer, account, at, amount in Order.objects.filter(
        status__in=REVENUE_STATUSES, paid_at__isnull=False
    ).values_list("customer", "channel_account", "paid_at", "amount"):
        if start <= local(at) <= end:
            row = out[(local(at), account)]
            row["gmv"] += amount
            row["orders"] += 1
            row["buyers"].add(customer)
    for account, at in Delivery.objects.filter(status="sent").values_list(
        "channel_account", "sent_at"
    ):
        if start <= local(at) <= end:
            out[(local(at), account)]["sent"] += 1
    for account, at in LinkClick.objects.values_list("delivery__channel_account", "clicked_at"):
        if account and start <= local(at) <= end:
            out[(local(at), account)]["clicks"] += 1
    for account, day, amount in SpendEntry.objects.values_list(
        "channel_account", "spent_on", "amount"
    ):
        if account and start <= day <= end:
            out[(day, account)]["spend"] += amount
    return out, new_users


def test_rollups_on_demo_data(demo):
    """One demo load, three checks (each below): raw equality, exact attribution, and
    agreement with the campaign page."""
    start, end = TODAY - timedelta(days=200), TODAY
    run = rollups_refresh(start=start, end=end)
    assert_rollups_equal_raw(run, start, end)
    assert_every_model_credits_each_days_revenue_exactly()
    assert_last_touch_matches_the_campaign_page()


def assert_rollups_equal_raw(run, start, end):
    assert run.status == RollupStatus.DONE and run.days_done == run.days_total == 201
    raw, new_users = raw_channel_days(start, end)
    rolled = {(r.day, r.channel_account_id): r for r in ChannelDay.objects.all()}
    assert set(rolled) == set(raw)
    for key, want in raw.items():
        got = rolled[key]
        assert got.event_counts == dict(want["events"]), key
        assert got.event_users == {n: len(u) for n, u in want["users"].items()}, key
        assert got.events == sum(want["events"].values())
        assert got.active_users == len(want["active"])
        assert got.new_users == new_users.get(key, 0)
        assert (got.gmv, got.orders, got.buyers) == (
            want["gmv"],
            want["orders"],
            len(want["buyers"]),
        )
        assert (got.sent, got.clicks, got.spend) == (want["sent"], want["clicks"], want["spend"])
    # a period's KPIs read from the rollups are the raw sums over the period
    totals = metrics.channel_totals(start=TODAY - timedelta(days=59), end=TODAY)
    paid = Order.objects.filter(
        status__in=REVENUE_STATUSES, paid_at__date__gte=TODAY - timedelta(days=60)
    )
    gmv = sum(r["gmv"] for (d, _a), r in raw.items() if d >= TODAY - timedelta(days=59))
    assert totals["gmv"] == gmv and gmv > 0 and paid.exists()
    assert metrics.kpi_value("orders", totals) == sum(
        r["orders"] for (d, _a), r in raw.items() if d >= TODAY - timedelta(days=59)
    )


def assert_every_model_credits_each_days_revenue_exactly():
    revenue = defaultdict(Decimal)
    orders = defaultdict(int)
    for at, amount in Order.objects.filter(status__in=REVENUE_STATUSES).values_list(
        "paid_at", "amount"
    ):
        revenue[local(at)] += amount
        orders[local(at)] += 1
    for model in AttributionModel.values:
        credited = dict(
            AttributionDay.objects.filter(model=model)
            .values("day").annotate(total=Sum("revenue")).values_list("day", "total")
        )  # fmt: skip
        counted = dict(
            AttributionDay.objects.filter(model=model)
            .values("day").annotate(total=Sum("orders")).values_list("day", "total")
        )  # fmt: skip
        assert credited == dict(revenue), model
        assert {d: int(n) for d, n in counted.items()} == dict(orders), model
        assert all(n == int(n) for n in counted.values())


def assert_last_touch_matches_the_campaign_page():
    for campaign in Campaign.objects.all():
        results = campaign_results(campaign=campaign)
        credit = AttributionDay.objects.filter(
            campaign=campaign, model=AttributionModel.LAST_TOUCH
        ).aggregate(revenue=Sum("revenue"), orders=Sum("orders"))
        assert (credit["revenue"] or 0) == results["revenue"], campaign.name
        assert (credit["orders"] or 0) == results["orders"]
        spend = CampaignDay.objects.filter(campaign=campaign).aggregate(s=Sum("spend"))["s"]
        assert spend == results["spend"]
        sent = CampaignDay.objects.filter(campaign=campaign).aggregate(s=Sum("sent"))["s"] or 0
        assert sent == results["reach"]
    pushed = PushDay.objects.aggregate(s=Sum("sent"), o=Sum("orders"))
    assert pushed["s"] == Delivery.objects.filter(status="sent").count()
    assert (
        pushed["o"]
        == AttributionDay.objects.filter(
            model=AttributionModel.LAST_TOUCH, campaign__isnull=False
        ).aggregate(o=Sum("orders"))["o"]
    )


def test_recomputing_a_range_is_idempotent_and_follows_changes(demo):
    start, end = TODAY - timedelta(days=30), TODAY
    runs = RollupRun.objects.filter(status=RollupStatus.DONE).count()  # the demo made one
    rollups_refresh(start=start, end=end)
    first = sorted(ChannelDay.objects.values_list("day", "channel_account", "events", "gmv"))
    call_command("rollups_backfill", start=str(start), end=str(end))
    assert (
        sorted(ChannelDay.objects.values_list("day", "channel_account", "events", "gmv")) == first
    )
    assert RollupRun.objects.filter(status=RollupStatus.DONE).count() == runs + 2
    # a late order lands on its day after the next run
    order = Order.objects.filter(status__in=REVENUE_STATUSES, paid_at__date__gte=start).first()
    day = local(order.paid_at)
    before = ChannelDay.objects.get(day=day, channel_account=order.channel_account).gmv
    Order.objects.filter(pk=order.pk).update(status="cancelled")
    rollups_refresh(start=day, end=day)
    after = ChannelDay.objects.get(day=day, channel_account=order.channel_account).gmv
    assert after == before - order.amount
    other_days = ChannelDay.objects.exclude(day=day).values_list(
        "day", "channel_account", "events", "gmv"
    )
    assert sorted(other_days) == [r for r in first if r[0] != day]
