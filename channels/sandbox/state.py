"""Everything the sandbox platform remembers, in memory, behind one lock.

A `Tenant` is one platform account (an OA / Mini Program appid, a WeCom corpid, a Douyin
client_key) with its config, tokens, call counts and platform data (built lazily by the
factory registered for its kind). `SandboxState` holds the tenants, the faults and the log of
every message the platform "sent". Platform and control handlers hold `state.lock` while they
read or change anything here, and never while they wait on the network.
"""

import hashlib
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from channels.sandbox.faults import FaultBook
from channels.sandbox.router import ApiError

KINDS = ("wechat_oa", "wecom", "wechat_mini", "douyin")
DEFAULTS = {
    "secret": "",
    "token": "",
    "aes_key": "",
    "callback_url": "",
    "original_id": "",  # OA 原始 ID (gh_…): ToUserName of its callbacks
    "agent_id": "",  # WeCom app: AgentID of callbacks, checked by message/send when set
    "followers": 100,  # OA followers, Mini Program users, Douyin fans
    "staff": 5,
    "contacts": 100,
    "groups": 3,
    "videos": 12,
    "seed": 1,
    "mass_quota": 4,  # mass messages one person may receive per calendar month
    "group_capacity": 200,  # WeCom customer group members who may still join by QR code
    "token_ttl": 7200,
}
INT_KEYS = (
    "followers", "staff", "contacts", "groups", "videos", "seed", "mass_quota", "group_capacity",
    "token_ttl",
)  # fmt: skip
# Changing one of these regenerates the tenant's fake data; other keys are updated in place.
SHAPE_KEYS = ("kind", "followers", "staff", "contacts", "groups", "videos", "seed")
OLD_TOKEN_GRACE = 300  # an OA token stays valid five minutes after a newer one is issued
CHINA = timezone(timedelta(hours=8))


def china_month(ts: int) -> str:
    """The calendar month (Beijing time) that monthly platform quotas count in."""
    return datetime.fromtimestamp(ts, CHINA).strftime("%Y-%m")


def readable(content: dict) -> str:
    """The human-readable text of a message payload, whatever its platform shape."""
    text = content.get("text")
    if isinstance(text, dict):
        return str(text.get("content", ""))
    if isinstance(text, str):
        return text
    data = content.get("data")
    if isinstance(data, dict):
        values = (v.get("value", "") if isinstance(v, dict) else v for v in data.values())
        return " / ".join(str(v) for v in values)
    return str(content.get("title") or content.get("msgtype") or "")


def clean_config(kind: str, raw: dict) -> dict:
    """Validated tenant config (ValueError on nonsense), defaults filled in."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    config = dict(DEFAULTS)
    for key, value in raw.items():
        if key in ("kind", "appid"):
            continue
        if key not in DEFAULTS:
            raise ValueError(f"unknown tenant setting {key!r}")
        try:
            config[key] = int(value) if key in INT_KEYS else str(value or "")
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a whole number")
    if config["aes_key"] and len(config["aes_key"]) != 43:
        raise ValueError("aes_key (EncodingAESKey) must be 43 characters")
    return config


class Tenant:
    """One platform account as the platform sees it."""

    def __init__(self, appid: str, kind: str, config: dict, factory: Callable, anchor: int):
        self.appid = appid
        self.kind = kind
        self.config = config
        self.anchor = anchor  # start of the day it was made: generated dates hang off it
        self.calls: Counter = Counter()
        self.mutations = 0
        self._factory = factory
        self._data = None

    @property
    def data(self):
        """The platform's data for this tenant (followers, contacts, tags…), built on first use."""
        if self._data is None:
            self._data = self._factory(self)
        return self._data

    @property
    def seed(self) -> int:
        return self.config["seed"]

    @property
    def original_id(self) -> str:
        return (
            self.config["original_id"] or "gh_" + hashlib.sha1(self.appid.encode()).hexdigest()[:12]
        )

    def rng(self, purpose: str) -> random.Random:
        """A random source that replays identically for the same tenant history."""
        return random.Random(f"{self.appid}:{self.seed}:{purpose}:{self.mutations}")

    def summary(self) -> dict:
        """What the tenant is now: its kind's settings and counts (secrets never shown)."""
        return {
            "appid": self.appid,
            "kind": self.kind,
            "seed": self.seed,
            "callback_url": self.config["callback_url"],
            "token_ttl": self.config["token_ttl"],
            **self.data.summary(),
        }

    def describe(self) -> dict:
        """The summary plus call counts and the kind's details (tags, contact ways…)."""
        return {**self.summary(), "calls": dict(self.calls), **self.data.describe()}


