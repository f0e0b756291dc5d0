"""A store filled for analytics: N members and about 10 N purchases across P partners, written as the
gateway and the indexer write them (partners, customers, wallets, members, partners' refs, the earn
outbox and purchases, refunds with their reversals, ledger movements, tier states and changes), in
bulk inserts.

Deterministic for a seed. The mix: each member is linked to 1-3 partners and buys only there;
purchases per member are skewed (a few buy a lot); 2 % of purchases are not confirmed (queued or
failed); 3 % are refunded (a fifth without an amount, some in full, some in half; 10 % of the
reversals failed); 0.5 % of members are erased; every fourth partner trades in PLN, the others in
EUR; members redeem some of their points (a third of them at a partner where they did not earn)
and some points expire. Then the members' purchase totals (network/store/analytics_totals.py), by
the back-fill's SQL. Used by ``make bench`` (bench/analytics.py) and, small, by the analytics
tests, which recompute every figure from these rows in plain Python.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session

from network.store import (
    ChainEvent,
    Customer,
    CustomerLink,
    CustomerWallet,
    LedgerEntry,
    Member,
    OutboxPurchase,
    OutboxReversal,
    Partner,
    Purchase,
    PurchaseStatus,
    Refund,
    ReversalStatus,
    TierState,
)
from network.store.analytics_totals import refresh
from network.store.tiers import TierChangeRecord

CHAIN_ID = 31337
CHUNK = 20_000
TIERS = ("base", "silver", "gold")


@dataclass(frozen=True, slots=True)
class Filled:
    members: int
    purchases: int
    refunds: int
    ledger: int
    partners: int
    start: datetime
    end: datetime


def currency(partner_id: int) -> str:
    """Every fourth partner (2, 6, 10 ...) trades in PLN, the others in EUR."""
    return "PLN" if partner_id % 4 == 2 else "EUR"


def wallet(i: int) -> str:
    return f"0x{i:040x}"


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i : i + CHUNK]


def _put(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    t: Table = table.__table__
    for chunk in _chunks(rows):
        session.execute(insert(t), list(chunk))
    rows.clear()


def fill(
    session: Session,
    *,
    members: int,
    partners: int = 50,
    purchases_per_member: int = 10,
    days: int = 365,
    end: datetime = datetime(2026, 12, 1, tzinfo=UTC),
    seed: int = 19,
) -> Filled:
    """Fills an empty, migrated store; commits."""
    rng = random.Random(seed)
    start = end - timedelta(days=days)
    span = days * 86_400
    partner_rows = [
        {
            "id": p, "name": f"Partner {p}", "minter": wallet(10**12 + p), "treasury": wallet(2 * 10**12 + p),
            "api_key_prefix": f"ck_bench{p:04d}", "api_key_hash": "0" * 64, "currency": currency(p),
            "points_per_unit": Decimal(1 + p % 3), "issue_price": 10_000, "reimbursement_rate": 8_000 + 50 * p,
            "issuance_limit": 10**15, "status": "active", "next_seq": 0, "created_at": start,
        }
        for p in range(1, partners + 1)
    ]  # fmt: skip
    onboarded = [
        {
            "chain_id": CHAIN_ID, "block_number": 0, "block_hash": "0x" + "cd" * 32,
            "block_time": int(start.timestamp()), "tx_hash": "0x" + "cd" * 32, "log_index": p["id"],
            "contract": "PartnerRegistry", "name": "PartnerOnboarded", "partner_id": p["id"], "customer": None,
            "args": {"partnerId": p["id"], "reimbursementRate": p["reimbursement_rate"], "issuePrice": 10_000},
        }
        for p in partner_rows
    ]  # fmt: skip
    _put(session, Partner, partner_rows)
    _put(session, ChainEvent, onboarded)
    homes: list[list[int]] = []
    cust, wallets, mem, links, tiers, changes = [], [], [], [], [], []
    for c in range(1, members + 1):
        enrolled = start + timedelta(seconds=rng.randrange(span))
        cust.append({"id": c, "created_at": enrolled})
        wallets.append({"address": wallet(c), "customer_id": c, "created_at": enrolled})
        erased = enrolled + timedelta(days=1) if rng.random() < 0.005 else None
        mem.append({"customer_id": c, "referral_code": None, "enrolled_at": enrolled, "erased_at": erased})
        home = rng.sample(range(1, partners + 1), k=min(partners, rng.choice((1, 1, 2, 3))))
        homes.append(home)
        for p in home:
            links.append(
                {"partner_id": p, "ref": f"c{c}", "wallet": wallet(c), "customer_id": c, "created_at": enrolled}
            )
        if rng.random() < 0.7:
            tier = TIERS[min(2, int(rng.random() ** 2 * 3))]
            tiers.append(
                {"customer_id": c, "ladder_version": 1, "tier": tier, "earned": tier, "since": enrolled, "as_of": end}
            )
            if tier != "base":
                moved = enrolled + timedelta(days=rng.randrange(1, 30))
                changes.append({
                    "customer_id": c, "from_tier": "base", "to_tier": tier, "reason": "qualified", "at": moved,
                    "ladder_version": 1, "event_id": f"evt_bench{c}", "created_at": moved,
                })  # fmt: skip
    for table, rows in (
        (Customer, cust),
        (CustomerWallet, wallets),
        (Member, mem),
        (CustomerLink, links),
        (TierState, tiers),
        (TierChangeRecord, changes),
    ):
        _put(session, table, rows)

    outbox, purchases, ledger, reversals, refunds = [], [], [], [], []
    seqs = [0] * (partners + 1)
    earned: dict[int, int] = {}
    block = 0
    total = members * purchases_per_member
    n_purchases = n_refunds = n_ledger = 0
    for pk in range(1, total + 1):
        c = 1 + int(members * rng.random() ** 1.6)  # skewed: low ids buy more
        c = min(c, members)
        p = rng.choice(homes[c - 1])
        seqs[p] += 1
        at = start + timedelta(seconds=rng.randrange(span))
        amount = Decimal(rng.randrange(100, 50_000)) / 100
        points = int(amount * (1 + p % 3))
        status = PurchaseStatus.MINTED
        roll = rng.random()
        if roll < 0.01:
            status = PurchaseStatus.QUEUED
        elif roll < 0.02:
            status = PurchaseStatus.FAILED
        outbox.append({
            "id": pk, "partner_id": p, "seq": seqs[p], "customer": wallet(c), "points": points, "status": status,
            "attempts": 0, "created_at": at, "updated_at": at,
        })  # fmt: skip
        purchases.append({
            "id": pk, "partner_id": p, "purchase_id": f"p{pk}", "request_hash": "0" * 64, "seq": seqs[p],
            "customer_wallet": wallet(c), "customer_ref": f"c{c}", "amount": amount, "currency": currency(p),
            "points": points, "rule": {}, "purchased_at": at, "outbox_id": pk, "created_at": at, "updated_at": at,
        })  # fmt: skip
        n_purchases += 1
        if status is PurchaseStatus.MINTED:
            block += 1
            ledger.append(_ledger(block, int(at.timestamp()), "earned", c, p, points, seqs[p]))
            earned[c] = earned.get(c, 0) + points
            if rng.random() < 0.03:
                n_refunds += 1
                kind = rng.random()
                refund_amount: Decimal | None = (
                    None if kind < 0.2 else amount if kind < 0.5 else (amount / 2).quantize(Decimal("0.01"))
                )
                back = points if refund_amount in (None, amount) else points // 2
                failed = rng.random() < 0.1
                when = at + timedelta(days=rng.randrange(1, 20))
                reversals.append({
                    "id": n_refunds, "partner_id": p, "purchase_outbox_id": pk, "seq": seqs[p], "customer": wallet(c),
                    "points": back, "status": ReversalStatus.FAILED if failed else ReversalStatus.CONFIRMED,
                    "attempts": 0, "created_at": when, "updated_at": when,
                })  # fmt: skip
                refunds.append({
                    "id": n_refunds, "partner_id": p, "purchase_pk": pk, "refund_id": f"r{n_refunds}",
                    "request_hash": "0" * 64, "amount": refund_amount, "points": back, "reversal_id": n_refunds,
                    "created_at": when,
                })  # fmt: skip
                if not failed:
                    block += 1
                    ledger.append(_ledger(block, int(when.timestamp()), "reversed", c, p, -back, seqs[p]))
                    earned[c] -= back
        if len(purchases) >= CHUNK:
            n_ledger += len(ledger)
            for table, rows in ((OutboxPurchase, outbox), (Purchase, purchases), (LedgerEntry, ledger)):
                _put(session, table, rows)
    n_ledger += len(ledger)
    for table, rows in ((OutboxPurchase, outbox), (Purchase, purchases), (LedgerEntry, ledger),
                        (OutboxReversal, reversals), (Refund, refunds)):  # fmt: skip
        _put(session, table, rows)
    # redemptions and expiries, after the earning they spend (times at the end of the span)
    for c, balance in earned.items():
        if balance <= 0 or rng.random() < 0.5:
            continue
        spend = rng.randrange(0, balance + 1)
        home = homes[c - 1]
        p = rng.randrange(1, partners + 1) if rng.random() < 0.35 else rng.choice(home)
        block += 1
        at = int((end - timedelta(seconds=rng.randrange(1, span // 4))).timestamp())
        ledger.append(_ledger(block, at, "redeemed", c, p, -spend, None))
        if rng.random() < 0.2 and balance - spend > 0:
            block += 1
            ledger.append(_ledger(block, at + 60, "expired", c, None, -(balance - spend) // 2, None))
        if len(ledger) >= CHUNK:
            n_ledger += len(ledger)
            _put(session, LedgerEntry, ledger)
    n_ledger += len(ledger)
    _put(session, LedgerEntry, ledger)
    _advance_sequences(session, (Partner, Customer, OutboxPurchase, Purchase, OutboxReversal, Refund, ChainEvent))
    refresh(session)  # the members' purchase totals: migration 0031's back-fill, the same SQL
    session.commit()
    return Filled(members, n_purchases, n_refunds, n_ledger, partners, start, end)


def _advance_sequences(session: Session, tables: Sequence[Any]) -> None:
    """PostgreSQL: the id sequences past the ids written here, so that the services' own inserts
    into the filled store get new ones (SQLite takes the next rowid by itself)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        name = table.__table__.name
        top = f"(SELECT coalesce(max(id), 0) + 1 FROM {name})"
        session.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), {top}, false)"))


def _ledger(block: int, at: int, kind: str, c: int, p: int | None, points: int, seq: int | None) -> dict[str, Any]:
    return {
        "chain_id": CHAIN_ID, "block_number": block, "block_time": at, "tx_hash": "0x" + "ab" * 32,
        "log_index": 0, "item": 0, "kind": kind, "customer": wallet(c), "partner_id": p, "seq": seq,
        "points": points, "rate": None, "ref": None,
    }  # fmt: skip
