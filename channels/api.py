from rest_framework import mixins, viewsets

from channels.models import ChannelAccount
from channels.serializers import ChannelAccountSerializer
from channels.services import channel_account_create


class ChannelAccountViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The brand's accounts on each platform."""

    queryset = ChannelAccount.objects.order_by("kind", "code")
    serializer_class = ChannelAccountSerializer
    filterset_fields = ["kind", "status", "sandbox"]

    def perform_create(self, serializer):
        serializer.instance = channel_account_create(**serializer.validated_data)
