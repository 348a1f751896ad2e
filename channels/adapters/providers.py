"""SMS and app push through pluggable providers.

The account's `options["provider"]` names the provider class (`PROVIDERS[kind][name]`); an
account in sandbox mode defaults to the sandbox provider, which posts every message to the
sandbox platform's log (`{base_url}/sandbox/providers/sms|push`). A real provider (Aliyun or
Tencent SMS, JPush, Getui…) is a class with the same `send` registered in `PROVIDERS`.
"""

import requests

from channels.adapters.base import OutMessage, PlatformError, SendResult
from channels.adapters.shared import ClientAdapter, failed
from channels.choices import ChannelKind
from channels.clients import TIMEOUT, http_error


class SandboxProvider:
    """Posts each message to the sandbox platform, which logs it as "sent"."""

    def __init__(self, account, channel: str):
        self.account, self.channel = account, channel
        self.http = requests.Session()
        self.http.trust_env = False  # the sandbox is ours: no proxy in between

    def send(self, message: OutMessage) -> str:
        """Send one message; returns the provider's id for it."""
        response = self.http.post(
            f"{self.account.base_url.rstrip('/')}/sandbox/providers/{self.channel}",
            json={
                "appid": self.account.app_id or self.account.code,
                "to": message.to,
                "content": message.content,
                "key": message.key,
            },
            timeout=TIMEOUT,
        )
        if response.status_code >= 400:
            raise http_error(response.status_code, response.text)
        body = response.json()
        if not body.get("ok"):
            raise PlatformError(int(body.get("errcode") or -1), body.get("errmsg", ""))
        return str((body.get("message_ids") or [""])[0])


PROVIDERS = {
    ChannelKind.SMS: {"sandbox": SandboxProvider},
    ChannelKind.APP: {"sandbox": SandboxProvider},
}


class ProviderAdapter(ClientAdapter):
    """Messages one by one through the account's provider; `channel` names it to the provider."""

    capabilities = frozenset({"send"})
    channel = ""

    @property
    def provider_name(self) -> str:
        return self.account.options.get("provider") or ("sandbox" if self.account.sandbox else "")

    def send(self, batch: list[OutMessage]) -> list[SendResult]:
        provider_class = PROVIDERS[self.kind].get(self.provider_name)
        if provider_class is None:
            reason = f"no {self.channel} provider {self.provider_name!r} configured"
            return [failed(message, reason) for message in batch]
        provider = provider_class(self.account, self.channel)
        return self.send_each(batch, lambda message: self.call(provider.send, message))


class SmsAdapter(ProviderAdapter):
    """SMS: `to` a phone number, `content` `{"text"}` or `{"template", "params", "sign"}`."""

    kind = ChannelKind.SMS
    channel = "sms"


class AppPushAdapter(ProviderAdapter):
    """Our own app's push: `to` an app user id, `content` `{"title", "text", "url"?}`."""

    kind = ChannelKind.APP
    channel = "push"
