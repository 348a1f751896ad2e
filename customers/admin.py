from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from common.masking import can_view_pii, mask_phone
from customers.models import (
    Consent,
    Customer,
    Event,
    Identity,
    ImportJob,
    MembershipSettings,
    MemberTier,
    MergeLog,
    Order,
    PointsEarnRule,
    PointsEntry,
    PointsEventRule,
    PointsPromotion,
    Redemption,
    RewardItem,
    ScoringSettings,
    ValueCluster,
)
from customers.scoring import customers_score
from customers.services import customer_merge


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ["kind", "scope", "value", "created_at"]
    readonly_fields = ["created_at"]


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "masked_phone",
        "city",
        "lifecycle",
        "rfm_segment",
        "total_orders",
        "total_revenue",
        "last_seen_at",
        "created_at",
    ]
    list_filter = ["lifecycle", "rfm_segment", "value_cluster", "tier", "gender", "created_at"]
    search_fields = ["name", "phone", "email", "identities__value"]
    readonly_fields = [
        "lifecycle",
        "rfm_recency",
        "rfm_frequency",
        "rfm_monetary",
        "rfm_segment",
        "total_orders",
        "total_revenue",
        "last_order_at",
        "first_seen_at",
        "last_seen_at",
        "created_at",
        "updated_at",
    ]
    inlines = [IdentityInline, ConsentInline]
    actions = ["merge_selected", "rescore_selected"]
    show_full_result_count = False

    @admin.display(description=_("手机号"), ordering="phone")
    def masked_phone(self, obj):
        return mask_phone(obj.phone)

    def get_list_display(self, request):
        if can_view_pii(request.user):
            return [f if f != "masked_phone" else "phone" for f in self.list_display]
        return self.list_display

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return (
            fields
            if can_view_pii(request.user)
            else [f for f in fields if f not in ("phone", "email")]
        )

    @admin.action(description=_("合并所选客户（保留最早的）"))
    def merge_selected(self, request, queryset):
        ids = sorted(queryset.values_list("pk", flat=True))
        if len(ids) < 2:
            self.message_user(request, _("请至少选择两个客户"), messages.WARNING)
            return
        customer_merge(survivor_id=ids[0], other_ids=ids[1:], actor=request.user)
        self.message_user(request, _("已合并到 #%(id)s") % {"id": ids[0]})

    @admin.action(description=_("重算生命周期与 RFM"))
    def rescore_selected(self, request, queryset):
        customers_score(customer_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, _("已重算"))


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "scope", "value", "customer", "created_at"]
    list_filter = ["kind", "scope"]
    search_fields = ["value", "customer__name"]
    raw_id_fields = ["customer"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "occurred_at", "channel_account", "customer", "source_id"]
    list_filter = ["name", "channel_account", "occurred_at"]
    search_fields = ["source_id", "name"]
    raw_id_fields = ["customer"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["external_id", "channel_account", "customer", "amount", "status", "paid_at"]
    list_filter = ["status", "channel_account", "paid_at"]
    search_fields = ["external_id"]
    raw_id_fields = ["customer"]
    date_hierarchy = "paid_at"


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["customer", "channel", "status", "source", "updated_at"]
    list_filter = ["channel", "status"]
    search_fields = ["customer__name", "source"]
    raw_id_fields = ["customer"]


@admin.register(MergeLog)
class MergeLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "survivor_id_value", "merged_ids", "reason", "actor_label"]
    list_filter = ["created_at"]
    search_fields = ["reason", "actor_label", "survivor_id_value"]
    readonly_fields = [f.name for f in MergeLog._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ScoringSettings)
class ScoringSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "new_days", "active_days", "churn_days", "updated_at"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "original_name",
        "status",
        "total_rows",
        "imported_rows",
        "error_rows",
        "created_by",
        "created_at",
    ]
    list_filter = ["kind", "status", "created_at"]
    search_fields = ["original_name"]
    readonly_fields = ["errors"]


@admin.register(ValueCluster)
class ValueClusterAdmin(admin.ModelAdmin):
    list_display = ["number", "name", "name_en", "size", "computed_at"]
    search_fields = ["name", "name_en"]
    readonly_fields = ["centroid", "computed_at"]


@admin.register(PointsEntry)
class PointsEntryAdmin(admin.ModelAdmin):
    """The ledger is append-only: entries are read here, changed only through the services."""

    list_display = ["customer", "kind", "points", "remaining", "expires_at", "channel_account",
                    "reason", "occurred_at"]  # fmt: skip
    list_filter = ["kind", "channel_account", "occurred_at"]
    search_fields = ["customer__name", "idempotency_key", "source_ref", "reason"]
    raw_id_fields = ["customer"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(PointsEarnRule)
class PointsEarnRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "channel_account", "points_per_yuan", "rounding", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name"]


@admin.register(PointsEventRule)
class PointsEventRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "event_name", "channel_account", "points", "daily_cap", "monthly_cap",
                    "enabled"]  # fmt: skip
    list_filter = ["enabled", "event_name"]
    search_fields = ["name", "event_name"]


@admin.register(MembershipSettings)
class MembershipSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "expiry_policy", "reminder_days", "tier_basis", "updated_at"]

    def has_add_permission(self, request):
        return not MembershipSettings.objects.exists()


@admin.register(MemberTier)
class MemberTierAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "threshold", "earn_multiplier"]
    search_fields = ["name", "code"]


@admin.register(PointsPromotion)
class PointsPromotionAdmin(admin.ModelAdmin):
    list_display = ["name", "multiplier", "channel_account", "starts_at", "ends_at", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name"]


@admin.register(RewardItem)
class RewardItemAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "points_price", "stock", "redeemed_count", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    filter_horizontal = ["channel_accounts"]
    readonly_fields = ["redeemed_count"]


@admin.register(Redemption)
class RedemptionAdmin(admin.ModelAdmin):
    """Redemptions change status through the console (fulfil, cancel with points returned)."""

    list_display = ["id", "customer", "item", "channel_account", "points", "status", "created_at"]
    list_filter = ["status", "item", "channel_account"]
    search_fields = ["customer__name", "item__name", "note"]
    raw_id_fields = ["customer"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
