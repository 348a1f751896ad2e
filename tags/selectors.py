"""Reads on tags and audiences."""

from django.db.models import QuerySet

from customers.models import Customer
from tags.dsl import audience_queryset
from tags.models import Audience, AudienceKind


def audience_members(*, audience: Audience) -> QuerySet[Customer]:
    """Who is in an audience: evaluated now, or the frozen list of a snapshot."""
    if audience.kind == AudienceKind.SNAPSHOT:
        return Customer.objects.filter(audience_memberships__audience=audience).order_by("-id")
    return audience_queryset(audience.definition)
