"""The members' purchase totals (network/store/analytics_totals.py, what the RFM snapshot reads) against
a plain-Python recomputation over the raw rows, after the back-fill and after a mix of new purchases
settled on chain, refunds (full, partial, without an amount), a failed reversal, redemptions and an
erasure, each through the call its write path makes; and the day's RFM snapshot still equal to the
reference when members changed after the day's end. On SQLite and PostgreSQL (``store``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bench.analytics_data import CHAIN_ID, fill, wallet
from gateway.services import gdpr, refunds
from gateway.services import rfm as service
from loyalty import rfm
from network.outcomes import purchases_settled, refunds_settled
from network.store import (
    COALITION,
    LedgerEntry,
    MemberPartnerTotal,
    OutboxPurchase,
    OutboxReversal,
    Partner,
    Purchase,
    PurchaseStatus,
    Refund,
    ReversalStatus,
    RfmSnapshot,
)
from network.store.analytics_totals import catch_up, totals_select
from tests.gateway import analytics_reference as ref
from tests.pg import StoreKind
from tests.stores import migrated_store

END = datetime(2026, 12, 1, tzinfo=UTC)
FOREVER = datetime(9999, 1, 1, tzinfo=UTC)
Totals = dict[tuple[int, int], tuple[datetime, datetime, int, int, int]]


def _stored(session: Session) -> Totals:
    return {
        (t.customer_id, t.partner_id): (t.first_at, t.last_at, t.purchases, int(t.units), int(t.points))
        for t in session.scalars(select(MemberPartnerTotal))
    }


def _reference(session: Session) -> Totals:
    """Per (customer, partner): the purchases confirmed now whose amount net of every live refund is
    above zero (erased members included: the snapshot leaves them out when it reads)."""
    rows = ref.Rows(session)
    per: dict[tuple[int, int], list[tuple[datetime, Decimal, int]]] = defaultdict(list)
    for p in rows.purchases:
        amount, points = p.net(FOREVER)
        if p.confirmed and amount > 0:
            per[(p.customer, p.partner)].append((p.at, amount, points))
    return {
        key: (min(a for a, _, _ in v), max(a for a, _, _ in v), len(v), int(sum(m for _, m, _ in v) * 10_000),
              sum(p for _, _, p in v))
        for key, v in per.items()
    }  # fmt: skip


def _buy(session: Session, pk: int, c: int, partner: int, amount: str, at: datetime) -> None:
    """A purchase as the writer stores it: queued in the outbox, not counted yet."""
    seq = 10_000 + pk
    session.execute(insert(OutboxPurchase).values(id=pk, partner_id=partner, seq=seq, customer=wallet(c), points=50,
                                                  status=PurchaseStatus.QUEUED, attempts=0))  # fmt: skip
    session.execute(
        insert(Purchase).values(
            id=pk, partner_id=partner, purchase_id=f"new{pk}", request_hash="0" * 64, seq=seq,
            customer_wallet=wallet(c), customer_ref=f"c{c}", amount=Decimal(amount), currency="EUR", points=50,
            rule={"points_per_unit": "2"}, purchased_at=at, outbox_id=pk,
        )
    )  # fmt: skip


def test_the_totals_follow_purchases_refunds_redemptions_and_erasures(tmp_path: Path, store: StoreKind) -> None:
    sessions: sessionmaker[Session] = migrated_store(store.new_url(tmp_path))
    with sessions() as s:
        fill(s, members=100, partners=3, end=END, days=120, seed=31)
        assert _stored(s) == _reference(s) and len(_stored(s)) > 60  # the back-fill

        # new purchases of existing members at partner 1 (their home or not), some after the day's end
        top = int(s.scalar(select(func.max(Purchase.id))) or 0)
        owners = [int(w[2:], 16) for w in s.scalars(select(Purchase.customer_wallet).distinct().limit(6))]
        for i, c in enumerate(owners):
            _buy(s, top + 1 + i, c, 1, f"{20 + i}.50", END - timedelta(days=3) + timedelta(days=i))
        s.commit()
        assert _stored(s) == _reference(s)  # queued: nothing counted yet
        minted = [top + 1 + i for i in range(5)]
        s.execute(update(OutboxPurchase).where(OutboxPurchase.id.in_(minted)).values(status=PurchaseStatus.MINTED))
        s.execute(update(OutboxPurchase).where(OutboxPurchase.id == top + 6).values(status=PurchaseStatus.FAILED))
        purchases_settled(s, outbox_ids=[*minted, top + 6])  # the sender's call, in its transaction
        s.commit()
        assert _stored(s) == _reference(s)

        # refunds through the service: in full without an amount, half, and one whose reversal fails
        partner = s.get(Partner, 1)
        assert partner is not None
        for pk, refund_id, amount in ((top + 1, "x1", None), (top + 2, "x2", Decimal("10.25")), (top + 3, "x3", None)):
            refunds.accept_refund(s, partner=partner, purchase_id=f"new{pk}", refund_id=refund_id, amount=amount,
                                  reason=None, refund_deadline=lambda _b: 0)  # fmt: skip
        old = s.scalar(select(Purchase).where(Purchase.partner_id == 2).order_by(Purchase.id).limit(1))
        assert old is not None
        partner2 = s.get(Partner, 2)
        assert partner2 is not None
        if s.get(OutboxPurchase, old.outbox_id).status is PurchaseStatus.MINTED:  # type: ignore[union-attr]
            refunds.accept_refund(s, partner=partner2, purchase_id=old.purchase_id, refund_id="x4",
                                  amount=None, reason=None, refund_deadline=lambda _b: 0)  # fmt: skip
        assert _stored(s) == _reference(s)
        failing = s.scalar(select(Refund.reversal_id).where(Refund.refund_id == "x3"))
        s.execute(update(OutboxReversal).where(OutboxReversal.id == failing).values(status=ReversalStatus.FAILED))
        refunds_settled(s, reversal_ids=[int(failing or 0)])  # the purchase counts again
        s.commit()
        assert _stored(s) == _reference(s)

        # a redemption (a ledger movement: no purchase changes) and an erasure (left out when read)
        redeemed = {"chain_id": CHAIN_ID, "block_number": 10**7, "block_time": int(END.timestamp()), "item": 0,
                    "tx_hash": "0x" + "ef" * 32, "log_index": 0, "kind": "redeemed", "customer": wallet(owners[0]),
                    "partner_id": 1, "seq": None, "points": -5}  # fmt: skip
        s.execute(insert(LedgerEntry).values(**redeemed))
        gdpr.erase(s, customer_id=owners[4], requested_by="operator")
        s.commit()
        assert _stored(s) == _reference(s)
        # the same as the back-fill's SQL recomputes; the catch-up (the new purchases' customers again) changes nothing
        recomputed = {
            (int(r[0]), int(r[1])): (r[2], r[3], int(r[4]), int(r[5]), int(r[6])) for r in s.execute(totals_select())
        }
        assert recomputed == _stored(s)
        catch_up(s)
        s.commit()
        assert _stored(s) == _reference(s)

    # the snapshot of a day some of these members changed after: still the reference's
    day = (END - timedelta(days=2)).date()
    service.snapshot(sessions, day=day)
    with sessions() as s:
        rows = ref.Rows(s)
        for scope in (COALITION, 1, 2):
            want = ref.rfm(rows, day=day, partner=None if scope == COALITION else scope)
            got = {
                r.customer_id: (r.last_day, r.frequency, Decimal(r.monetary), r.r, r.f, r.m, r.segment)
                for r in s.scalars(select(RfmSnapshot).where(RfmSnapshot.day == day, RfmSnapshot.scope == scope))
            }
            assert got == {c: (*v, rfm.segment(*v[3:])) for c, v in want.items()}, scope
            assert owners[4] not in got
