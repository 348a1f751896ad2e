"""A token bucket per channel account (`ChannelAccount.rate_limit` calls a second), shared by
every worker.

With `REDIS_URL` set the bucket lives in Redis and one Lua script takes a token atomically by
Redis' own clock, so workers on several hosts agree; without Redis (or while it is down) each
process keeps its own bucket. A caller that finds the bucket empty reserves the next token
and sleeps until it is due, so waiting is fair and lasts about (callers ahead) / rate seconds.
"""

import logging
import threading
import time
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "quanyu:ratelimit:"

# KEYS[1]: the bucket; ARGV[1]: tokens a second (also the burst); ARGV[2]: tokens to take (1
# when absent). Returns the milliseconds to wait for the tokens just taken (0: take them now).
TAKE = """
local rate = tonumber(ARGV[1])
local n = tonumber(ARGV[2] or '1')
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or rate
local at = tonumber(state[2]) or now
tokens = math.min(rate, tokens + (now - at) * rate / 1000) - n
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
if tokens >= 0 then return 0 end
return math.ceil(-tokens * 1000 / rate)
"""


@cache
def redis_connection(url: str) -> redis.Redis:
    """One connection pool per Redis URL for the process (token cache and rate limiter)."""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


@cache
def _take_script(url: str):
    return redis_connection(url).register_script(TAKE)


class LocalBucket:
    """The same bucket in this process only (no Redis)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def take(self, key: str, rate: int, n: int = 1) -> float:
        """Take `n` tokens; returns the seconds to wait for them."""
        with self._lock:
            now = time.monotonic()
            tokens, at = self._state.get(key, (rate, now))
            tokens = min(rate, tokens + (now - at) * rate) - n
            self._state[key] = (tokens, now)
        return -tokens / rate if tokens < 0 else 0.0


_local = LocalBucket()


def acquire(account, calls: int = 1) -> float:
    """Wait for the account's next API call slot (the next `calls` slots, in one round trip,
    for calls about to be made together); returns how long it waited (seconds).

    A rate limit of 0 means no limit.
    """
    rate = account.rate_limit
    if not rate:
        return 0.0
    key = KEY_PREFIX + account.code
    wait = None
    if settings.REDIS_URL:
        try:
            wait = _take_script(settings.REDIS_URL)(keys=[key], args=[rate, calls]) / 1000
        except redis.RedisError as exc:  # keep calling the platform, each worker at the rate
            logger.warning("rate limiter: Redis unavailable (%s); using a local bucket", exc)
    if wait is None:
        wait = _local.take(key, rate, calls)
    if wait > 0:
        time.sleep(wait)
    return wait
