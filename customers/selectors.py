"""Reads on customers for the console, the API and exports."""

from django.db.models import Prefetch, QuerySet

from customers.filters import CustomerFilterSet
from customers.models import Customer, Event, Identity, MergeLog, Order


def customer_list(*, filters: dict | None = None) -> QuerySet[Customer]:
    """Customers matching the shared filter set, newest first."""
    queryset = Customer.objects.order_by("-id")
    return CustomerFilterSet(filters or {}, queryset=queryset).qs


def customer_timeline(
    *, customer: Customer, limit: int = 100, channel: str | None = None, offset: int = 0
) -> list[Event]:
    """The customer's events across every channel (or one account code), newest first."""
    events = Event.objects.filter(customer=customer)
    if channel:
        events = events.filter(channel_account__code=channel)
    events = events.select_related("channel_account").order_by("-occurred_at", "-id")
    return list(events[offset : offset + limit])


def customer_merged_into(*, pk: int) -> int | None:
    """Where a merged-away customer lives now (following later merges), or None.

    Only called when a profile is not found, so a scan of the merge log is acceptable;
    `merged_ids` is JSON, which SQLite cannot search by element.
    """
    moved = {
        merged_id: survivor_id
        for survivor_id, merged_ids in MergeLog.objects.values_list(
            "survivor_id_value", "merged_ids"
        )
        for merged_id in merged_ids
    }
    seen = set()
    while pk in moved and pk not in seen:
        seen.add(pk)
        pk = moved[pk]
    return pk if seen and Customer.objects.filter(pk=pk).exists() else None


def customer_detail(*, pk: int) -> Customer:
    """One profile with what the 360° view shows, in a fixed number of queries."""
    from django.apps import apps

    CustomerTag = apps.get_model("tags", "CustomerTag")
    return Customer.objects.prefetch_related(
        Prefetch("identities", queryset=Identity.objects.order_by("kind", "scope")),
        Prefetch(
            "orders",
            queryset=Order.objects.select_related("channel_account").order_by("-paid_at", "-id"),
        ),
        Prefetch(
            "customer_tags",
            queryset=CustomerTag.objects.select_related("tag__group", "added_by").order_by(
                "tag__group__name", "tag__name"
            ),
        ),
        "consents",
    ).get(pk=pk)


def customer_overview(*, days: int = 30) -> dict:
    """Headline figures for the console's home page."""
    from datetime import timedelta

    from django.db.models import Count, Sum
    from django.utils import timezone

    from customers.choices import REVENUE_STATUSES, Lifecycle

    now = timezone.now()
    since = now - timedelta(days=days)
    lifecycle = dict(Customer.objects.values_list("lifecycle").annotate(n=Count("id")))
    revenue = Order.objects.filter(status__in=REVENUE_STATUSES, paid_at__gte=since).aggregate(
        total=Sum("amount"), orders=Count("id")
    )
    return {
        "customers": Customer.objects.count(),
        "new_customers": Customer.objects.filter(created_at__gte=since).count(),
        "events_7d": Event.objects.filter(occurred_at__gte=now - timedelta(days=7)).count(),
        "revenue": revenue["total"] or 0,
        "orders": revenue["orders"],
        "lifecycle": [(v, label, lifecycle.get(v, 0)) for v, label in Lifecycle.choices],
        "days": days,
    }


# --- membership ----------------------------------------------------------------------------


def points_flow(*, start, end, channel_account_id: int | None = None) -> list[dict]:
    """Ledger totals by month, kind and channel for [start, end): one GROUP BY."""
    from django.db.models import Count, Sum
    from django.db.models.functions import TruncMonth

    from customers.models import PointsEntry

    entries = PointsEntry.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
    if channel_account_id:
        entries = entries.filter(channel_account_id=channel_account_id)
    return list(
        entries.annotate(month=TruncMonth("occurred_at"))
        .values("month", "kind", "channel_account")
        .annotate(points=Sum("points"), entries=Count("id"))
        .order_by("month", "kind", "channel_account")
    )


def points_liability() -> dict:
    """What members hold now: points outstanding, members holding them, expiring soon."""
    from django.db.models import Count, Q, Sum

    totals = Customer.objects.filter(points_balance__gt=0).aggregate(
        outstanding=Sum("points_balance"),
        members=Count("id"),
        expiring=Sum("points_expiring"),
        expiring_members=Count("id", filter=Q(points_expiring__gt=0)),
    )
    return {key: value or 0 for key, value in totals.items()}


def tier_distribution() -> list[tuple]:
    """(tier, members) for every tier, lowest first, members without a tier first of all."""
    from django.db.models import Count

    from customers.models import MemberTier

    counts = dict(Customer.objects.values_list("tier").annotate(n=Count("id")).order_by())
    tiers = list(MemberTier.objects.all())
    return [(None, counts.get("", 0))] + [(tier, counts.get(tier.code, 0)) for tier in tiers]


def reward_ranking(*, start, end, limit: int = 10) -> list[dict]:
    """The most redeemed reward items in [start, end) (cancelled ones not counted)."""
    from django.db.models import Count, Sum

    from customers.choices import RedemptionStatus
    from customers.models import Redemption

    return list(
        Redemption.objects.filter(created_at__gte=start, created_at__lt=end)
        .exclude(status=RedemptionStatus.CANCELLED)
        .values("item", "item__name", "item__kind", "item__stock")
        .annotate(redemptions=Count("id"), points=Sum("points"))
        .order_by("-redemptions", "item")[:limit]
    )
