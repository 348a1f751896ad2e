"""Public API v1: campaigns, pushes, journeys and real-time triggers (docs/campaigns.md, "API").

Writes call the services. A service's ValidationError becomes a 400 with field errors
(`common.api.exception_handler`; `non_field_errors` when it names no field); a launch that needs
approval, or deleting what is still running, is a 409.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from campaigns.choices import JourneyStatus, PushStatus
from campaigns.journey_templates import TEMPLATES, journey_from_template, template_missing
from campaigns.journeys import (
    journey_activate,
    journey_archive,
    journey_pause,
    journey_save,
    journey_steps_data,
)
from campaigns.models import Campaign, Journey, MessagingSettings, Push, TriggerRule
from campaigns.pushes import (
    EDITABLE,
    push_approve,
    push_cancel,
    push_estimate_refresh,
    push_launch,
    push_needs_approval,
    push_pause,
    push_resume,
    push_save,
)
from campaigns.serializers import (
    CampaignDetailSerializer,
    CampaignSerializer,
    JourneyDetailSerializer,
    JourneyFromTemplateSerializer,
    JourneySerializer,
    JourneyTemplateSerializer,
    PushDetailSerializer,
    PushEstimateSerializer,
    PushSerializer,
    SpendEntrySerializer,
    TriggerRuleSerializer,
)
from campaigns.triggers import trigger_rule_save
from common.permissions import require_perms

# state changes check the model's change permission themselves (not POST → add)
STATE_CHANGE = {"detail": True, "methods": ["post"],
                "permission_classes": [permissions.IsAuthenticated]}  # fmt: skip


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "conflict"
    default_code = "conflict"


class StateChangeMixin:
    """`changing()`: the object, once the caller may change it (403 otherwise)."""

    change_perm = ""

    def changing(self):
        require_perms(self.request, self.change_perm)
        return self.get_object()


# --- campaigns -----------------------------------------------------------------------------


class CampaignViewSet(viewsets.ModelViewSet):
    """Campaigns with their goals; the detail adds results (reach, clicks, attributed orders
    and revenue, spend, ROI, each goal's progress)."""

    queryset = (
        Campaign.objects.select_related("owner")
        .prefetch_related("goals")
        .order_by("-created_at", "-id")
    )
    filterset_fields = ["status"]

    def get_serializer_class(self):
        return CampaignDetailSerializer if self.action == "retrieve" else CampaignSerializer

    def perform_create(self, serializer):
        serializer.save(owner=serializer.validated_data.get("owner", self.request.user))

    @extend_schema(request=SpendEntrySerializer, responses=SpendEntrySerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def spend(self, request, pk=None):
        """The campaign's spend entries, newest first; POST records one (needs
        `campaigns.add_spendentry`)."""
        campaign = self.get_object()
        if request.method == "POST":
            require_perms(request, "campaigns.add_spendentry")
            serializer = SpendEntrySerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            serializer.save(campaign=campaign)
            return Response(serializer.data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(campaign.spend.select_related("channel_account"))
        return self.get_paginated_response(SpendEntrySerializer(page, many=True).data)


# --- pushes --------------------------------------------------------------------------------


def _push_fields(push: Push) -> dict:
    """What `push_save` takes, as the push is now (a partial update keeps the rest)."""
    return {
        "name": push.name,
        "campaign": push.campaign,
        "audience": push.audience,
        "content": push.content,
        "channels": [c.channel_account for c in push.channels.select_related("channel_account")],
        "variants": [
            {"label": v.label, "content": v.content, "share": v.share}
            for v in push.variants.select_related("content")
        ],  # fmt: skip
        **{
            name: getattr(push, name)
            for name in (
                "schedule_kind",
                "send_at",
                "cron",
                "respect_quiet_hours",
                "apply_frequency_cap",
                "ab_metric",
                "ab_test_percent",
                "ab_auto_winner",
                "ab_decide_after_hours",
            )  # fmt: skip
        },
    }


class PushViewSet(StateChangeMixin, viewsets.ModelViewSet):
    """Pushes: draft, estimate, approve, launch (now / at a time / periodic), pause, resume,
    cancel; the detail adds the latest runs with their progress."""

    queryset = (
        Push.objects.select_related("approved_by", "created_by")
        .prefetch_related("channels", "variants")
        .order_by("-created_at", "-id")
    )
    filterset_fields = ["status", "campaign", "schedule_kind"]
    change_perm = "campaigns.change_push"

    def get_serializer_class(self):
        return PushDetailSerializer if self.action == "retrieve" else PushSerializer

    def _save(self, serializer, push=None):
        data = dict(serializer.validated_data)
        if "variants" in data:
            data["variants"] = [{"label": v["label"], "content": v["content"], "share": v["share"]}
                                for v in data["variants"]]  # fmt: skip
        if push is not None:
            data = {**_push_fields(push), **data}
        serializer.instance = push_save(**data, push=push, actor=self.request.user)

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, push):
        if push.status not in EDITABLE or push.runs.exists():
            raise Conflict(_("只有未启动的推送可以删除；已启动的请取消"))
        push.delete()

    def _detail(self, push: Push) -> Response:
        return Response(PushDetailSerializer(self.get_queryset().get(pk=push.pk)).data)

    @extend_schema(request=None, responses=PushEstimateSerializer)
    @action(**STATE_CHANGE)
    def estimate(self, request, pk=None):
        """Reach per channel (in fallback order) and skips now; the reach is kept on the push
        (what approval is judged on)."""
        push = self.changing()
        estimate = push_estimate_refresh(push=push)
        order = push.channels.values_list("channel_account_id", flat=True)
        body = {
            "audience": estimate["audience"],
            "reach": estimate["reach"],
            "by_channel": [
                {"channel": pk, "reach": estimate["by_channel"].get(pk, 0)} for pk in order
            ],
            "skips": estimate["skips"],
            "approval_threshold": MessagingSettings.load().approval_threshold,
            "needs_approval": push_needs_approval(push),
        }
        return Response(PushEstimateSerializer(body).data)

    @extend_schema(request=None, responses={200: PushDetailSerializer, 409: None})
    @action(**STATE_CHANGE)
    def launch(self, request, pk=None):
        """Send now, schedule, or start the periodic schedule. 409 when the estimated reach is
        above the approval threshold and no one has approved it yet (it is then awaiting
        approval)."""
        push = self.changing()
        try:
            push_launch(push=push, user=request.user)
        except DjangoValidationError as exc:
            if push.status == PushStatus.AWAITING_APPROVAL and push_needs_approval(push):
                body = {
                    "detail": exc.messages[0],
                    "status": push.status,
                    "estimated_reach": push.estimated_reach,
                    "approval_threshold": MessagingSettings.load().approval_threshold,
                }
                return Response(body, status=status.HTTP_409_CONFLICT)
            raise
        return self._detail(push)

    @extend_schema(request=None, responses=PushDetailSerializer)
    @action(**STATE_CHANGE)
    def approve(self, request, pk=None):
        """Approve for sending: someone other than its creator, with `campaigns.change_push`."""
        push = self.changing()
        push_approve(push=push, user=request.user)
        return self._detail(push)

    @extend_schema(request=None, responses=PushDetailSerializer)
    @action(**STATE_CHANGE)
    def pause(self, request, pk=None):
        push = self.changing()
        push_pause(push=push, user=request.user)
        return self._detail(push)

    @extend_schema(request=None, responses=PushDetailSerializer)
    @action(**STATE_CHANGE)
    def resume(self, request, pk=None):
        push = self.changing()
        push_resume(push=push, user=request.user)
        return self._detail(push)

    @extend_schema(request=None, responses=PushDetailSerializer)
    @action(**STATE_CHANGE)
    def cancel(self, request, pk=None):
        push = self.changing()
        push_cancel(push=push, user=request.user)
        return self._detail(push)


# --- journeys ------------------------------------------------------------------------------


class JourneyViewSet(StateChangeMixin, viewsets.ModelViewSet):
    """SOP journeys with their steps; the detail adds per-step stats. Steps are checked by the
    service: errors are keyed like `steps[2].content`."""

    queryset = Journey.objects.prefetch_related("steps").order_by("-created_at", "-id")
    filterset_fields = ["status", "kind", "campaign"]
    change_perm = "campaigns.change_journey"

    def get_serializer_class(self):
        return JourneyDetailSerializer if self.action == "retrieve" else JourneySerializer

    def perform_create(self, serializer):
        fields = dict(serializer.validated_data)
        steps = fields.pop("steps")
        serializer.instance = journey_save(
            journey=Journey(), steps=steps, user=self.request.user, **fields
        )

    def perform_update(self, serializer):
        journey = serializer.instance
        fields = dict(serializer.validated_data)
        steps = fields.pop("steps", None)
        if steps is None:
            steps = journey_steps_data(journey)
        serializer.instance = journey_save(
            journey=journey, steps=steps, user=self.request.user, **fields
        )

    def perform_destroy(self, journey):
        if journey.status in (JourneyStatus.ACTIVE, JourneyStatus.PAUSED):
            raise Conflict(_("运行中或已暂停的旅程不能删除，请先归档"))
        journey.delete()

    def _transition(self, service) -> Response:
        journey = service(journey=self.changing(), user=self.request.user)
        return Response(JourneySerializer(journey).data)

    @extend_schema(request=None, responses=JourneySerializer)
    @action(**STATE_CHANGE)
    def activate(self, request, pk=None):
        """Start or resume: from now on its trigger enrols."""
        return self._transition(journey_activate)

    @extend_schema(request=None, responses=JourneySerializer)
    @action(**STATE_CHANGE)
    def pause(self, request, pk=None):
        """Stop enrolling and advancing; enrolments wait where they are."""
        return self._transition(journey_pause)

    @extend_schema(request=None, responses=JourneySerializer)
    @action(**STATE_CHANGE)
    def archive(self, request, pk=None):
        """End it: running enrolments stop."""
        return self._transition(journey_archive)

    @extend_schema(request=JourneyFromTemplateSerializer, responses={201: JourneySerializer})
    @action(detail=False, methods=["post"], url_path="from-template")
    def from_template(self, request):
        """A draft journey from a ready-made template (its messages saved as content)."""
        serializer = JourneyFromTemplateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            journey = journey_from_template(
                key=serializer.validated_data["template"], user=request.user
            )
        except DjangoValidationError as exc:
            raise ValidationError({"template": exc.messages})
        return Response(JourneySerializer(journey).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=JourneyTemplateSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def templates(self, request):
        """The templates, with the channel kinds each still needs connected."""
        rows = [{"key": t.key, "name": t.name, "description": t.description, "kind": t.kind,
                 "trigger_kind": t.trigger_kind, "missing": template_missing(t)}
                for t in TEMPLATES]  # fmt: skip
        return Response(JourneyTemplateSerializer(rows, many=True).data)


# --- real-time triggers --------------------------------------------------------------------


class TriggerRuleViewSet(viewsets.ModelViewSet):
    """Real-time trigger rules with their waits' stats; pause one with `{"status": "paused"}`."""

    queryset = TriggerRule.objects.select_related("event_a_channel").order_by("-created_at", "-id")
    serializer_class = TriggerRuleSerializer
    filterset_fields = ["status"]

    def perform_create(self, serializer):
        serializer.instance = trigger_rule_save(
            rule=TriggerRule(), user=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = trigger_rule_save(
            rule=serializer.instance, user=self.request.user, **serializer.validated_data
        )
