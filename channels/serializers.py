from rest_framework import serializers

from channels.models import ChannelAccount


class ChannelAccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChannelAccount
        fields = ["id", "kind", "code", "name", "app_id", "sandbox", "status", "created_at"]
        read_only_fields = ["id", "status", "created_at"]
