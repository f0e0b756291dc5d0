"""What identifies a purchase (issue 14): the body the partner posted, and nothing the client
makes up per attempt. ``purchased_at`` may be left to the gateway (the time it first accepts the
purchase); a retry of the same body is then the same request, whenever it comes. In process
(``TestClient``, a fresh SQLite store, no chain), with the fixtures of test_purchases_unit.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from partners.client import purchase_body as sdk_purchase_body
from tests.gateway.purchases import WALLET, purchase_body, stored
from tests.problems import assert_problem


def without_date(purchase_id: str = "p-1", **changes: Any) -> dict[str, Any]:
    body = purchase_body(purchase_id, **changes)
    del body["purchased_at"]
    return body


def test_unit_a_purchase_without_purchased_at_is_stamped_with_its_acceptance(client, partner):
    r = client.post("/v1/purchases", headers=partner.headers, json=without_date())
    assert r.status_code == 202, r.text
    assert r.json()["purchased_at"] == r.json()["accepted_at"]
    assert client.get("/v1/purchases/p-1", headers=partner.headers).json()["purchased_at"] == r.json()["accepted_at"]


def test_unit_a_retry_without_purchased_at_is_the_same_request(client, partner, sessions):
    first = client.post("/v1/purchases", headers=partner.headers, json=without_date())
    again = client.post("/v1/purchases", headers=partner.headers, json=without_date(amount="42.5"))
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    purchases, items, next_seq = stored(sessions, partner.id)
    assert (len(purchases), len(items), next_seq) == (1, 1, 1)


@pytest.mark.parametrize(
    "change",
    [{"amount": "43"}, {"purchased_at": "2026-11-23T10:00:00Z"}],
    ids=["another-amount", "a-date-the-first-did-not-send"],
)
def test_unit_a_body_without_purchased_at_still_conflicts_with_another_body(client, partner, change):
    assert client.post("/v1/purchases", headers=partner.headers, json=without_date()).status_code == 202
    r = client.post("/v1/purchases", headers=partner.headers, json=without_date() | change)
    assert_problem(r, "idempotency-conflict", instance="/v1/purchases")


def test_unit_the_sdk_builds_the_same_body_for_every_attempt():
    """The SDK no longer fills in the time of the attempt: its body is a function of its arguments."""
    first = sdk_purchase_body("order-1042", wallet=WALLET, amount="42.50", currency="EUR")
    assert "purchased_at" not in first
    assert sdk_purchase_body("order-1042", wallet=WALLET, amount="42.50", currency="EUR") == first
    sale = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    dated = sdk_purchase_body("order-1042", wallet=WALLET, amount="42.50", currency="EUR", purchased_at=sale)
    assert dated["purchased_at"] == "2026-11-23T10:00:00+00:00"
    with pytest.raises(ValueError, match="timezone-aware"):
        sdk_purchase_body("o", wallet=WALLET, amount="1", currency="EUR", purchased_at=datetime(2026, 11, 23))


def test_unit_sdk_bodies_posted_twice_are_one_purchase(client, partner, sessions):
    body = sdk_purchase_body("order-1042", wallet=WALLET, amount="42.50", currency="EUR")
    first = client.post("/v1/purchases", headers=partner.headers, json=body)
    again = client.post(
        "/v1/purchases",
        headers=partner.headers,
        json=sdk_purchase_body("order-1042", wallet=WALLET, amount="42.50", currency="EUR"),
    )
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.content == first.content
