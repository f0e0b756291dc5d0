"""Unit tests of refunds: the points a refund claws back, its rules and idempotency over HTTP,
partner scoping, the reversal it queues, and the ``reverse`` call built for it.

In process, without a chain (a fake one that fails if used): purchases are posted over the API
and marked minted in the store by the test, standing for the sender; the on-chain path is
tests/e2e/test_refunds_webhooks_e2e.py.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import RefundExceedsPurchase
from gateway.routes.refunds import refund_deadlines
from gateway.services.refunds import refund_points
from network.contracts import DecodedLog
from network.purchases import encode_purchase, leaf, merkle_root
from network.reversals import REVERSE_SELECTOR, ReversalNotReady, reversal_calldata
from network.store import ChainTransaction, OutboxPurchase, OutboxReversal, PurchaseStatus, ReversalStatus
from tests.gateway.partners import PartnerKey
from tests.gateway.purchases import WALLET, purchase_body
from tests.problems import assert_problem


def purchase_row(points: int = 63, amount: str = "42.50", ppu: str = "1.5") -> Any:
    return SimpleNamespace(
        points=points, amount=Decimal(amount), currency="EUR", purchase_id="p", rule={"points_per_unit": ppu}
    )


# ------------------------------------------------------------------ the points of a refund


@pytest.mark.parametrize(
    ("amount", "refunded", "points"),
    [
        (None, (0, Decimal(0)), 63),  # full
        (None, (20, Decimal("13.50")), 43),  # the rest
        (Decimal("10.01"), (0, Decimal(0)), 15),  # 15.015 rounded down
        (Decimal("29.00"), (20, Decimal("13.50")), 43),  # the rest of the amount takes every point left
        (Decimal("0.67"), (0, Decimal(0)), 1),
    ],
)
def test_refund_points(amount: Decimal | None, refunded: tuple[int, Decimal], points: int) -> None:
    assert refund_points(purchase_row(), amount, refunded) == points


def test_a_partial_refund_of_a_purchase_earned_by_rules_claws_back_its_points_in_proportion() -> None:
    purchase = purchase_row(points=100, amount="40.00")
    purchase.rule = {"points_per_unit": "1", "ruleset_version": 2}  # 40 base points and 60 of bonuses
    assert refund_points(purchase, Decimal("10.00"), (0, Decimal(0))) == 25
    assert refund_points(purchase, Decimal("10.01"), (0, Decimal(0))) == 25  # 25.025 rounded down
    assert refund_points(purchase, Decimal("30.00"), (25, Decimal("10.00"))) == 75  # the rest: every point left


@pytest.mark.parametrize(
    ("amount", "refunded"),
    [
        (None, (63, None)),  # fully refunded
        (Decimal("1"), (63, None)),
        (Decimal("42.51"), (0, Decimal(0))),  # more than the purchase
        (Decimal("30"), (20, Decimal("13.50"))),  # more than its rest
        (Decimal("0.50"), (0, Decimal(0))),  # worth no point
    ],
)
def test_refund_points_refused(amount: Decimal | None, refunded: tuple[int, Decimal | None]) -> None:
    with pytest.raises(RefundExceedsPurchase):
        refund_points(purchase_row(), amount, refunded)


# ------------------------------------------------------------------ over HTTP

OPEN_UNTIL = 2**40  # a refund deadline far in the future (the chain's refundDeadlineOf stands in)


@pytest.fixture(autouse=True)
def refund_windows(app: FastAPI) -> dict[int, int]:
    """The batches' refund deadlines, standing for ``CoalitionPoints.refundDeadlineOf``."""
    deadlines: dict[int, int] = {}
    app.dependency_overrides[refund_deadlines] = lambda: lambda batch_id: deadlines.get(batch_id, OPEN_UNTIL)
    return deadlines


