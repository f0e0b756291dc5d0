"""The analytics figures recomputed in plain Python over the store's rows, written apart from the SQL
(gateway/services/rfm.py, analytics.py) and from loyalty/rfm.py's helpers: the tests' reference."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from network.store import (
    CustomerLink,
    CustomerWallet,
    LedgerEntry,
    Member,
    OutboxPurchase,
    OutboxReversal,
    Purchase,
    Refund,
    TierState,
)


@dataclass
class Row:
    """A purchase as the reference sees it."""

    pk: int
    customer: int
    partner: int
    at: datetime
    amount: Decimal
    points: int
    confirmed: bool
    refunds: list[tuple[Decimal | None, int, bool, datetime]]  # amount, points, reversal failed, at

    def net(self, end: datetime) -> tuple[Decimal, int]:
        live = [r for r in self.refunds if not r[2] and r[3] < end]
        if any(a is None for a, *_ in live):
            return Decimal(0), self.points - sum(p for _, p, *_ in live)
        return self.amount - sum((a for a, *_ in live), Decimal(0)), self.points - sum(p for _, p, *_ in live)  # type: ignore[misc]


def aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class Rows:
    """Every row the figures come from, read once."""

    def __init__(self, session: Session) -> None:
        owner = {w.address: w.customer_id for w in session.scalars(select(CustomerWallet))}
        status = {o.id: str(o.status) for o in session.scalars(select(OutboxPurchase))}
        reversal = {r.id: str(r.status) for r in session.scalars(select(OutboxReversal))}
        refunds: dict[int, list[Any]] = defaultdict(list)
        for r in session.scalars(select(Refund)):
            failed = reversal[r.reversal_id] == "failed"
            refunds[r.purchase_pk].append(
                (None if r.amount is None else Decimal(r.amount), r.points, failed, aware(r.created_at))
            )
        self.purchases = [
            Row(p.id, owner[p.customer_wallet], p.partner_id, aware(p.purchased_at), Decimal(p.amount), p.points,
                status[p.outbox_id] in ("minted", "skipped"), refunds[p.id])
            for p in session.scalars(select(Purchase))
        ]  # fmt: skip
        self.members = {m.customer_id: m for m in session.scalars(select(Member))}
        self.erased = {c for c, m in self.members.items() if m.erased_at is not None}
        self.links = [(link.partner_id, link.customer_id) for link in session.scalars(select(CustomerLink))]
        self.ledger = list(session.scalars(select(LedgerEntry)))
        self.tiers = list(session.scalars(select(TierState)))

    def counted(self, end: datetime, partner: int | None) -> list[tuple[Row, Decimal, int]]:
        out = []
        for p in self.purchases:
            if not p.confirmed or p.at >= end or p.customer in self.erased:
                continue
            if partner is not None and p.partner != partner:
                continue
            amount, points = p.net(end)
            if amount > 0:
                out.append((p, amount, points))
        return out


def score_of(value: Any, values: list[Any]) -> int:
    below = sum(1 for v in values if v < value)
    return 1 + 5 * below // len(values)


def rfm(rows: Rows, *, day: date, partner: int | None) -> dict[int, tuple[date, int, Decimal, int, int, int]]:
    """customer -> (last day, frequency, monetary, r, f, m)."""
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    per: dict[int, list[Any]] = {}
    for p, amount, points in rows.counted(end, partner):
        last, freq, money = per.get(p.customer, (date.min, 0, Decimal(0)))
        per[p.customer] = [max(last, p.at.date()), freq + 1, money + (Decimal(points) if partner is None else amount)]
    lasts = [v[0] for v in per.values()]
    freqs = [v[1] for v in per.values()]
    moneys = [v[2] for v in per.values()]
    return {
        c: (last, f, m, score_of(last, lasts), score_of(f, freqs), score_of(m, moneys))
        for c, (last, f, m) in per.items()
    }
