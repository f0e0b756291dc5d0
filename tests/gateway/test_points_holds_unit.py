"""Unit tests of paying with points at the till: holds authorised, refused, captured, released and
expired, in process (tests/fakes.py FakePoints for the points contract, a list for the Celery
enqueue, a fresh SQLite store migrated by the real migrations). EIP-712 signatures are real."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import ChainUnavailable
from gateway.routes.refunds import refund_deadlines
from gateway.schemas_points import HoldCreate
from gateway.services import points_holds as service
from gateway.services.redemptions import BALANCE_OF, ChainPointsView, redeem_ref
from gateway.settings import GatewaySettings
from network.restores import ready_restores, refund_ref
from network.signatures import RedeemConsent, recover_redeem_signer, sign_redeem
from network.store import (
    OutboxPurchase,
    OutboxRestore,
    Partner,
    PointsGiveBack,
    PointsHold,
    PurchaseStatus,
    Redemption,
    Refund,
    ReversalStatus,
)
from tests.fakes import CHAIN_ID, POINTS_ADDRESS, FakePoints
from tests.gateway.partners import PartnerKey
from tests.gateway.purchases import purchase_body
from tests.gateway.redemptions import add_reward, customer_key, run_concurrently, signed_body
from tests.problems import assert_problem

# the test partner's point value (its reimbursement rate): 8,000 base units, 0.008 cUSD a point;
# 5.00 cUSD is 625 points


@pytest.fixture
def settings(settings: GatewaySettings) -> GatewaySettings:
    return settings.model_copy(update={"custodial_daily_points_limit": 1_000})


def consent(
    partner: PartnerKey,
    customer: LocalAccount,
    hold_id: str,
    points: int,
    *,
    nonce: int = 1,
    signer: Any = None,
    deadline_s: int = 900,
) -> dict[str, Any]:
    deadline = int(time.time()) + deadline_s
    ref = bytes.fromhex(redeem_ref(CHAIN_ID, partner.id, service.redemption_id_of(hold_id))[2:])
    signed = RedeemConsent(customer.address, partner.id, points, ref, nonce, deadline)
    signature = sign_redeem((signer or customer).key, signed, chain_id=CHAIN_ID, points_address=POINTS_ADDRESS)
    return {"nonce": nonce, "deadline": deadline, "signature": "0x" + signature.hex()}


def hold_body(partner: PartnerKey, customer: LocalAccount, hold_id: str, points: int, **extra: Any) -> dict[str, Any]:
    """A hold of ``points`` points, signed for by the customer (nonce: a hash of the hold id)."""
    nonce = extra.pop("nonce", abs(hash(hold_id)) % 10**9)
    signer, deadline_s = extra.pop("signer", None), extra.pop("deadline_s", 900)
    return {
        "hold_id": hold_id,
        "customer": {"wallet": customer.address},
        "points": points,
        "consent": consent(partner, customer, hold_id, points, nonce=nonce, signer=signer, deadline_s=deadline_s),
        **extra,
    }


def authorise(client: TestClient, partner: PartnerKey, body: dict[str, Any]) -> Any:
    return client.post("/v1/points-holds", headers=partner.headers, json=body)


def holds(sessions: sessionmaker[Session]) -> list[PointsHold]:
    with sessions() as session:
        return list(session.scalars(select(PointsHold).order_by(PointsHold.id)))


def test_an_amount_is_held_at_the_partners_point_value_and_answered_again_for_the_same_body(
    client: TestClient, partner: PartnerKey, points: FakePoints
) -> None:
    alice = customer_key("alice")
    points.balances[alice.address] = 1_000
    body = {
        "hold_id": "till-1",
        "customer": {"wallet": alice.address},
        "amount": "5.00",
        "consent": consent(partner, alice, "till-1", 625),
    }
    r = authorise(client, partner, body)
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["status"], first["points"], first["money_value"], first["point_value"]) == (
        "authorised",
        625,
        "5.000000",
        "0.008000",
    )
    assert first["status_url"].endswith("/v1/points-holds/till-1")
    again = authorise(client, partner, body)
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (200, first, "true")
    assert_problem(authorise(client, partner, {**body, "amount": "4.00"}), "idempotency-conflict")


def test_refusals_are_problems(client: TestClient, partner: PartnerKey, points: FakePoints) -> None:
    alice, mallory = customer_key("alice"), customer_key("mallory")
    points.balances[alice.address] = 100
    assert_problem(authorise(client, partner, hold_body(partner, alice, "h-1", 101)), "insufficient-points")
    assert_problem(
        authorise(client, partner, hold_body(partner, alice, "h-2", 50, signer=mallory)), "invalid-signature"
    )
    # the consent signs 50 points, the hold asks 60
    body = hold_body(partner, alice, "h-3", 50)
    assert_problem(authorise(client, partner, {**body, "points": 60}), "invalid-signature")
    no_consent = {"hold_id": "h-4", "customer": {"wallet": alice.address}, "points": 10}
    assert_problem(authorise(client, partner, no_consent), "consent-required")
    tiny = {"hold_id": "h-5", "customer": {"wallet": alice.address}, "amount": "0.001", "consent": body["consent"]}
    assert_problem(authorise(client, partner, tiny), "points-amount-too-small")
    assert authorise(client, partner, hold_body(partner, alice, "h-6", 10, nonce=9)).status_code == 201
    assert_problem(authorise(client, partner, hold_body(partner, alice, "h-7", 10, nonce=9)), "nonce-used")
    points.used.add((alice.address, 10))
    assert_problem(authorise(client, partner, hold_body(partner, alice, "h-8", 10, nonce=10)), "nonce-used")
    assert_problem(authorise(client, partner, {**no_consent, "customer": {"ref": "unknown"}}), "customer-not-linked")
    assert_problem(client.post("/v1/points-holds", json=no_consent), "unauthorized")


def test_held_points_cannot_be_spent_twice_by_holds_or_redemptions(
    client: TestClient, partner: PartnerKey, points: FakePoints
) -> None:
    alice = customer_key("alice")
    points.balances[alice.address] = 1_000
    add_reward(client, partner, "COFFEE", points=300, stock=None)
    assert authorise(client, partner, hold_body(partner, alice, "h-1", 600)).status_code == 201
    # 400 free: a hold of 500 is refused, a redemption of 300 accepted, then 100 free
    assert_problem(authorise(client, partner, hold_body(partner, alice, "h-2", 500)), "insufficient-points")
    r = client.post("/v1/redemptions", headers=partner.headers, json=signed_body(partner, alice, "r-1", points=300))
    assert r.status_code == 202, r.text
    assert_problem(
        client.post(
            "/v1/redemptions", headers=partner.headers, json=signed_body(partner, alice, "r-2", points=300, nonce=2)
        ),
        "insufficient-points",
    )
    assert_problem(authorise(client, partner, hold_body(partner, alice, "h-3", 101)), "insufficient-points")
    assert authorise(client, partner, hold_body(partner, alice, "h-4", 100)).status_code == 201
    # released: its 600 points are free again
    r = client.post("/v1/points-holds/h-1/release", headers=partner.headers)
    assert (r.status_code, r.json()["status"], r.json()["release_reason"]) == (200, "released", "partner")
    assert authorise(client, partner, hold_body(partner, alice, "h-5", 600)).status_code == 201


def test_concurrent_holds_of_one_wallet_never_hold_more_than_its_balance(
    app: FastAPI, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    alice = customer_key("alice")
    points.balances[alice.address] = 1_000
    requests = [
        ("/v1/points-holds", partner.headers, hold_body(partner, alice, f"c-{i}", 300, nonce=100 + i))
        for i in range(12)
    ]
    answers = run_concurrently(app, requests)
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 3 + [422] * 9, [r.text for r in answers if r.status_code not in (201, 422)]
    assert sum(h.points for h in holds(sessions) if h.status == "authorised") == 900


def test_a_capture_burns_as_a_redemption_at_the_partner_once(
    client: TestClient, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session], enqueued: list[int]
) -> None:
    alice = customer_key("alice")
    points.balances[alice.address] = 1_000
    body = hold_body(partner, alice, "h-1", 625)
    assert authorise(client, partner, body).status_code == 201
    r = client.post("/v1/points-holds/h-1/capture", headers=partner.headers, json={"purchase_id": "order-1"})
    assert r.status_code == 202, r.text
    captured = r.json()
    assert (captured["status"], captured["captured_points"], captured["captured_value"]) == (
        "captured",
        625,
        "5.000000",
    )
    assert (captured["redemption_id"], captured["redemption_status"]) == ("hold:h-1", "accepted")
    with sessions() as session:
        [redemption] = session.scalars(select(Redemption)).all()
    assert (redemption.points, redemption.reward_id, redemption.sku) == (625, None, service.POINTS_PAYMENT_SKU)
    assert redemption.signature.hex() == body["consent"]["signature"][2:]  # the customer's own consent is relayed
    assert redemption.ref == redeem_ref(CHAIN_ID, partner.id, "hold:h-1")
    assert enqueued == [redemption.id]
    again = client.post("/v1/points-holds/h-1/capture", headers=partner.headers, json={"purchase_id": "order-1"})
    assert (again.status_code, again.json()) == (202, captured)
    assert enqueued == [redemption.id]
    assert_problem(
        client.post("/v1/points-holds/h-1/capture", headers=partner.headers, json={"purchase_id": "order-2"}),
        "hold-not-open",
    )
    assert_problem(client.post("/v1/points-holds/h-1/release", headers=partner.headers), "hold-not-open")
    # the redemption's status page shows it like any other
    assert client.get("/v1/redemptions/hold:h-1", headers=partner.headers).json()["points"] == 625


def test_a_partial_capture_of_a_signed_hold_needs_a_consent_for_the_part(
    client: TestClient, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    alice = customer_key("alice")
    points.balances[alice.address] = 1_000
    assert authorise(client, partner, hold_body(partner, alice, "h-1", 625)).status_code == 201
    url = "/v1/points-holds/h-1/capture"
    assert_problem(
        client.post(url, headers=partner.headers, json={"purchase_id": "o-1", "points": 700}), "capture-exceeds-hold"
    )
    assert_problem(
        client.post(url, headers=partner.headers, json={"purchase_id": "o-1", "points": 250}), "consent-required"
    )
    part = {"purchase_id": "o-1", "amount": "2.00", "consent": consent(partner, alice, "h-1", 250, nonce=77)}
    r = client.post(url, headers=partner.headers, json=part)
    assert (r.status_code, r.json()["captured_points"]) == (202, 250), r.text
    # the uncaptured rest is free again: 1,000 − 250 in flight
    assert authorise(client, partner, hold_body(partner, alice, "h-2", 750)).status_code == 201


def test_a_custodial_customer_pays_by_its_custodians_ref_and_the_gateway_signs_the_capture(
    client: TestClient, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    r = client.post("/v1/customers/till-cust/custodial-wallet", headers=partner.headers)
    assert r.status_code == 201, r.text
    wallet = r.json()["wallet"]
    points.balances[wallet] = 5_000
    by_ref = {"hold_id": "h-1", "customer": {"ref": "till-cust"}, "points": 400}
    assert authorise(client, partner, by_ref).status_code == 201
    assert_problem(
        authorise(client, partner, {**by_ref, "hold_id": "h-2", "customer": {"wallet": wallet}}), "consent-required"
    )
    # the daily limit (1,000 here) counts open holds, for holds and for redemptions
    assert_problem(authorise(client, partner, {**by_ref, "hold_id": "h-3", "points": 601}), "custodial-limit-reached")
    add_reward(client, partner, "TICKET", points=601, stock=None)
    redeem = {"redemption_id": "r-1", "sku": "TICKET", "customer": {"ref": "till-cust"}}
    assert_problem(client.post("/v1/redemptions", headers=partner.headers, json=redeem), "custodial-limit-reached")
    r = client.post("/v1/points-holds/h-1/capture", headers=partner.headers, json={"purchase_id": "o-1", "points": 300})
    assert r.status_code == 202, r.text
    with sessions() as session:
        [redemption] = session.scalars(select(Redemption)).all()
        deadline, nonce = redemption.deadline, int(redemption.nonce)
        signature = redemption.signature
    ref = bytes.fromhex(redeem_ref(CHAIN_ID, partner.id, "hold:h-1")[2:])
    signed = RedeemConsent(wallet, partner.id, 300, ref, nonce, deadline)
    assert recover_redeem_signer(signature, signed, chain_id=CHAIN_ID, points_address=POINTS_ADDRESS) == wallet


def test_an_expired_hold_holds_nothing_cannot_be_captured_and_is_released_by_beat(
    client: TestClient,
    partner: PartnerKey,
    points: FakePoints,
    sessions: sessionmaker[Session],
    settings: GatewaySettings,
) -> None:
    alice = customer_key("alice")
    points.balances[alice.address] = 1_000
    t0 = datetime.now(UTC)
    later = t0 + timedelta(seconds=settings.points_hold_ttl_s)  # the hold's expiry instant
    with sessions() as session:
        partner_row = session.get(Partner, partner.id)
        assert partner_row is not None
        body = HoldCreate.model_validate(hold_body(partner, alice, "h-1", 800, deadline_s=3_600))
        service.authorise(session, partner=partner_row, body=body, view=points, settings=settings, now=t0)
        second = HoldCreate.model_validate(hold_body(partner, alice, "h-2", 800, deadline_s=3_600))
        with pytest.raises(Exception, match="held at tills"):
            service.authorise(session, partner=partner_row, body=second, view=points, settings=settings, now=t0)
        # at its expiry it holds nothing: the same hold now fits
        service.authorise(session, partner=partner_row, body=second, view=points, settings=settings, now=later)
        assert service.expire_due(session, now=later - timedelta(seconds=1)) == 0
        assert service.expire_due(session, now=later) == 1
        assert service.expire_due(session, now=later) == 0
    first = client.get("/v1/points-holds/h-1", headers=partner.headers).json()
    assert (first["status"], first["release_reason"]) == ("released", "expired")
    assert_problem(
        client.post("/v1/points-holds/h-1/capture", headers=partner.headers, json={"purchase_id": "o-1"}),
        "hold-not-open",
    )


def test_partners_see_only_their_own_holds(client: TestClient, make_partner: Any, points: FakePoints) -> None:
    a, b = make_partner(), make_partner()
    alice = customer_key("alice")
    points.balances[alice.address] = 1_000
    assert authorise(client, a, hold_body(a, alice, "h-1", 100)).status_code == 201
    assert_problem(client.get("/v1/points-holds/h-1", headers=b.headers), "not-found")
    assert_problem(client.post("/v1/points-holds/h-1/release", headers=b.headers), "not-found")
    assert_problem(
        client.post("/v1/points-holds/h-1/capture", headers=b.headers, json={"purchase_id": "o"}), "not-found"
    )


def test_refunds_of_a_purchase_paid_partly_with_points_give_them_back_in_proportion(
    app: FastAPI, client: TestClient, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    app.dependency_overrides[refund_deadlines] = lambda: lambda batch_id: 2**40
    alice = customer_key("alice")
    points.balances[alice.address] = 1_000
    assert authorise(client, partner, hold_body(partner, alice, "h-1", 625)).status_code == 201
    r = client.post("/v1/points-holds/h-1/capture", headers=partner.headers, json={"purchase_id": "order-1"})
    assert r.status_code == 202, r.text
    body = purchase_body("order-1", customer={"wallet": alice.address}, amount="40.00")
    assert client.post("/v1/purchases", headers=partner.headers, json=body).status_code == 202  # 60 points
    with sessions() as session:
        session.execute(update(OutboxPurchase).values(status=PurchaseStatus.MINTED, batch_id=7))
        session.commit()

    url = "/v1/purchases/order-1/refunds"
    assert client.post(url, headers=partner.headers, json={"refund_id": "r-1", "amount": "10.00"}).status_code == 202
    assert client.post(url, headers=partner.headers, json={"refund_id": "r-2", "amount": "10.00"}).status_code == 202
    assert client.post(url, headers=partner.headers, json={"refund_id": "r-3"}).status_code == 202  # the rest
    with sessions() as session:
        backs = session.scalars(select(PointsGiveBack).order_by(PointsGiveBack.id)).all()
        restores = session.scalars(select(OutboxRestore).order_by(OutboxRestore.id)).all()
        capture = session.scalar(select(Redemption).where(Redemption.redemption_id == "hold:h-1"))
        refund_ids = {f.id: f.refund_id for f in session.scalars(select(Refund))}
        earns = session.scalar(select(func.count()).select_from(OutboxPurchase))
    assert [(refund_ids[b.refund_pk], b.points, b.seq) for b in backs] == [
        ("r-1", 156, None),
        ("r-2", 156, None),
        ("r-3", 313, None),
    ]
    # each is a restore of the capture by the partner (not an earn: the outbox has the purchase only),
    # to the customer, naming its refund
    assert earns == 1
    assert capture is not None and capture.sku == "points-payment"
    assert [(r.give_back_id, r.customer, r.ref, r.points, r.refund_ref) for r in restores] == [
        (b.id, alice.address, capture.ref, b.points, refund_ref(partner.id, refund_ids[b.refund_pk])) for b in backs
    ]
    hold = client.get("/v1/points-holds/h-1", headers=partner.headers).json()
    assert hold["given_back_points"] == 625
    # a refund of a purchase paid without points gives nothing back
    plain = purchase_body("order-2", customer={"wallet": alice.address}, amount="10.00")
    assert client.post("/v1/purchases", headers=partner.headers, json=plain).status_code == 202
    with sessions() as session:
        session.execute(update(OutboxPurchase).values(status=PurchaseStatus.MINTED, batch_id=7))
        session.commit()
    assert (
        client.post("/v1/purchases/order-2/refunds", headers=partner.headers, json={"refund_id": "r-4"}).status_code
        == 202
    )
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(PointsGiveBack)) == 3


def test_a_give_back_is_split_over_the_purchases_captures_within_what_each_burned(
    app: FastAPI, client: TestClient, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    app.dependency_overrides[refund_deadlines] = lambda: lambda batch_id: 2**40
    alice = customer_key("alice")
    points.balances[alice.address] = 1_000
    for hold_id, held in (("h-1", 100), ("h-2", 300)):
        assert authorise(client, partner, hold_body(partner, alice, hold_id, held)).status_code == 201
        r = client.post(f"/v1/points-holds/{hold_id}/capture", headers=partner.headers, json={"purchase_id": "o-1"})
        assert r.status_code == 202, r.text
    body = purchase_body("o-1", customer={"wallet": alice.address}, amount="40.00")
    assert client.post("/v1/purchases", headers=partner.headers, json=body).status_code == 202
    with sessions() as session:
        session.execute(update(OutboxPurchase).values(status=PurchaseStatus.MINTED, batch_id=7))
        session.commit()
    url = "/v1/purchases/o-1/refunds"
    assert client.post(url, headers=partner.headers, json={"refund_id": "r-1", "amount": "20.00"}).status_code == 202
    assert client.post(url, headers=partner.headers, json={"refund_id": "r-2"}).status_code == 202
    with sessions() as session:
        refs = {r.id: r.redemption_id for r in session.scalars(select(Redemption))}
        restores = [(refs[r.redemption_pk], r.points) for r in session.scalars(select(OutboxRestore))]
    # 400 points paid: half (200) given back first, the oldest capture (100) first; then the rest
    assert restores == [("hold:h-1", 100), ("hold:h-2", 100), ("hold:h-2", 200)]
    # the partner's sender takes a restore once its capture is burned; a failed burn fails it
    with sessions() as session:
        assert ready_restores(session, partner.id, 10) == []  # the captures are not burned yet
        session.execute(update(Redemption).where(Redemption.redemption_id == "hold:h-1").values(status="burned"))
        session.execute(update(Redemption).where(Redemption.redemption_id == "hold:h-2").values(status="failed"))
        assert [r.points for r in ready_restores(session, partner.id, 10)] == [100]
        session.commit()
        statuses = [(r.status, r.error) for r in session.scalars(select(OutboxRestore).order_by(OutboxRestore.id))]
    failed = (ReversalStatus.FAILED, "the capture's burn failed: nothing to give back")
    assert statuses == [(ReversalStatus.QUEUED, None), failed, failed]


def test_a_burn_marked_between_the_balance_read_and_the_check_still_counts(
    client: TestClient, partner: PartnerKey, points: FakePoints, sessions: sessionmaker[Session], monkeypatch: Any
) -> None:
    """The balance is read before the wallet's lock: a redemption whose burn is mined (and marked
    burned) right after that read is still in the balance read, so it must count as promised."""
    alice = customer_key("alice")
    points.balances[alice.address] = 1_000
    add_reward(client, partner, "TICKET", points=600, stock=None)
    r = client.post(
        "/v1/redemptions", headers=partner.headers, json=signed_body(partner, alice, "r-1", points=600, sku="TICKET")
    )
    assert r.status_code == 202, r.text

    def balance_then_burn(wallet: str) -> int:
        with sessions() as session:  # the worker marks the burn just after the gateway's read
            session.execute(update(Redemption).values(status="burned", burned_at=datetime.now(UTC), block_number=9))
            session.commit()
        return 1_000  # the balance before the burn

    monkeypatch.setattr(points, "balance_of", balance_then_burn)
    assert_problem(authorise(client, partner, hold_body(partner, alice, "h-1", 500)), "insufficient-points")
    assert authorise(client, partner, hold_body(partner, alice, "h-2", 400)).status_code == 201


def test_an_authorisation_reads_the_balance_and_the_nonce_on_chain_in_one_round_trip(
    client: TestClient, partner: PartnerKey, points: FakePoints, monkeypatch: Any
) -> None:
    """The till's answer waits on one batch of ``eth_call`` (balance and nonce), not two requests;
    a nonce used on chain is still refused, and the balance read still bounds the hold."""
    alice = customer_key("alice")
    points.balances[alice.address] = 100
    reads: list[tuple[str, int]] = []

    def one_read(wallet: str, nonce: int) -> tuple[int, bool]:
        reads.append((wallet, nonce))
        return points.balances.get(wallet, 0), (wallet, nonce) in points.used

    def separate(*args: Any) -> Any:
        raise AssertionError("a second round trip to the chain")

    monkeypatch.setattr(points, "balance_and_nonce_used", one_read)
    monkeypatch.setattr(points, "nonce_used", separate)
    assert authorise(client, partner, hold_body(partner, alice, "h-1", 60, nonce=5)).status_code == 201
    assert reads == [(alice.address, 5)]
    assert_problem(authorise(client, partner, hold_body(partner, alice, "h-2", 41, nonce=6)), "insufficient-points")
    points.used.add((alice.address, 7))
    assert_problem(authorise(client, partner, hold_body(partner, alice, "h-3", 10, nonce=7)), "nonce-used")
    assert len(reads) == 3


class _PointsNode(BaseHTTPRequestHandler):
    """The points contract's two views over JSON-RPC: every balance is 1,234; nonce 7 is used;
    ``broken``: every call answers a JSON-RPC error."""

    protocol_version = "HTTP/1.1"
    broken = False

    def do_POST(self) -> None:
        replies = []
        for call in json.loads(self.rfile.read(int(self.headers["Content-Length"]))):
            data = bytes.fromhex(call["params"][0]["data"][2:])
            if self.broken:
                replies.append({"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32000, "message": "no"}})
                continue
            word = 1_234 if data[:4] == BALANCE_OF else int(int.from_bytes(data[36:68], "big") == 7)
            replies.append({"jsonrpc": "2.0", "id": call["id"], "result": "0x" + word.to_bytes(32, "big").hex()})
        body = json.dumps(replies).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_chain_view_batches_the_balance_and_the_nonce_and_a_node_error_is_chain_unavailable(
    settings: GatewaySettings,
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PointsNode)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        provider = SimpleNamespace(endpoint_uri=f"http://127.0.0.1:{server.server_port}")
        chain: Any = SimpleNamespace(
            w3=SimpleNamespace(provider=provider),
            contracts=SimpleNamespace(points=SimpleNamespace(address=POINTS_ADDRESS)),
        )
        view = ChainPointsView(chain, settings)
        wallet = customer_key("alice").address
        assert view.balance_and_nonce_used(wallet, 7) == (1_234, True)
        assert view.balance_and_nonce_used(wallet, 8) == (1_234, False)
        assert (view.balance_of(wallet), view.nonce_used(wallet, 7), view.nonce_used(wallet, 2**256 - 1)) == (
            1_234,
            True,
            False,
        )
        _PointsNode.broken = True
        with pytest.raises(ChainUnavailable, match="eth_call"):
            view.balance_and_nonce_used(wallet, 7)
    finally:
        _PointsNode.broken = False
        server.shutdown()
        server.server_close()
