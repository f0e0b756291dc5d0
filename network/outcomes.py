"""What became of purchases and refunds on chain, as domain events (network/store/events.py).

Whoever moves an earn item or a reversal to a final status (the sender, from a receipt or a
refusal; the held-purchase timeout) calls :func:`purchases_settled` or :func:`refunds_settled`
in the same transaction: each purchase gets one ``purchase.confirmed`` or ``purchase.failed``
event, each refund one ``refund.confirmed`` or ``refund.failed``. Once: a conditional update of
the row's ``notified_status`` decides, so a purchase minted again after a reorg is not
announced twice. Outbox items with no purchase (written straight to the outbox, not through
the gateway) have no event. Purchases held for lack of their partner's issuance headroom, and
put back in the queue when it returns, get ``purchase.held`` and ``purchase.released``
(:func:`purchases_moved`, each time). Both settle calls also bring the members' purchase totals up
to date (network/store/analytics_totals.py, the RFM snapshot's input): a purchase announced
confirmed is added (``add_confirmed_purchases``), a settled refund's member recomputed
(``update_member_totals``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from network.store import ChainTransaction, OutboxPurchase, OutboxReversal, Purchase, PurchaseStatus, Refund
from network.store import ReversalStatus as RS
from network.store.analytics_totals import add_confirmed_purchases, update_member_totals
from network.store.events import event_row, record_many

PURCHASE_FINAL = {
    PurchaseStatus.MINTED: "confirmed",
    PurchaseStatus.SKIPPED: "confirmed",
    PurchaseStatus.FAILED: "failed",
}
REFUND_FINAL = {RS.CONFIRMED: "confirmed", RS.FAILED: "failed"}
CHUNK = 5_000  # ids per IN (...)


def purchases_settled(session: Session, *, outbox_ids: Collection[int] = (), tx_ids: Collection[int] = ()) -> int:
    """Events for the purchases whose outbox items (``outbox_ids``, or those of the
    transactions ``tx_ids``) are now final and were not announced yet. Returns how many."""
    o, p, t = OutboxPurchase, Purchase, ChainTransaction
    columns = (
        o.status,
        o.batch_id,
        o.error,
        t.tx_hash,
        p.id,
        p.partner_id,
        p.purchase_id,
        p.customer_wallet,
        p.points,
        p.seq,
        p.qualifying_points,
    )
    base = (
        select(*columns)
        .select_from(o)
        .join(p, p.outbox_id == o.id)
        .outerjoin(t, t.id == o.tx_id)
        .where(o.status.in_(list(PURCHASE_FINAL)), p.notified_status.is_(None))
    )
    rows = _rows_by(session, base, (o.id, outbox_ids), (o.tx_id, tx_ids))
    now = datetime.now(UTC)

    def event(r: Any, status: str) -> dict[str, Any]:
        payload = {
            "purchase_id": r.purchase_id,
            "status": status,
            "customer_wallet": r.customer_wallet,
            "points": r.points,
            "seq": r.seq,
            "tx_hash": r.tx_hash,
            "batch_id": r.batch_id,
            "failure_reason": r.error if r.status == PurchaseStatus.FAILED else None,
            "qualifying_points": r.qualifying_points,  # earned under rules: the part that counts towards the tier
        }
        return event_row(
            f"purchase.{status}", payload=payload, partner_id=r.partner_id, customer_wallet=r.customer_wallet, at=now
        )

    def counted(won: dict[int, str]) -> None:  # each confirmed purchase added once, by the call announcing it
        add_confirmed_purchases(session, [pk for pk, status in won.items() if status == "confirmed"])

    return _settled(session, Purchase, rows, PURCHASE_FINAL, event, counted)


def purchases_moved(session: Session, event_type: str, outbox_ids: Collection[int]) -> int:
    """``purchase.held`` or ``purchase.released`` events for the purchases of the outbox items
    ``outbox_ids`` (those the caller's UPDATE just held for lack of the partner's issuance
    headroom, or put back in the queue). Returns how many."""
    o, p = OutboxPurchase, Purchase
    ids = list(outbox_ids)
    rows: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        rows += session.execute(
            select(o.status, o.error, p.partner_id, p.purchase_id, p.customer_wallet, p.points, p.seq)
            .join(p, p.outbox_id == o.id)
            .where(o.id.in_(ids[start : start + CHUNK]))
        ).all()
    now = datetime.now(UTC)
    events = [
        event_row(
            event_type,
            payload={
                "purchase_id": r.purchase_id,
                "status": "held" if r.status == PurchaseStatus.HELD else "accepted",
                "customer_wallet": r.customer_wallet,
                "points": r.points,
                "seq": r.seq,
                "reason": r.error if r.status == PurchaseStatus.HELD else None,
            },
            partner_id=r.partner_id,
            customer_wallet=r.customer_wallet,
            at=now,
        )
        for r in rows
    ]
    record_many(session, events)
    return len(events)


def refunds_settled(session: Session, *, reversal_ids: Collection[int] = (), tx_ids: Collection[int] = ()) -> int:
    """Events for the refunds whose reversals (``reversal_ids``, or those of the transactions
    ``tx_ids``) are now final and were not announced yet. Returns how many."""
    r_, f, p, t = OutboxReversal, Refund, Purchase, ChainTransaction
    base = (
        select(
            r_.status,
            r_.error,
            t.tx_hash,
            f.id,
            f.partner_id,
            f.refund_id,
            f.amount,
            f.points,
            f.reason,
            f.created_at,
            p.purchase_id,
            p.customer_wallet,
        )
        .select_from(r_)
        .join(f, f.reversal_id == r_.id)
        .join(p, p.id == f.purchase_pk)
        .outerjoin(t, t.id == r_.tx_id)
        .where(r_.status.in_(list(REFUND_FINAL)), f.notified_status.is_(None))
    )
    rows = _rows_by(session, base, (r_.id, reversal_ids), (r_.tx_id, tx_ids))

    def event(r: Any, status: str) -> dict[str, Any]:
        created = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC)
        payload = {
            "refund_id": r.refund_id,
            "purchase_id": r.purchase_id,
            "status": status,
            "amount": None if r.amount is None else str(r.amount),
            "points": r.points,
            "reason": r.reason,
            "customer_wallet": r.customer_wallet,
            "tx_hash": r.tx_hash,
            "failure_reason": r.error if r.status == RS.FAILED else None,
            "created_at": created.astimezone(UTC).isoformat(),
        }
        return event_row(
            f"refund.{status}", payload=payload, partner_id=r.partner_id, customer_wallet=r.customer_wallet
        )

    update_member_totals(session, wallets=[r.customer_wallet for r in rows])
    return _settled(session, Refund, rows, REFUND_FINAL, event)


def _rows_by(session: Session, query: Any, *keys: tuple[Any, Collection[int]]) -> list[Any]:
    """The rows of ``query`` whose ``column`` is in ``values``, for each (column, values), in
    chunks of ``CHUNK`` ids."""
    rows: list[Any] = []
    for column, values in keys:
        ids = list(values)
        for start in range(0, len(ids), CHUNK):
            rows += session.execute(query.where(column.in_(ids[start : start + CHUNK]))).all()
    return rows


def _settled(
    session: Session,
    model: type[Purchase] | type[Refund],
    rows: list[Any],
    final: dict[Any, str],
    event: Callable[[Any, str], dict[str, Any]],
    then: Callable[[dict[int, str]], None] | None = None,
) -> int:
    """One event per row (``event(row, status)``) whose final status this call announced first
    (``then`` is handed those rows' ids and statuses); returns how many."""
    if not rows:
        return 0
    won = _announce(session, model, {r.id: final[r.status] for r in rows})
    if then is not None:
        then(won)
    events = [event(r, won[r.id]) for r in rows if r.id in won]
    record_many(session, events)
    return len(events)


def _announce(session: Session, model: type[Purchase] | type[Refund], statuses: dict[int, str]) -> dict[int, str]:
    """Sets ``notified_status`` where it is still unset; returns the rows this call changed,
    with their status (a concurrent writer gets the others): each event is written once."""
    won: dict[int, str] = {}
    for status in sorted(set(statuses.values())):
        pks = [pk for pk, s in statuses.items() if s == status]
        for start in range(0, len(pks), CHUNK):
            result = session.execute(
                update(model)
                .where(model.id.in_(pks[start : start + CHUNK]), model.notified_status.is_(None))
                .values(notified_status=status)
                .returning(model.id)
                .execution_options(synchronize_session=False)
            )
            won.update(dict.fromkeys(result.scalars(), status))
    return won
