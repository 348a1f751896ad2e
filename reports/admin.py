"""Admin for the reports' rollups (read-mostly: recomputed by runs), runs and alerts."""

from django.contrib import admin

from reports.models import (
    AlertEvent,
    AlertRule,
    AttributionDay,
    CampaignDay,
    ChannelDay,
    JourneyStepDay,
    PushDay,
    RollupRun,
)


class RollupAdmin(admin.ModelAdmin):
    """Rollup rows are rewritten by every run over their day: view them, don't edit them."""

    date_hierarchy = "day"
    list_select_related = True

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ChannelDay)
class ChannelDayAdmin(RollupAdmin):
    list_display = ["day", "channel_account", "active_users", "new_users", "orders", "gmv",
                    "sent", "spend"]  # fmt: skip
    list_filter = ["channel_account"]
    search_fields = ["channel_account__name", "channel_account__code"]


@admin.register(CampaignDay)
class CampaignDayAdmin(RollupAdmin):
    list_display = ["day", "campaign", "channel_account", "spend", "sent", "clicks", "clickers"]
    list_filter = ["campaign"]
    search_fields = ["campaign__name", "channel_account__name"]


@admin.register(PushDay)
class PushDayAdmin(RollupAdmin):
    list_display = ["day", "push", "channel_account", "sent", "failed", "skipped", "clicks",
                    "orders", "revenue"]  # fmt: skip
    search_fields = ["push__name", "channel_account__name"]


@admin.register(JourneyStepDay)
class JourneyStepDayAdmin(RollupAdmin):
    list_display = ["day", "journey", "step", "entered", "done", "skipped", "failed", "sent",
                    "goal_exits"]  # fmt: skip
    list_filter = ["journey"]
    search_fields = ["journey__name", "step__name"]


@admin.register(AttributionDay)
class AttributionDayAdmin(RollupAdmin):
    list_display = ["day", "model", "campaign", "channel_account", "orders", "revenue",
                    "new_buyers"]  # fmt: skip
    list_filter = ["model", "campaign"]
    search_fields = ["campaign__name", "channel_account__name"]


@admin.register(RollupRun)
class RollupRunAdmin(admin.ModelAdmin):
    list_display = ["start", "end", "status", "trigger", "days_done", "days_total",
                    "rows_written", "created_by", "finished_at"]  # fmt: skip
    list_filter = ["status", "trigger"]
    search_fields = ["error", "created_by__username"]
    readonly_fields = ["days_done", "days_total", "rows_written", "started_at", "finished_at"]


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "metric", "channel_kind", "scope", "comparison", "threshold",
                    "pause_pushes", "enabled", "last_evaluated_at"]  # fmt: skip
    list_filter = ["enabled", "comparison", "pause_pushes"]
    search_fields = ["name", "metric"]


@admin.register(AlertEvent)
class AlertEventAdmin(admin.ModelAdmin):
    list_display = ["fired_at", "rule", "channel_account", "status", "value", "baseline",
                    "resumed_at"]  # fmt: skip
    list_filter = ["status", "rule"]
    search_fields = ["message", "rule__name", "channel_account__name"]
    readonly_fields = ["key", "fired_at", "paused_pushes", "notifications"]
