"""Unit tests of the partner and operator routes of the gateway, without a chain.

The app runs in process (``TestClient``) with its dependencies overridden (the fixtures of
tests/conftest.py): a fresh SQLite store in the test's tmp dir, settings of its own, and no chain
at all (``get_chain`` is replaced by ``NoChain``, which fails the test if onboarding reaches it).
Partners are inserted as rows, with keys from ``gateway.auth.new_api_key``.

Every answer that is not a success must be ``application/problem+json`` with the stable
``type`` (``/problems/<slug>``), the title and status of the catalogue ``PROBLEMS``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway import auth
from gateway.chain import get_chain
from gateway.deps import get_session
from gateway.problem_types import PROBLEMS
from gateway.problems import PROBLEM_JSON
from gateway.services import customer_records
from network.purchases import MAX_POINTS
from network.store import Partner, Purchase, PurchaseStatus
from tests.gateway.partners import OPERATOR, OPERATOR_TOKEN, PARTNER_BODY, PUBLIC_URL, TREASURY, PartnerKey, address
from tests.gateway.purchases import (
    OTHER_WALLET,
    WALLET,
    assert_all,
    assert_nothing_stored,
    burst,
    purchase_body,
    stored,
)
from tests.problems import assert_problem

# ---------------------------------------------------------------------------------- accepted


def test_unit_purchase_is_accepted_with_its_outbox_entry(client, partner, sessions):
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    assert r.status_code == 202, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["location"] == "/v1/purchases/p-1"
    body = r.json()
    assert body["purchase_id"] == "p-1"
    assert body["status"] == "accepted"
    assert body["customer_wallet"] == WALLET
    assert Decimal(body["amount"]) == Decimal("42.50")
    assert body["currency"] == "EUR"
    assert body["points"] == 63  # floor(42.50 x 1.5) = floor(63.75)
    assert body["rule"]["currency"] == "EUR"
    assert Decimal(body["rule"]["points_per_unit"]) == Decimal("1.5")
    assert body["rule"]["rounding"] == "down"
    assert body["seq"] == 1
    assert body["purchased_at"] == "2026-11-23T10:00:00Z"
    assert body["accepted_at"].endswith("Z") or body["accepted_at"].endswith("+00:00")
    assert body["tx_hash"] is None and body["batch_id"] is None and body["failure_reason"] is None
    assert body["status_url"] == f"{PUBLIC_URL}/v1/purchases/p-1"

    purchases, items, next_seq = stored(sessions, partner.id)
    assert next_seq == 1
    [purchase], [item] = purchases, items
    assert purchase.outbox_id == item.id
    assert (item.seq, item.customer, item.points, item.status) == (1, WALLET, 63, PurchaseStatus.QUEUED)
    assert purchase.rule == {"currency": "EUR", "points_per_unit": body["rule"]["points_per_unit"], "rounding": "down"}

    g = client.get("/v1/purchases/p-1", headers=partner.headers)
    assert g.status_code == 200
    assert g.json() == body


def test_unit_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


# ---------------------------------------------------------------------------------- validation


def _without(key: str) -> dict[str, Any]:
    body = purchase_body()
    del body[key]
    return body


BAD_BODIES: dict[str, tuple[dict[str, Any], str]] = {
    # name: (body, a field the problem must name)
    "amount-zero": (purchase_body(amount="0"), "body.amount"),
    "amount-negative": (purchase_body(amount="-1"), "body.amount"),
    "amount-negative-tiny": (purchase_body(amount="-0.0001"), "body.amount"),
    "amount-five-decimals": (purchase_body(amount="42.12345"), "body.amount"),
    "amount-too-many-digits": (purchase_body(amount="12345678901234.5"), "body.amount"),
    "amount-not-a-number": (purchase_body(amount="forty-two"), "body.amount"),
    "amount-nan": (purchase_body(amount="NaN"), "body.amount"),
    "amount-infinity": (purchase_body(amount="Infinity"), "body.amount"),
    "amount-null": (purchase_body(amount=None), "body.amount"),
    "currency-lowercase": (purchase_body(currency="eur"), "body.currency"),
    "currency-four-letters": (purchase_body(currency="EURO"), "body.currency"),
    "currency-two-letters": (purchase_body(currency="EU"), "body.currency"),
    "currency-digit": (purchase_body(currency="E1R"), "body.currency"),
    "currency-empty": (purchase_body(currency=""), "body.currency"),
    "wallet-lowercase": (purchase_body(customer={"wallet": WALLET.lower()}), "body.customer.wallet"),
    "wallet-uppercase": (purchase_body(customer={"wallet": "0x" + WALLET[2:].upper()}), "body.customer.wallet"),
    "wallet-bad-checksum": (purchase_body(customer={"wallet": WALLET[:-1] + "C"}), "body.customer.wallet"),
    "wallet-no-0x": (purchase_body(customer={"wallet": WALLET[2:]}), "body.customer.wallet"),
    "wallet-short": (purchase_body(customer={"wallet": "0x9965507D1a55"}), "body.customer.wallet"),
    "wallet-long": (purchase_body(customer={"wallet": WALLET + "00"}), "body.customer.wallet"),
    "wallet-not-hex": (purchase_body(customer={"wallet": "0x" + "Z" * 40}), "body.customer.wallet"),
    "wallet-number": (purchase_body(customer={"wallet": 12345}), "body.customer.wallet"),
    "customer-both": (purchase_body(customer={"wallet": WALLET, "ref": "c-1"}), "body.customer"),
    "customer-neither": (purchase_body(customer={}), "body.customer"),
    "customer-nulls": (purchase_body(customer={"wallet": None, "ref": None}), "body.customer"),
    "customer-string": (purchase_body(customer=WALLET), "body.customer"),
    "customer-extra-field": (purchase_body(customer={"wallet": WALLET, "email": "a@b.c"}), "body.customer.email"),
    "ref-bad-chars": (purchase_body(customer={"ref": "card 42"}), "body.customer.ref"),
    "ref-too-long": (purchase_body(customer={"ref": "r" * 65}), "body.customer.ref"),
    "extra-field": (purchase_body(points=1000), "body.points"),
    "purchase-id-too-long": (purchase_body("p" * 65), "body.purchase_id"),
    "purchase-id-empty": (purchase_body(""), "body.purchase_id"),
    "purchase-id-space": (purchase_body("p 1"), "body.purchase_id"),
    "purchase-id-slash": (purchase_body("p/1"), "body.purchase_id"),
    "purchase-id-question-mark": (purchase_body("p?1"), "body.purchase_id"),
    "purchase-id-non-ascii": (purchase_body("café"), "body.purchase_id"),
    "purchase-id-number": (purchase_body(17), "body.purchase_id"),
    "purchased-at-not-a-date": (purchase_body(purchased_at="yesterday"), "body.purchased_at"),
    "missing-purchase-id": (_without("purchase_id"), "body.purchase_id"),
    "missing-customer": (_without("customer"), "body.customer"),
    "missing-amount": (_without("amount"), "body.amount"),
    "missing-currency": (_without("currency"), "body.currency"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_unit_invalid_purchase_is_a_validation_problem(client, partner, sessions, name):
    body, field = BAD_BODIES[name]
    r = client.post("/v1/purchases", headers=partner.headers, json=body)
    problem = assert_problem(r, "validation-error", instance="/v1/purchases")
    fields = [e["field"] for e in problem["errors"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), (field, problem["errors"])
    assert field in problem["detail"] or any(f in problem["detail"] for f in fields)
    for error in problem["errors"]:
        assert set(error) == {"field", "message", "kind"}
        assert error["message"] and error["kind"]
    assert_nothing_stored(sessions, partner.id)


def test_unit_zero_address_wallet_is_a_validation_problem(client, partner, sessions):
    """The zero address is checksummed (no letters), but the contract cannot mint to it: the
    gateway must refuse it as invalid (422), not fail with a 500 when it enqueues it."""
    body = purchase_body(customer={"wallet": "0x" + "0" * 40})
    r = client.post("/v1/purchases", headers=partner.headers, json=body)
    problem = assert_problem(r, "validation-error")
    assert [e["field"] for e in problem["errors"]] == ["body.customer.wallet"]
    assert_nothing_stored(sessions, partner.id)


@pytest.mark.parametrize(
    "content, content_type",
    [
        (b'{"purchase_id": "p-1", ', "application/json"),  # truncated JSON
        (b"[]", "application/json"),
        (b"", "application/json"),
        (b"purchase_id=p-1", "application/x-www-form-urlencoded"),
    ],
    ids=["truncated-json", "json-list", "empty", "form"],
)
def test_unit_unparsable_purchase_is_a_validation_problem(client, partner, sessions, content, content_type):
    r = client.post("/v1/purchases", headers=partner.headers | {"Content-Type": content_type}, content=content)
    assert_problem(r, "validation-error")
    assert_nothing_stored(sessions, partner.id)


@pytest.mark.parametrize(
    "purchase_id", ["p" * 65, "p 1", "p;1", "caf%C3%A9"], ids=["too-long", "space", "semicolon", "non-ascii"]
)
def test_unit_invalid_purchase_id_in_path_is_a_validation_problem(client, partner, purchase_id):
    r = client.get(f"/v1/purchases/{purchase_id}", headers=partner.headers)
    problem = assert_problem(r, "validation-error")
    assert [e["field"] for e in problem["errors"]] == ["path.purchase_id"]


def test_unit_amount_with_four_decimals_and_a_json_number_are_accepted(client, partner):
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-4", amount="10.0001"))
    assert r.status_code == 202, r.text
    assert Decimal(r.json()["amount"]) == Decimal("10.0001")
    assert r.json()["points"] == 15  # floor(15.00015)
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-n", amount=20))
    assert r.status_code == 202, r.text
    assert r.json()["points"] == 30


@pytest.mark.parametrize(
    "purchased_at",
    ["2026-11-23T11:00:00+01:00", "2026-11-23T05:00:00-05:00", "2026-11-23T10:00:00Z", "2026-11-23T10:00:00"],
    ids=["plus-one", "minus-five", "utc", "naive-read-as-utc"],
)
def test_unit_purchased_at_is_answered_in_utc(client, partner, purchased_at):
    """The same instant, whatever the offset it was posted with (SQLite keeps no offset)."""
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body(purchased_at=purchased_at))
    assert r.status_code == 202, r.text
    assert r.json()["purchased_at"] == "2026-11-23T10:00:00Z"
    assert client.get("/v1/purchases/p-1", headers=partner.headers).json()["purchased_at"] == "2026-11-23T10:00:00Z"


def test_unit_amount_above_the_maximum_purchase_is_refused(client, partner, sessions, settings):
    amount = str(Decimal(settings.max_purchase_amount) + 1)
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body(amount=amount))
    assert_problem(r, "amount-too-large", instance="/v1/purchases")
    assert_nothing_stored(sessions, partner.id)


# ---------------------------------------------------------------------------------- unauthorized


def _bad_authorizations(partner: PartnerKey) -> dict[str, dict[str, str]]:
    prefix = auth.prefix_of(partner.key)
    unknown = auth.new_api_key().key  # well formed, never issued
    return {
        "no-header": {},
        "empty-header": {"Authorization": ""},
        "basic-scheme": {"Authorization": f"Basic {partner.key}"},
        "no-scheme": {"Authorization": partner.key},
        "bearer-without-key": {"Authorization": "Bearer "},
        "malformed-key": {"Authorization": "Bearer not-a-key"},
        "unknown-key": {"Authorization": f"Bearer {unknown}"},
        "known-prefix-wrong-secret": {"Authorization": f"Bearer ck_{prefix}_{'A' * 43}"},
        "known-prefix-truncated-secret": {"Authorization": f"Bearer {partner.key[:-1]}"},
        "operator-token": {"Authorization": f"Bearer {OPERATOR_TOKEN}"},
    }


AUTH_CASES = [
    "no-header",
    "empty-header",
    "basic-scheme",
    "no-scheme",
    "bearer-without-key",
    "malformed-key",
    "unknown-key",
    "known-prefix-wrong-secret",
    "known-prefix-truncated-secret",
    "operator-token",
]


@pytest.mark.parametrize("case", AUTH_CASES)
def test_unit_post_purchase_without_valid_key_is_unauthorized(client, partner, sessions, case):
    headers = _bad_authorizations(partner)[case]
    r = client.post("/v1/purchases", headers=headers, json=purchase_body())
    assert_problem(r, "unauthorized", instance="/v1/purchases")
    assert_nothing_stored(sessions, partner.id)


@pytest.mark.parametrize("case", AUTH_CASES)
def test_unit_get_purchase_without_valid_key_is_unauthorized(client, partner, case):
    assert client.post("/v1/purchases", headers=partner.headers, json=purchase_body()).status_code == 202
    r = client.get("/v1/purchases/p-1", headers=_bad_authorizations(partner)[case])
    body = assert_problem(r, "unauthorized", instance="/v1/purchases/p-1")
    assert WALLET not in r.text and "points" not in body


def test_unit_unauthorized_comes_before_validation(client, sessions, partner):
    """An unauthenticated client learns nothing about the body's schema."""
    r = client.post("/v1/purchases", json={"nonsense": True})
    assert_problem(r, "unauthorized")


