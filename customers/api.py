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
from customers.models import Customer
from customers.points import PointsShort, points_earn, points_redeem
from customers.selectors import customer_detail
from customers.serializers import (
    BatchResultSerializer,
    CustomerDetailSerializer,
    CustomerListSerializer,
    CustomerUpsertSerializer,
    EventBatchSerializer,
    OrderBatchSerializer,
    PointsChangeSerializer,
    PointsEntrySerializer,
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
    """The member's points: balance and ledger, earn and redeem (idempotent)."""

    def _customer(self, pk) -> Customer:
        customer = get_object_or_404(Customer.objects.only("pk", "points_balance", "tier"), pk=pk)
        self.check_object_permissions(self.request, customer)
        return customer

    @extend_schema(responses=PointsEntrySerializer(many=True))
    @action(detail=True, methods=["get"])
    def points(self, request, pk=None):
        """Balance, tier and the latest ledger entries (newest first)."""
        customer = self._customer(pk)
        entries = customer.points_entries.select_related("channel_account")[:POINTS_LEDGER]
        return Response(
            {
                "balance": customer.points_balance,
                "tier": customer.tier,
                "ledger": PointsEntrySerializer(entries, many=True).data,
            }
        )


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
    change = None

    @extend_schema(request=PointsChangeSerializer, responses=PointsEntrySerializer)
    def post(self, request, pk: int):
        customer = get_object_or_404(Customer.objects.only("pk", "points_balance"), pk=pk)
        serializer = PointsChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            result = type(self).change(
                customer=customer,
                points=data["points"],
                channel_account=data.get("channel"),
                reason=data.get("reason", ""),
                source_ref=data.get("source_ref", ""),
                idempotency_key=data["idempotency_key"],
                actor_label=_actor_label(request),
            )
        except PointsShort as exc:
            return Response({"detail": exc.messages[0]}, status=status.HTTP_409_CONFLICT)
        body = {
            "entry": PointsEntrySerializer(result.entry).data,
            "balance": result.balance,
            "created": result.created,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.created else 200)


class PointsEarnView(PointsChangeView):
    """Add points (store systems, campaigns); a re-sent idempotency key earns nothing."""

    change = staticmethod(points_earn)


class PointsRedeemView(PointsChangeView):
    """Take points off; 409 with a clear message when the balance is short."""

    change = staticmethod(points_redeem)
