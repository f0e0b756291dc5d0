"""A rate limit per partner API key: a token bucket (``rate_limit_per_second`` tokens a
second, up to ``rate_limit_burst``), one token per request.

With Redis (``COALITION_REDIS_URL``, or the local embedded server), the bucket lives there and
one Lua script refills and takes tokens atomically, in one round trip (EVALSHA), so every
gateway replica shares it. A replica takes a small lease of tokens at a time (20 ms of the
rate, at most 100, kept at most 1 s), so that a busy key costs one round trip per lease, not
per request; at low rates the lease is one token and the limit is exact.

Without Redis, or while Redis is unreachable, each process keeps its own buckets: the limit then
holds per replica, and a Redis outage never turns into refused requests (it fails open to the
local limit, and is logged once per outage).

A second, much lower limit (``auth_rate_limit_per_second`` / ``_burst``) is kept per client
address for what anyone can try without credentials: the customers' sign-in, the operator's
login and wrong operator tokens (``client_limiter_for``, its own Redis namespace).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

import redis
from fastapi import Depends

from gateway.request_settings import settings_dependency
from gateway.settings import GatewaySettings, redis_url

log = logging.getLogger(__name__)
RETRY_REDIS_AFTER_S = 5.0  # after a Redis failure, the local buckets serve for this long
MAX_LOCAL_BUCKETS = 100_000

LEASE_S = 0.02  # a lease is this much of the rate
LEASE_TTL_S = 1.0  # tokens of a lease not spent by then are dropped
MAX_LEASE = 100

# KEYS[1] bucket; ARGV rate/s, burst, tokens wanted. Returns {tokens granted, wait s}. Redis's
# own clock, so replicas with skewed clocks agree.
TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = math.min(want, math.floor(tokens))
local wait = 0
if allowed >= 1 then
  tokens = tokens - allowed
else
  allowed = 0
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: float  # 0 when allowed

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_s)))


class LocalBuckets:
    """Token buckets in this process (thread-safe), for when there is no Redis."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def peek(self, key: str) -> Decision:
        """Whether ``key``'s bucket has a token now, without taking it."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate)
        return Decision(True, 0.0) if tokens >= 1 else Decision(False, (1 - tokens) / self.rate)

    def take(self, key: str) -> Decision:
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate)
            if len(self._buckets) >= MAX_LOCAL_BUCKETS and key not in self._buckets:
                self._buckets.clear()  # bounded memory: forgetting buckets only grants a fresh burst
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return Decision(True, 0.0)
            self._buckets[key] = (tokens, now)
            return Decision(False, (1 - tokens) / self.rate)


class RateLimiter:
    """Takes one token of ``key``'s bucket per request: in Redis when it answers, else locally."""

    def __init__(
        self,
        rate: float,
        burst: int,
        client: redis.Redis | None,
        namespace: str = "coalition:ratelimit",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.namespace, self.clock = rate, burst, namespace, clock
        self.local = LocalBuckets(rate, burst, clock)
        self.client = client
        self._script = client.register_script(TOKEN_BUCKET_LUA) if client is not None else None
        self._redis_down_until = 0.0
        self.lease_size = max(1, min(MAX_LEASE, int(rate * LEASE_S)))
        self._leases: dict[str, tuple[int, float]] = {}  # key -> (tokens left, until)
        self._leases_lock = threading.Lock()
        self._refill_lock = threading.Lock()  # one Redis round trip at a time per replica
        self._refilling: set[str] = set()
        # a lease half spent is refilled in the background, so a busy key rarely waits on Redis
        self._prefetch = ThreadPoolExecutor(1, "ratelimit") if self.lease_size > 1 else None

    def take_now(self, key: str) -> Decision | None:
        """A decision without I/O when there is one (a token of this replica's lease, or the
        local buckets); None when Redis must be asked (:meth:`take`)."""
        now = self.clock()
        if self._script is None or now < self._redis_down_until:
            return self.local.take(key)
        with self._leases_lock:
            left, until = self._leases.get(key, (0, 0.0))
            if left <= 0 or now >= until:
                return None
            self._leases[key] = (left - 1, until)
            prefetch = self._prefetch is not None and left - 1 <= self.lease_size // 2 and key not in self._refilling
            if prefetch:
                self._refilling.add(key)
        if prefetch:
            assert self._prefetch is not None
            self._prefetch.submit(self._refill, key)
        return Decision(True, 0.0)

    def _refill(self, key: str) -> None:
        try:
            with self._refill_lock:
                self._take_from_redis(key, spend=0)
        except Exception:
            log.exception("rate limit: could not refill the lease of a key")
        finally:
            with self._leases_lock:
                self._refilling.discard(key)

    def take(self, key: str) -> Decision:
        decided = self.take_now(key)
        if decided is not None:
            return decided
        with self._refill_lock:  # threads that found the lease empty at once: one refills it
            decided = self.take_now(key)
            return decided if decided is not None else self._take_from_redis(key)

    def peek(self, key: str) -> Decision:
        """Whether ``key``'s bucket has a token now, without taking it (this replica's lease
        aside): for a limit that counts only failures yet refuses everything once it is spent."""
        if self._script is None or self.clock() < self._redis_down_until:
            return self.local.peek(key)
        try:
            # the script with 0 tokens wanted takes none and answers the wait for one (<= 0: one is there)
            _, wait = self._script(keys=[f"{self.namespace}:{key}"], args=[self.rate, self.burst, 0])
        except redis.RedisError as exc:
            self._redis_failed(exc)
            return self.local.peek(key)
        wait = float(wait)
        return Decision(wait <= 0, max(0.0, wait))

    def _redis_failed(self, exc: redis.RedisError) -> None:
        if self._redis_down_until == 0.0 or self.clock() >= self._redis_down_until + RETRY_REDIS_AFTER_S:
            log.warning("rate limit: Redis unreachable (%s); per-process limits for now", exc)
        self._redis_down_until = self.clock() + RETRY_REDIS_AFTER_S

    def _take_from_redis(self, key: str, spend: int = 1) -> Decision:
        """Asks Redis for a lease; ``spend`` of its tokens are taken now, the rest kept."""
        assert self._script is not None
        try:
            granted, wait = self._script(
                keys=[f"{self.namespace}:{key}"], args=[self.rate, self.burst, self.lease_size]
            )
        except redis.RedisError as exc:
            self._redis_failed(exc)
            return self.local.take(key)
        granted = int(granted)
        if granted < 1:
            return Decision(False, float(wait))
        if granted > spend:
            now = self.clock()
            with self._leases_lock:
                if len(self._leases) >= MAX_LOCAL_BUCKETS:
                    self._leases.clear()
                left, until = self._leases.get(key, (0, 0.0))
                left = left if now < until else 0
                self._leases[key] = (left + granted - spend, now + LEASE_TTL_S)
        return Decision(True, 0.0)


@lru_cache(maxsize=8)
def _limiter(url: str | None, rate: float, burst: int, chain_id: int, kind: str = "ratelimit") -> RateLimiter:
    client = None
    if url is not None:
        # short timeouts: a request never waits long on the limiter; a slow Redis means local limits
        client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
    return RateLimiter(rate, burst, client, namespace=f"coalition:{kind}:{chain_id}")


def limiter_for(settings: GatewaySettings) -> RateLimiter:
    return _limiter(redis_url(settings), settings.rate_limit_per_second, settings.rate_limit_burst, settings.chain_id)


def client_limiter_for(settings: GatewaySettings) -> RateLimiter:
    """The limit per client address of the routes anyone can try without credentials."""
    return _limiter(
        redis_url(settings),
        settings.auth_rate_limit_per_second,
        settings.auth_rate_limit_burst,
        settings.chain_id,
        "ratelimit-client",
    )


async def get_rate_limiter(settings: Annotated[GatewaySettings, Depends(settings_dependency)]) -> RateLimiter:
    return limiter_for(settings)


async def get_client_rate_limiter(settings: Annotated[GatewaySettings, Depends(settings_dependency)]) -> RateLimiter:
    return client_limiter_for(settings)