# ---------------------------------------------------------------------------------- not found


def test_unit_unknown_purchase_is_not_found(client, partner):
    r = client.get("/v1/purchases/nope", headers=partner.headers)
    assert_problem(r, "not-found", instance="/v1/purchases/nope")


def test_unit_unknown_route_and_method_are_problems(client, partner):
    assert_problem(client.get("/v1/nothing-here", headers=partner.headers), "not-found")
    assert_problem(client.delete("/v1/purchases/p-1", headers=partner.headers), "method-not-allowed")
    assert_problem(client.put("/v1/purchases", headers=partner.headers, json=purchase_body()), "method-not-allowed")


def test_unit_unexpected_error_is_an_internal_error_problem(app, partner):
    def broken_session() -> Iterator[Session]:
        raise RuntimeError("secret connection string postgres://user:pw@db")
        yield  # pragma: no cover

    app.dependency_overrides[get_session] = broken_session
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/v1/purchases/p-1", headers=partner.headers)
    body = assert_problem(r, "internal-error")
    assert "secret" not in r.text and "postgres" not in r.text, body


# ---------------------------------------------------------------------------------- idempotency


def test_unit_same_body_twice_gives_the_same_answer_and_one_seq(client, partner, sessions):
    first = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    again = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    reordered = client.post(
        "/v1/purchases",
        headers=partner.headers | {"Content-Type": "application/json"},
        content=json.dumps(dict(reversed(list(purchase_body().items())))),
    )
    assert first.status_code == again.status_code == reordered.status_code == 202
    assert again.json() == first.json()
    assert again.content == first.content  # byte for byte
    assert reordered.json() == first.json()
    assert again.headers["location"] == first.headers["location"]

    purchases, items, next_seq = stored(sessions, partner.id)
    assert (len(purchases), len(items), next_seq) == (1, 1, 1)

    nxt = client.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-2"))
    assert nxt.json()["seq"] == 2  # the replays consumed no seq


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "43"},
        {"currency": "USD"},
        {"customer": {"wallet": OTHER_WALLET}},
        {"customer": {"ref": "card-1"}},
        {"purchased_at": "2026-11-23T10:00:01Z"},
    ],
    ids=["amount", "currency", "wallet", "ref", "purchased_at"],
)
def test_unit_same_purchase_id_with_another_body_is_a_conflict(client, partner, sessions, change):
    first = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    assert first.status_code == 202
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body() | change)
    problem = assert_problem(r, "idempotency-conflict", instance="/v1/purchases")
    assert "p-1" in problem["detail"]
    # the first purchase is untouched and no seq was consumed
    assert client.get("/v1/purchases/p-1", headers=partner.headers).json() == first.json()
    purchases, items, next_seq = stored(sessions, partner.id)
    assert (len(purchases), len(items), next_seq) == (1, 1, 1)


