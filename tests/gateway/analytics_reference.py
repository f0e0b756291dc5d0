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
    currency: str
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
            Row(p.id, owner[p.customer_wallet], p.partner_id, aware(p.purchased_at), Decimal(p.amount), p.currency,
                p.points, status[p.outbox_id] in ("minted", "skipped"), refunds[p.id])
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


def kpis(rows: Rows, *, start: date, end: date, partner: int | None, churn_days: int) -> dict[str, Any]:
    """Every KPI of gateway/services/analytics.py, by loops over the rows."""
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    linked = {c for p, c in rows.links if partner is None or p == partner}
    members = {
        c: aware(m.enrolled_at)
        for c, m in rows.members.items()
        if m.erased_at is None and (partner is None or c in linked) and aware(m.enrolled_at) < hi
    }
    counted = rows.counted(hi, partner)
    last: dict[int, datetime] = {}
    for p, _, _ in counted:
        last[p.customer] = max(last.get(p.customer, p.at), p.at)
    period = [(p, a) for p, a, _ in counted if p.at >= lo]
    per_buyer: dict[int, int] = defaultdict(int)
    money: dict[str, list[Decimal]] = defaultdict(list)
    for p, amount in period:
        per_buyer[p.customer] += 1
        money[p.currency].append(amount)
    moved: dict[str, int] = defaultdict(int)
    outstanding = 0
    t_lo, t_hi = lo.timestamp(), hi.timestamp()
    for e in rows.ledger:
        mine = partner is None or e.partner_id == partner
        if mine and e.kind in ("earned", "restored", "redeemed", "reversed", "expired") and e.block_time < t_hi:
            outstanding += e.points
        if mine and t_lo <= e.block_time < t_hi:
            moved[e.kind] += abs(e.points)
    buyers = len(per_buyer)
    n = sum(per_buyer.values())
    ever = len(last)
    churned = sum(1 for t in last.values() if t < hi - timedelta(days=churn_days))
    basket = {cur: (sum(v, Decimal(0)) / len(v)).quantize(Decimal("0.01")) for cur, v in money.items()}
    churn = churned / ever if ever else None
    freq = n / buyers if buyers else None
    clv = {}
    if churn and freq:
        windows = Decimal(freq) * churn_days / ((end - start).days + 1) / Decimal(churn)
        clv = {cur: (b * windows).quantize(Decimal("0.01")) for cur, b in basket.items()}
    expired = None if partner is not None else moved["expired"]
    return {
        "members_enrolled": len(members),
        "members_new": sum(1 for t in members.values() if t >= lo),
        "active_30d": sum(1 for t in last.values() if t >= hi - timedelta(days=30)),
        "active_90d": sum(1 for t in last.values() if t >= hi - timedelta(days=90)),
        "purchases": n,
        "buyers": buyers,
        "repeat_purchase_rate": sum(1 for k in per_buyer.values() if k > 1) / buyers if buyers else None,
        "average_basket": basket,
        "purchase_frequency": freq,
        "points_issued": moved["earned"],
        "points_redeemed": moved["redeemed"],
        "points_reversed": moved["reversed"],
        "points_expired": expired,
        "redemption_rate": moved["redeemed"] / moved["earned"] if moved["earned"] else None,
        "breakage_rate": None if expired is None or not moved["earned"] else expired / moved["earned"],
        "outstanding_points": outstanding,
        "churn_rate": churn,
        "clv": clv,
    }


def cohorts(rows: Rows, *, start: date, end: date, partner: int | None) -> list[dict[str, Any]]:
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    linked = {c for p, c in rows.links if partner is None or p == partner}
    cohort = {
        c: aware(m.enrolled_at).strftime("%Y-%m")
        for c, m in rows.members.items()
        if m.erased_at is None and (partner is None or c in linked) and lo <= aware(m.enrolled_at) < hi
    }
    last_month = (hi - timedelta(seconds=1)).strftime("%Y-%m")
    bought: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for p, _, _ in rows.counted(hi, partner):
        if p.customer in cohort:
            bought[cohort[p.customer]].add((p.customer, p.at.strftime("%Y-%m")))
    out = []
    for name in sorted(set(cohort.values())):
        months = []
        year, month = int(name[:4]), int(name[5:])
        while f"{year:04d}-{month:02d}" <= last_month:
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        size = sum(1 for v in cohort.values() if v == name)
        active = [len({c for c, mo in bought[name] if mo == want}) for want in months]
        out.append({"cohort": name, "members": size, "active": active})
    return out


def flow(rows: Rows, *, start: date, end: date, partner: int | None) -> dict[tuple[int, int], float]:
    t_lo = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
    t_hi = (datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)).timestamp()
    earned: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    redeemed: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for e in rows.ledger:
        if e.kind in ("earned", "reversed") and e.block_time < t_hi:
            earned[e.customer][e.partner_id] += e.points
        if e.kind == "redeemed" and t_lo <= e.block_time < t_hi:
            redeemed[e.customer][e.partner_id] -= e.points
    out: dict[tuple[int, int], float] = defaultdict(float)
    for w, at in redeemed.items():
        shares = {a: v for a, v in earned[w].items() if v > 0}
        total = sum(shares.values())
        for b, r in at.items():
            for a, v in shares.items():
                if partner is None or partner in (a, b):
                    out[(a, b)] += r * v / total
    return {k: v for k, v in out.items() if v}


def shared(rows: Rows, *, partner: int | None) -> dict[tuple[int, int], int]:
    by: dict[int, set[int]] = defaultdict(set)
    for p, c in rows.links:
        by[c].add(p)
    out: dict[tuple[int, int], int] = defaultdict(int)
    for ps in by.values():
        for a in ps:
            for b in ps:
                if a < b and (partner is None or partner in (a, b)):
                    out[(a, b)] += 1
    return dict(out)


def tiers(rows: Rows, *, partner: int | None) -> dict[str, int]:
    linked = {c for p, c in rows.links if partner is None or p == partner}
    out: dict[str, int] = defaultdict(int)
    for t in rows.tiers:
        m = rows.members.get(t.customer_id)
        if m is not None and m.erased_at is None and (partner is None or t.customer_id in linked):
            out[t.tier] += 1
    return dict(sorted(out.items()))
