"""Channel adapters: `adapter_for(account)` gives the one for the account's kind (the
interface is in `base`, the contract in docs/channels.md).

Adapter modules are imported on first use: they import the platform clients, which import
`base` from this package.
"""

from django.utils.module_loading import import_string

from channels.adapters.base import (
    Adapter,
    OutMessage,
    PlatformError,
    SendResult,
    SyncResult,
    Unsupported,
)
from channels.choices import ChannelKind

STORE = "channels.adapters.stores.StoreAdapter"
ADAPTERS = {
    ChannelKind.WECHAT_OA: "channels.adapters.wechat_oa.WechatOAAdapter",
    ChannelKind.WECOM: "channels.adapters.wecom.WecomAdapter",
    ChannelKind.WECHAT_MINI: "channels.adapters.mini.MiniProgramAdapter",
    ChannelKind.DOUYIN: "channels.adapters.douyin.DouyinAdapter",
    ChannelKind.SMS: "channels.adapters.providers.SmsAdapter",
    ChannelKind.APP: "channels.adapters.providers.AppPushAdapter",
    ChannelKind.EMAIL: "channels.adapters.email.EmailAdapter",
    ChannelKind.TMALL: STORE,
    ChannelKind.JD: STORE,
    ChannelKind.YOUZAN: STORE,
    ChannelKind.OFFLINE_STORE: STORE,
    ChannelKind.WEB: STORE,
}

__all__ = [
    "Adapter",
    "OutMessage",
    "PlatformError",
    "SendResult",
    "SyncResult",
    "Unsupported",
    "adapter_for",
]


def adapter_for(account) -> Adapter:
    """The adapter for a channel account (its kind decides which)."""
    return import_string(ADAPTERS[account.kind])(account)