def test_unit_concurrent_posts_of_one_purchase_accept_it_once(app, partner, sessions):
    """200 simultaneous POSTs of the same purchase: all 202 with the same body, one purchase,
    one outbox entry, one seq (losers of the insert race roll their seq back)."""
    responses = burst(app, [("POST", "/v1/purchases", partner.headers, purchase_body())] * 200)
    assert_all(responses, 202)
    assert len({r.content for r in responses}) == 1
    purchases, items, _ = stored(sessions, partner.id)
    assert (len(purchases), len(items), purchases[0].seq) == (1, 1, 1)
    with TestClient(app) as c:
        assert c.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-2")).json()["seq"] == 2


def test_unit_concurrent_posts_of_one_id_with_other_bodies_accept_one(app, partner, sessions):
    """200 simultaneous POSTs of one purchase_id, each with another amount: one is accepted,
    199 are idempotency conflicts (problems answered while the request holds a connection)."""
    requests = [("POST", "/v1/purchases", partner.headers, purchase_body(amount=f"{10 + i}.25")) for i in range(200)]
    responses = burst(app, requests)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {202: 1, 409: 199}, statuses
    [winner] = [r for r in responses if r.status_code == 202]
    for r in responses:
        if r.status_code == 409:
            assert_problem(r, "idempotency-conflict")
    purchases, items, _ = stored(sessions, partner.id)
    assert (len(purchases), len(items)) == (1, 1)
    assert Decimal(purchases[0].amount) == Decimal(winner.json()["amount"])
    assert items[0].points == winner.json()["points"]


