from decimal import Decimal

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.masking import display_email, display_identity_value, display_phone
from customers.models import (
    Consent,
    Customer,
    Event,
    Identity,
    Order,
    PointsEntry,
    Redemption,
    RewardItem,
)


class IdentityInputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    value = serializers.CharField()
    scope = serializers.CharField(required=False, allow_blank=True)


class CustomerUpsertSerializer(serializers.Serializer):
    identities = IdentityInputSerializer(many=True)
    profile = serializers.DictField(required=False)
    attributes = serializers.DictField(required=False)


class UpsertResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created = serializers.BooleanField()
    merged_ids = serializers.ListField(child=serializers.IntegerField())


class EventInputSerializer(serializers.Serializer):
    event_id = serializers.CharField(required=False)
    name = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    channel = serializers.CharField()
    identities = IdentityInputSerializer(many=True)
    properties = serializers.DictField(required=False)


class EventBatchSerializer(serializers.Serializer):
    events = EventInputSerializer(many=True)


class OrderInputSerializer(serializers.Serializer):
    order_id = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    paid_at = serializers.DateTimeField(required=False)
    channel = serializers.CharField()
    identities = IdentityInputSerializer(many=True)
    items = serializers.ListField(required=False)


class OrderBatchSerializer(serializers.Serializer):
    orders = OrderInputSerializer(many=True)


class BatchErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    errors = serializers.DictField()


class BatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = BatchErrorSerializer(many=True)


class MaskedContactMixin(serializers.Serializer):
    phone = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()

    def _user(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def get_phone(self, obj) -> str:
        return display_phone(obj.phone, self._user())

    def get_email(self, obj) -> str:
        return display_email(obj.email, self._user())


class CustomerListSerializer(MaskedContactMixin, serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [
            "id",
            "name",
            "gender",
            "city",
            "province",
            "birthday",
            "phone",
            "email",
            "lifecycle",
            "rfm_segment",
            "rfm_recency",
            "rfm_frequency",
            "rfm_monetary",
            "total_orders",
            "total_revenue",
            "points_balance",
            "tier",
            "value_cluster",
            "last_order_at",
            "first_seen_at",
            "last_seen_at",
            "attributes",
            "tags",
            "created_at",
        ]

    def get_tags(self, obj) -> list[str]:
        return [ct.tag.name for ct in obj.customer_tags.all()]


class IdentitySerializer(serializers.ModelSerializer):
    value = serializers.SerializerMethodField()

    class Meta:
        model = Identity
        fields = ["kind", "scope", "value", "created_at"]

    def get_value(self, obj) -> str:
        request = self.context.get("request")
        return display_identity_value(obj.kind, obj.value, getattr(request, "user", None))


class EventSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel_account.code", default=None)
    event_id = serializers.CharField(source="source_id")

    class Meta:
        model = Event
        fields = ["id", "event_id", "name", "occurred_at", "channel", "properties"]


class OrderSerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel_account.code")
    order_id = serializers.CharField(source="external_id")

    class Meta:
        model = Order
        fields = ["id", "order_id", "channel", "amount", "currency", "status", "paid_at", "items"]


class ConsentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["channel", "status", "source", "updated_at"]


class CustomerTagSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="tag.id")
    name = serializers.CharField(source="tag.name")
    group = serializers.CharField(source="tag.group.name")
    source = serializers.CharField()
    added_at = serializers.DateTimeField(source="created_at")


class MemberSummarySerializer(serializers.Serializer):
    balance = serializers.DecimalField(
        source="points_balance", max_digits=12, decimal_places=1, coerce_to_string=False
    )
    tier = serializers.CharField()
    tier_score = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False)
    expiring = serializers.DecimalField(
        source="points_expiring", max_digits=12, decimal_places=1, coerce_to_string=False
    )
    next_expiry_at = serializers.DateTimeField(source="points_expire_at", allow_null=True)


