from django.contrib import admin

from common.models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_label", "action", "summary", "object_type", "object_id"]
    list_filter = ["action", "created_at"]
    search_fields = ["summary", "actor_label", "object_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):  # the log is written by the product only
        return False

    def has_change_permission(self, request, obj=None):
        return False