def test_unit_concurrent_distinct_purchases_get_consecutive_seqs(app, make_partner, sessions):
    """300 simultaneous POSTs of distinct purchases of two partners, and GETs in between:
    every purchase accepted, each partner's seqs exactly 1..n, no gap, no duplicate."""
    a, b = make_partner(), make_partner()
    requests = [("POST", "/v1/purchases", (a, b)[i % 3 == 0].headers, purchase_body(f"c-{i}")) for i in range(300)]
    responses = burst(app, requests)
    assert_all(responses, 202)
    gets = burst(app, [("GET", f"/v1/purchases/c-{i}", (a, b)[i % 3 == 0].headers, None) for i in range(300)])
    assert_all(gets, 200)
    assert [g.json() for g in gets] == [r.json() for r in responses]
    for p, n in ((a, 200), (b, 100)):
        purchases, items, next_seq = stored(sessions, p.id)
        assert [x.seq for x in purchases] == [x.seq for x in items] == list(range(1, n + 1))
        assert next_seq == n


# ---------------------------------------------------------------------------------- earn rule


@pytest.mark.parametrize(
    "amount, points_per_unit",
    [
        ("42.50", "1.5"),
        ("19.99", "10"),
        ("10", "0.1"),
        ("1.0001", "1"),
        ("3.3333", "3"),
        ("0.0001", "10000"),  # > 1000 is refused by onboarding, but a stored rule is applied as is
        ("999.9999", "0.000001"),  # 0.0009999...: no points
        ("1000000", "0.000001"),
        ("12345.6789", "2.345678"),
        ("0.5", "2"),
    ],
)
def test_unit_points_are_amount_times_rate_rounded_down(client, make_partner, amount, points_per_unit):
    p = make_partner(points_per_unit=points_per_unit)
    expected = int((Decimal(amount) * Decimal(points_per_unit)).to_integral_value(rounding=ROUND_DOWN))
    r = client.post("/v1/purchases", headers=p.headers, json=purchase_body(amount=amount))
    if expected == 0:
        assert_problem(r, "no-points")
        return
    assert r.status_code == 202, r.text
    assert r.json()["points"] == expected
    assert Decimal(r.json()["rule"]["points_per_unit"]) == Decimal(points_per_unit)