def confirm(
    sessions: sessionmaker[Session], partner_id: int, seq: int, status: PurchaseStatus = PurchaseStatus.MINTED
) -> None:
    """Stands for the sender: the purchase's batch is confirmed."""
    with sessions() as s:
        s.execute(
            update(OutboxPurchase)
            .where(OutboxPurchase.partner_id == partner_id, OutboxPurchase.seq == seq)
            .values(status=status, batch_id=7)
        )
        s.commit()


def refund(client: TestClient, who: PartnerKey, purchase_id: str, refund_id: str, **body: Any) -> Any:
    return client.post(
        f"/v1/purchases/{purchase_id}/refunds", headers=who.headers, json={"refund_id": refund_id, **body}
    )


def reversals(sessions: sessionmaker[Session], partner_id: int) -> list[tuple[int, int]]:
    with sessions() as s:
        rows = s.scalars(
            select(OutboxReversal).where(OutboxReversal.partner_id == partner_id).order_by(OutboxReversal.id)
        )
        return [(r.seq, r.points) for r in rows]


def test_refunds_of_a_confirmed_purchase(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    assert (
        client.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-1")).status_code == 202
    )  # 63 points
    assert_problem(refund(client, partner, "p-1", "r-0"), "purchase-not-confirmed")
    confirm(sessions, partner.id, 1)

    first = refund(client, partner, "p-1", "r-1", amount="10.00", reason="one item back")
    assert first.status_code == 202, first.text
    body = first.json()
    assert (body["status"], body["points"], body["amount"], body["customer_wallet"]) == (
        "accepted",
        15,
        "10.0000",
        WALLET,
    )
    assert first.headers["location"] == "/v1/purchases/p-1/refunds/r-1"
    again = refund(client, partner, "p-1", "r-1", amount="10.0", reason="one item back")
    assert again.status_code == 202 and again.json() == body  # idempotent: the first answer
    assert_problem(
        refund(client, partner, "p-1", "r-1", amount="11.00", reason="one item back"), "idempotency-conflict"
    )

    assert_problem(refund(client, partner, "p-1", "r-2", amount="32.51"), "refund-exceeds-purchase")
    rest = refund(client, partner, "p-1", "r-3")
    assert rest.status_code == 202 and rest.json()["points"] == 48
    assert_problem(refund(client, partner, "p-1", "r-4"), "refund-exceeds-purchase")
    assert_problem(refund(client, partner, "p-1", "r-5", amount="0.01"), "refund-exceeds-purchase")
    assert reversals(sessions, partner.id) == [(1, 15), (1, 48)]

    listed = client.get("/v1/purchases/p-1/refunds", headers=partner.headers).json()
    assert [(r["refund_id"], r["points"]) for r in listed] == [("r-1", 15), ("r-3", 48)]
    assert client.get("/v1/purchases/p-1/refunds/r-3", headers=partner.headers).json()["status"] == "accepted"


def test_a_refund_after_its_batchs_refund_window_is_refused(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session], refund_windows: dict[int, int]
) -> None:
    client.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-1"))
    confirm(sessions, partner.id, 1)  # minted in batch 7
    refund_windows[7] = 1_700_000_000  # closed in 2023
    r = refund(client, partner, "p-1", "r-1")
    assert_problem(r, "refund-window-closed")
    assert "batch 7" in r.json()["detail"] and reversals(sessions, partner.id) == []
    refund_windows[7] = OPEN_UNTIL
    assert refund(client, partner, "p-1", "r-1").status_code == 202


def test_a_failed_refund_gives_its_points_back_to_what_may_be_refunded(
    client: TestClient, partner: PartnerKey, sessions: sessionmaker[Session]
) -> None:
    client.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-1"))
    confirm(sessions, partner.id, 1)
    assert refund(client, partner, "p-1", "r-1").status_code == 202
    with sessions() as s:
        s.execute(update(OutboxReversal).values(status=ReversalStatus.FAILED, error="ERC20InsufficientBalance(...)"))
        s.commit()
    failed = client.get("/v1/purchases/p-1/refunds/r-1", headers=partner.headers).json()
    assert (failed["status"], failed["failure_reason"]) == ("failed", "ERC20InsufficientBalance(...)")
    assert failed["failure"]["type"] == "/problems/points-already-spent"  # the customer spent them (issue 14)
    assert refund(client, partner, "p-1", "r-2").json()["points"] == 63


