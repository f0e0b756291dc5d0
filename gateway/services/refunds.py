"""Refunds: the points of a confirmed purchase clawed back on chain, fully or in part.

A refund is accepted in one database transaction with its reversal in the network outbox
(network/reversals.py); the partner's sender (the only driver of its minter key, which alone
may call ``CoalitionPoints.reverse``) sends it after its earn batches. Idempotent on the
partner's ``refund_id`` like purchases on ``purchase_id``. What a purchase may still lose is
its minted points minus every refund not failed; the contract enforces the same bound
(``reversedPoints`` ≤ minted), so even a race between two refunds cannot claw back more.
A purchase can be refunded until its batch's refund deadline (``CoalitionPoints.refundDeadlineOf``:
the refund window in force when it was minted); the contract refuses a reversal after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import NotFound, PurchaseNotConfirmed, RefundExceedsPurchase, RefundWindowClosed
from gateway.failures import failure_of
from gateway.services import points_holds
from gateway.services.idempotency import body_hash, same_or_conflict
from gateway.timeutil import as_utc
from network.reversals import enqueue_reversal
from network.store import (
    ChainTransaction,
    OutboxPurchase,
    OutboxReversal,
    Partner,
    Purchase,
    PurchaseStatus,
    Refund,
    ReversalStatus,
)
from network.store.analytics_totals import update_member_totals

STATUS_NAMES = {
    ReversalStatus.QUEUED: "accepted",
    ReversalStatus.SENT: "submitted",
    ReversalStatus.CONFIRMED: "confirmed",
    ReversalStatus.FAILED: "failed",
}
CONFIRMED = (PurchaseStatus.MINTED, PurchaseStatus.SKIPPED)


def request_hash(purchase_id: str, refund_id: str, amount: Decimal | None, reason: str | None) -> str:
    fields = {
        "purchase_id": purchase_id,
        "refund_id": refund_id,
        "amount": None if amount is None else format(amount.normalize(), "f"),  # 5.5 and 5.50 agree
        "reason": reason,
    }
    return body_hash(fields)


def find_purchase(session: Session, partner_id: int, purchase_id: str) -> Purchase:
    purchase = session.scalar(
        select(Purchase).where(Purchase.partner_id == partner_id, Purchase.purchase_id == purchase_id)
    )
    if purchase is None:
        raise NotFound(f"no purchase {purchase_id!r} of this partner")
    return purchase


def _find(session: Session, partner_id: int, refund_id: str) -> Refund | None:
    return session.scalar(select(Refund).where(Refund.partner_id == partner_id, Refund.refund_id == refund_id))


def _refunded(session: Session, purchase: Purchase) -> tuple[int, Decimal | None]:
    """(points, amount) taken by the purchase's refunds that did not fail; amount None when one
    of them was a full refund."""
    rows = session.execute(
        select(Refund.points, Refund.amount)
        .join(OutboxReversal, OutboxReversal.id == Refund.reversal_id)
        .where(Refund.purchase_pk == purchase.id, OutboxReversal.status != ReversalStatus.FAILED)
    ).all()
    points = sum(int(p) for p, _ in rows)
    amounts = [a for _, a in rows]
    return points, None if any(a is None for a in amounts) else sum(amounts, Decimal(0))


def refund_points(purchase: Purchase, amount: Decimal | None, refunded: tuple[int, Decimal | None]) -> int:
    """Points a refund claws back: all that remain without an amount; else amount × the
    purchase's own rule (for a purchase earned by a rule set: its points × amount / its amount),
    rounded down, and all that remain when the amount is the rest of the
    purchase (so no rounding remainder stays with the customer). Raises RefundExceedsPurchase."""
    refunded_points, refunded_amount = refunded
    remaining = purchase.points - refunded_points
    if remaining <= 0:
        raise RefundExceedsPurchase(f"the {purchase.points} points of purchase {purchase.purchase_id!r} are refunded")
    if amount is None:
        return remaining
    amount_left = Decimal(0) if refunded_amount is None else Decimal(purchase.amount) - refunded_amount
    if amount > amount_left:
        raise RefundExceedsPurchase(
            f"{amount} is more than the {amount_left} {purchase.currency} of purchase {purchase.purchase_id!r} "
            "not refunded yet"
        )
    if amount == amount_left:
        return remaining
    if "ruleset_version" in purchase.rule:  # earned by rules (bonuses, caps): its points in proportion
        points = int((purchase.points * amount / Decimal(purchase.amount)).to_integral_value(rounding=ROUND_DOWN))
    else:
        points = int((amount * Decimal(purchase.rule["points_per_unit"])).to_integral_value(rounding=ROUND_DOWN))
    if points <= 0:
        raise RefundExceedsPurchase(f"{amount} {purchase.currency} is worth no points under the purchase's rule")
    return min(points, remaining)


def accept_refund(
    session: Session,
    *,
    partner: Partner,
    purchase_id: str,
    refund_id: str,
    amount: Decimal | None,
    reason: str | None,
    refund_deadline: Callable[[int], int],
) -> tuple[Refund, bool]:
    """Stores the refund and its reversal, or returns the first one for the same ``refund_id``
    and body. ``refund_deadline`` gives a batch's refund deadline (Unix time) from the chain.
    Returns (refund, created)."""
    digest = request_hash(purchase_id, refund_id, amount, reason)
    existing = _find(session, partner.id, refund_id)
    if existing is not None:
        return same_or_conflict(existing, digest, "refund_id", existing.refund_id, "another body or purchase"), False
    purchase = find_purchase(session, partner.id, purchase_id)
    item = session.get(OutboxPurchase, purchase.outbox_id)
    assert item is not None
    if item.status not in CONFIRMED:
        raise PurchaseNotConfirmed(
            f"purchase {purchase_id!r} is {item.status.value}: it can be refunded once confirmed on chain"
        )
    if item.batch_id is not None:
        deadline = refund_deadline(item.batch_id)
        if 0 < deadline < time.time():
            closed = datetime.fromtimestamp(deadline, UTC).isoformat()
            raise RefundWindowClosed(
                f"purchase {purchase_id!r} was minted in batch {item.batch_id}, whose refund window closed at "
                f"{closed}: its points can no longer be clawed back on chain"
            )
    session.commit()  # ends the read: the write below starts a transaction that locks the purchase first
    try:
        # Serialises refunds of one purchase (a row lock on PostgreSQL, the write lock on SQLite),
        # so that what remains is read after any concurrent refund committed.
        session.execute(update(Purchase).where(Purchase.id == purchase.id).values(seq=Purchase.seq))
        points = refund_points(purchase, amount, _refunded(session, purchase))
        reversal = enqueue_reversal(
            session,
            partner_id=partner.id,
            purchase_outbox_id=item.id,
            seq=item.seq,
            customer=item.customer,
            points=points,
        )
        refund = Refund(
            partner_id=partner.id,
            purchase_pk=purchase.id,
            refund_id=refund_id,
            request_hash=digest,
            amount=amount,
            points=points,
            reason=reason,
            reversal_id=reversal.id,
        )
        session.add(refund)
        session.flush()
        update_member_totals(session, wallets=[purchase.customer_wallet])  # the RFM snapshot's totals
        # paid partly with points: they are given back in proportion (restored on chain by the partner,
        # at each capture's own rate: the reverse of the capture's credit)
        refunded_amount = _refunded(session, purchase)[1]
        points_holds.give_back(session, purchase=purchase, refund=refund, refunded_amount=refunded_amount)
        session.commit()
        session.refresh(refund)
    except IntegrityError:
        session.rollback()  # a concurrent request with the same refund_id won the race
        existing = _find(session, partner.id, refund_id)
        if existing is None:
            raise
        return same_or_conflict(existing, digest, "refund_id", existing.refund_id, "another body or purchase"), False
    except Exception:
        session.rollback()
        raise
    return refund, True


def get_refund(session: Session, *, partner: Partner, purchase_id: str, refund_id: str) -> Refund:
    purchase = find_purchase(session, partner.id, purchase_id)
    refund = _find(session, partner.id, refund_id)
    if refund is None or refund.purchase_pk != purchase.id:
        raise NotFound(f"no refund {refund_id!r} of purchase {purchase_id!r}")
    return refund


def list_refunds(session: Session, *, partner: Partner, purchase_id: str) -> list[Refund]:
    purchase = find_purchase(session, partner.id, purchase_id)
    return list(session.scalars(select(Refund).where(Refund.purchase_pk == purchase.id).order_by(Refund.id)))


def refund_event(session: Session, refund: Refund) -> dict[str, Any]:
    """The refund as the API and its webhooks show it."""
    reversal = session.get(OutboxReversal, refund.reversal_id)
    purchase = session.get(Purchase, refund.purchase_pk)
    assert reversal is not None and purchase is not None
    tx_hash = session.scalar(select(ChainTransaction.tx_hash).where(ChainTransaction.id == reversal.tx_id))
    reason = reversal.error if reversal.status == ReversalStatus.FAILED else None
    failure = failure_of("refund", reason)
    return {
        "refund_id": refund.refund_id,
        "purchase_id": purchase.purchase_id,
        "status": STATUS_NAMES[reversal.status],
        "amount": None if refund.amount is None else str(refund.amount),
        "points": refund.points,
        "reason": refund.reason,
        "customer_wallet": purchase.customer_wallet,
        "tx_hash": tx_hash if reversal.status != ReversalStatus.QUEUED else None,
        "failure_reason": reason,
        "failure": None if failure is None else failure.public(),
        "created_at": as_utc(refund.created_at).isoformat(),
    }


def refunded_total(session: Session, purchase: Purchase) -> int:
    """Points of the purchase clawed back on chain so far (confirmed refunds)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Refund.points), 0))
        .join(OutboxReversal, OutboxReversal.id == Refund.reversal_id)
        .where(Refund.purchase_pk == purchase.id, OutboxReversal.status == ReversalStatus.CONFIRMED)
    )
    return int(total or 0)