def test_unit_rule_is_stored_with_the_purchase(client, partner, sessions):
    """Changing the partner's rule later does not change the points or rule of a purchase."""
    first = client.post("/v1/purchases", headers=partner.headers, json=purchase_body()).json()
    with sessions() as session:
        session.execute(update(Partner).where(Partner.id == partner.id).values(points_per_unit=Decimal("3")))
        session.commit()
    later = client.get("/v1/purchases/p-1", headers=partner.headers).json()
    assert later["points"] == first["points"] == 63
    assert later["rule"] == first["rule"]
    assert Decimal(later["rule"]["points_per_unit"]) == Decimal("1.5")
    # a replay of the first body still answers the first answer, under the old rule
    replay = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    assert replay.json() == first
    # a new purchase earns under the new rule
    second = client.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-2")).json()
    assert second["points"] == 127  # floor(42.50 x 3)
    assert Decimal(second["rule"]["points_per_unit"]) == Decimal("3")
    with sessions() as session:
        rules = dict(session.execute(select(Purchase.purchase_id, Purchase.rule)).all())
    assert Decimal(rules["p-1"]["points_per_unit"]) == Decimal("1.5")
    assert Decimal(rules["p-2"]["points_per_unit"]) == Decimal("3")


def test_unit_other_currency_is_not_accepted(client, partner, sessions):
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body(currency="USD"))
    problem = assert_problem(r, "currency-not-accepted", instance="/v1/purchases")
    assert "EUR" in problem["detail"] and "USD" in problem["detail"]
    assert_nothing_stored(sessions, partner.id)


@pytest.mark.parametrize("amount", ["0.0001", "0.5", "0.6666"])
def test_unit_amount_earning_no_points_is_refused(client, make_partner, sessions, amount):
    p = make_partner(points_per_unit="1.5")
    r = client.post("/v1/purchases", headers=p.headers, json=purchase_body(amount=amount))
    assert_problem(r, "no-points", instance="/v1/purchases")
    assert_nothing_stored(sessions, p.id)


def test_unit_points_beyond_the_contract_limit_are_refused(client, make_partner, sessions):
    p = make_partner(points_per_unit="1000000000")  # a rule no onboarding allows, stored directly
    amount = "1000000"  # the largest purchase accepted; x 10^9 > MAX_POINTS (2^48 - 1)
    assert Decimal(amount) * 10**9 > MAX_POINTS
    r = client.post("/v1/purchases", headers=p.headers, json=purchase_body(amount=amount))
    assert_problem(r, "no-points")
    assert_nothing_stored(sessions, p.id)


# ---------------------------------------------------------------------------------- customers


def test_unit_unlinked_customer_ref_is_refused(client, partner, sessions):
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body(customer={"ref": "card-42"}))
    problem = assert_problem(r, "customer-not-linked", instance="/v1/purchases")
    assert "card-42" in problem["detail"]
    assert_nothing_stored(sessions, partner.id)


