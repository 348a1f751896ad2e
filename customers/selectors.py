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