class SandboxState:
    """Tenants, tokens, faults and the message log of one sandbox server."""

    def __init__(self, factories: dict[str, Callable[[Tenant], object]]):
        self.lock = threading.RLock()
        self.factories = factories
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.tenants: dict[str, Tenant] = {}
            self.tokens: dict[
                str, tuple[str, float]
            ] = {}  # token → (appid, expires at; 0: revoked)
            self.faults = FaultBook()
            self.messages: list[dict] = []

    @staticmethod
    def now() -> int:
        return int(time.time())

    # -- tenants ----------------------------------------------------------------------------

    def configure(self, appid: str, raw: dict) -> Tenant:
        """Create or update a tenant from control-API settings."""
        current = self.tenants.get(appid)
        kind = raw.get("kind") or (current.kind if current else "wechat_oa")
        config = clean_config(kind, {**(current.config if current else {}), **raw})
        if current and current.kind == kind:
            if all(current.config[k] == config[k] for k in SHAPE_KEYS if k != "kind"):
                current.config = config
                return current
        self.drop_tokens(appid)
        tenant = Tenant(appid, kind, config, self.factories[kind], self.now() // 86400 * 86400)
        self.tenants[appid] = tenant
        return tenant

    def tenant(self, appid: str) -> Tenant | None:
        return self.tenants.get(appid)

    def tenant_for(self, appid: str, kind: str) -> Tenant:
        """The tenant of `appid`, created with defaults on first use."""
        return self.tenants.get(appid) or self.configure(appid, {"kind": kind})

    # -- access tokens ----------------------------------------------------------------------

    def issue_token(self, tenant: Tenant, *, reuse: bool = False) -> tuple[str, int]:
        """A token and its lifetime. `reuse`: hand back a live one (WeCom, Douyin); else a new
        one, older tokens lasting five more minutes at most (OA)."""
        now = time.time()
        mine = [(t, exp) for t, (a, exp) in self.tokens.items() if a == tenant.appid and exp > now]
        if reuse and mine:
            token, expires_at = max(mine, key=lambda item: item[1])
            return token, int(expires_at - now)
        for token, expires_at in mine:
            self.tokens[token] = (tenant.appid, min(expires_at, now + OLD_TOKEN_GRACE))
        token = "sbx_" + secrets.token_urlsafe(32)
        self.tokens[token] = (tenant.appid, now + tenant.config["token_ttl"])
        return token, tenant.config["token_ttl"]

    def tenant_of_token(self, token: str) -> Tenant | None:
        appid, _ = self.tokens.get(token, ("", 0))
        return self.tenants.get(appid)

    def check_token(self, token: str) -> Tenant:
        """The tenant a token belongs to; 41001 missing, 40001 unknown or revoked, 42001
        expired."""
        if not token:
            raise ApiError(41001)
        appid, expires_at = self.tokens.get(token, ("", 0))
        tenant = self.tenants.get(appid)
        if tenant is None or not expires_at:
            raise ApiError(40001)
        if expires_at <= time.time():
            raise ApiError(42001)
        return tenant

    def drop_tokens(self, appid: str) -> None:
        """Revoke a tenant's tokens (40001 from now on): its clients must fetch a new one.
        Calls with them still count against the tenant."""
        for token, (owner, _) in self.tokens.items():
            if owner == appid:
                self.tokens[token] = (owner, 0)

    # -- what the platform sent ---------------------------------------------------------------

    def log(self, kind: str, appid: str, to: str, content: dict, **extra) -> dict:
        """Record one message to one recipient (`content`: the payload minus recipients;
        `text`: its readable text, for assertions and the demo)."""
        entry = {
            "id": len(self.messages) + 1,
            "kind": kind,
            "appid": appid,
            "to": to,
            "content": content,
            "text": readable(content),
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            **extra,
        }
        self.messages.append(entry)
        return entry

    def messages_for(self, appid: str = "", kind: str = "") -> list[dict]:
        return [
            m
            for m in self.messages
            if (not appid or m["appid"] == appid) and (not kind or m["kind"] == kind)
        ]

    def calls_for(self, appid: str = "") -> dict[str, int]:
        total: Counter = Counter()
        for tenant in self.tenants.values():
            if not appid or tenant.appid == appid:
                total.update(tenant.calls)
        return dict(total)
