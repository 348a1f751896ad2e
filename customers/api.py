from django.apps import apps
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.filters import CustomerFilterSet
from customers.ingest import events_ingest, orders_ingest, parse_identities
from customers.models import Customer
from customers.selectors import customer_detail
from customers.serializers import (
    BatchResultSerializer,
    CustomerDetailSerializer,
    CustomerListSerializer,
    CustomerUpsertSerializer,
    EventBatchSerializer,
    OrderBatchSerializer,
    UpsertResultSerializer,
)
from customers.services import customer_resolve


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


class CustomerViewSet(viewsets.ReadOnlyModelViewSet):
    """Customers: list with the console's filters, and the 360° detail."""

    filterset_class = CustomerFilterSet

    def get_queryset(self):
        return Customer.objects.order_by("-id").prefetch_related("customer_tags__tag")

    def get_serializer_class(self):
        return CustomerDetailSerializer if self.action == "retrieve" else CustomerListSerializer

    def get_object(self):
        obj = super().get_object()
        return customer_detail(pk=obj.pk)
