from django.apps import apps
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.filters import CustomerFilterSet
from customers.ingest import events_ingest, orders_ingest, parse_identities
from customers.membership import RedemptionRefused, redemption_create
from customers.models import Customer, MemberTier
from customers.points import (
    PointsResult,
    PointsShort,
    points_earn,
    points_earn_for_amount,
    points_redeem,
)
from customers.selectors import customer_detail
from customers.serializers import (
    BatchResultSerializer,
    CustomerDetailSerializer,
    CustomerListSerializer,
    CustomerUpsertSerializer,
    EventBatchSerializer,
    MemberPointsSerializer,
    OrderBatchSerializer,
    PointsChangeSerializer,
    PointsEarnSerializer,
    PointsEntrySerializer,
    PointsRedeemSerializer,
    RedemptionSerializer,
    UpsertResultSerializer,
)
from customers.services import customer_resolve

POINTS_LEDGER = 100


def _actor_label(request) -> str:
    return f"api:{request.user.get_username()}"


class IngestPermissionMixin:
    """Writing customer data needs the `customers.add_customer` permission."""

    queryset = Customer.objects.none()


class CustomerUpsertView(IngestPermissionMixin, APIView):
    @extend_schema(request=CustomerUpsertSerializer, responses=UpsertResultSerializer)
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["expected a JSON object"]})
        errors: dict = {}
        scopes = set(
            apps.get_model("channels", "ChannelAccount").objects.values_list("code", flat=True)
        )
        keys = parse_identities(data.get("identities"), errors, scopes)
        for name in ("profile", "attributes"):
            if data.get(name) is not None and not isinstance(data.get(name), dict):
                errors[name] = ["expected an object"]
        if errors:
            raise ValidationError(errors)
        try:
            result = customer_resolve(
                identities=keys,
                profile=data.get("profile"),
                attributes=data.get("attributes"),
                actor_label=_actor_label(request),
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
        return Response(
            {"id": result.customer.pk, "created": result.created, "merged_ids": result.merged_ids},
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class BatchView(IngestPermissionMixin, APIView):
    key = ""
    ingest = None

    def post(self, request):
        if not isinstance(request.data, dict) or self.key not in request.data:
            raise ValidationError({self.key: ["required: a list of rows"]})
        try:
            result = type(self).ingest(
                rows=request.data[self.key], actor_label=_actor_label(request)
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
        return Response(result.as_dict(with_updated=self.key == "orders"))


class EventBatchView(BatchView):
    key, ingest = "events", events_ingest

    @extend_schema(request=EventBatchSerializer, responses=BatchResultSerializer)
    def post(self, request):
        return super().post(request)


class OrderBatchView(BatchView):
    key, ingest = "orders", orders_ingest

    @extend_schema(request=OrderBatchSerializer, responses=BatchResultSerializer)
    def post(self, request):
        return super().post(request)


class CustomerPointsMixin:
    """The member's points: balance, tier, expiring points, ledger and redemptions."""

    @extend_schema(responses=MemberPointsSerializer)
    @action(detail=True, methods=["get"])
    def points(self, request, pk=None):
        """Balance, tier and the latest ledger entries and redemptions (newest first)."""
        customer = get_object_or_404(Customer, pk=pk)
        self.check_object_permissions(self.request, customer)
        tier = MemberTier.objects.filter(code=customer.tier).first()
        data = {
            "balance": customer.points_balance,
            "tier": customer.tier,
            "tier_name": tier.name if tier else "",
            "tier_score": customer.tier_score,
            "expiring": customer.points_expiring,
            "next_expiry_at": customer.points_expire_at,
            "ledger": customer.points_entries.select_related("channel_account")[:POINTS_LEDGER],
            "redemptions": customer.redemptions.select_related("item", "channel_account")[
                :POINTS_LEDGER
            ],
        }
        return Response(MemberPointsSerializer(data).data)


class CustomerViewSet(CustomerPointsMixin, viewsets.ReadOnlyModelViewSet):
    """Customers: list with the console's filters, and the 360° detail."""

    filterset_class = CustomerFilterSet

    def get_queryset(self):
        return Customer.objects.order_by("-id").prefetch_related("customer_tags__tag")

    def get_serializer_class(self):
        return CustomerDetailSerializer if self.action == "retrieve" else CustomerListSerializer

    def get_object(self):
        obj = super().get_object()
        return customer_detail(pk=obj.pk)


class PointsChangeView(APIView):
    """POST /api/v1/customers/<id>/points/earn|redeem (idempotent; 409 on a short balance)."""

    queryset = Customer.objects.none()  # writes need customers.add_customer
    serializer_class = PointsChangeSerializer

    def post(self, request, pk: int):
        customer = get_object_or_404(Customer.objects.only("pk", "points_balance"), pk=pk)
        serializer = self.serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        common = {
            "customer": customer,
            "channel_account": data.get("channel"),
            "idempotency_key": data["idempotency_key"],
            "actor_label": _actor_label(request),
        }
        try:
            return self.change(data, common)
        except (PointsShort, RedemptionRefused) as exc:
            return Response({"detail": exc.messages[0]}, status=status.HTTP_409_CONFLICT)

    def answer(self, result, **extra) -> Response:
        body = {
            "entry": PointsEntrySerializer(result.entry).data,
            "balance": result.balance,
            "created": result.created,
            **extra,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.created else 200)


class PointsEarnView(PointsChangeView):
    """Add points, or the points a purchase `amount` earns on the channel (store tills); a
    re-sent idempotency key earns nothing."""

    serializer_class = PointsEarnSerializer

    @extend_schema(request=PointsEarnSerializer, responses=PointsEntrySerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def change(self, data, common) -> Response:
        reason = {"reason": data.get("reason", ""), "source_ref": data.get("source_ref", "")}
        if data.get("amount") is not None:
            result = points_earn_for_amount(amount=data["amount"], **reason, **common)
        else:
            result = points_earn(points=data["points"], **reason, **common)
        return self.answer(result)


class PointsRedeemView(PointsChangeView):
    """Take points off, or redeem a reward `item` (stock, channel and limit checked); 409
    with a clear message when the balance is short or the item is sold out."""

    serializer_class = PointsRedeemSerializer

    @extend_schema(request=PointsRedeemSerializer, responses=PointsEntrySerializer)
    def post(self, request, pk: int):
        return super().post(request, pk)

    def change(self, data, common) -> Response:
        if data.get("item") is not None:
            made = redemption_create(item=data["item"], **common)
            result = PointsResult(made.redemption.entry, made.created, made.balance)
            return self.answer(result, redemption=RedemptionSerializer(made.redemption).data)
        reason = {"reason": data.get("reason", ""), "source_ref": data.get("source_ref", "")}
        return self.answer(points_redeem(points=data["points"], **reason, **common))
