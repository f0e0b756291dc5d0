"""Migration 0018: the qualifying movements of what was confirmed before it are written from the
confirmed purchases and refunds (a refund counted at its purchase's time), for wallets that belong
to a customer or, like the tier consumer, to a new one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import sessionmaker

from network.store import (
    Customer,
    CustomerWallet,
    OutboxPurchase,
    OutboxReversal,
    Partner,
    Purchase,
    PurchaseStatus,
    Refund,
    ReversalStatus,
    TierMovement,
    make_engine,
    migrate,
)

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
ALICE, BOB = "0x" + "a1" * 20, "0x" + "b0" * 20


def test_confirmed_purchases_and_refunds_of_customers_become_movements(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0017")
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions() as s:
        s.add(
            Partner(
                id=1, name="p", minter=ALICE, treasury=ALICE, api_key_prefix="k", api_key_hash="h", currency="EUR",
                points_per_unit=1, issue_price=1, reimbursement_rate=1, issuance_limit=1,
            )
        )  # fmt: skip
        customer = Customer(created_at=T0)
        s.add(customer)
        s.flush()
        s.add(CustomerWallet(address=ALICE, customer_id=customer.id, created_at=T0))
        purchases = {}
        for n, (wallet, points, told) in enumerate(
            [(ALICE, 120, "confirmed"), (ALICE, 30, None), (BOB, 500, "confirmed"), (ALICE, 40, "failed")], start=1
        ):
            outbox = OutboxPurchase(partner_id=1, seq=n, customer=wallet, points=points, status=PurchaseStatus.MINTED)
            s.add(outbox)
            s.flush()
            # Core, naming only the columns revision 0017 has (the ORM's model is the head's)
            purchases[n] = s.execute(
                insert(Purchase.__table__).values(
                    partner_id=1, purchase_id=f"p-{n}", request_hash="0" * 64, seq=n, customer_wallet=wallet,
                    amount=Decimal(points), currency="EUR", points=points, rule={}, purchased_at=T0,
                    outbox_id=outbox.id, created_at=T0 + timedelta(hours=n), notified_status=told,
                ).returning(Purchase.__table__.c.id, Purchase.__table__.c.outbox_id)
            ).one()  # fmt: skip
        s.flush()
        reversal = OutboxReversal(
            partner_id=1, purchase_outbox_id=purchases[1].outbox_id, seq=1, customer=ALICE, points=20,
            status=ReversalStatus.CONFIRMED,
        )  # fmt: skip
        s.add(reversal)
        s.flush()
        s.add(
            Refund(
                partner_id=1, purchase_pk=purchases[1].id, refund_id="r-1", request_hash="0" * 64, points=20,
                reversal_id=reversal.id, notified_status="confirmed", created_at=T0 + timedelta(days=2),
            )
        )  # fmt: skip
        s.commit()
        alice = customer.id
    migrate(url)
    with sessions() as s:
        rows = [
            (m.customer_id, m.points, m.kind, m.counts_at, m.source, m.refunded)
            for m in s.scalars(select(TierMovement).order_by(TierMovement.id))
        ]
        bob = s.scalar(select(CustomerWallet.customer_id).where(CustomerWallet.address == BOB))
    assert bob is not None and bob != alice  # a wallet of nobody became a customer's, as the consumer does
    assert sorted(rows, key=lambda r: r[4]) == [
        (alice, 120, "purchase", T0 + timedelta(hours=1), "purchase:1:p-1", None),
        (bob, 500, "purchase", T0 + timedelta(hours=3), "purchase:1:p-3", None),
        (alice, -20, "refund", T0 + timedelta(hours=1), "refund:1:r-1", "purchase:1:p-1"),
    ]  # p-2 is not confirmed yet (the consumer will read its event); p-4 failed
    engine.dispose()