def test_unit_linked_customer_ref_resolves_to_its_wallet(client, make_partner, sessions):
    a, b = make_partner(), make_partner()
    with sessions() as session:
        customer_records.link(session, partner_id=a.id, ref="card-42", wallet=OTHER_WALLET)
        session.commit()
    r = client.post("/v1/purchases", headers=a.headers, json=purchase_body(customer={"ref": "card-42"}))
    assert r.status_code == 202, r.text
    assert r.json()["customer_wallet"] == OTHER_WALLET
    purchases, [item], _ = stored(sessions, a.id)
    assert (purchases[0].customer_ref, purchases[0].customer_wallet) == ("card-42", OTHER_WALLET)
    assert item.customer == OTHER_WALLET
    # the same ref means nothing for another partner
    r = client.post("/v1/purchases", headers=b.headers, json=purchase_body(customer={"ref": "card-42"}))
    assert_problem(r, "customer-not-linked")
    assert_nothing_stored(sessions, b.id)


# ---------------------------------------------------------------------------------- suspended


def test_unit_suspended_partner_cannot_post_purchases(client, make_partner, sessions):
    p = make_partner(status="suspended")
    r = client.post("/v1/purchases", headers=p.headers, json=purchase_body())
    problem = assert_problem(r, "partner-suspended", instance="/v1/purchases")
    assert str(p.id) in problem["detail"]
    assert_nothing_stored(sessions, p.id)


def test_unit_partner_suspended_after_a_purchase_gets_its_replay_but_no_new_purchase(client, partner, sessions):
    first = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    with sessions() as session:
        session.execute(update(Partner).where(Partner.id == partner.id).values(status="suspended"))
        session.commit()
    replay = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    assert replay.status_code == 202 and replay.json() == first.json()
    assert client.get("/v1/purchases/p-1", headers=partner.headers).status_code == 200
    assert_problem(
        client.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-2")), "partner-suspended"
    )
    assert stored(sessions, partner.id)[2] == 1


# ---------------------------------------------------------------------------------- scoping


def test_unit_partner_cannot_read_another_partners_purchase(client, make_partner):
    a, b = make_partner(), make_partner()
    assert client.post("/v1/purchases", headers=a.headers, json=purchase_body("shared-1")).status_code == 202
    r = client.get("/v1/purchases/shared-1", headers=b.headers)
    problem = assert_problem(r, "not-found", instance="/v1/purchases/shared-1")  # 404, not 403
    # exactly what B gets for an id nobody used, apart from the id itself
    unknown = client.get("/v1/purchases/shared-2", headers=b.headers).json()
    assert problem == json.loads(json.dumps(unknown).replace("shared-2", "shared-1"))
    assert WALLET not in r.text


def test_unit_same_purchase_id_at_two_partners_are_two_purchases(client, make_partner, sessions):
    a, b = make_partner(points_per_unit="1.5"), make_partner(points_per_unit="2")
    ra = client.post("/v1/purchases", headers=a.headers, json=purchase_body("shared-1"))
    assert client.post("/v1/purchases", headers=b.headers, json=purchase_body("b-0")).status_code == 202
    # B posts A's id with another body: no conflict, its own purchase with its own seq and rule
    rb = client.post(
        "/v1/purchases", headers=b.headers, json=purchase_body("shared-1", customer={"wallet": OTHER_WALLET})
    )
    assert ra.status_code == rb.status_code == 202, rb.text
    assert (ra.json()["seq"], rb.json()["seq"]) == (1, 2)
    assert (ra.json()["points"], rb.json()["points"]) == (63, 85)
    assert rb.json()["customer_wallet"] == OTHER_WALLET
    assert client.get("/v1/purchases/shared-1", headers=a.headers).json() == ra.json()
    assert client.get("/v1/purchases/shared-1", headers=b.headers).json() == rb.json()
    assert [p.seq for p in stored(sessions, a.id)[0]] == [1]
    assert [p.seq for p in stored(sessions, b.id)[0]] == [1, 2]


# ---------------------------------------------------------------------------------- seq


