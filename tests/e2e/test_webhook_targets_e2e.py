"""Webhooks kept out of the network, end to end: real anvil, redis-server, a Celery worker and
beat, the gateway as a uvicorn process (tests/e2e/stack.py), with COALITION_WEBHOOK_ALLOW_LOOPBACK
off (its default; tests/e2e/test_refunds_webhooks_e2e.py delivers to loopback with it on).

- Registration over HTTP refuses internal addresses and their odd spellings.
- Endpoints whose stored URL points inside (rows registered before the rule: written into the
  store here, since registration now refuses them and this machine has no DNS that could
  resolve a public-looking name to an internal address) get nothing: each delivery fails with
  ``address-not-allowed`` and no status code, the receiver on 127.0.0.1 sees no request, and
  the deliveries endpoint shows the class only, never an exception's text.
- Two partners' sealed signing secrets swapped in the store: neither is used, each delivery
  fails as ``signing-secret-unusable``.

Ports: 8860-8874.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from network.store import WebhookEndpoint
from tests.e2e.stack import OnboardedPartner, Stack, fresh_wallet, start_stack
from tests.gateway.webhook_receiver import Receiver
from tests.pg import StoreKind

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("postgresql",)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("webhook-targets-e2e"),
        ports=range(8860, 8875),
        store=store,
        workers=1,
        webhook_max_attempts=1,  # one attempt, then failed: the answer is final at once
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def partner(stack: Stack) -> OnboardedPartner:
    return stack.onboard("Scanner", points_per_unit="1")


def internal_urls(stack: Stack, receiver: Receiver) -> list[str]:
    port = receiver.port
    return [
        receiver.url,  # http://127.0.0.1:<port>/hooks
        f"https://127.0.0.1:{port}/hooks",
        f"https://[::1]:{port}/hooks",
        "https://10.0.0.5/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hooks",
        f"https://0x7f000001:{port}/hooks",
        f"https://2130706433:{port}/hooks",
        "https://metadata.google.internal/computeMetadata/v1/",
        f"https://localhost:{stack.redis.port}/",
        f"https://[::ffff:127.0.0.1]:{port}/hooks",
        f"https://user:pw@127.0.0.1:{port}/hooks",
    ]


def register(stack: Stack, partner: OnboardedPartner, url: str) -> Any:
    return stack.http.post(
        "/v1/webhooks", headers=partner.headers, json={"url": url, "event_types": ["purchase.confirmed"]}
    )


def point_at(stack: Stack, endpoint_id: int, url: str) -> None:
    with stack.harness.sessions() as session:
        session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(url=url))
        session.commit()


def final_deliveries(stack: Stack, partner: OnboardedPartner, endpoint_id: int, timeout_s: float = 45) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        listed = stack.http.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=partner.headers).json()
        if listed and all(d["status"] != "pending" for d in listed):
            return list(listed)
        assert time.monotonic() < deadline, f"endpoint {endpoint_id}: {listed}\n{stack.logs()}"
        time.sleep(0.2)


def test_registration_refuses_internal_addresses(stack: Stack, partner: OnboardedPartner, receiver: Receiver) -> None:
    for url in internal_urls(stack, receiver):
        r = register(stack, partner, url)
        assert r.status_code == 422 and r.json()["type"] == "/problems/webhook-url-not-allowed", (url, r.text)
    assert stack.http.get("/v1/webhooks", headers=partner.headers).json() == []


def test_deliveries_to_internal_addresses_are_refused_and_show_only_the_class(
    stack: Stack, partner: OnboardedPartner, receiver: Receiver
) -> None:
    targets = [u for u in internal_urls(stack, receiver) if "@" not in u]
    endpoints: dict[int, str] = {}
    for i, url in enumerate(targets):
        created = register(stack, partner, f"https://hooks-{i}.partner.example/coalition")
        assert created.status_code == 201, created.text
        point_at(stack, created.json()["id"], url)
        endpoints[created.json()["id"]] = url
    assert stack.post_purchase(partner, "inward-1", fresh_wallet("inward")).status_code == 202
    stack.wait_purchase(partner, "inward-1")

    for endpoint_id, url in endpoints.items():
        (shown,) = final_deliveries(stack, partner, endpoint_id)
        assert (shown["status"], shown["attempts"], shown["last_status_code"], shown["last_error"]) == (
            "failed",
            1,
            None,
            "address-not-allowed",
        ), url
        text = json.dumps(shown)
        assert not any(leak in text for leak in ("Errno", "Error:", "refused", "127.0.0.1", "HTTP ")), text
    assert receiver.received == []
    stack.assert_running()


def test_swapped_signing_secrets_sign_nothing(stack: Stack, receiver: Receiver) -> None:
    a, b = stack.onboard("Swap A"), stack.onboard("Swap B")
    hooks = {p.id: register(stack, p, "https://hooks.partner.example/coalition").json() for p in (a, b)}
    with stack.harness.sessions() as session:
        row_a, row_b = (session.get(WebhookEndpoint, hooks[p.id]["id"]) for p in (a, b))
        assert row_a is not None and row_b is not None
        row_a.secret_encrypted, row_b.secret_encrypted = row_b.secret_encrypted, row_a.secret_encrypted
        session.commit()
    for p in (a, b):
        assert stack.post_purchase(p, f"swapped-{p.id}", fresh_wallet(f"swapped-{p.id}")).status_code == 202
    for p in (a, b):
        stack.wait_purchase(p, f"swapped-{p.id}")
        (shown,) = final_deliveries(stack, p, hooks[p.id]["id"])
        assert (shown["status"], shown["last_status_code"], shown["last_error"]) == (
            "failed",
            None,
            "signing-secret-unusable",
        )
    assert "signing secret does not open" in stack.log("worker-w1", 400)
    assert receiver.received == []
