"""The limit per client address of what anyone can try without credentials (issue 13, 5b): the
bucket's peek in process (fake clock) and as the Redis Lua script on a real redis-server, and the
rule of the operator token check (only wrong tokens are counted; once they are spent, the right
token is refused too) over HTTP in process, with the limiter's local buckets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gateway.deps import get_session
from gateway.main import create_app
from gateway.ratelimit import LocalBuckets, RateLimiter, get_client_rate_limiter
from gateway.redis_server import RedisServer
from gateway.settings import GatewaySettings, get_settings
from tests.ports import port_for_worker
from tests.stores import migrated_store

REDIS_PORT = port_for_worker(9339)  # this helper's range (9300-9339)
OPERATOR = "unit-test-operator-token-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_peek_says_whether_a_token_is_there_without_taking_it() -> None:
    clock = Clock()
    buckets = LocalBuckets(rate=0.5, burst=2, clock=clock)
    assert all(buckets.peek("k").allowed for _ in range(10))
    assert buckets.take("k").allowed and buckets.take("k").allowed
    empty = buckets.peek("k")
    assert not empty.allowed and empty.retry_after_s == pytest.approx(2.0)
    clock.now += 2
    assert buckets.peek("k").allowed and buckets.take("k").allowed and not buckets.peek("k").allowed


def test_peek_on_redis_takes_nothing(tmp_path: Path) -> None:
    with RedisServer(REDIS_PORT, tmp_path / "redis") as server:
        limiter = RateLimiter(0.01, 3, redis.Redis.from_url(server.url), namespace="unit-peek")
        assert limiter.lease_size == 1  # a low rate: every take is one exact round trip
        assert all(limiter.peek("ip").allowed for _ in range(10))
        assert [limiter.take("ip").allowed for _ in range(4)] == [True, True, True, False]
        refused = limiter.peek("ip")
        assert not refused.allowed and 90 < refused.retry_after_s <= 100
        assert limiter.peek("other-ip").allowed


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    settings = GatewaySettings(mode="local", operator_token=OPERATOR, database_url=f"sqlite:///{tmp_path / 'store.db'}")
    sessions = migrated_store(settings.database_url)
    limiter = RateLimiter(0.001, 3, None)  # local buckets: 3 tries, then one every ~17 minutes
    app = create_app()

    def session_override() -> Iterator[Session]:
        with sessions() as session:
            yield session

    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_session] = session_override
    app.dependency_overrides[get_client_rate_limiter] = lambda: limiter
    yield app
    sessions.kw["bind"].dispose()


def test_wrong_operator_tokens_are_counted_per_address_and_then_lock_the_address_out(app: FastAPI) -> None:
    right = {"Authorization": f"Bearer {OPERATOR}"}
    wrong = {"Authorization": "Bearer not-the-operator-token"}
    with TestClient(app, client=("198.51.100.7", 50000)) as client:
        for _ in range(5):  # the right token costs nothing
            assert client.get("/v1/operator/partners", headers=right).status_code == 200
        assert [client.get("/v1/operator/partners", headers=wrong).status_code for _ in range(2)] == [401] * 2
        assert client.get("/v1/operator/partners").status_code == 401  # no token at all counts too
        refused = client.get("/v1/operator/partners", headers=wrong)
        assert refused.status_code == 429 and refused.json()["type"] == "/problems/rate-limited"
        locked = client.get("/v1/operator/partners", headers=right)  # the right one too, from there
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 60
    with TestClient(app, client=("203.0.113.9", 50000)) as elsewhere:  # another address is not locked out
        assert elsewhere.get("/v1/operator/partners", headers=right).status_code == 200
        assert elsewhere.get("/v1/operator/partners", headers=wrong).status_code == 401