def test_unit_seqs_of_a_partner_are_consecutive(client, make_partner, sessions):
    """Accepted purchases get 1, 2, 3, ... per partner; refused ones (conflict, validation,
    currency, no points, unlinked ref) and replays consume none; partners do not share seqs."""
    a, b = make_partner(), make_partner()
    expected: dict[int, list[int]] = {a.id: [], b.id: []}
    for i in range(30):
        p = (a, b)[i % 3 == 0]
        r = client.post("/v1/purchases", headers=p.headers, json=purchase_body(f"p-{i}"))
        assert r.status_code == 202, r.text
        expected[p.id].append(r.json()["seq"])
        # refused or replayed, in between
        refused = [
            purchase_body(f"p-{i}", amount="1"),  # conflict
            purchase_body(f"x-{i}", amount="0.1"),  # no points
            purchase_body(f"x-{i}", currency="USD"),  # currency
            purchase_body(f"x-{i}", customer={"ref": "nobody"}),  # unlinked
            purchase_body(f"x-{i}", amount="-1"),  # validation
            purchase_body(f"p-{i}"),  # replay
        ]
        for body in refused:
            client.post("/v1/purchases", headers=p.headers, json=body)
    assert expected[a.id] == list(range(1, 21))
    assert expected[b.id] == list(range(1, 11))
    for p in (a, b):
        purchases, items, next_seq = stored(sessions, p.id)
        n = len(expected[p.id])
        assert [x.seq for x in purchases] == [x.seq for x in items] == list(range(1, n + 1))
        assert next_seq == n
        assert {x.outbox_id for x in purchases} == {x.id for x in items}


# ---------------------------------------------------------------------------------- operator


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {OPERATOR_TOKEN}x"},
        {"Authorization": f"Bearer {OPERATOR_TOKEN[:-1]}"},
        {"Authorization": f"Basic {OPERATOR_TOKEN}"},
        {"Authorization": "Bearer local-operator-token"},  # the local default is not the configured token
    ],
    ids=["none", "wrong", "longer", "shorter", "basic", "local-default"],
)
def test_unit_operator_routes_refuse_a_wrong_token(client, partner, no_chain, headers):
    assert_problem(client.get("/v1/operator/partners", headers=headers), "unauthorized")
    r = client.post("/v1/operator/partners", headers=headers, json=PARTNER_BODY)
    assert_problem(r, "unauthorized", instance="/v1/operator/partners")
    assert no_chain.calls == 0  # refused before anything touched the chain


def test_unit_operator_routes_refuse_a_partner_key(client, partner, no_chain):
    assert_problem(client.get("/v1/operator/partners", headers=partner.headers), "unauthorized")
    assert_problem(client.post("/v1/operator/partners", headers=partner.headers, json=PARTNER_BODY), "unauthorized")
    assert no_chain.calls == 0


def test_unit_operator_lists_partners(client, make_partner):
    assert client.get("/v1/operator/partners", headers=OPERATOR).json() == []
    a = make_partner()
    b = make_partner(currency="USD", points_per_unit="0.25", status="suspended")
    r = client.get("/v1/operator/partners", headers=OPERATOR)
    assert r.status_code == 200
    listed = r.json()
    assert [p["id"] for p in listed] == [a.id, b.id]
    assert set(listed[0]) == {
        "id",
        "name",
        "minter",
        "treasury",
        "currency",
        "points_per_unit",
        "issue_price",
        "reimbursement_rate",
        "issuance_limit",
        "status",
        "scheduled_rerate",
    }
    assert listed[0]["minter"] == address(f"minter-{a.id}")
    assert (listed[1]["currency"], Decimal(listed[1]["points_per_unit"]), listed[1]["status"]) == (
        "USD",
        Decimal("0.25"),
        "suspended",
    )
    for key in (a.key, b.key, auth.prefix_of(a.key), auth.hash_secret(a.key)):
        assert key not in r.text  # keys, prefixes and hashes never leave the store


