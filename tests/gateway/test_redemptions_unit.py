"""Unit tests of the rewards catalogue and of redemption acceptance, without a chain or a broker.

Fakes (tests/fakes.py): the points contract is a ``FakePoints`` (balances and used nonces in
dicts, a fixed chain id and contract address, so EIP-712 signatures are real and recovered by
the real code); the Celery enqueue is a list of the redemption ids it was given (``enqueued``).
The app runs in process on a fresh SQLite store migrated by the real migrations (the fixtures of
tests/conftest.py). The worker's steps (burned,
fulfilled, failed) are driven through the service functions the task calls.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from eth_account import Account
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import custody, customer_records
from gateway.services import redemptions as service
from gateway.settings import GatewaySettings
from network.signatures import SEQUENTIAL_NONCE_BASE, RedeemConsent, recover_redeem_signer
from tests.fakes import CHAIN_ID, POINTS_ADDRESS, FakePoints
from tests.gateway.partners import PartnerKey
from tests.gateway.redemptions import (
    add_reward,
    customer_key,
    redemptions_of,
    run_concurrently,
    signed_body,
    stock_of,
)
from tests.problems import assert_problem

# ---------------------------------------------------------------------------------- catalogue


def test_catalogue_create_list_get_patch(client: TestClient, partner: PartnerKey) -> None:
    created = add_reward(client, partner, "COFFEE", points=10, stock=5)
    assert (created["sku"], created["points"], created["stock"], created["active"]) == ("COFFEE", 10, 5, True)
    add_reward(client, partner, "BAG", points=3, stock=None)
    listed = client.get("/v1/rewards", headers=partner.headers).json()["rewards"]
    assert [(r["sku"], r["stock"]) for r in listed] == [("BAG", None), ("COFFEE", 5)]
    r = client.patch("/v1/rewards/COFFEE", headers=partner.headers, json={"stock": 2, "name": "Espresso"})
    assert (r.status_code, r.json()["stock"], r.json()["name"], r.json()["active"]) == (200, 2, "Espresso", True)
    r = client.patch("/v1/rewards/COFFEE", headers=partner.headers, json={"active": False})
    assert (r.json()["stock"], r.json()["active"]) == (2, False)
    r = client.patch("/v1/rewards/COFFEE", headers=partner.headers, json={"stock": None})
    assert r.json()["stock"] is None
    assert client.get("/v1/rewards/COFFEE", headers=partner.headers).json()["name"] == "Espresso"


def test_catalogue_problems(client: TestClient, partner: PartnerKey) -> None:
    add_reward(client, partner, "COFFEE")
    assert_problem(
        client.post("/v1/rewards", headers=partner.headers, json={"sku": "COFFEE", "name": "x", "points": 1}),
        "sku-exists",
    )
    for bad in (
        {"sku": "A", "name": "x", "points": 0},
        {"sku": "A", "name": "x", "points": 10**9 + 1},
        {"sku": "A", "name": "x", "points": 1, "stock": -1},
        {"sku": "a b", "name": "x", "points": 1},
        {"sku": "A", "name": "", "points": 1},
        {"sku": "A", "name": "x", "points": 1, "price": 3},
    ):
        assert_problem(client.post("/v1/rewards", headers=partner.headers, json=bad), "validation-error")
    assert_problem(client.patch("/v1/rewards/COFFEE", headers=partner.headers, json={"stock": -2}), "validation-error")
    assert_problem(client.get("/v1/rewards/NOPE", headers=partner.headers), "not-found")
    assert_problem(client.get("/v1/rewards"), "unauthorized")
    assert_problem(client.post("/v1/redemptions", json={}), "unauthorized")


def test_partners_see_only_their_own_rewards_and_redemptions(
    client: TestClient, make_partner: Callable[..., PartnerKey], points: FakePoints
) -> None:
    a, b = make_partner(), make_partner()
    add_reward(client, a, "COFFEE", points=10)
    alice = customer_key("alice")
    points.balances[alice.address] = 100
    r = client.post("/v1/redemptions", headers=a.headers, json=signed_body(a, alice, "r-1", points=10))
    assert r.status_code == 202, r.text
    assert client.get("/v1/rewards", headers=b.headers).json() == {"rewards": []}
    assert_problem(client.get("/v1/rewards/COFFEE", headers=b.headers), "not-found")
    assert_problem(client.patch("/v1/rewards/COFFEE", headers=b.headers, json={"stock": 99}), "not-found")
    assert_problem(client.get("/v1/redemptions/r-1", headers=b.headers), "not-found")
    # B cannot redeem A's reward either (the sku is looked up in B's catalogue)
    assert_problem(
        client.post("/v1/redemptions", headers=b.headers, json=signed_body(b, alice, "r-2", points=10)), "not-found"
    )
    assert client.get("/v1/redemptions/r-1", headers=a.headers).status_code == 200


# ---------------------------------------------------------------------------------- acceptance


def test_a_signed_redemption_is_accepted_reserves_stock_and_is_enqueued_once(
    client: TestClient, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session], enqueued: list[int]
) -> None:
    add_reward(client, partner, "COFFEE", points=10, stock=5)
    alice = customer_key("alice")
    points.balances[alice.address] = 100
    body = signed_body(partner, alice, "r-1", points=20, quantity=2, nonce=7)
    r = client.post("/v1/redemptions", headers=partner.headers, json=body)
    assert r.status_code == 202, r.text
    first = r.json()
    assert (first["status"], first["points"], first["quantity"], first["nonce"]) == ("accepted", 20, 2, "7")
    assert first["ref"] == service.redeem_ref(CHAIN_ID, partner.id, "r-1")
    assert first["status_url"] == "https://gateway.unit.test/v1/redemptions/r-1"
    assert r.headers["location"] == "/v1/redemptions/r-1"
    assert first["voucher_code"] is None
    assert stock_of(sessions, partner.id, "COFFEE") == 3
    # the same id and body: the first answer, nothing reserved or enqueued again
    again = client.post("/v1/redemptions", headers=partner.headers, json=body)
    assert (again.status_code, again.json()) == (202, first)
    assert stock_of(sessions, partner.id, "COFFEE") == 3
    [stored] = redemptions_of(sessions, partner.id)
    assert enqueued == [stored.id]
    # the same id with another body
    other = signed_body(partner, alice, "r-1", points=10, quantity=1, nonce=8)
    assert_problem(client.post("/v1/redemptions", headers=partner.headers, json=other), "idempotency-conflict")
    assert client.get("/v1/redemptions/r-1", headers=partner.headers).json() == first


def test_forged_expired_and_replayed_consents_are_refused_before_anything_is_stored(
    client: TestClient, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session], enqueued: list[int]
) -> None:
    add_reward(client, partner, "COFFEE", points=10, stock=5)
    alice, mallory = customer_key("alice"), customer_key("mallory")
    points.balances[alice.address] = 100
    forged = signed_body(partner, alice, "r-forged", points=10, signer=mallory)
    assert_problem(client.post("/v1/redemptions", headers=partner.headers, json=forged), "invalid-signature")
    # signed for other points than the reward's: the signature no longer matches
    wrong_points = signed_body(partner, alice, "r-wrong", points=11)
    assert_problem(client.post("/v1/redemptions", headers=partner.headers, json=wrong_points), "invalid-signature")
    expired = signed_body(partner, alice, "r-expired", points=10, deadline=int(time.time()) - 1)
    assert_problem(client.post("/v1/redemptions", headers=partner.headers, json=expired), "signature-expired")
    assert redemptions_of(sessions, partner.id) == [] and enqueued == []
    assert stock_of(sessions, partner.id, "COFFEE") == 5
    ok = signed_body(partner, alice, "r-1", points=10, nonce=42)
    assert client.post("/v1/redemptions", headers=partner.headers, json=ok).status_code == 202
    replay = {**ok, "redemption_id": "r-replay"}  # the same signed consent under a new id
    assert_problem(client.post("/v1/redemptions", headers=partner.headers, json=replay), "nonce-used")
    points.used.add((alice.address, 43))  # used on chain (e.g. by another gateway)
    used_on_chain = signed_body(partner, alice, "r-3", points=10, nonce=43)
    assert_problem(client.post("/v1/redemptions", headers=partner.headers, json=used_on_chain), "nonce-used")
    assert len(redemptions_of(sessions, partner.id)) == 1 and stock_of(sessions, partner.id, "COFFEE") == 4


def test_balance_counts_redemptions_still_in_flight(
    client: TestClient, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    add_reward(client, partner, "COFFEE", points=6, stock=None)
    alice = customer_key("alice")
    points.balances[alice.address] = 10
    assert (
        client.post(
            "/v1/redemptions", headers=partner.headers, json=signed_body(partner, alice, "r-1", points=6, nonce=1)
        ).status_code
        == 202
    )
    body = assert_problem(
        client.post(
            "/v1/redemptions", headers=partner.headers, json=signed_body(partner, alice, "r-2", points=6, nonce=2)
        ),
        "insufficient-points",
    )
    assert "6 of them promised" in body["detail"]
    # once the first is burned (its points left the balance) and fails... here: it failed, points are free again
    [first] = redemptions_of(sessions, partner.id)
    with sessions() as session:
        service.mark_failed(session, first.id, "burn refused: test")
        session.commit()  # the caller commits (the burn protocol, with its transaction's outcome)
    assert (
        client.post(
            "/v1/redemptions", headers=partner.headers, json=signed_body(partner, alice, "r-2", points=6, nonce=2)
        ).status_code
        == 202
    )
    assert stock_of(sessions, partner.id, "COFFEE") is None  # unlimited stays unlimited


def test_stock_reward_state_partner_and_customer_problems(
    client: TestClient, make_partner: Callable[..., PartnerKey], points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    partner = make_partner()
    add_reward(client, partner, "COFFEE", points=10, stock=1)
    alice = customer_key("alice")
    points.balances[alice.address] = 1_000
    assert (
        client.post(
            "/v1/redemptions", headers=partner.headers, json=signed_body(partner, alice, "r-1", points=10, nonce=1)
        ).status_code
        == 202
    )
    assert_problem(
        client.post(
            "/v1/redemptions", headers=partner.headers, json=signed_body(partner, alice, "r-2", points=10, nonce=2)
        ),
        "out-of-stock",
    )
    client.patch("/v1/rewards/COFFEE", headers=partner.headers, json={"stock": 10, "active": False})
    assert_problem(
        client.post(
            "/v1/redemptions", headers=partner.headers, json=signed_body(partner, alice, "r-3", points=10, nonce=3)
        ),
        "reward-unavailable",
    )
    client.patch("/v1/rewards/COFFEE", headers=partner.headers, json={"active": True})
    no_consent = {"redemption_id": "r-4", "sku": "COFFEE", "customer": {"wallet": alice.address}}
    assert_problem(client.post("/v1/redemptions", headers=partner.headers, json=no_consent), "consent-required")
    unlinked = {**no_consent, "customer": {"ref": "nobody"}}
    assert_problem(client.post("/v1/redemptions", headers=partner.headers, json=unlinked), "customer-not-linked")
    for bad in (
        {**no_consent, "quantity": 0},
        {**no_consent, "quantity": 101},
        {**no_consent, "customer": {"wallet": alice.address.lower()}},
        {**signed_body(partner, alice, "r-5", points=10), "consent": {"nonce": 1, "deadline": 2, "signature": "0x12"}},
        {
            **signed_body(partner, alice, "r-5", points=10),
            "consent": {"nonce": -1, "deadline": 2, "signature": "0x" + "11" * 65},
        },
    ):
        assert_problem(client.post("/v1/redemptions", headers=partner.headers, json=bad), "validation-error")
    suspended = make_partner(status="suspended")
    add_reward(client, suspended, "COFFEE", points=10)
    assert_problem(
        client.post("/v1/redemptions", headers=suspended.headers, json=signed_body(suspended, alice, "r-1", points=10)),
        "partner-suspended",
    )
    assert stock_of(sessions, partner.id, "COFFEE") == 10


def test_customer_ref_and_custodial_wallet_consent_through_the_gateway(
    client: TestClient,
    partner: PartnerKey,
    points: FakePoints,
    sessions: sessionmaker[Session],
    settings: GatewaySettings,
) -> None:
    add_reward(client, partner, "COFFEE", points=10, stock=None)
    with sessions() as session:
        wallet = custody.create_custodial_wallet(session, settings, partner_id=partner.id)
        customer_records.link(session, partner_id=partner.id, ref="cust-9", wallet=wallet)
        session.commit()
    points.balances[wallet] = 10
    body = {"redemption_id": "r-c", "sku": "COFFEE", "customer": {"ref": "cust-9"}}
    r = client.post("/v1/redemptions", headers=partner.headers, json=body)
    assert r.status_code == 202, r.text
    assert (r.json()["custodial"], r.json()["customer_wallet"]) == (True, wallet)
    [stored] = redemptions_of(sessions, partner.id)
    consent = RedeemConsent(wallet, partner.id, 10, bytes.fromhex(stored.ref[2:]), int(stored.nonce), stored.deadline)
    signer = recover_redeem_signer(stored.signature, consent, chain_id=CHAIN_ID, points_address=POINTS_ADDRESS)
    assert signer == wallet  # the gateway signed with the custodial key
    assert int(stored.nonce) == SEQUENTIAL_NONCE_BASE  # the wallet's first nonce in order (issue 22)


def test_consent_endpoint_gives_typed_data_that_a_wallet_signs_as_is(
    client: TestClient, partner: PartnerKey, points: FakePoints
) -> None:
    add_reward(client, partner, "COFFEE", points=10, stock=3)
    alice = customer_key("alice")
    points.balances[alice.address] = 30
    ask = {"redemption_id": "r-1", "sku": "COFFEE", "quantity": 2, "customer": {"wallet": alice.address}}
    r = client.post("/v1/redemptions/consent", headers=partner.headers, json=ask)
    assert r.status_code == 200, r.text
    prepared = r.json()
    typed = prepared["typed_data"]
    assert typed["domain"] == {
        "name": "Coalition Points",
        "version": "1",
        "chainId": CHAIN_ID,
        "verifyingContract": POINTS_ADDRESS,
    }
    assert typed["primaryType"] == "Redeem" and typed["message"]["points"] == "20"
    assert prepared["deadline"] > time.time()
    signature = Account.sign_typed_data(alice.key, full_message=typed).signature  # what eth_signTypedData_v4 does
    body = {
        **ask,
        "consent": {
            "nonce": int(prepared["nonce"]),
            "deadline": prepared["deadline"],
            "signature": "0x" + bytes(signature).hex(),
        },
    }
    r = client.post("/v1/redemptions", headers=partner.headers, json=body)
    assert (r.status_code, r.json()["points"]) == (202, 20), r.text
    assert_problem(
        client.post("/v1/redemptions/consent", headers=partner.headers, json={**ask, "sku": "NOPE"}), "not-found"
    )


def test_consents_prepared_at_once_take_the_wallets_next_nonces_in_order(
    client: TestClient, partner: PartnerKey, points: FakePoints
) -> None:
    """Issue 22: the gateway hands out a wallet's nonces in order (consecutive consents share a word of
    the contract's nonce bitmap), each prepared consent its own, so that a customer may sign several
    at once and redeem them in any order; a consent the client numbered itself is still accepted."""
    add_reward(client, partner, "COFFEE", points=10, stock=5)
    alice, bob = customer_key("alice"), customer_key("bob")
    points.balances[alice.address] = points.balances[bob.address] = 100

    def prepare(key, redemption_id: str) -> tuple[dict, dict]:
        ask = {"redemption_id": redemption_id, "sku": "COFFEE", "quantity": 1, "customer": {"wallet": key.address}}
        r = client.post("/v1/redemptions/consent", headers=partner.headers, json=ask)
        assert r.status_code == 200, r.text
        return ask, r.json()

    prepared = [prepare(alice, f"seq-{i}") for i in range(3)]
    assert [int(p["nonce"]) for _, p in prepared] == [SEQUENTIAL_NONCE_BASE + i for i in range(3)]
    assert int(prepare(bob, "seq-bob")[1]["nonce"]) == SEQUENTIAL_NONCE_BASE  # a counter per wallet
    for ask, p in reversed(prepared):  # signed at once, redeemed in any order
        signature = Account.sign_typed_data(alice.key, full_message=p["typed_data"]).signature
        consent = {"nonce": int(p["nonce"]), "deadline": p["deadline"], "signature": "0x" + bytes(signature).hex()}
        r = client.post("/v1/redemptions", headers=partner.headers, json={**ask, "consent": consent})
        assert r.status_code == 202, r.text
    own = signed_body(partner, alice, "own-nonce", points=10, nonce=77)  # a client's own (random) nonce
    assert client.post("/v1/redemptions", headers=partner.headers, json=own).status_code == 202


# ---------------------------------------------------------------------------------- the worker's steps


def test_fulfilment_happens_once_and_failure_releases_stock_once(
    client: TestClient, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    add_reward(client, partner, "COFFEE", points=10, stock=2)
    alice = customer_key("alice")
    points.balances[alice.address] = 100
    for i in (1, 2):
        body = signed_body(partner, alice, f"r-{i}", points=10, nonce=i)
        assert client.post("/v1/redemptions", headers=partner.headers, json=body).status_code == 202
    first, second = sorted(redemptions_of(sessions, partner.id), key=lambda r: r.id)
    assert stock_of(sessions, partner.id, "COFFEE") == 0
    with sessions() as session:
        assert service.mark_fulfilled(session, first.id) == []  # not burned yet: nothing happens
        assert service.mark_burned(session, first.id, tx_hash="0x" + "ab" * 32, block_number=7)
        assert not service.mark_burned(session, first.id, tx_hash="0x" + "cd" * 32, block_number=8)
        service.mark_fulfilled(session, first.id)
        service.mark_fulfilled(session, first.id)  # a second delivery of the task
        service.mark_failed(session, first.id, "too late: it is burned")  # never after the burn
        service.mark_failed(session, second.id, "burn refused: test")
        service.mark_failed(session, second.id, "burn refused: again")
        session.commit()
    got = client.get("/v1/redemptions/r-1", headers=partner.headers).json()
    assert (got["status"], got["tx_hash"], got["block_number"]) == ("fulfilled", "0x" + "ab" * 32, 7)
    assert got["voucher_code"] and len(got["voucher_code"]) >= 16
    assert client.get("/v1/redemptions/r-1", headers=partner.headers).json()["voucher_code"] == got["voucher_code"]
    failed = client.get("/v1/redemptions/r-2", headers=partner.headers).json()
    assert (failed["status"], failed["failure_reason"], failed["voucher_code"]) == (
        "failed",
        "burn refused: test",
        None,
    )
    assert stock_of(sessions, partner.id, "COFFEE") == 1  # the failed one's unit, given back once
    assert failed["failure"]["type"] == "/problems/transaction-refused"  # a reason no rule knows (issue 14)
    assert got["failure"] is None


# ---------------------------------------------------------------------------------- concurrency


def test_concurrent_redemptions_never_oversell(
    app: FastAPI, client: TestClient, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    """200 redemptions at once (distinct customers) of a reward with 50 in stock: exactly 50."""
    add_reward(client, partner, "TICKET", points=5, stock=50)
    customers = [customer_key(f"crowd-{i}") for i in range(200)]
    for c in customers:
        points.balances[c.address] = 5
    requests = [
        ("/v1/redemptions", partner.headers, signed_body(partner, c, f"crowd-{i}", points=5, sku="TICKET"))
        for i, c in enumerate(customers)
    ]
    responses = run_concurrently(app, requests)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {202: 50, 409: 150}, [r.text for r in responses if r.status_code not in (202, 409)][:3]
    assert {r.json()["type"] for r in responses if r.status_code == 409} == {"/problems/out-of-stock"}
    assert stock_of(sessions, partner.id, "TICKET") == 0
    stored = redemptions_of(sessions, partner.id)
    assert len(stored) == 50 and sum(r.quantity for r in stored) == 50
