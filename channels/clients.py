"""Platform clients for a channel account, and `call`, the one way adapters reach a platform.

WeChat OA, Mini Program and WeCom clients are wechatpy's; Douyin has a small client of ours
with the same shape. In sandbox mode (or with an `api_base_url`) a transport adapter mounted
on the client's requests session sends the real hosts' requests to `base_url` + the host's
prefix (`/api`, `/qyapi`, `/douyin`, docs/channels.md), so wechatpy's hard-coded URLs — the
token URL among them — need no patching. Tokens are cached in Redis (wechatpy's RedisStorage)
when `REDIS_URL` is set, else in Django's cache, so all workers share one token per app.

`call` wraps every platform request: it waits for the account's rate limiter, turns
wechatpy's and requests' exceptions into `PlatformError(code)`, refreshes an expired token once
and retries once (wechatpy's own `auto_retry` recurses without end on a token that keeps
failing, so it is off), backs off on 45009 and on 5xx / lost connections a bounded number of
times, and counts calls and retries on the current `counting()` counter for the SyncRun.
"""

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.enterprise import WeChatClient as WeComClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage
from wechatpy.session.redisstorage import RedisStorage

from channels.adapters.base import PlatformError
from channels.choices import TokenState
from channels.ratelimit import acquire, redis_connection

PREFIXES = {  # real host → sandbox prefix
    "https://api.weixin.qq.com": "/api",
    "https://qyapi.weixin.qq.com": "/qyapi",
    "https://open.douyin.com": "/douyin",
}
STORAGE_PREFIX = "quanyu:wechatpy"
TIMEOUT = 10  # seconds per HTTP request
# 40001 invalid credential, 40014 invalid token, 42001 expired; Douyin's invalid / expired
TOKEN_CODES = frozenset({40001, 40014, 42001, 2190002, 2190008})
LIMIT_CODES = frozenset({45009, 45011})
LIMIT_TRIES = 5  # attempts of one call that keeps meeting 45009
TRANSIENT_TRIES = 3  # attempts of one call through 5xx / lost connections


def retry_delay() -> float:
    """Seconds before the first retry; each next one waits twice as long."""
    return getattr(settings, "CHANNEL_RETRY_DELAY", 0.2)


# --- counting ---------------------------------------------------------------------------------


@dataclass
class CallCounter:
    """Platform requests made (token fetches included) and retries among them."""

    api_calls: int = 0
    retries: int = 0


_counter: ContextVar[CallCounter | None] = ContextVar("channel_call_counter", default=None)


@contextmanager
def counting() -> Iterator[CallCounter]:
    """Count the platform calls made inside the block (a sync run, a send batch)."""
    counter = CallCounter()
    token = _counter.set(counter)
    try:
        yield counter
    finally:
        _counter.reset(token)


def _count(*, api_calls: int = 0, retries: int = 0) -> None:
    counter = _counter.get()
    if counter is not None:
        counter.api_calls += api_calls
        counter.retries += retries


# --- transport and token storage ------------------------------------------------------------


class PlatformTransport(HTTPAdapter):
    """Sends a real platform host's requests to `target` (the sandbox's prefix for that host)."""

    def __init__(self, target: str, *, direct: bool):
        super().__init__()
        self.target = target
        self.direct = direct

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        request.url = self.target + parts.path + (f"?{parts.query}" if parts.query else "")
        if self.direct:  # the sandbox is ours: no environment proxy in between
            kwargs["proxies"] = {}
        return super().send(request, **kwargs)


def point_at_base_url(http: requests.Session, account) -> requests.Session:
    """Mount the host-rewriting transport when the account has a base URL (sandbox mode)."""
    base = (account.base_url or "").rstrip("/")
    if base:
        for host, prefix in PREFIXES.items():
            http.mount(host, PlatformTransport(base + prefix, direct=account.sandbox))
    return http


class CacheStorage(SessionStorage):
    """wechatpy's session storage on Django's cache, for deployments without Redis."""

    def __init__(self, prefix: str = STORAGE_PREFIX):
        self.prefix = prefix

    def get(self, key, default=None):
        return cache.get(f"{self.prefix}:{key}", default)

    def set(self, key, value, ttl=None):
        if value is not None:
            cache.set(f"{self.prefix}:{key}", value, ttl)

    def delete(self, key):
        cache.delete(f"{self.prefix}:{key}")


