"""Query parameters of the reports API (validated like a body: 400 with field errors)."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from reports.choices import AttributionModel
from reports.filters import DEFAULT_DAYS, MAX_DAYS, channel_from_param


class RangeQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="First day, YYYY-MM-DD (local).")
    end = serializers.DateField(required=False, help_text="Last day, YYYY-MM-DD (default today).")

    def validate(self, attrs):
        today = timezone.localdate()
        end = attrs.get("end") or today
        start = attrs.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise serializers.ValidationError({"end": ["end must not be before start"]})
        if (end - start).days + 1 > MAX_DAYS:
            raise serializers.ValidationError({"end": [f"the range is at most {MAX_DAYS} days"]})
        attrs["start"], attrs["end"] = start, end
        return attrs


class KpiQuerySerializer(RangeQuerySerializer):
    channel = serializers.CharField(
        required=False, allow_blank=True, help_text="A channel account code or a channel kind."
    )

    def validate_channel(self, value):
        if not value:
            return []
        accounts = channel_from_param(value)
        if accounts is None:
            raise serializers.ValidationError(f"unknown channel account code or kind: {value!r}")
        return accounts


class RoiQuerySerializer(KpiQuerySerializer):
    model = serializers.ChoiceField(
        choices=AttributionModel.values, required=False, default=AttributionModel.LAST_TOUCH
    )
    by = serializers.ChoiceField(choices=["account", "kind"], required=False, default="account")
