from django.contrib import admin
from django.db.models import Count

from tags.models import (
    Audience,
    AudienceMember,
    AudienceSize,
    CustomerTag,
    Tag,
    TagBulkJob,
    TagGroup,
    TagMapping,
    TagRule,
    TagRuleRun,
)


class TagInline(admin.TabularInline):
    model = Tag
    extra = 0
    fields = ["name", "color", "description"]


@admin.register(TagGroup)
class TagGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]
    inlines = [TagInline]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "group", "color", "customer_count", "created_by", "created_at"]
    list_filter = ["group"]
    search_fields = ["name", "group__name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(customer_count=Count("customer_tags"))

    @admin.display(ordering="customer_count")
    def customer_count(self, obj):
        return obj.customer_count


@admin.register(CustomerTag)
class CustomerTagAdmin(admin.ModelAdmin):
    list_display = ["customer", "tag", "source", "source_ref", "added_by", "created_at"]
    list_filter = ["source", "tag__group", "tag"]
    search_fields = ["customer__name", "tag__name", "source_ref"]
    raw_id_fields = ["customer"]


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "size", "refreshed_at", "created_by", "updated_at"]
    list_filter = ["kind", "refreshed_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["size", "refreshed_at"]


@admin.register(AudienceMember)
class AudienceMemberAdmin(admin.ModelAdmin):
    list_display = ["audience", "customer", "added_at"]
    list_filter = ["audience"]
    search_fields = ["customer__name", "audience__name"]
    raw_id_fields = ["customer"]


@admin.register(AudienceSize)
class AudienceSizeAdmin(admin.ModelAdmin):
    list_display = ["audience", "size", "measured_at"]
    list_filter = ["audience", "measured_at"]
    search_fields = ["audience__name"]


@admin.register(TagMapping)
class TagMappingAdmin(admin.ModelAdmin):
    list_display = ["tag", "account", "platform", "external_id", "external_name", "created_at"]
    list_filter = ["platform", "account"]
    search_fields = ["tag__name", "external_id", "external_name"]


class TagRuleRunInline(admin.TabularInline):
    model = TagRuleRun
    extra = 0
    can_delete = False
    fields = ["started_at", "trigger", "status", "matched", "added", "removed", "error"]
    readonly_fields = fields


@admin.register(TagRule)
class TagRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "tag", "mode", "schedule", "enabled", "last_run_at"]
    list_filter = ["mode", "schedule", "enabled"]
    search_fields = ["name", "tag__name"]
    inlines = [TagRuleRunInline]


@admin.register(TagRuleRun)
class TagRuleRunAdmin(admin.ModelAdmin):
    list_display = ["rule", "trigger", "status", "matched", "added", "removed", "started_at"]
    list_filter = ["status", "trigger", "started_at"]
    search_fields = ["rule__name", "error"]


@admin.register(TagBulkJob)
class TagBulkJobAdmin(admin.ModelAdmin):
    list_display = ["tag", "action", "status", "processed", "total", "changed", "actor"]
    list_filter = ["action", "status", "created_at"]
    search_fields = ["tag__name", "error"]
    readonly_fields = ["selection", "total", "processed", "changed", "error", "finished_at"]
