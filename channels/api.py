from rest_framework import mixins, viewsets

from channels.models import ChannelAccount
from channels.serializers import ChannelAccountSerializer
from channels.services import channel_account_create, channel_account_update


class ChannelAccountViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """The brand's accounts on each platform. Secrets are write-only; `callback_url` is what
    to paste into the platform's console."""

    queryset = ChannelAccount.objects.order_by("kind", "code")
    serializer_class = ChannelAccountSerializer
    filterset_fields = ["kind", "status", "sandbox"]

    def perform_create(self, serializer):
        serializer.instance = channel_account_create(
            **serializer.validated_data, require_callback=True
        )

    def perform_update(self, serializer):
        serializer.instance = channel_account_update(
            account=serializer.instance, **serializer.validated_data, require_callback=True
        )
