"""The durable outbox of purchases to mint: accepted purchases are written here first, in the
caller's database transaction, and the sender drains them. A purchase in the outbox is sent
until the chain says minted, skipped (minted before) or failed, exactly once on the ledger
(the contract mints a (partner, seq) at most once)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.orm import Session

from network.headroom import FUNDS_EXHAUSTED
from network.outcomes import purchases_moved, purchases_settled
from network.purchases import encode_purchase
from network.store import (
    ChainTransaction,
    OutboxPurchase,
    OutboxRestore,
    OutboxReversal,
    PurchaseStatus,
    ReversalStatus,
    TxStatus,
    utcnow,
)

OUTBOX = OutboxPurchase.__table__
OPEN = (PurchaseStatus.QUEUED, PurchaseStatus.SENT)  # to mint, or minted and not yet confirmed
REVERSALS_OPEN = (ReversalStatus.QUEUED, ReversalStatus.SENT)


class OutboxConflictError(ValueError):
    """The (partner, seq) is in the outbox already, with other customer or points."""


@dataclass(frozen=True, slots=True)
class ItemResult:
    """Where one purchase stands, for the gateway and the tests."""

    partner_id: int
    seq: int
    status: PurchaseStatus
    tx_hash: str | None
    batch_id: int | None
    error: str | None


def enqueue(session: Session, *, partner_id: int, seq: int, customer: str, points: int) -> OutboxPurchase:
    """Adds a purchase to the outbox (flushes, does not commit: the caller's transaction decides).
    The same (partner, seq) with the same body returns the existing row."""
    encode_purchase(customer, seq, points)  # validates ranges and the address
    existing = session.scalar(
        select(OutboxPurchase).where(OutboxPurchase.partner_id == partner_id, OutboxPurchase.seq == seq)
    )
    if existing is not None:
        if existing.customer.lower() != customer.lower() or existing.points != points:
            raise OutboxConflictError(f"partner {partner_id} seq {seq} is queued with other customer or points")
        return existing
    item = OutboxPurchase(partner_id=partner_id, seq=seq, customer=customer, points=points)
    session.add(item)
    session.flush()
    return item


def enqueue_many(
    session: Session, items: Sequence[tuple[int, int, str, int]], *, at: datetime | None = None
) -> list[int]:
    """Adds queued purchases ``(partner_id, seq, customer, points)`` in bulk, in the caller's
    transaction (one ``executemany``, no ORM objects: the gateway's group commit writes
    thousands a second); returns their ids, in order. The caller has checked them (the earn
    rule, the address, a fresh seq); a malformed one would be failed by the sender, never sent."""
    now = at or utcnow()
    rows = [
        {
            "partner_id": partner_id,
            "seq": seq,
            "customer": customer,
            "points": points,
            "status": PurchaseStatus.QUEUED,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for partner_id, seq, customer, points in items
    ]
    if not rows:
        return []
    returning = insert(OUTBOX).returning(OUTBOX.c.id, sort_by_parameter_order=True)
    return list(session.connection().execute(returning, rows).scalars())


def ready_batch(
    session: Session, *, partner_id: int, max_size: int, max_wait_s: float
) -> Sequence[Row[tuple[int, int, int, str, int]]]:
    """Queued purchases of a partner to send now, oldest first, as rows of ``(id, partner_id,
    seq, customer, points)``: a full batch as soon as there are ``max_size``, otherwise all of
    them once the oldest has waited ``max_wait_s``. Plain rows, no ORM objects: the sender
    handles thousands per second."""
    c = OUTBOX.c
    queued = (c.partner_id == partner_id) & (c.status == PurchaseStatus.QUEUED)
    items = session.execute(
        select(c.id, c.partner_id, c.seq, c.customer, c.points).where(queued).order_by(c.id).limit(max_size)
    ).all()
    if not items or len(items) >= max_size or max_wait_s <= 0:
        return items
    oldest: datetime | None = session.scalar(select(func.min(c.created_at)).where(queued))
    if oldest is None:
        return []
    if oldest.tzinfo is None:  # SQLite returns naive datetimes
        oldest = oldest.replace(tzinfo=utcnow().tzinfo)
    return items if utcnow() - oldest >= timedelta(seconds=max_wait_s) else []


class OutboxChangedError(RuntimeError):
    """Items taken for a batch were no longer queued when the batch was stored."""


def mark_sent(session: Session, ids: Sequence[int], tx_id: int) -> None:
    """Puts the queued items ``ids`` in transaction ``tx_id`` (one UPDATE, not committed).
    Raises :class:`OutboxChangedError` unless every one of them was still queued: the caller
    rolls back, and the transaction is neither committed nor broadcast."""
    c = OUTBOX.c
    result = session.execute(
        update(OUTBOX)
        .where(c.id.in_(ids), c.status == PurchaseStatus.QUEUED)
        .values(status=PurchaseStatus.SENT, tx_id=tx_id, attempts=c.attempts + 1)
    )
    if result.rowcount != len(ids):  # type: ignore[attr-defined]
        raise OutboxChangedError(f"{len(ids) - result.rowcount} of {len(ids)} items left the queue")  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- held for the issuance bound


def unmined_points(session: Session, partner_id: int) -> int:
    """Points of the partner's purchases in transactions not mined yet (not yet reserved on chain)."""
    c = OUTBOX.c
    chain_txs = ChainTransaction.__table__
    total = session.scalar(
        select(func.coalesce(func.sum(c.points), 0))
        .select_from(OUTBOX.join(chain_txs, c.tx_id == chain_txs.c.id))
        .where(c.partner_id == partner_id, c.status == PurchaseStatus.SENT, chain_txs.c.status == TxStatus.PENDING)
    )
    return int(total or 0)


def has_held(session: Session, partner_id: int) -> bool:
    c = OUTBOX.c
    held = select(c.id).where(c.status == PurchaseStatus.HELD, c.partner_id == partner_id).limit(1)
    return session.execute(held).first() is not None


def held_items(session: Session, partner_id: int, *, limit: int) -> Sequence[Row[tuple[int, int]]]:
    """The partner's held purchases, oldest first, as rows of ``(id, points)``."""
    c = OUTBOX.c
    where = (c.status == PurchaseStatus.HELD) & (c.partner_id == partner_id)
    return session.execute(select(c.id, c.points).where(where).order_by(c.id).limit(limit)).all()


def hold_items(session: Session, ids: Sequence[int], reason: str) -> None:
    """Takes queued purchases out of the queue until the partner's headroom returns, with their
    ``purchase.held`` events (not committed)."""
    c = OUTBOX.c
    held = session.execute(
        update(OUTBOX)
        .where(c.id.in_(ids), c.status == PurchaseStatus.QUEUED)
        .values(status=PurchaseStatus.HELD, error=reason, held_at=func.coalesce(c.held_at, utcnow()))
        .returning(c.id)
    )
    purchases_moved(session, "purchase.held", held.scalars().all())


def requeue_held(session: Session, ids: Sequence[int]) -> None:
    """Puts held purchases back in the queue, with their ``purchase.released`` events (not
    committed); they keep their first ``held_at``."""
    if ids:
        c = OUTBOX.c
        released = session.execute(
            update(OUTBOX)
            .where(c.id.in_(ids), c.status == PurchaseStatus.HELD)
            .values(status=PurchaseStatus.QUEUED)
            .returning(c.id)
        )
        purchases_moved(session, "purchase.released", released.scalars().all())


def fail_held_since(session: Session, partner_id: int, cutoff: datetime) -> int:
    """Fails the partner's purchases held since before ``cutoff``, with their events (not
    committed); returns how many."""
    c = OUTBOX.c
    failed = (
        session.execute(
            update(OUTBOX)
            .where(c.status == PurchaseStatus.HELD, c.partner_id == partner_id, c.held_at < cutoff)
            .values(
                status=PurchaseStatus.FAILED,
                error=f"{FUNDS_EXHAUSTED}: held since {cutoff.isoformat()} or before for lack of the partner's "
                "issuance headroom; not minted",
            )
            .returning(c.id)
        )
        .scalars()
        .all()
    )
    purchases_settled(session, outbox_ids=failed)
    return len(failed)


def item_result(session: Session, item: OutboxPurchase) -> ItemResult:
    """Where an outbox item stands, with the hash of the transaction that carries it."""
    tx = session.get(ChainTransaction, item.tx_id) if item.tx_id is not None else None
    return ItemResult(item.partner_id, item.seq, item.status, tx.tx_hash if tx else None, item.batch_id, item.error)


def result_of(session: Session, *, partner_id: int, seq: int) -> ItemResult | None:
    item = session.scalar(
        select(OutboxPurchase).where(OutboxPurchase.partner_id == partner_id, OutboxPurchase.seq == seq)
    )
    return None if item is None else item_result(session, item)


# ---------------------------------------------------------------------- what is left to do


def partners_with_work(session: Session) -> list[int]:
    """Partners with purchases to mint or confirm, reversals (refunds) or restores (points paid at a
    till given back by a refund) to send or confirm."""
    earn = session.scalars(select(OutboxPurchase.partner_id).where(OutboxPurchase.status.in_(OPEN)).distinct())
    reverse = session.scalars(
        select(OutboxReversal.partner_id).where(OutboxReversal.status.in_(REVERSALS_OPEN)).distinct()
    )
    restore = session.scalars(
        select(OutboxRestore.partner_id).where(OutboxRestore.status.in_(REVERSALS_OPEN)).distinct()
    )
    return sorted(set(earn) | set(reverse) | set(restore))


def held_by_partner(session: Session) -> dict[int, tuple[int, str]]:
    """partner id -> (purchases held, when the oldest was first held, ISO 8601)."""
    rows = session.execute(
        select(OutboxPurchase.partner_id, func.count(), func.min(OutboxPurchase.held_at))
        .where(OutboxPurchase.status == PurchaseStatus.HELD)
        .group_by(OutboxPurchase.partner_id)
    ).all()
    return {int(pid): (int(n), since.isoformat() if since else "") for pid, n, since in rows}
