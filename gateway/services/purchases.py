"""Purchases: the earn rule, the idempotency hash, reading one back and where it stands.
Accepted purchases are written by the group-commit writer (``purchase_writer.py``)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import CurrencyNotAccepted, NoPoints
from gateway.failures import failure_of
from gateway.schemas import PurchaseCreate
from gateway.services.idempotency import body_hash
from gateway.timeutil import as_utc
from network.outbox import item_result
from network.purchases import MAX_POINTS
from network.store import OutboxPurchase, Partner, Purchase, PurchaseStatus

STATUS_NAMES = {
    PurchaseStatus.QUEUED: "accepted",
    PurchaseStatus.HELD: "held",  # waits for the partner's issuance headroom (a deposit, a settlement)
    PurchaseStatus.SENT: "submitted",
    PurchaseStatus.MINTED: "confirmed",
    PurchaseStatus.SKIPPED: "confirmed",  # its seq was minted by an earlier transaction of ours
    PurchaseStatus.FAILED: "failed",
}


def request_hash(body: PurchaseCreate) -> str:
    """The idempotency hash of a purchase: the canonical JSON of its fields (the fields of
    ``body.model_dump(mode="json")``, built by hand: a tenth of a batch purchase's cost went to
    the dump; a test holds the two equal, so hashes stored earlier still match).

    What identifies a purchase is what it was posted with: its id, customer, amount and currency,
    and ``purchased_at`` if the partner sent one (absent, it is None here, and the gateway
    stamps the purchase with the time it first accepted it: a retry of a body without it is the
    same request, whenever it comes)."""
    fields = {
        "purchase_id": body.purchase_id,
        "customer": {"wallet": body.customer.wallet, "ref": body.customer.ref},
        "amount": format(body.amount.normalize(), "f"),  # 42.5 and 42.50 are the same amount
        "currency": body.currency,
        # the same instant, however written; None when the partner left it to the gateway
        "purchased_at": None if body.purchased_at is None else as_utc(body.purchased_at).isoformat(),
    }
    # lines and tenders (issue 16) count only when sent: the hash of a body without them is the
    # one stored before they existed
    if body.lines is not None:
        fields["lines"] = [
            {
                "sku": line.sku,
                "category": line.category,
                "labels": sorted(line.labels),
                "quantity": _canonical(line.quantity),
                "unit_price": _canonical(line.unit_price),
                "discount": _canonical(line.discount),
            }
            for line in body.lines
        ]
    if body.paid_with is not None:
        fields["paid_with"] = {
            "points": _canonical(body.paid_with.points),
            "gift_cards": _canonical(body.paid_with.gift_cards),
        }
    return body_hash(fields)


def _canonical(value: Decimal) -> str:
    return format(value.normalize(), "f")


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


def _find(session: Session, partner_id: int, purchase_id: str) -> Purchase | None:
    return session.scalar(
        select(Purchase).where(Purchase.partner_id == partner_id, Purchase.purchase_id == purchase_id)
    )


def get_purchase(session: Session, *, partner: Partner, purchase_id: str) -> Purchase | None:
    return _find(session, partner.id, purchase_id)


def status_of(session: Session, purchase: Purchase) -> tuple[str, str | None, int | None, str | None]:
    """(status name, tx hash, batch id, reason) of a purchase, from its outbox entry; the reason
    says why it failed, or why it is held."""
    item = session.get(OutboxPurchase, purchase.outbox_id)
    assert item is not None
    result = item_result(session, item)
    reason = result.error if result.status in (PurchaseStatus.FAILED, PurchaseStatus.HELD) else None
    return STATUS_NAMES[result.status], result.tx_hash, result.batch_id, reason


def failure(status: str, reason: str | None) -> dict[str, str] | None:
    """The problem ``{type, title, detail}`` of a failed or held purchase's reason (gateway/failures.py)."""
    found = failure_of("purchase", reason, held=status == "held")
    return None if found is None else found.public()
