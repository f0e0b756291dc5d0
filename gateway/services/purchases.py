"""Accepting purchases: the earn rule, idempotency, a sequence number, and the outbox entry,
all in one database transaction, so that an accepted purchase is never dropped and never
minted twice."""

from __future__ import annotations

import threading
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import (
    AmountTooLarge,
    CurrencyNotAccepted,
    CustomerNotLinked,
    NoPoints,
    PartnerSuspended,
)
from gateway.models import CustomerLink, Partner, Purchase
from gateway.schemas import PurchaseCreate
from gateway.services.idempotency import body_hash, same_or_conflict
from gateway.timeutil import as_utc
from network.outbox import enqueue, item_result
from network.purchases import MAX_POINTS
from network.store import OutboxPurchase, PurchaseStatus

# One writer at a time in this process: SQLite serialises writers anyway, and threads that wait
# in its busy handler (sleeps of up to 100 ms) instead of on a lock cut throughput tenfold.
WRITES = threading.Lock()

STATUS_NAMES = {
    PurchaseStatus.QUEUED: "accepted",
    PurchaseStatus.SENT: "submitted",
    PurchaseStatus.MINTED: "confirmed",
    PurchaseStatus.SKIPPED: "confirmed",  # its seq was minted by an earlier transaction of ours
    PurchaseStatus.FAILED: "failed",
}


def request_hash(body: PurchaseCreate) -> str:
    """The idempotency hash of a purchase: the canonical JSON of its fields (the fields of
    ``body.model_dump(mode="json")``, built by hand: a tenth of a batch purchase's cost went to
    the dump; a test holds the two equal, so hashes stored earlier still match)."""
    fields = {
        "purchase_id": body.purchase_id,
        "customer": {"wallet": body.customer.wallet, "ref": body.customer.ref},
        "amount": format(body.amount.normalize(), "f"),  # 42.5 and 42.50 are the same amount
        "currency": body.currency,
        "purchased_at": as_utc(body.purchased_at).isoformat(),  # the same instant, however written
    }
    return body_hash(fields)


def points_for(partner: Partner, amount: Decimal, currency: str) -> tuple[int, dict[str, str]]:
    """Points of a purchase under the partner's rule: amount x points per unit, rounded down."""
    if currency != partner.currency:
        raise CurrencyNotAccepted(f"partner earns points on {partner.currency} purchases, not {currency}")
    rule = {"currency": partner.currency, "points_per_unit": str(partner.points_per_unit), "rounding": "down"}
    points = int((amount * Decimal(partner.points_per_unit)).to_integral_value(rounding=ROUND_DOWN))
    if points <= 0:
        raise NoPoints(f"{amount} {currency} earns no points at {partner.points_per_unit} per unit")
    if points > MAX_POINTS:
        raise NoPoints(f"{points} points exceed the largest purchase ({MAX_POINTS})")
    return points, rule


def _wallet(session: Session, partner: Partner, body: PurchaseCreate) -> str:
    if body.customer.wallet is not None:
        return body.customer.wallet
    link = session.scalar(
        select(CustomerLink).where(CustomerLink.partner_id == partner.id, CustomerLink.ref == body.customer.ref)
    )
    if link is None:
        raise CustomerNotLinked(f"customer ref {body.customer.ref!r} is not linked to a wallet; link it first")
    return link.wallet


def accept_purchase(
    session: Session, *, partner: Partner, body: PurchaseCreate, max_amount: Decimal
) -> tuple[Purchase, bool]:
    """Stores the purchase and its outbox entry, or returns the first one for the same
    ``purchase_id`` and body. Returns (purchase, created)."""
    digest = request_hash(body)
    existing = _find(session, partner.id, body.purchase_id)
    if existing is not None:
        return same_or_conflict(existing, digest, "purchase_id", existing.purchase_id), False
    if partner.status != "active":
        raise PartnerSuspended(f"partner {partner.id} is suspended; purchases are not accepted")
    if body.amount > max_amount:
        raise AmountTooLarge(f"{body.amount} {body.currency} is above the largest purchase accepted ({max_amount})")
    points, rule = points_for(partner, body.amount, body.currency)
    wallet = _wallet(session, partner, body)
    try:
        with WRITES:
            purchase = _store(
                session, partner=partner, body=body, digest=digest, wallet=wallet, points=points, rule=rule
            )
        session.refresh(purchase)  # answer with what is stored: the first answer and every later one agree
    except IntegrityError:
        session.rollback()  # a concurrent request with the same purchase_id won the race
        existing = _find(session, partner.id, body.purchase_id)
        if existing is None:
            raise
        return same_or_conflict(existing, digest, "purchase_id", existing.purchase_id), False
    return purchase, True


def _store(
    session: Session, *, partner: Partner, body: PurchaseCreate, digest: str, wallet: str, points: int, rule: dict
) -> Purchase:
    """The write of an accepted purchase: its seq, its outbox entry and itself, one transaction."""
    seq = session.scalar(
        update(Partner)
        .where(Partner.id == partner.id)
        .values(next_seq=Partner.next_seq + 1)
        .returning(Partner.next_seq)
    )
    assert seq is not None
    item = enqueue(session, partner_id=partner.id, seq=seq, customer=wallet, points=points)
    purchase = Purchase(
        partner_id=partner.id,
        purchase_id=body.purchase_id,
        request_hash=digest,
        seq=seq,
        customer_wallet=wallet,
        customer_ref=body.customer.ref,
        amount=body.amount,
        currency=body.currency,
        points=points,
        rule=rule,
        purchased_at=as_utc(body.purchased_at),  # SQLite drops the offset: store UTC
        outbox_id=item.id,
    )
    session.add(purchase)
    session.commit()
    return purchase


def _find(session: Session, partner_id: int, purchase_id: str) -> Purchase | None:
    return session.scalar(
        select(Purchase).where(Purchase.partner_id == partner_id, Purchase.purchase_id == purchase_id)
    )


def get_purchase(session: Session, *, partner: Partner, purchase_id: str) -> Purchase | None:
    return _find(session, partner.id, purchase_id)


def status_of(session: Session, purchase: Purchase) -> tuple[str, str | None, int | None, str | None]:
    """(status name, tx hash, batch id, failure reason) of a purchase, from its outbox entry."""
    item = session.get(OutboxPurchase, purchase.outbox_id)
    assert item is not None
    result = item_result(session, item)
    reason = result.error if result.status == PurchaseStatus.FAILED else None
    return STATUS_NAMES[result.status], result.tx_hash, result.batch_id, reason
