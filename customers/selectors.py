"""Reads on customers for the console, the API and exports."""

from django.db.models import Prefetch, QuerySet

from customers.filters import CustomerFilterSet
from customers.models import Customer, Event, Identity, Order


def customer_list(*, filters: dict | None = None) -> QuerySet[Customer]:
    """Customers matching the shared filter set, newest first."""
    queryset = Customer.objects.order_by("-id")
    return CustomerFilterSet(filters or {}, queryset=queryset).qs


def customer_timeline(*, customer: Customer, limit: int = 100) -> list[Event]:
    """The customer's events across every channel, newest first."""
    return list(
        Event.objects.filter(customer=customer)
        .select_related("channel_account")
        .order_by("-occurred_at", "-id")[:limit]
    )


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