class CustomerDetailSerializer(CustomerListSerializer):
    identities = IdentitySerializer(many=True)
    tags = CustomerTagSerializer(source="customer_tags", many=True)
    orders = serializers.SerializerMethodField()
    recent_events = serializers.SerializerMethodField()
    consents = ConsentSerializer(many=True)
    points = serializers.SerializerMethodField()

    class Meta(CustomerListSerializer.Meta):
        fields = [
            *CustomerListSerializer.Meta.fields,
            "identities",
            "orders",
            "recent_events",
            "consents",
            "points",
        ]

    @extend_schema_field(MemberSummarySerializer)
    def get_points(self, obj) -> dict:
        """The member card in short; the ledger is at /customers/<id>/points/."""
        return MemberSummarySerializer(obj).data

    def get_orders(self, obj) -> list[dict]:
        return OrderSerializer(list(obj.orders.all())[:50], many=True).data

    def get_recent_events(self, obj) -> list[dict]:
        from customers.selectors import customer_timeline

        return EventSerializer(customer_timeline(customer=obj, limit=50), many=True).data


class PointsEntrySerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel_account.code", default=None, read_only=True)
    points = serializers.DecimalField(
        max_digits=12, decimal_places=1, coerce_to_string=False, read_only=True
    )

    class Meta:
        model = PointsEntry
        fields = ["id", "kind", "points", "channel", "reason", "source_ref", "idempotency_key",
                  "actor_label", "occurred_at", "expires_at", "created_at"]  # fmt: skip
        read_only_fields = fields


class PointsChangeSerializer(serializers.Serializer):
    """Earn or redeem: `points`, or what they stand for (`amount` of a purchase, an `item`)."""

    points = serializers.DecimalField(
        max_digits=9, decimal_places=1, min_value=Decimal("0.1"), coerce_to_string=False,
        required=False,
    )  # fmt: skip
    channel = serializers.CharField(required=False, allow_blank=True, max_length=64)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)
    source_ref = serializers.CharField(required=False, allow_blank=True, max_length=100)
    idempotency_key = serializers.CharField(max_length=100)
    # the field that may stand in for `points`: `amount` on earn, `item` on redeem
    alternative = ""

    def validate_channel(self, code):
        from django.apps import apps

        if not code:
            return None
        account = apps.get_model("channels", "ChannelAccount").objects.filter(code=code).first()
        if account is None:
            raise serializers.ValidationError(f"unknown channel account {code!r}")
        return account

    def validate(self, data):
        given = [name for name in ("points", self.alternative) if data.get(name) is not None]
        if len(given) != 1:
            message = _("请给出 points 或 %(other)s 其中之一") % {"other": self.alternative}
            raise serializers.ValidationError({"points": [message]})
        return data


class PointsEarnSerializer(PointsChangeSerializer):
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), coerce_to_string=False,
        required=False, help_text="yuan paid; earns by the channel's rule and multipliers",
    )  # fmt: skip
    alternative = "amount"


class PointsRedeemSerializer(PointsChangeSerializer):
    item = serializers.PrimaryKeyRelatedField(
        queryset=RewardItem.objects.all(), required=False, help_text="reward item id"
    )
    alternative = "item"


class RedemptionSerializer(serializers.ModelSerializer):
    item_name = serializers.CharField(source="item.name", read_only=True)
    channel = serializers.CharField(source="channel_account.code", default=None, read_only=True)
    points = serializers.DecimalField(
        max_digits=10, decimal_places=1, coerce_to_string=False, read_only=True
    )

    class Meta:
        model = Redemption
        fields = ["id", "item", "item_name", "channel", "points", "status", "note", "created_at"]
        read_only_fields = fields


class MemberPointsSerializer(serializers.Serializer):
    """GET /customers/<id>/points/: balance, tier, expiring points and the ledger."""

    balance = serializers.DecimalField(max_digits=12, decimal_places=1, coerce_to_string=False)
    tier = serializers.CharField()
    tier_name = serializers.CharField(allow_blank=True)
    tier_score = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False)
    expiring = serializers.DecimalField(max_digits=12, decimal_places=1, coerce_to_string=False)
    next_expiry_at = serializers.DateTimeField(allow_null=True)
    ledger = PointsEntrySerializer(many=True)
    redemptions = RedemptionSerializer(many=True)
