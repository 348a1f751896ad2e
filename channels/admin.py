from django.contrib import admin

from channels.fields import masked
from channels.models import (
    AutoReply,
    CallbackLog,
    ChannelAccount,
    CodeHit,
    GroupChat,
    LiveCode,
    LiveCodeStaff,
    QrCode,
    Staff,
    SyncRun,
)


@admin.register(ChannelAccount)
class ChannelAccountAdmin(admin.ModelAdmin):
    """Secrets are write-only here too: the form never shows them back."""

    list_display = ["code", "name", "kind", "status", "sandbox", "token_state", "last_sync_at"]
    list_filter = ["kind", "status", "sandbox", "token_state"]
    search_fields = ["code", "name", "app_id"]
    exclude = ["secret", "token", "aes_key", "sync_cursor"]
    readonly_fields = ["secrets", "last_sync_at", "last_error", "last_error_at", "token_state",
                       "token_refreshed_at"]  # fmt: skip

    @admin.display(description="secret / token / aes_key")
    def secrets(self, obj) -> str:
        return " / ".join(masked(v) or "—" for v in (obj.secret, obj.token, obj.aes_key))


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ["name", "userid", "account", "active"]
    list_filter = ["account", "active"]
    search_fields = ["name", "userid"]


@admin.register(GroupChat)
class GroupChatAdmin(admin.ModelAdmin):
    list_display = ["name", "chat_id", "account", "owner", "member_count", "capacity"]
    search_fields = ["name", "chat_id", "owner"]


class LiveCodeStaffInline(admin.TabularInline):
    model = LiveCodeStaff
    extra = 0


@admin.register(LiveCode)
class LiveCodeAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "account", "state", "strategy", "enabled", "created_at"]
    list_filter = ["kind", "enabled", "account"]
    search_fields = ["name", "state"]
    inlines = [LiveCodeStaffInline]
    filter_horizontal = ["tags", "groups"]


@admin.register(LiveCodeStaff)
class LiveCodeStaffAdmin(admin.ModelAdmin):
    list_display = ["live_code", "staff", "daily_cap", "backup", "position"]
    search_fields = ["live_code__name", "staff__name", "staff__userid"]


@admin.register(QrCode)
class QrCodeAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "scene", "permanent", "expires_at", "created_at"]
    search_fields = ["name", "scene"]
    filter_horizontal = ["tags"]


@admin.register(CodeHit)
class CodeHitAdmin(admin.ModelAdmin):
    list_display = ["kind", "live_code", "qr_code", "staff", "external_id", "occurred_at"]
    list_filter = ["kind"]
    search_fields = ["external_id"]
    raw_id_fields = ["customer"]


@admin.register(AutoReply)
class AutoReplyAdmin(admin.ModelAdmin):
    list_display = ["account", "kind", "keyword", "match", "priority", "enabled"]
    list_filter = ["kind", "enabled", "account"]
    search_fields = ["keyword", "reply_text"]


@admin.register(CallbackLog)
class CallbackLogAdmin(admin.ModelAdmin):
    list_display = ["account", "msg_type", "event", "status", "attempts", "received_at"]
    list_filter = ["status", "msg_type", "account"]
    search_fields = ["msg_key", "event", "error"]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["account", "kind", "status", "fetched", "created", "updated", "api_calls",
                    "retries", "started_at", "finished_at"]  # fmt: skip
    list_filter = ["kind", "status", "account"]
    search_fields = ["error", "account__code"]
