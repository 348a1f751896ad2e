"""One adapter per kind of channel account, behind one interface.

An adapter wraps one `ChannelAccount`; the platform client it uses (wechatpy for WeChat, WeCom
and the Mini Program, a signed-HTTP client for Douyin, providers for SMS and app push, Django's
email backend) points at the sandbox platform when the account is in sandbox mode.
Capabilities say what the kind can do; calling something outside them raises `Unsupported`.
"""

from dataclasses import dataclass, field


class Unsupported(NotImplementedError):
    """The platform cannot do this (e.g. a QR code on an SMS account)."""


# Codes worth trying again later: -1 "system busy" (also what an HTTP 5xx or a lost connection
# becomes), Douyin's "busy" and the call-frequency limits.
TRANSIENT_CODES = frozenset({-1, 2100004, 45009, 45011})


class PlatformError(Exception):
    """An error answer from a platform: `code` is its errcode (40001, 45009, 45015…).

    An HTTP error status without an errcode keeps its status as the code (404…), except 5xx,
    which is -1 like a lost connection, and 429, which is 45009.
    """

    def __init__(self, code: int, message: str = ""):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def transient(self) -> bool:
        """Whether the same call may well succeed later (a Celery retry is worth it)."""
        return self.code in TRANSIENT_CODES


@dataclass
class OutMessage:
    """One message to one recipient on one channel (`to` is an openid, external_userid,
    phone, email, app user id…). `content` holds the channel's fields (text, template id and
    data, mini-program page…)."""

    to: str
    content: dict
    key: str = ""  # our delivery id: logged by the platform side, used to read results back


@dataclass
class SendResult:
    key: str
    ok: bool
    platform_id: str = ""  # msgid, msg_template id…
    error_code: int | None = None  # 45015 outside the 48-hour window, 45009 quota…
    error: str = ""


@dataclass
class SyncResult:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    api_calls: int = 0
    retries: int = 0
    cursor: dict = field(default_factory=dict)


class Adapter:
    """The interface every channel adapter implements (the parts its kind supports)."""

    kind: str = ""
    capabilities: frozenset[str] = frozenset()  # "sync:followers", "send", "qrcode", "callback"…

    def __init__(self, account):
        self.account = account

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    def sync(self, kind: str, *, full: bool = False) -> SyncResult:
        """Pull one kind of data (followers, contacts, staff, groups, tags, analysis).

        The procedures live in `channels.syncs` with the writes they make; `reconcile` is the
        account's default kind, in full.
        """
        if not (self.can(f"sync:{kind}") or kind == "reconcile"):
            raise Unsupported(kind)
        from channels.syncs import sync_procedure  # syncs import the adapters: not at the top

        return sync_procedure(self, kind, full=full)

    def send(self, batch: list[OutMessage]) -> list[SendResult]:
        """Send a batch of messages, one result per message, in order."""
        raise Unsupported("send")

    def create_qrcode(self, **options) -> dict:
        """Create a platform QR code (OA scene code, WeCom contact way); returns its fields."""
        raise Unsupported("qrcode")
