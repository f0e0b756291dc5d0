"""Unit tests of the rate limit per partner key: the token bucket in process (fake clock), the
same bucket as the Redis Lua script on a real redis-server, the 429 problem with Retry-After
over HTTP, and failing open to the local buckets when Redis is unreachable."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.ratelimit import LocalBuckets, RateLimiter, get_rate_limiter
from gateway.redis_server import RedisServer
from tests.gateway.partners import PartnerKey
from tests.ports import port_for_worker
from tests.problems import assert_problem

REDIS_PORT = port_for_worker(8719)  # inside this suite's port range (8700-8719)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_local_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    buckets = LocalBuckets(rate=2, burst=5, clock=clock)
    assert [buckets.take("k").allowed for _ in range(6)] == [True] * 5 + [False]
    refused = buckets.take("k")
    assert not refused.allowed and refused.retry_after_s == pytest.approx(0.5)
    assert refused.retry_after_header == "1"
    assert buckets.take("other").allowed  # per key
    clock.now += 0.5
    assert buckets.take("k").allowed and not buckets.take("k").allowed
    clock.now += 100
    assert sum(buckets.take("k").allowed for _ in range(10)) == 5  # never more than the burst


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(REDIS_PORT, tmp_path_factory.mktemp("redis")) as server:
        yield server


def test_redis_bucket_is_shared_by_replicas_and_refills(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    one = RateLimiter(rate=20, burst=4, client=client, namespace="t1")
    two = RateLimiter(rate=20, burst=4, client=redis.Redis.from_url(redis_server.url), namespace="t1")
    results = [limiter.take("key-a").allowed for limiter in (one, two, one, two, one, two)]
    assert results == [True] * 4 + [False] * 2  # one bucket across both "replicas"
    refused = one.take("key-a")
    assert not refused.allowed and 0 < refused.retry_after_s <= 1 / 20 + 1e-6
    assert one.take("key-b").allowed
    assert one.local._buckets == {}  # all of it went to Redis
    ttl = client.pttl("t1:key-a")
    assert 0 < ttl <= 4 / 20 * 1000 + 1000  # an idle bucket expires: Redis does not fill up with keys
    client.delete("t1:key-a")  # as if it expired: a full bucket again
    assert sum(one.take("key-a").allowed for _ in range(6)) == 4


def test_redis_unreachable_fails_open_to_local_buckets(caplog: pytest.LogCaptureFixture) -> None:
    dead = redis.Redis(host="127.0.0.1", port=REDIS_PORT - 1, socket_connect_timeout=0.2, socket_timeout=0.2)
    limiter = RateLimiter(rate=1, burst=3, client=dead)
    assert [limiter.take("k").allowed for _ in range(4)] == [True, True, True, False]  # the local bucket
    assert "Redis unreachable" in caplog.text
    assert caplog.text.count("Redis unreachable") == 1  # logged once per outage, not per request


@pytest.fixture
def limited_app(app: FastAPI) -> FastAPI:
    limiter = RateLimiter(rate=1, burst=3, client=None)
    app.dependency_overrides[get_rate_limiter] = lambda: limiter
    return app


def test_429_after_the_burst_with_retry_after(
    limited_app: FastAPI, client: TestClient, make_partner: Callable[..., PartnerKey]
) -> None:
    a, b = make_partner(), make_partner()
    codes = [client.get("/v1/purchases/nope", headers=a.headers).status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]
    refused = client.get("/v1/webhooks", headers=a.headers)
    body = assert_problem(refused, "rate-limited")
    assert refused.headers["retry-after"] == "1" and "retry after 1 s" in body["detail"]
    assert client.get("/v1/webhooks", headers=b.headers).status_code == 200  # another key, another bucket
    bad = client.get("/v1/webhooks", headers={"Authorization": "Bearer ck_unknown_key"})
    assert_problem(bad, "unauthorized")  # unknown keys are refused before they touch a bucket
