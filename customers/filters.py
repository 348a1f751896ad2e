"""One FilterSet for customers, used by both the console list and the API."""

import django_filters
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from customers.choices import Lifecycle, RfmSegment
from customers.identities import normalize_phone
from customers.models import Customer, Identity


class CustomerFilterSet(django_filters.FilterSet):
    search = django_filters.CharFilter(label=_("搜索"), method="filter_search")
    tag = django_filters.CharFilter(label=_("标签"), method="filter_tag")
    channel = django_filters.CharFilter(label=_("渠道"), method="filter_channel")
    lifecycle = django_filters.ChoiceFilter(label=_("生命周期"), choices=Lifecycle.choices)
    rfm_segment = django_filters.ChoiceFilter(label=_("RFM 分群"), choices=RfmSegment.choices)
    created_after = django_filters.DateFilter(
        label=_("创建于之后"), field_name="created_at", lookup_expr="date__gte"
    )
    created_before = django_filters.DateFilter(
        label=_("创建于之前"), field_name="created_at", lookup_expr="date__lte"
    )
    city = django_filters.CharFilter(label=_("城市"), field_name="city")
    value_cluster = django_filters.CharFilter(label=_("价值分群"), field_name="value_cluster")

    class Meta:
        model = Customer
        fields = ["search", "tag", "channel", "lifecycle", "rfm_segment", "city", "value_cluster"]

    def filter_search(self, queryset, name, value):
        """Name (contains), phone (any form), email or any identity value (exact)."""
        value = value.strip()
        if not value:
            return queryset
        values = {value, value.lower()}
        try:
            values.add(normalize_phone(value))
        except Exception:  # not a phone number: search the other fields only
            pass
        by_identity = Identity.objects.filter(customer=OuterRef("pk"), value__in=values)
        q = (
            Q(name__icontains=value)
            | Q(phone__in=values)
            | Q(email__in=values)
            | Exists(by_identity)
        )
        if value.isdigit():
            q |= Q(pk=int(value)) if len(value) < 18 else Q()
        return queryset.filter(q)

    def filter_tag(self, queryset, name, value):
        """A tag id, or a tag name (any tag of that name)."""
        from django.apps import apps

        CustomerTag = apps.get_model("tags", "CustomerTag")
        tags = CustomerTag.objects.filter(customer=OuterRef("pk"))
        tags = tags.filter(tag_id=int(value)) if value.isdigit() else tags.filter(tag__name=value)
        return queryset.filter(Exists(tags))

    def filter_channel(self, queryset, name, value):
        """Customers known on a channel account (by code), or on a kind of channel."""
        from django.apps import apps

        ChannelAccount = apps.get_model("channels", "ChannelAccount")
        accounts = ChannelAccount.objects.filter(Q(code=value) | Q(kind=value))
        codes = list(accounts.values_list("code", flat=True))
        scoped = Identity.objects.filter(customer=OuterRef("pk"), scope__in=codes)
        from customers.models import Event, Order

        seen = Event.objects.filter(customer=OuterRef("pk"), channel_account__in=accounts)
        bought = Order.objects.filter(customer=OuterRef("pk"), channel_account__in=accounts)
        return queryset.filter(Exists(scoped) | Exists(seen) | Exists(bought))
