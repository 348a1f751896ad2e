from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.exports import customers_export_csv
from customers.models import Customer
from customers.serializers import CustomerListSerializer, CustomerTagSerializer
from tags.models import Audience, CustomerTag, Tag, TagGroup, TagRule, TagSource
from tags.selectors import audience_members
from tags.serializers import (
    AudienceSerializer,
    CustomerTagChangeSerializer,
    TagGroupSerializer,
    TagRuleRunSerializer,
    TagRuleSerializer,
    TagSerializer,
)
from tags.services import (
    audience_refresh,
    audience_save,
    customer_tags_change,
    tag_create,
    tag_group_lookup,
    tag_update,
)


def _as_drf(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)


class TagGroupViewSet(viewsets.ModelViewSet):
    queryset = TagGroup.objects.order_by("name")
    serializer_class = TagGroupSerializer
    search_fields = ["name"]


class TagViewSet(viewsets.ModelViewSet):
    queryset = Tag.objects.select_related("group").annotate(customer_count=Count("customer_tags"))
    serializer_class = TagSerializer
    filterset_fields = ["group", "name"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = tag_create(
                name=data["name"],
                group=tag_group_lookup(data["group"]["name"]) if data.get("group") else None,
                color=data.get("color", ""),
                description=data.get("description", ""),
                created_by=self.request.user,
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc)

    def perform_update(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = tag_update(
                tag=serializer.instance,
                name=data.get("name"),
                group=tag_group_lookup(data["group"]["name"]) if data.get("group") else None,
                color=data.get("color"),
                description=data.get("description"),
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc)


class CustomerTagsView(APIView):
    """`POST /api/v1/customers/<id>/tags/` with `{"add": [...], "remove": [...]}`."""

    queryset = CustomerTag.objects.none()

    @extend_schema(responses=CustomerTagSerializer(many=True))
    def get(self, request, pk):
        customer = get_object_or_404(Customer, pk=pk)
        rows = CustomerTag.objects.filter(customer=customer).select_related("tag__group")
        return Response(CustomerTagSerializer(rows, many=True).data)

    @extend_schema(request=CustomerTagChangeSerializer, responses=CustomerTagSerializer(many=True))
    def post(self, request, pk):
        customer = get_object_or_404(Customer, pk=pk)
        serializer = CustomerTagChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            rows = customer_tags_change(
                customer=customer,
                add=serializer.validated_data["add"],
                remove=serializer.validated_data["remove"],
                source=TagSource.API,
                source_ref=request.user.get_username(),
                actor=request.user,
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc)
        return Response(CustomerTagSerializer(rows, many=True).data)


class AudiencePreviewSerializer(serializers.Serializer):
    definition = serializers.JSONField(help_text="an audience definition in the DSL")


class AudiencePreviewResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sample = serializers.ListField(child=serializers.DictField())


class AudiencePreviewView(APIView):
    """How many customers a definition selects, and a sample of them (masked as usual)."""

    permission_classes = [permissions.IsAuthenticated]
    SAMPLE = 10

    @extend_schema(request=AudiencePreviewSerializer, responses=AudiencePreviewResultSerializer)
    def post(self, request):
        from tags.dsl import DslError, audience_count, audience_queryset

        if not request.user.has_perm("customers.view_customer"):
            raise PermissionDenied
        if not isinstance(request.data, dict) or "definition" not in request.data:
            raise ValidationError({"definition": ["required: an audience definition"]})
        try:
            customers = audience_queryset(request.data["definition"])
            count = audience_count(request.data["definition"])
        except DslError as exc:
            raise ValidationError({"definition": exc.errors})
        sample = customers.prefetch_related("customer_tags__tag")[: self.SAMPLE]
        serializer = CustomerListSerializer(sample, many=True, context={"request": request})
        return Response({"count": count, "sample": serializer.data})


class AudienceViewSet(viewsets.ModelViewSet):
    """Saved audiences; writes validate the definition (400 naming the path) and measure it."""

    queryset = Audience.objects.order_by("name")
    serializer_class = AudienceSerializer
    search_fields = ["name"]
    filterset_fields = ["kind"]

    def _save(self, serializer, audience=None):
        data = serializer.validated_data
        current = audience or Audience()
        try:
            serializer.instance = audience_save(
                name=data.get("name", current.name),
                definition=data.get("definition", current.definition),
                kind=data.get("kind", current.kind),
                description=data.get("description", current.description),
                audience=audience,
                actor=self.request.user,
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc)

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    @extend_schema(responses=CustomerListSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        """The audience's customers now (a snapshot: as frozen at its last refresh)."""
        customers = audience_members(audience=self.get_object())
        page = self.paginate_queryset(customers.prefetch_related("customer_tags__tag"))
        serializer = CustomerListSerializer(page, many=True, context={"request": request})
        return self.get_paginated_response(serializer.data)

    @extend_schema(responses={(200, "text/csv"): bytes})
    @action(detail=True, methods=["get"], url_path="export")
    def export(self, request, pk=None):
        """Members as CSV, masked without view_pii; the export is audited."""
        audience = self.get_object()
        lines = customers_export_csv(
            queryset=audience_members(audience=audience),
            user=request.user,
            filters={"audience": audience.pk, "name": audience.name},
        )
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="audience-{audience.pk}.csv"'
        return response

    @extend_schema(request=None, responses=AudienceSerializer)
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        """Measure now (a snapshot re-freezes its members)."""
        audience = self.get_object()
        audience_refresh(audience=audience)
        return Response(AudienceSerializer(audience).data)


class TagRuleViewSet(viewsets.ModelViewSet):
    """Auto-tag rules; writes validate the definition (400 naming the path)."""

    queryset = TagRule.objects.select_related("tag").order_by("name")
    serializer_class = TagRuleSerializer
    search_fields = ["name"]
    filterset_fields = ["mode", "schedule", "enabled", "tag"]

    def _save(self, serializer, rule=None):
        from tags.rules import tag_rule_save

        data = serializer.validated_data
        current = rule or TagRule()
        try:
            serializer.instance = tag_rule_save(
                name=data.get("name", current.name),
                tag=data.get("tag", getattr(current, "tag", None)),
                definition=data.get("definition", current.definition),
                mode=data.get("mode", current.mode),
                schedule=data.get("schedule", current.schedule),
                enabled=data.get("enabled", current.enabled),
                rule=rule,
                actor=self.request.user,
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc)

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    @extend_schema(request=None, responses=TagRuleRunSerializer)
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Run the rule now; answers with the run (added / removed counts)."""
        from tags.rules import tag_rule_run

        run = tag_rule_run(rule=self.get_object())
        return Response(TagRuleRunSerializer(run).data)

    @extend_schema(responses=TagRuleRunSerializer(many=True))
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        """The rule's run history, newest first."""
        page = self.paginate_queryset(self.get_object().runs.order_by("-started_at", "-id"))
        return self.get_paginated_response(TagRuleRunSerializer(page, many=True).data)
