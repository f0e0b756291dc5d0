"""Unit tests of ``POST /v1/purchases/batch`` and of the group-commit writer behind every
purchase, in process (``TestClient``, a fresh SQLite store, no chain), with the fixtures of
test_purchases_unit.py."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from eth_utils import is_checksum_address, to_checksum_address
from sqlalchemy import update

from gateway.deps import purchase_writer_for
from gateway.schemas import _is_checksum_address
from network.store import Partner
from tests.gateway.purchases import OTHER_WALLET, assert_all, burst, purchase_body, stored
from tests.problems import assert_problem


def post_batch(client: Any, partner: Any, purchases: list[Any]) -> dict[str, Any]:
    r = client.post("/v1/purchases/batch", headers=partner.headers, json={"purchases": purchases})
    assert r.status_code == 200, r.text
    return r.json()


def test_unit_batch_gives_each_purchase_its_own_result(client, partner, sessions):
    purchases = [
        purchase_body("b-1"),
        purchase_body("b-2", amount="0.10"),  # 0.15 points: no points
        {"purchase_id": "b-3", "customer": {"wallet": "0xnope"}},  # invalid
        purchase_body("b-4", customer={"ref": "nobody"}),  # not linked
        purchase_body("b-1"),  # the same purchase again in the batch: the first answer
        purchase_body("b-1", amount="99"),  # the same id, another body: a conflict
        "not an object",
        purchase_body("b-5", customer={"wallet": OTHER_WALLET}),
    ]
    body = post_batch(client, partner, purchases)
    outcomes = [(r["index"], r["purchase_id"], r["outcome"]) for r in body["results"]]
    assert outcomes == [
        (0, "b-1", "accepted"),
        (1, "b-2", "rejected"),
        (2, "b-3", "rejected"),
        (3, "b-4", "rejected"),
        (4, "b-1", "duplicate"),
        (5, "b-1", "rejected"),
        (6, None, "rejected"),
        (7, "b-5", "accepted"),
    ]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 5)
    problems = [r["problem"]["type"] if r["problem"] else None for r in body["results"]]
    assert problems == [
        None,
        "/problems/no-points",
        "/problems/validation-error",
        "/problems/customer-not-linked",
        None,
        "/problems/idempotency-conflict",
        "/problems/validation-error",
        None,
    ]
    assert {e["field"] for e in body["results"][2]["problem"]["errors"]} >= {"customer.wallet", "amount"}
    first, again, fifth = body["results"][0]["purchase"], body["results"][4]["purchase"], body["results"][7]["purchase"]
    assert first == again and (first["seq"], fifth["seq"]) == (1, 2)
    assert first["status"] == "accepted" and first["points"] == 63
    # the answers are what a single GET gives
    assert client.get("/v1/purchases/b-1", headers=partner.headers).json() == first
    purchases_stored, items, next_seq = stored(sessions, partner.id)
    assert [p.purchase_id for p in purchases_stored] == ["b-1", "b-5"] and len(items) == 2 and next_seq == 2


def test_unit_batch_posted_twice_is_all_duplicates_with_the_first_answers(client, partner, sessions):
    purchases = [purchase_body(f"r-{i}", amount=f"{i + 1}.00") for i in range(50)]
    first = post_batch(client, partner, purchases)
    second = post_batch(client, partner, purchases)
    assert first["accepted"] == 50 and second["duplicates"] == 50
    assert [r["purchase"] for r in first["results"]] == [r["purchase"] for r in second["results"]]
    assert [r["purchase"]["seq"] for r in first["results"]] == list(range(1, 51))
    assert stored(sessions, partner.id)[2] == 50


def test_unit_single_post_after_a_batch_is_its_duplicate(client, partner):
    [result] = post_batch(client, partner, [purchase_body("s-1")])["results"]
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body("s-1"))
    assert r.status_code == 202 and r.json() == result["purchase"]


def test_unit_batch_size_is_one_to_a_thousand(client, partner):
    for purchases in ([], [purchase_body(f"x-{i}") for i in range(1001)]):
        r = client.post("/v1/purchases/batch", headers=partner.headers, json={"purchases": purchases})
        assert_problem(r, "validation-error", instance="/v1/purchases/batch")
    body = post_batch(client, partner, [purchase_body(f"x-{i}") for i in range(1000)])
    assert body["accepted"] == 1000


def test_unit_batch_needs_a_key_and_an_active_partner(client, make_partner, sessions):
    r = client.post("/v1/purchases/batch", json={"purchases": [purchase_body()]})
    assert_problem(r, "unauthorized")
    suspended = make_partner(status="suspended")
    [result] = post_batch(client, suspended, [purchase_body()])["results"]
    assert result["problem"]["type"] == "/problems/partner-suspended"


def test_unit_a_suspension_takes_effect_at_once_despite_the_key_cache(client, partner, sessions):
    assert client.post("/v1/purchases", headers=partner.headers, json=purchase_body("k-1")).status_code == 202
    with sessions() as session:
        session.execute(update(Partner).where(Partner.id == partner.id).values(status="suspended"))
        session.commit()
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body("k-2"))
    assert_problem(r, "partner-suspended")


def test_unit_concurrent_posts_are_written_in_groups(app, make_partner, sessions, settings):
    """400 simultaneous single POSTs of two partners: all accepted, seqs 1..n per partner, and
    written in fewer transactions than purchases (the group commit)."""
    a, b = make_partner(), make_partner()
    writer = purchase_writer_for(settings)
    groups_before = writer.groups
    requests = [("POST", "/v1/purchases", (a, b)[i % 2].headers, purchase_body(f"g-{i}")) for i in range(400)]
    responses = burst(app, requests)
    assert_all(responses, 202)
    assert Counter(r.json()["seq"] for r in responses) == Counter(list(range(1, 201)) * 2)
    assert writer.groups - groups_before < 400
    for p in (a, b):
        purchases, items, next_seq = stored(sessions, p.id)
        assert [x.seq for x in purchases] == [x.seq for x in items] == list(range(1, 201)) and next_seq == 200


def test_unit_checksum_check_agrees_with_eth_utils() -> None:
    for _ in range(2000):
        good = to_checksum_address(os.urandom(20))
        for value in (good, good.lower(), "0x" + good[2:].swapcase(), good[:-1] + "g", good[:41], good + "0"):
            assert _is_checksum_address(value) == is_checksum_address(value), value


def test_unit_request_hash_is_the_canonical_json_of_the_model_dump() -> None:
    """The hand-built fields of ``request_hash`` equal the model's dump (hashes stored before
    the fast path must still match)."""
    from gateway.schemas import PurchaseCreate
    from gateway.services.idempotency import body_hash
    from gateway.services.purchases import request_hash
    from gateway.timeutil import as_utc

    for changes in (
        {},
        {"customer": {"ref": "card-1"}},
        {"amount": "42.500", "purchased_at": "2026-11-23T11:00:00+01:00"},
        {"purchased_at": None},  # left to the gateway: None in the hash
    ):
        body = PurchaseCreate.model_validate(purchase_body("h-1") | changes)
        fields = body.model_dump(mode="json")
        # lines and tenders (issue 16) are in the hash only when sent: a body without them hashes as before
        assert fields.pop("lines") is None and fields.pop("paid_with") is None
        fields["amount"] = format(body.amount.normalize(), "f")
        if body.purchased_at is not None:
            fields["purchased_at"] = as_utc(body.purchased_at).isoformat()
        assert request_hash(body) == body_hash(fields)
