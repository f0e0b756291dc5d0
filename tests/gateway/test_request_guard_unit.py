"""Unit tests of what is refused before a route reads its body (gateway/guard.py), in process
with the fixtures of test_purchases_unit.py: credentials are checked before the body is parsed
(a broken body without credentials is a 401, never a 422 that tells the schema), the body is
capped (413 problem, before a byte is read when Content-Length says so), and the check runs once
per request (one rate-limit token, not two)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.problems import PROBLEM_JSON
from gateway.ratelimit import RateLimiter, get_rate_limiter
from gateway.settings import GatewaySettings, get_settings
from tests.gateway.partners import OPERATOR
from tests.gateway.purchases import assert_nothing_stored, purchase_body
from tests.problems import assert_problem

BROKEN = b'{"purchase_id": "p-1", '  # truncated JSON
BODY_ROUTES = [
    ("POST", "/v1/purchases"),
    ("POST", "/v1/purchases/batch"),
    ("POST", "/v1/purchases/p-1/refunds"),
    ("POST", "/v1/webhooks"),
    ("POST", "/v1/rewards"),
    ("POST", "/v1/redemptions"),
    ("PUT", "/v1/customers/c-1/wallet"),
]
OPERATOR_BODY_ROUTES = [("POST", "/v1/operator/partners"), ("PATCH", "/v1/operator/partners/1")]
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("method, path", BODY_ROUTES + OPERATOR_BODY_ROUTES)
@pytest.mark.parametrize("content", [BROKEN, b"[]", b'{"nonsense": true}'], ids=["broken", "list", "wrong-fields"])
def test_unit_a_body_without_credentials_is_unauthorized_before_it_is_parsed(client, method, path, content):
    r = client.request(method, path, headers=JSON, content=content)
    problem = assert_problem(r, "unauthorized")
    assert "errors" not in problem and "purchase_id" not in r.text


@pytest.mark.parametrize("method, path", BODY_ROUTES)
def test_unit_a_broken_body_with_a_wrong_key_is_unauthorized(client, partner, method, path):
    wrong = {"Authorization": f"Bearer {partner.key[:-1]}x", **JSON}
    assert_problem(client.request(method, path, headers=wrong, content=BROKEN), "unauthorized")


@pytest.mark.parametrize("method, path", OPERATOR_BODY_ROUTES)
def test_unit_operator_routes_check_the_token_before_the_body(client, partner, no_chain, method, path):
    assert_problem(client.request(method, path, headers=partner.headers | JSON, content=BROKEN), "unauthorized")
    assert_problem(client.request(method, path, headers=OPERATOR | JSON, content=BROKEN), "validation-error")
    assert no_chain.calls == 0


def test_unit_a_broken_body_with_a_valid_key_is_still_a_validation_problem(client, partner, sessions):
    r = client.post("/v1/purchases", headers=partner.headers | JSON, content=BROKEN)
    assert_problem(r, "validation-error", instance="/v1/purchases")
    assert_nothing_stored(sessions, partner.id)


# ---------------------------------------------------------------------------------- the cap


@pytest.fixture
def small_cap(app: FastAPI, settings: GatewaySettings) -> GatewaySettings:
    capped = settings.model_copy(update={"max_request_body_bytes": 64 * 1024})
    app.dependency_overrides[get_settings] = lambda: capped
    return capped


def _batch(count: int, pad: str = "") -> bytes:
    purchases = [purchase_body(f"b-{i}{pad}") for i in range(count)]
    return json.dumps({"purchases": purchases}, indent=4).encode()


@pytest.mark.parametrize("authorized", [True, False], ids=["key", "no-key"])
def test_unit_a_body_over_the_cap_is_refused_by_its_length(client, partner, sessions, small_cap, authorized):
    content = _batch(300)
    assert len(content) > small_cap.max_request_body_bytes
    headers = (partner.headers if authorized else {}) | JSON
    r = client.post("/v1/purchases/batch", headers=headers, content=content)
    body = assert_problem(r, "content-too-large", instance="/v1/purchases/batch")
    assert str(small_cap.max_request_body_bytes) in body["detail"]
    assert r.headers["connection"] == "close"
    assert_nothing_stored(sessions, partner.id)


def test_unit_a_streamed_body_over_the_cap_is_refused_as_it_arrives(client, partner, sessions, small_cap):
    content = _batch(300)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(content), 4096):
            yield content[start : start + 4096]

    r = client.post("/v1/purchases/batch", headers=partner.headers | JSON, content=chunks())
    assert_problem(r, "content-too-large", instance="/v1/purchases/batch")
    assert_nothing_stored(sessions, partner.id)
    # without a key the streamed body is refused by its credentials first
    r = client.post("/v1/purchases/batch", headers=JSON, content=chunks())
    assert_problem(r, "unauthorized")


def test_unit_a_body_under_the_cap_passes(client, partner, small_cap):
    content = _batch(100)
    assert len(content) < small_cap.max_request_body_bytes
    r = client.post("/v1/purchases/batch", headers=partner.headers | JSON, content=content)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 100


def test_unit_the_largest_batch_fits_the_default_cap(client, partner, settings):
    """1,000 purchases with the longest ids and refs, indented: well under the default cap."""
    longest = [
        purchase_body(
            f"{i:04d}" + "p" * 60,
            customer={"ref": "r" * 64},
            amount="123456789012.3456",
            purchased_at="2026-11-23T10:00:00.123456+01:00",
        )
        for i in range(1000)
    ]
    content = json.dumps({"purchases": longest}, indent=4).encode()
    assert len(content) < settings.max_request_body_bytes / 4
    r = client.post("/v1/purchases/batch", headers=partner.headers | JSON, content=content)
    assert r.status_code == 200, r.text
    assert r.json()["rejected"] == 1000  # the refs are linked to no wallet, and the amounts above the maximum


def test_unit_the_cap_is_documented_in_the_catalogue(client):
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/purchases/batch"]["post"]
    assert "content-too-large" in post["responses"]["413"]["description"]
    assert PROBLEM_JSON in post["responses"]["413"]["content"]


# ---------------------------------------------------------------------------------- once per request


@pytest.fixture
def limiter(app: FastAPI) -> RateLimiter:
    limiter = RateLimiter(rate=1, burst=3, client=None)
    app.dependency_overrides[get_rate_limiter] = lambda: limiter
    return limiter


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/v1/purchases", purchase_body()),
        ("POST", "/v1/purchases/batch", {"purchases": [purchase_body()]}),
        ("POST", "/v1/webhooks", {"url": "https://partner.example/hooks", "event_types": ["purchase.confirmed"]}),
    ],
    ids=["purchase", "batch", "webhook"],
)
def test_unit_a_request_with_a_body_takes_one_rate_limit_token(app, partner, limiter, method, path, body):
    with TestClient(app) as c:
        codes = [c.request(method, path, headers=partner.headers, json=body).status_code for _ in range(4)]
    assert 429 not in codes[:3] and codes[3] == 429, codes


def test_unit_a_key_rotated_after_the_check_is_refused_by_the_route(client, partner, sessions):
    """The check before the body trusts a verified key for a second (``VerifiedKeys``); the
    partner routes that load the partner compare the key with the row they read, as before."""
    from sqlalchemy import update

    from gateway import auth
    from network.store import Partner

    assert client.post("/v1/purchases", headers=partner.headers, json=purchase_body()).status_code == 202
    other = auth.new_api_key()
    with sessions() as session:
        session.execute(update(Partner).where(Partner.id == partner.id).values(api_key_hash=other.hash))
        session.commit()
    hook = {"url": "https://partner.example/hooks", "event_types": ["purchase.confirmed"]}
    assert_problem(client.post("/v1/webhooks", headers=partner.headers, json=hook), "unauthorized")
