"""SMS and app push through pluggable providers.

The account's `options["provider"]` names the provider class (`PROVIDERS[kind][name]`); an
account in sandbox mode defaults to the sandbox provider, which posts every message to the
sandbox platform's log (`{base_url}/sandbox/providers/sms|push`). A real provider (Aliyun or
Tencent SMS, JPush, Getui…) is a class with the same `send` registered in `PROVIDERS`.

A batch's messages are sent `SEND_THREADS` at a time: the threads make only the HTTP calls
and hand back the answer; everything else — the rate limiter's slots (taken for
`SEND_THREADS` calls at once), retries, token and error bookkeeping on the account (database
writes), counting, the results — stays on the calling thread, in the batch's order, exactly
as `send_each` would do it.
"""

import copy
import http.client
import json
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from urllib.parse import urlsplit

from channels.adapters.base import OutMessage, PlatformError, SendResult
from channels.adapters.shared import ClientAdapter, failed
from channels.choices import ChannelKind
from channels.clients import TIMEOUT, TOKEN_CODES, call, http_error, platform_error
from channels.ratelimit import acquire

SEND_THREADS = 8  # a batch's provider calls in flight at once (per worker process)
JSON_HEADERS = {"Content-Type": "application/json"}
ACCOUNT_STATE = ("last_error", "last_error_at", "token_state", "token_refreshed_at")


class SandboxProvider:
    """Posts each message to the sandbox platform, which logs it as "sent".

    Over `http.client` keep-alive connections, one a sending thread, closed with `close()`:
    well under half the CPU a call of a requests session (measured on this machine), and a
    worker's sending is bound by its CPU. No environment proxy (the sandbox is ours), no
    retry of its own (`call` retries).
    """

    def __init__(self, account, channel: str):
        self.account, self.channel = account, channel
        parts = urlsplit(f"{account.base_url.rstrip('/')}/sandbox/providers/{channel}")
        self.connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self.netloc, self.path = parts.netloc, parts.path
        self.local = threading.local()
        self.connections: list[http.client.HTTPConnection] = []

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.connection_class(self.netloc, timeout=TIMEOUT)
            self.local.connection = connection
            self.connections.append(connection)
        return connection

    def send(self, message: OutMessage) -> str:
        """Send one message; returns the provider's id for it."""
        payload = {
            "appid": self.account.app_id or self.account.code,
            "to": message.to,
            "content": message.content,
            "key": message.key,
        }
        connection = self._connection()
        try:
            connection.request("POST", self.path, json.dumps(payload).encode(), JSON_HEADERS)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            if response.status >= 400:
                raise http_error(response.status, text)
            body = json.loads(text)
        except (OSError, http.client.HTTPException, ValueError) as error:  # lost, not JSON
            connection.close()  # the next call opens a new one
            raise PlatformError(-1, f"{type(error).__name__}: {error}"[:300]) from error
        if not body.get("ok"):
            raise PlatformError(int(body.get("errcode") or -1), body.get("errmsg", ""))
        return str((body.get("message_ids") or [""])[0])

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


PROVIDERS = {
    ChannelKind.SMS: {"sandbox": SandboxProvider},
    ChannelKind.APP: {"sandbox": SandboxProvider},
}


class ProviderAdapter(ClientAdapter):
    """Messages through the account's provider, one call each, several at a time; `channel`
    names it to the provider."""

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
        try:
            if len(batch) == 1:
                return self.send_each(batch, lambda message: self.call(provider.send, message))
            return self.send_concurrently(batch, provider)
        finally:
            if hasattr(provider, "close"):
                provider.close()

    def send_concurrently(self, batch: list[OutMessage], provider) -> list[SendResult]:
        """`send_each`'s results, with up to `SEND_THREADS` first attempts in flight.

        Each message's first attempt (the HTTP call alone) runs in a thread, after this
        thread took its rate-limiter slot (for `SEND_THREADS` calls at a time, in one round
        trip); the answers are taken in the batch's order here and go through `call` as that
        attempt's outcome, so its retries (made here, one at a time), the account's error and
        token bookkeeping and the counting are `call`'s own. After an account-wide error no
        further message is started; the few already in flight keep what the platform
        answered them (they were sent, or failed on their own).
        """
        # the first attempt's slot is taken before it starts; `call` must not take a second
        # one for it (a copy: only `call`'s own bookkeeping fields are ever saved)
        no_limit = copy.copy(self.account)
        no_limit.rate_limit = 0

        def first_attempt(message: OutMessage):
            try:
                return provider.send(message), None
            except Exception as error:  # judged on the calling thread, by `call`
                return None, error

        def again(message: OutMessage) -> str:  # a retry, from `call` on this thread
            acquire(self.account)
            return provider.send(message)

        results: list[SendResult] = []
        stop: PlatformError | None = None
        pending = iter(batch)
        slots, left = 0, len(batch)  # rate-limiter slots taken and not used yet; not started

        def start(message: OutMessage):
            nonlocal slots, left
            if not slots:
                slots = min(SEND_THREADS, left)
                acquire(self.account, slots)
            slots, left = slots - 1, left - 1
            return message, pool.submit(first_attempt, message)

        with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(batch))) as pool:
            flight = deque(start(message) for message in islice(pending, SEND_THREADS))
            while flight:
                message, future = flight.popleft()
                answer = future.result()
                if stop is not None:  # in flight when the account-wide error came
                    results.append(_as_result(message, answer))
                    continue
                following = next(pending, None)
                if following is not None:
                    flight.append(start(following))
                first = [answer]

                def attempt(message: OutMessage, first=first) -> str:
                    if not first:
                        return again(message)
                    platform_id, error = first.pop()
                    if error is not None:
                        raise error
                    return platform_id

                try:
                    platform_id = call(no_limit, attempt, message)
                    results.append(SendResult(key=message.key, ok=True, platform_id=platform_id))
                except PlatformError as error:
                    results.append(failed(message, error))
                    if error.transient or error.code in TOKEN_CODES:
                        stop = error
        if stop is not None:
            results += [failed(message, stop) for message in pending]
        for name in ACCOUNT_STATE:  # what `call` recorded on the copy
            setattr(self.account, name, getattr(no_limit, name))
        return results


def _as_result(message: OutMessage, answer: tuple) -> SendResult:
    """A first attempt's (platform id, error) as it stands, with no retry."""
    platform_id, error = answer
    if error is None:
        return SendResult(key=message.key, ok=True, platform_id=platform_id)
    known = platform_error(error)
    if known is None:  # a bug, not an answer
        raise error
    return failed(message, known)


class SmsAdapter(ProviderAdapter):
    """SMS: `to` a phone number, `content` `{"text"}` or `{"template", "params", "sign"}`."""

    kind = ChannelKind.SMS
    channel = "sms"


class AppPushAdapter(ProviderAdapter):
    """Our own app's push: `to` an app user id, `content` `{"title", "text", "url"?}`."""

    kind = ChannelKind.APP
    channel = "push"
