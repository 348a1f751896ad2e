"""Shapes of the public API v1 for campaigns, pushes, journeys and real-time triggers
(docs/campaigns.md, "API"). Writes go through the services; these only check types."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.journey_templates import TEMPLATE_BY_KEY
from campaigns.journeys import journey_stats
from campaigns.models import (
    Campaign,
    CampaignGoal,
    Journey,
    JourneyStep,
    Push,
    PushRun,
    PushVariant,
    SpendEntry,
    TriggerRule,
)
from campaigns.pushes import run_progress
from campaigns.results import campaign_results
from campaigns.triggers import trigger_stats
from channels.models import ChannelAccount

USERNAME = {"slug_field": "username", "read_only": True}
RATE = {"max_digits": None, "decimal_places": 4, "allow_null": True}

# --- campaigns -----------------------------------------------------------------------------


class CampaignGoalSerializer(serializers.ModelSerializer):
    class Meta:
        model = CampaignGoal
        fields = ["id", "metric", "target", "deadline"]

    def validate_target(self, target):
        if target <= 0:
            raise serializers.ValidationError(_("目标值必须大于 0"))
        return target


class SpendEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = SpendEntry
        fields = ["id", "spent_on", "channel_account", "amount", "note", "created_at"]

    def validate_amount(self, amount):
        if amount <= 0:
            raise serializers.ValidationError(_("金额必须大于 0"))
        return amount


class CampaignSerializer(serializers.ModelSerializer):
    """A campaign with its SMART goals; `goals`, when sent, replaces them all."""

    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True),
        required=False, allow_null=True, help_text="username (default: the caller)",
    )  # fmt: skip
    goals = CampaignGoalSerializer(many=True, required=False)

    class Meta:
        model = Campaign
        fields = ["id", "name", "objective", "status", "starts_on", "ends_on", "budget",
                  "utm_code", "owner", "goals", "created_at"]  # fmt: skip

    def validate(self, data):
        current = self.instance or Campaign()
        starts_on = data.get("starts_on", current.starts_on)
        ends_on = data.get("ends_on", current.ends_on)
        errors = {}
        if starts_on and ends_on and ends_on < starts_on:
            errors["ends_on"] = [_("结束日期不能早于开始日期")]
        if data.get("budget") is not None and data["budget"] < 0:
            errors["budget"] = [_("预算不能为负数")]
        if errors:
            raise serializers.ValidationError(errors)
        return data

    @transaction.atomic
    def create(self, validated_data):
        goals = validated_data.pop("goals", [])
        campaign = Campaign.objects.create(**validated_data)
        self._goals_set(campaign, goals)
        return campaign

    @transaction.atomic
    def update(self, campaign, validated_data):
        goals = validated_data.pop("goals", None)
        campaign = super().update(campaign, validated_data)
        if goals is not None:
            self._goals_set(campaign, goals)
        return campaign

    def _goals_set(self, campaign: Campaign, goals: list[dict]) -> None:
        campaign.goals.all().delete()
        CampaignGoal.objects.bulk_create(CampaignGoal(campaign=campaign, **g) for g in goals)


class GoalResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="goal.id")
    metric = serializers.CharField(source="goal.metric")
    target = serializers.DecimalField(source="goal.target", max_digits=14, decimal_places=2)
    deadline = serializers.DateField(source="goal.deadline")
    actual = serializers.DecimalField(**RATE, help_text="null: the metric is not attributed")
    progress = serializers.IntegerField(allow_null=True, help_text="percent of the target, 0–100")


class CampaignResultsSerializer(serializers.Serializer):
    reach = serializers.IntegerField(help_text="sent deliveries")
    clicks = serializers.IntegerField(help_text="distinct customers who clicked")
    orders = serializers.IntegerField(help_text="orders attributed (last touch, 7 days)")
    revenue = serializers.DecimalField(max_digits=14, decimal_places=2)
    spend = serializers.DecimalField(max_digits=14, decimal_places=2)
    roi = serializers.DecimalField(**RATE, help_text="(revenue − spend) / spend")
    budget_used = serializers.IntegerField(allow_null=True, help_text="percent of the budget")
    goals = GoalResultSerializer(many=True)


class CampaignDetailSerializer(CampaignSerializer):
    results = serializers.SerializerMethodField()

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "results"]

    @extend_schema_field(CampaignResultsSerializer)
    def get_results(self, campaign) -> dict:
        return CampaignResultsSerializer(campaign_results(campaign=campaign)).data


# --- pushes --------------------------------------------------------------------------------


class ChannelOrderField(serializers.PrimaryKeyRelatedField):
    """Channel accounts by id, in fallback order; read from the push's channels."""

    def to_representation(self, value) -> int:
        return getattr(value, "channel_account_id", value.pk)


class PushVariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = PushVariant
        fields = ["label", "content", "share", "winner"]
        read_only_fields = ["winner"]
        validators = []  # the service checks labels and shares with clearer messages


class PushRunSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = PushRun
        fields = ["id", "status", "planned", "error", "scheduled_for", "started_at",
                  "finished_at", "progress"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.DictField())
    def get_progress(self, run) -> dict:
        """`{"total", "by_status", "skips", "finished", "percent"}`."""
        return run_progress(run)