@pytest.mark.parametrize(
    "change, field",
    [
        ({"points_per_unit": "0"}, "body.points_per_unit"),
        ({"points_per_unit": "1000.5"}, "body.points_per_unit"),
        ({"points_per_unit": "1.1234567"}, "body.points_per_unit"),
        ({"treasury": TREASURY.lower()}, "body.treasury"),
        ({"treasury": "0x" + "0" * 40}, "body.treasury"),
        ({"currency": "eur"}, "body.currency"),
        ({"issue_price": 0}, "body.issue_price"),
        ({"reimbursement_rate": -1}, "body.reimbursement_rate"),
        ({"issuance_limit": 2**127}, "body.issuance_limit"),
        ({"deposit": -5}, "body.deposit"),
        ({"name": ""}, "body.name"),
        ({"minter": TREASURY}, "body.minter"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_unit_operator_onboarding_validates_its_body(client, change, field):
    r = client.post("/v1/operator/partners", headers=OPERATOR, json=PARTNER_BODY | change)
    problem = assert_problem(r, "validation-error", instance="/v1/operator/partners")
    assert field in [e["field"] for e in problem["errors"]]


def test_unit_onboarding_with_the_chain_unreachable_is_chain_unavailable(app, settings, sessions):
    from web3 import Web3

    from gateway.chain import Chain
    from network.contracts import CoalitionContracts
    from network.deployments import AddressBook
    from network.keys import dev_account
    from network.node import ChainProvider

    dead = Web3(ChainProvider("http://127.0.0.1:9", exception_retry_configuration=None))  # nothing listens
    names = ("PartnerRegistry", "SettlementToken", "Clearing", "CoalitionPoints")
    book = AddressBook(31337, {n: address(n) for n in names}, 0, address("admin"), address("operator"))
    chain = Chain(dead, CoalitionContracts(dead, book), dev_account(1, settings), None)
    app.dependency_overrides[get_chain] = lambda: chain
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/operator/partners", headers=OPERATOR, json=PARTNER_BODY)
    with sessions() as session:
        assert session.scalar(select(Partner.id)) is None
    assert_problem(r, "chain-unavailable")


# ---------------------------------------------------------------------------------- OpenAPI


def test_unit_openapi_lists_the_routes(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    paths = {path: set(ops) for path, ops in spec["paths"].items()}
    assert paths["/v1/purchases"] == {"post"}
    assert paths["/v1/purchases/{purchase_id}"] == {"get"}
    assert paths["/v1/operator/partners"] == {"get", "post"}
    assert paths["/healthz"] == {"get"}
    post = spec["paths"]["/v1/purchases"]["post"]
    assert "202" in post["responses"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PurchaseCreate")
    schemas = spec["components"]["schemas"]
    assert schemas["PurchaseCreate"]["additionalProperties"] is False
    assert set(schemas["PurchaseCreate"]["required"]) == {
        "purchase_id",
        "customer",
        "amount",
        "currency",
    }  # purchased_at is optional: absent, the purchase is stamped with its acceptance (issue 14)
    assert "api_key" in schemas["PartnerCreated"]["properties"]
    assert "api_key" not in schemas["PartnerPublic"]["properties"]


# The problem types each operation can answer (besides validation-error, which FastAPI adds).
ROUTE_PROBLEMS = {
    ("/v1/purchases", "post"): {
        "unauthorized",
        "idempotency-conflict",
        "partner-suspended",
        "customer-not-linked",
        "currency-not-accepted",
        "no-points",
        "amount-too-large",
        "validation-error",
    },
    ("/v1/purchases/{purchase_id}", "get"): {"unauthorized", "not-found", "validation-error"},
    ("/v1/operator/partners", "get"): {"unauthorized"},
    ("/v1/operator/partners", "post"): {"unauthorized", "validation-error", "chain-unavailable"},
}


def test_unit_openapi_lists_the_declared_problem_responses(client):
    """What the routes declare today: POST /v1/purchases names its 409 problems and has a 422;
    every operation with parameters or a body has a 422."""
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/purchases"]["post"]["responses"]
    assert "idempotency-conflict" in post["409"]["description"]
    assert "partner-suspended" in post["409"]["description"]
    assert "422" in post
    assert "422" in spec["paths"]["/v1/purchases/{purchase_id}"]["get"]["responses"]
    assert "422" in spec["paths"]["/v1/operator/partners"]["post"]["responses"]


@pytest.mark.parametrize("route", list(ROUTE_PROBLEMS), ids=lambda r: f"{r[1]} {r[0]}")
def test_unit_openapi_documents_every_problem_response(client, route):
    """Each operation documents the status of every problem it can answer, as
    application/problem+json, and names the problem types in the description."""
    spec = client.get("/openapi.json").json()
    path, method = route
    responses = spec["paths"][path][method]["responses"]
    by_status: dict[int, set[str]] = {}
    for slug in ROUTE_PROBLEMS[route]:
        by_status.setdefault(PROBLEMS[slug][0], set()).add(slug)
    for status, slugs in by_status.items():
        assert str(status) in responses, f"{method} {path} does not document {status} ({slugs})"
        response = responses[str(status)]
        assert PROBLEM_JSON in response.get("content", {}), f"{method} {path} {status}: {response}"
        for slug in slugs:
            assert slug in response["description"], f"{method} {path} {status} does not name {slug}"


def test_unit_the_same_amount_and_instant_written_differently_is_the_same_body(client, partner):
    first = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    again = client.post(
        "/v1/purchases",
        headers=partner.headers,
        json=purchase_body(amount="42.5", purchased_at="2026-11-23T11:00:00+01:00"),
    )
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()


def test_unit_the_bearer_scheme_is_case_insensitive(client, partner):
    key = partner.headers["Authorization"].split(" ", 1)[1]
    response = client.post("/v1/purchases", headers={"Authorization": f"bearer {key}"}, json=purchase_body())
    assert response.status_code == 202
