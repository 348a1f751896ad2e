"""What the platform adapters share: a lazily made client and `call` through it, sending a
batch message by message with per-recipient results, chunking."""

from collections.abc import Callable
from functools import cached_property

from channels.adapters.base import Adapter, OutMessage, PlatformError, SendResult
from channels.clients import TOKEN_CODES, call


class ClientAdapter(Adapter):
    """An adapter whose platform calls go through `call` (rate limit, retries, counting),
    most of them on one client made by `make_client(account)`."""

    make_client: Callable

    @cached_property
    def client(self):
        return self.make_client(self.account)

    def call(self, fn: Callable, *args, **kwargs):
        return call(self.account, fn, *args, **kwargs)

    def send_each(
        self, batch: list[OutMessage], send_one: Callable[[OutMessage], str]
    ) -> list[SendResult]:
        """Send message by message; `send_one` returns the platform's id for it.

        A recipient's error (45015 outside the 48-hour window, 43004 not following…) fails
        that message only; an account-wide one (the token, the quota, the platform down) fails
        the rest of the batch without calling again.
        """
        results, stop = [], None
        for message in batch:
            if stop is not None:
                results.append(failed(message, stop))
                continue
            try:
                results.append(SendResult(key=message.key, ok=True, platform_id=send_one(message)))
            except PlatformError as error:
                results.append(failed(message, error))
                if error.transient or error.code in TOKEN_CODES:
                    stop = error
        return results


def failed(message: OutMessage, error: PlatformError | str) -> SendResult:
    """A failed result for `message` (an error answer, or our own reason)."""
    if isinstance(error, PlatformError):
        return SendResult(
            key=message.key, ok=False, error_code=error.code, error=error.message or str(error)
        )
    return SendResult(key=message.key, ok=False, error=error)


def chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
