from rest_framework import serializers

from tags.models import Audience, Tag, TagGroup, TagRule, TagRuleRun


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


class TagRuleRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = TagRuleRun
        fields = ["id", "status", "trigger", "matched", "added", "removed", "error",
                  "started_at", "finished_at"]  # fmt: skip
        read_only_fields = fields


class TagRuleSerializer(serializers.ModelSerializer):
    last_run = serializers.SerializerMethodField()

    class Meta:
        model = TagRule
        fields = ["id", "name", "tag", "definition", "mode", "schedule", "enabled",
                  "last_run_at", "last_run", "created_at"]  # fmt: skip
        read_only_fields = ["last_run_at", "created_at"]
        validators = []  # the service checks names and definitions with clearer messages
        extra_kwargs = {"name": {"validators": []}}

    def get_last_run(self, rule) -> dict | None:
        run = rule.runs.order_by("-started_at", "-id").first()
        return TagRuleRunSerializer(run).data if run else None
