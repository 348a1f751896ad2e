from rest_framework import serializers

from tags.models import Audience, Tag, TagGroup


class TagGroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = TagGroup
        fields = ["id", "name", "description", "created_at"]


class TagSerializer(serializers.ModelSerializer):
    group = serializers.CharField(
        source="group.name",
        required=False,
        help_text="tag group name or id (default group if absent)",
    )
    customer_count = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = Tag
        fields = ["id", "name", "group", "color", "description", "customer_count", "created_at"]
        validators = []  # uniqueness is checked by the service with a clearer message


class CustomerTagChangeSerializer(serializers.Serializer):
    add = serializers.ListField(child=serializers.JSONField(), required=False, default=list)
    remove = serializers.ListField(child=serializers.JSONField(), required=False, default=list)


class AudienceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Audience
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "definition",
            "size",
            "refreshed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["size", "refreshed_at", "created_at", "updated_at"]
        validators = []  # the service checks names and definitions with clearer messages
        extra_kwargs = {"name": {"validators": []}}