def token_storage(account) -> SessionStorage:
    """Where the account's access tokens are kept: Redis when configured, else Django's cache.
    Keys are wechatpy's (per app id), apart per base URL: a sandbox token is not a live one."""
    prefix = STORAGE_PREFIX
    if account.base_url:
        prefix += ":" + hashlib.sha1(account.base_url.encode()).hexdigest()[:10]
    if settings.REDIS_URL:
        return RedisStorage(redis_connection(settings.REDIS_URL), prefix=prefix)
    return CacheStorage(prefix)


def _token_state(account, state: str, error: str = "") -> None:
    account.token_state = state
    fields = ["token_state"]
    if state == TokenState.OK:
        account.token_refreshed_at = timezone.now()
        fields.append("token_refreshed_at")
    if error:
        account.last_error, account.last_error_at = error[:2000], timezone.now()
        fields += ["last_error", "last_error_at"]
    account.save(update_fields=fields)


class TokenTracking:
    """Mixed into the clients: counts token fetches and keeps the account's token state."""

    account = None

    def fetch_access_token(self):
        _count(api_calls=1)
        try:
            result = super().fetch_access_token()
        except Exception as exc:
            error = platform_error(exc)
            if error is not None and not error.transient:
                _token_state(self.account, TokenState.FAILED, f"access token: {error}")
            raise
        _token_state(self.account, TokenState.OK)
        return result


class OfficialAccountClient(TokenTracking, WeChatClient):
    """OA and Mini Program (api.weixin.qq.com, app id + secret)."""


class WorkClient(TokenTracking, WeComClient):
    """WeCom (qyapi.weixin.qq.com, corp id + app secret)."""


def _connected(client, account):
    """The client, told its account and pointed at the account's base URL."""
    client.account = account
    point_at_base_url(client._http, account)
    return client


def _wechatpy(client_class, account):
    client = client_class(
        account.app_id,
        account.secret,
        session=token_storage(account),
        timeout=TIMEOUT,
        auto_retry=False,
    )
    return _connected(client, account)


def wechat_client(account) -> OfficialAccountClient:
    """A wechatpy client for an OA or Mini Program account."""
    return _wechatpy(OfficialAccountClient, account)


def wecom_client(account) -> WorkClient:
    """A wechatpy WeCom client: the account's `app_id` is the corp id."""
    return _wechatpy(WorkClient, account)


class DouyinBase:
    """Douyin Open Platform over HTTP: a client token from client key and secret; every other
    call carries it in the `access-token` header and is signed — `X-Douyin-Timestamp` and
    `X-Douyin-Signature` = hex sha256(secret + timestamp + path and query + body), the
    sandbox platform's convention. `data.error_code` ≠ 0 becomes PlatformError."""

    API_BASE_URL = "https://open.douyin.com"

    def __init__(self, client_key: str, secret: str, session: SessionStorage):
        self.client_key, self.secret, self.session = client_key, secret, session
        self._http = requests.Session()

    @property
    def access_token_key(self) -> str:
        return f"douyin_{self.client_key}_client_token"

    @property
    def access_token(self) -> str:
        return self.session.get(self.access_token_key) or self.fetch_access_token()["access_token"]

    def fetch_access_token(self) -> dict:
        body = {
            "client_key": self.client_key,
            "client_secret": self.secret,
            "grant_type": "client_credential",
        }
        data = self._send("POST", "/oauth/client_token/", body=body)
        self.session.set(self.access_token_key, data["access_token"], data.get("expires_in", 7200))
        return data

    def get(self, path: str, **params) -> dict:
        return self._send("GET", path, params=params, signed=True)

    def post(self, path: str, body: dict, **params) -> dict:
        return self._send("POST", path, params=params, body=body, signed=True)

    def _send(self, method: str, path: str, *, params=None, body=None, signed=False) -> dict:
        target = path + (f"?{urlencode(params)}" if params else "")
        raw = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if signed:
            timestamp = str(int(time.time()))
            signed_text = self.secret.encode() + timestamp.encode() + target.encode() + raw
            headers |= {
                "access-token": self.access_token,
                "X-Douyin-Timestamp": timestamp,
                "X-Douyin-Signature": hashlib.sha256(signed_text).hexdigest(),
            }
        response = self._http.request(
            method, self.API_BASE_URL + target, data=raw or None, headers=headers, timeout=TIMEOUT
        )
        if response.status_code >= 400:
            raise http_error(response.status_code, response.text)
        answer = response.json()
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        code = data.get("error_code") or (answer.get("extra") or {}).get("error_code") or 0
        if code:
            raise PlatformError(int(code), data.get("description") or answer.get("message", ""))
        return data


