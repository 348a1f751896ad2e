from rest_framework import serializers

from channels.models import ChannelAccount
from channels.services import SECRET_FIELDS, callback_url

SECRET_KWARGS = {"write_only": True, "required": False, "allow_blank": True,
                 "style": {"input_type": "password"}}  # fmt: skip


class ChannelAccountSerializer(serializers.ModelSerializer):
    """Secrets, the callback token and the AES key are write-only: reads only say whether
    each is set. On update an empty one keeps what is stored."""

    secret_set = serializers.SerializerMethodField()
    token_set = serializers.SerializerMethodField()
    aes_key_set = serializers.SerializerMethodField()
    callback_url = serializers.SerializerMethodField()

    class Meta:
        model = ChannelAccount
        fields = [
            "id", "kind", "code", "name", "app_id", "secret", "token", "aes_key",
            "secret_set", "token_set", "aes_key_set", "api_base_url", "sandbox", "status",
            "rate_limit", "sync_interval_minutes", "options", "callback_url", "token_state",
            "last_sync_at", "last_error", "last_error_at", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "token_state", "last_sync_at", "last_error", "last_error_at",
                            "created_at"]  # fmt: skip
        extra_kwargs = {name: SECRET_KWARGS for name in SECRET_FIELDS}

    def get_secret_set(self, account) -> bool:
        return bool(account.secret)

    def get_token_set(self, account) -> bool:
        return bool(account.token)

    def get_aes_key_set(self, account) -> bool:
        return bool(account.aes_key)

    def get_callback_url(self, account) -> str:
        return callback_url(account)