def test_refunds_are_scoped_to_the_partner(
    client: TestClient, make_partner: Callable[..., PartnerKey], sessions: sessionmaker[Session]
) -> None:
    a, b = make_partner(), make_partner()
    client.post("/v1/purchases", headers=a.headers, json=purchase_body("p-1"))
    confirm(sessions, a.id, 1)
    assert refund(client, a, "p-1", "r-1").status_code == 202
    assert_problem(refund(client, b, "p-1", "r-9"), "not-found")
    assert_problem(refund(client, b, "p-1", "r-1"), "not-found")
    assert_problem(client.get("/v1/purchases/p-1/refunds", headers=b.headers), "not-found")
    assert_problem(client.get("/v1/purchases/p-1/refunds/r-1", headers=b.headers), "not-found")
    assert reversals(sessions, b.id) == []


def test_refund_body_is_validated(client: TestClient, partner: PartnerKey) -> None:
    for body in ({"amount": "-1"}, {"amount": "1.00001"}, {"reason": "x" * 201}, {"extra": 1}):
        assert_problem(refund(client, partner, "p-1", "r-1", **body), "validation-error")
    assert_problem(refund(client, partner, "p-1", "bad id!"), "validation-error")
    assert_problem(client.post("/v1/purchases/p-1/refunds", json={"refund_id": "r"}), "unauthorized")


# ------------------------------------------------------------------ the reverse call


def test_reversal_calldata_proves_the_purchase_in_its_batch(sessions: sessionmaker[Session]) -> None:
    customers = [WALLET, "0x976EA74026E726554dB657fA54763abd0C3a0aa9", WALLET]
    words = [encode_purchase(c, seq, 10 * seq) for seq, c in enumerate(customers, start=1)]
    with sessions() as s:
        tx = ChainTransaction(
            chain_id=1, sender=WALLET, nonce=0, kind="earn_batch", tx_hash="0x" + "ab" * 32, raw_tx=b"",
            max_fee_per_gas=1, max_priority_fee_per_gas=1,
        )  # fmt: skip
        s.add(tx)
        s.flush()
        item = OutboxPurchase(partner_id=3, seq=2, customer=customers[1], points=20, status=PurchaseStatus.MINTED,
                              tx_id=tx.id, batch_id=5)  # fmt: skip
        s.add(item)
        s.flush()
        reversal = OutboxReversal(partner_id=3, purchase_outbox_id=item.id, seq=2, customer=customers[1], points=7)
        earned = DecodedLog(
            contract="CoalitionPoints", name="Earned", address="", block_number=1, block_hash="", tx_hash=tx.tx_hash,
            log_index=0,
            args={"batchId": 5, "issuePrice": 10_000, "purchases": ["0x" + w.hex() for w in words], "partnerId": 3},
        )  # fmt: skip
        data = reversal_calldata(s, reversal, lambda h: [None, earned] if h == tx.tx_hash else [])
        assert data[:4] == REVERSE_SELECTOR
        batch_id, word, price, proof, points = abi_decode(
            ["uint256", "bytes32", "uint96", "bytes32[]", "uint256"], data[4:]
        )
        assert (batch_id, word, price, points) == (5, words[1], 10_000, 7)
        node = leaf(word)
        for sibling in proof:
            node = merkle_hash(node, sibling)
        assert node == merkle_root(words)

        item.status = PurchaseStatus.SENT
        with pytest.raises(ReversalNotReady):
            reversal_calldata(s, reversal, lambda h: [earned])
        item.status = PurchaseStatus.MINTED
        with pytest.raises(ReversalNotReady):
            reversal_calldata(s, reversal, lambda h: [])  # no Earned event in the receipt nor indexed


def merkle_hash(a: bytes, b: bytes) -> bytes:
    from eth_utils import keccak

    return keccak(a + b) if a < b else keccak(b + a)