class DouyinClient(TokenTracking, DouyinBase):
    """Douyin, with the token state kept on the account like the WeChat clients."""


def douyin_client(account) -> DouyinClient:
    """A Douyin client: the account's `app_id` is the client key."""
    return _connected(DouyinClient(account.app_id, account.secret, token_storage(account)), account)


# --- calling ----------------------------------------------------------------------------------


def http_error(status: int, text: str = "") -> PlatformError:
    """An HTTP error status as a PlatformError (see PlatformError for the codes)."""
    code = -1 if status >= 500 else 45009 if status == 429 else status
    return PlatformError(code, f"HTTP {status} {text[:200]}".strip())


def platform_error(exc: Exception) -> PlatformError | None:
    """What a client's exception means as a PlatformError; None for anything else (a bug)."""
    if isinstance(exc, PlatformError):
        return exc
    if isinstance(exc, WeChatClientException):
        if exc.errcode is None:  # an HTTP error status, wrapped by wechatpy
            response = exc.response
            return http_error(response.status_code if response is not None else 500)
        return PlatformError(int(exc.errcode), str(exc.errmsg or ""))
    if isinstance(exc, requests.RequestException):  # lost connection, timeout, not JSON
        return PlatformError(-1, f"{type(exc).__name__}: {exc}"[:300])
    return None


def _client_of(fn: Callable):
    """The client behind `fn`: a wechatpy API group's, or the client itself (`client.post`)."""
    owner = getattr(fn, "__self__", None)
    return owner._client if isinstance(owner, BaseWeChatAPI) else owner


def _record(account, error: PlatformError) -> None:
    account.last_error, account.last_error_at = str(error)[:2000], timezone.now()
    account.save(update_fields=["last_error", "last_error_at"])


def call(account, fn: Callable, *args, **kwargs):
    """Make one platform request, `fn(*args, **kwargs)` (a bound wechatpy API method,
    `client.post`…), with the rate limiter, token refresh, bounded retries and counting.

    Raises PlatformError; token failures and exhausted retries are also recorded on the
    account (`last_error`), per-recipient answers (45015…) are left to the caller.
    """
    client = _client_of(fn)
    used: Counter = Counter()  # retries used, by reason
    while True:
        acquire(account)
        _count(api_calls=1)
        attempt_kwargs = dict(kwargs)
        if isinstance(kwargs.get("params"), dict):  # wechatpy writes the token into it
            attempt_kwargs["params"] = dict(kwargs["params"])
        try:
            return fn(*args, **attempt_kwargs)
        except Exception as exc:
            error = platform_error(exc)
            if error is None:
                raise
            if not _prepare_retry(account, client, error, used):
                raise _give_up(account, error, refreshed=bool(used["token"])) from exc
        _count(retries=1)


def _prepare_retry(account, client, error: PlatformError, used: Counter) -> bool:
    """Get ready to try again after `error` (a new token, a pause); False: give up."""
    if error.code in TOKEN_CODES:
        if used["token"] or client is None:
            return False
        used["token"] += 1
        _refresh(account, client)
        return True
    reason, budget = (
        ("limit", LIMIT_TRIES) if error.code in LIMIT_CODES else ("transient", TRANSIENT_TRIES)
    )
    if not error.transient or used[reason] >= budget - 1:
        return False
    time.sleep(retry_delay() * 2 ** used[reason])
    used[reason] += 1
    return True


def _give_up(account, error: PlatformError, *, refreshed: bool) -> PlatformError:
    """The error to raise, recorded on the account when it is about the account."""
    if error.code in TOKEN_CODES and refreshed:
        error = PlatformError(error.code, f"{error.message} (still refused after a new token)")
        _token_state(account, TokenState.FAILED, str(error))
    elif error.transient:
        _record(account, error)
    return error


def _refresh(account, client) -> None:
    """Fetch a new token for `client` (the stored one was refused)."""
    _token_state(account, TokenState.EXPIRED)
    try:
        client.fetch_access_token()
    except Exception as exc:
        error = platform_error(exc)
        if error is None:
            raise
        raise PlatformError(error.code, f"token refresh failed: {error.message}") from exc