class PushSerializer(serializers.ModelSerializer):
    """Audience × channels (in fallback order) × content (A/B `variants`) × schedule."""

    channels = ChannelOrderField(
        many=True, queryset=ChannelAccount.objects.all(),
        help_text="channel account ids in fallback order",
    )  # fmt: skip
    variants = PushVariantSerializer(many=True, required=False)
    approved_by = serializers.SlugRelatedField(**USERNAME)
    created_by = serializers.SlugRelatedField(**USERNAME)

    class Meta:
        model = Push
        fields = [
            "id", "name", "campaign", "status", "audience", "content", "channels", "variants",
            "schedule_kind", "send_at", "cron", "respect_quiet_hours", "apply_frequency_cap",
            "ab_metric", "ab_test_percent", "ab_auto_winner", "ab_decide_after_hours",
            "estimated_reach", "approved_by", "approved_at", "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = ["status", "estimated_reach", "approved_at", "created_at"]


class PushDetailSerializer(PushSerializer):
    runs = serializers.SerializerMethodField()

    class Meta(PushSerializer.Meta):
        fields = [*PushSerializer.Meta.fields, "runs"]

    RUNS = 20

    @extend_schema_field(PushRunSerializer(many=True))
    def get_runs(self, push) -> list:
        """The latest runs, newest first, each with its progress."""
        return PushRunSerializer(push.runs.all()[: self.RUNS], many=True).data


class PushEstimateSerializer(serializers.Serializer):
    audience = serializers.IntegerField()
    reach = serializers.IntegerField()
    by_channel = serializers.ListField(
        child=serializers.DictField(), help_text='[{"channel": id, "reach": n}] in order'
    )
    skips = serializers.DictField(child=serializers.IntegerField(), help_text="reason → count")
    approval_threshold = serializers.IntegerField()
    needs_approval = serializers.BooleanField()


# --- journeys ------------------------------------------------------------------------------


class JourneyStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = JourneyStep
        fields = ["kind", "name", "config"]


@extend_schema_field(JourneyStepSerializer(many=True))
class JourneyStepsField(serializers.ListField):
    """Written as `[{"kind", "name", "config"}]` (checked by the service, errors keyed
    `steps[i].field`); read from the journey's steps in order."""

    child = serializers.JSONField()

    def get_attribute(self, journey):
        return journey.steps.all()

    def to_representation(self, steps) -> list:
        return JourneyStepSerializer(steps, many=True).data


class JourneySerializer(serializers.ModelSerializer):
    steps = JourneyStepsField()

    class Meta:
        model = Journey
        fields = ["id", "name", "description", "kind", "status", "trigger_kind", "trigger",
                  "entry_filter", "reentry", "cooldown_days", "goal_event",
                  "respect_quiet_hours", "campaign", "steps", "created_at"]  # fmt: skip
        read_only_fields = ["status", "created_at"]


class JourneyStepStatsSerializer(serializers.Serializer):
    position = serializers.IntegerField(source="step.position")
    kind = serializers.CharField(source="step.kind")
    name = serializers.CharField(source="step.name")
    entered = serializers.IntegerField()
    waiting = serializers.IntegerField()
    done = serializers.IntegerField()
    skipped = serializers.IntegerField()
    failed = serializers.IntegerField()
    goal = serializers.IntegerField()
    yes = serializers.IntegerField()
    no = serializers.IntegerField()


class JourneyStatsSerializer(serializers.Serializer):
    steps = JourneyStepStatsSerializer(many=True)
    totals = serializers.DictField(child=serializers.IntegerField(), help_text="status → count")
    enrolled = serializers.IntegerField()


class JourneyDetailSerializer(JourneySerializer):
    stats = serializers.SerializerMethodField()

    class Meta(JourneySerializer.Meta):
        fields = [*JourneySerializer.Meta.fields, "stats"]

    @extend_schema_field(JourneyStatsSerializer)
    def get_stats(self, journey) -> dict:
        return JourneyStatsSerializer(journey_stats(journey)).data


class JourneyFromTemplateSerializer(serializers.Serializer):
    template = serializers.ChoiceField(choices=sorted(TEMPLATE_BY_KEY))


class JourneyTemplateSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField()
    trigger_kind = serializers.CharField()
    missing = serializers.ListField(
        child=serializers.CharField(), help_text="channel kinds to connect first"
    )


# --- real-time triggers --------------------------------------------------------------------


class TriggerStatsSerializer(serializers.Serializer):
    by_status = serializers.DictField(child=serializers.IntegerField(), help_text="wait status")
    total = serializers.IntegerField()
    avg_lag_seconds = serializers.FloatField(
        allow_null=True, help_text="how long after its deadline a wait fired, on average"
    )


class TriggerRuleSerializer(serializers.ModelSerializer):
    """Event A, then no event B within N minutes, and the customer matches `condition` (DSL)
    → `action` (the journey step actions)."""

    stats = serializers.SerializerMethodField()

    class Meta:
        model = TriggerRule
        fields = ["id", "name", "status", "event_a", "event_a_channel", "event_b",
                  "within_minutes", "condition", "action", "stats", "created_at"]  # fmt: skip
        read_only_fields = ["created_at"]

    @extend_schema_field(TriggerStatsSerializer)
    def get_stats(self, rule) -> dict:
        stats = trigger_stats(rule)
        lag = stats.pop("avg_lag")
        stats["avg_lag_seconds"] = lag.total_seconds() if lag is not None else None
        return TriggerStatsSerializer(stats).data
