from django.contrib import admin

from campaigns.models import (
    Campaign,
    CampaignGoal,
    ContentItem,
    ContentVariant,
    Delivery,
    Enrolment,
    ForbiddenWord,
    Journey,
    JourneyStep,
    LinkClick,
    MessagingSettings,
    Push,
    PushChannel,
    PushRun,
    PushVariant,
    SpendEntry,
    StaffTask,
    StepRun,
    TrackingLink,
    TriggerRule,
    TriggerWait,
)


class ContentVariantInline(admin.StackedInline):
    model = ContentVariant
    extra = 0


@admin.register(ContentItem)
class ContentItemAdmin(admin.ModelAdmin):
    list_display = ["name", "created_by", "updated_at"]
    search_fields = ["name", "core_text"]
    inlines = [ContentVariantInline]


@admin.register(ContentVariant)
class ContentVariantAdmin(admin.ModelAdmin):
    list_display = ["content", "channel_kind"]
    list_filter = ["channel_kind"]
    search_fields = ["content__name"]


@admin.register(ForbiddenWord)
class ForbiddenWordAdmin(admin.ModelAdmin):
    list_display = ["word", "note"]
    search_fields = ["word"]


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "quiet_start", "quiet_end", "frequency_cap", "approval_threshold"]

    def has_add_permission(self, request):
        return not MessagingSettings.objects.exists()


class CampaignGoalInline(admin.TabularInline):
    model = CampaignGoal
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "starts_on", "ends_on", "budget", "utm_code"]
    list_filter = ["status"]
    search_fields = ["name", "utm_code"]
    inlines = [CampaignGoalInline]


@admin.register(CampaignGoal)
class CampaignGoalAdmin(admin.ModelAdmin):
    list_display = ["campaign", "metric", "target", "deadline"]
    search_fields = ["campaign__name"]


@admin.register(SpendEntry)
class SpendEntryAdmin(admin.ModelAdmin):
    list_display = ["campaign", "channel_account", "spent_on", "amount", "note"]
    search_fields = ["campaign__name", "note"]


class PushChannelInline(admin.TabularInline):
    model = PushChannel
    extra = 0


class PushVariantInline(admin.TabularInline):
    model = PushVariant
    extra = 0


@admin.register(Push)
class PushAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "schedule_kind", "send_at", "audience", "estimated_reach"]
    list_filter = ["status", "schedule_kind"]
    search_fields = ["name"]
    inlines = [PushChannelInline, PushVariantInline]


@admin.register(PushChannel)
class PushChannelAdmin(admin.ModelAdmin):
    list_display = ["push", "channel_account", "position"]
    search_fields = ["push__name"]


@admin.register(PushVariant)
class PushVariantAdmin(admin.ModelAdmin):
    list_display = ["push", "label", "content", "share", "winner"]
    search_fields = ["push__name"]


@admin.register(PushRun)
class PushRunAdmin(admin.ModelAdmin):
    list_display = ["push", "status", "planned", "scheduled_for", "started_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["push__name"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["run", "customer", "channel_account", "status", "skip_reason", "sent_at"]
    list_filter = ["status", "skip_reason"]
    search_fields = ["recipient", "platform_id"]
    raw_id_fields = ["customer", "run"]


@admin.register(TrackingLink)
class TrackingLinkAdmin(admin.ModelAdmin):
    list_display = ["code", "url", "campaign", "push", "created_at"]
    search_fields = ["code", "url"]


@admin.register(LinkClick)
class LinkClickAdmin(admin.ModelAdmin):
    list_display = ["link", "delivery", "customer", "clicked_at"]
    search_fields = ["link__code"]
    raw_id_fields = ["customer", "delivery"]


class JourneyStepInline(admin.TabularInline):
    model = JourneyStep
    extra = 0


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "trigger_kind", "status", "activated_at", "created_at"]
    list_filter = ["status", "kind", "trigger_kind"]
    search_fields = ["name", "description", "template"]
    readonly_fields = ["watermark", "scanned_until"]
    inlines = [JourneyStepInline]


@admin.register(JourneyStep)
class JourneyStepAdmin(admin.ModelAdmin):
    list_display = ["journey", "position", "kind", "name"]
    list_filter = ["kind"]
    search_fields = ["journey__name", "name"]


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin):
    list_display = ["journey", "customer", "group_chat", "status", "position", "next_run_at",
                    "entered_at"]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["journey__name", "customer__name", "group_chat__name"]
    raw_id_fields = ["customer", "group_chat"]


@admin.register(StepRun)
class StepRunAdmin(admin.ModelAdmin):
    list_display = ["enrolment", "step", "status", "outcome", "started_at"]
    list_filter = ["status"]
    search_fields = ["step__journey__name", "outcome", "detail"]
    raw_id_fields = ["enrolment"]


@admin.register(StaffTask)
class StaffTaskAdmin(admin.ModelAdmin):
    list_display = ["title", "staff", "customer", "group_chat", "status", "due_at"]
    list_filter = ["status"]
    search_fields = ["title", "body", "customer__name", "staff__name"]
    raw_id_fields = ["customer", "step_run"]


@admin.register(TriggerRule)
class TriggerRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "event_a", "event_b", "within_minutes", "status"]
    list_filter = ["status"]
    search_fields = ["name", "event_a", "event_b"]
    readonly_fields = ["scanned_until"]


@admin.register(TriggerWait)
class TriggerWaitAdmin(admin.ModelAdmin):
    list_display = ["rule", "customer", "status", "deadline", "fired_at"]
    list_filter = ["status"]
    search_fields = ["rule__name", "customer__name", "detail"]
    raw_id_fields = ["customer"]
