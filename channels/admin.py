from django.contrib import admin

from channels.models import ChannelAccount


@admin.register(ChannelAccount)
class ChannelAccountAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "status", "sandbox", "created_at"]
    list_filter = ["kind", "status", "sandbox"]
    search_fields = ["code", "name", "app_id"]
