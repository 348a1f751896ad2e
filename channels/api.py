from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from channels.models import ChannelAccount
from channels.serializers import ChannelAccountSerializer
from channels.services import (
    channel_account_create,
    channel_account_update,
    mini_program_login,
)
from customers.models import Customer


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


class MiniLoginSerializer(serializers.Serializer):
    channel = serializers.CharField(max_length=64, help_text="the Mini Program account's code")
    code = serializers.CharField(max_length=128, help_text="what wx.login() returned")


class MiniLoginResultSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    created = serializers.BooleanField()
    openid = serializers.CharField()
    unionid = serializers.CharField(allow_blank=True)


class MiniProgramLoginView(APIView):
    """POST /api/v1/mini-program/login — the Mini Program's backend exchanges a wx.login()
    code for the customer it belongs to (created on first login, linked by unionid)."""

    queryset = Customer.objects.none()  # needs customers.add_customer, like the ingest API

    @extend_schema(request=MiniLoginSerializer, responses=MiniLoginResultSerializer)
    def post(self, request):
        serializer = MiniLoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = ChannelAccount.objects.filter(code=serializer.validated_data["channel"]).first()
        if account is None:
            raise serializers.ValidationError({"channel": ["unknown channel account"]})
        result, openid, unionid = mini_program_login(
            account=account, js_code=serializer.validated_data["code"],
            actor_label=f"api:{request.user.get_username()}",
        )  # fmt: skip
        body = {"customer_id": result.customer.pk, "created": result.created, "openid": openid,
                "unionid": unionid}  # fmt: skip
        return Response(body, status=status.HTTP_201_CREATED if result.created else 200)
