"""Per-member purchase totals (migration 0031, issue 19 item 4): what the RFM snapshot reads instead
of every purchase.

:class:`MemberPartnerTotal` holds, per (customer, partner), the purchases that count *now*: confirmed
(minted or skipped), net amount above zero after the refunds whose reversal did not fail (a refund
without an amount: everything), whoever the customer is (erased members are left out by the
reader, which joins ``members``). Their first and last time, number, net amount in ten-thousandths
of the partner's currency (``units``) and net points. The rule is the one of
gateway/services/rfm.py ``counted`` without an end: the snapshot of a day reads these rows for
the members with nothing at or after the day's end, and ``counted`` for the others.

:func:`refresh` recomputes the rows of some customers (or all of them: the back-fill, migration
0031 and the bench generator run the same SQL) from the raw rows: deleting theirs, then one
``INSERT ... SELECT`` grouped by (customer, partner). Kept up to date

- where the data arrives, in the same transaction: :func:`add_confirmed_purchases` when
  purchases are announced confirmed (network/outcomes.py ``purchases_settled``, an upsert of
  increments), :func:`update_member_totals` (the member's rows recomputed) when a refund is stored
  (gateway/services/refunds.py) and when a reversal is final (``refunds_settled``);
- and by :func:`catch_up` (run by the snapshot first): the customers of purchases and refunds
  written since the marks (``analytics_marks``: the highest ids seen), which catches rows written
  by other paths (imports, tests, the generator without its back-fill).

A member has a handful of purchases: a refresh reads them by the purchases' wallet index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import Select, Subquery
from sqlalchemy.sql.elements import ColumnElement

from network.store.base import Base, UTCDateTime
from network.store.chain_tables import OutboxPurchase, OutboxReversal, PurchaseStatus, ReversalStatus
from network.store.customers import CustomerWallet
from network.store.tables import Purchase, Refund

_ID = BigInteger().with_variant(Integer, "sqlite")
UNITS = 10_000  # amounts are Numeric(20, 4): whole numbers of ten-thousandths
CONFIRMED = (PurchaseStatus.MINTED, PurchaseStatus.SKIPPED)
CHUNK = 2_000  # customers per refresh statement (under every SQLite build's variable limit)


class MemberPartnerTotal(Base):
    """A customer's counted purchases at one partner, as of now."""

    __tablename__ = "member_partner_totals"

    customer_id: Mapped[int] = mapped_column(_ID, primary_key=True)
    partner_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    purchases: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(BigInteger)  # net amount x 10,000, the partner's currency
    points: Mapped[int] = mapped_column(BigInteger)  # net points earned


class AnalyticsMark(Base):
    """The highest id of a table whose rows :func:`catch_up` has folded into the totals."""

    __tablename__ = "analytics_marks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger)


# the partner scopes read their members' rows; the snapshot finds the members with purchases or
# refunds at or after a day's end by time (purchases: ix_purchases_time, migration 0026)
Index("ix_member_partner_totals_partner", MemberPartnerTotal.partner_id, MemberPartnerTotal.customer_id)
Index("ix_refunds_created", Refund.created_at)

TOTALS = MemberPartnerTotal.__table__
MARKS = AnalyticsMark.__table__
COLUMNS = ["customer_id", "partner_id", "first_at", "last_at", "purchases", "units", "points"]


def refunds_by_purchase(*where: Any) -> Subquery:
    """The refunds whose reversal did not fail (and ``where``), per purchase (``pk``): how many
    (``n``), how many carry an amount (``with_amount``), their amount and points."""
    return (
        select(
            Refund.purchase_pk.label("pk"),
            func.count().label("n"),
            func.count(Refund.amount).label("with_amount"),
            func.sum(Refund.amount).label("amount"),
            func.sum(Refund.points).label("points"),
        )
        .join(OutboxReversal, OutboxReversal.id == Refund.reversal_id)
        .where(OutboxReversal.status != ReversalStatus.FAILED, *where)
        .group_by(Refund.purchase_pk)
        .subquery("r")
    )


def net_amount(refunds: Subquery) -> ColumnElement[Any]:
    """A purchase's amount less its ``refunds_by_purchase`` (a refund without an amount: all of it)."""
    return case(
        (refunds.c.n > refunds.c.with_amount, literal(0)),
        else_=Purchase.amount - func.coalesce(refunds.c.amount, 0),
    )


def purchase_status() -> ColumnElement[Any]:
    """A purchase's outbox status through coalesce (a purchase without one: failed): an expression
    no index serves, so that the database looks the outbox rows of the purchases it chose up."""
    return func.coalesce(OutboxPurchase.status, literal(PurchaseStatus.FAILED, OutboxPurchase.status.type))


def totals_select(customers: Select[Any] | list[int] | None = None) -> Select[Any]:
    """The rows of ``member_partner_totals`` computed from the raw rows: of ``customers`` (ids, or a
    SELECT of ids), or everybody's (None)."""
    purchases_where: list[Any] = []
    refunds_where: list[Any] = []
    if customers is not None:
        wallets = select(CustomerWallet.address).where(CustomerWallet.customer_id.in_(customers))
        purchases_where.append(Purchase.customer_wallet.in_(wallets))
        refunds_where.append(Refund.purchase_pk.in_(select(Purchase.id).where(Purchase.customer_wallet.in_(wallets))))
    refunds = refunds_by_purchase(*refunds_where)
    # the status through coalesce, which no index serves: SQLite reads the customers' purchases by
    # wallet and looks their outbox rows up, never every confirmed outbox row first
    status = purchase_status()
    inner = (
        select(
            CustomerWallet.customer_id.label("customer_id"),
            Purchase.partner_id.label("partner_id"),
            Purchase.purchased_at.label("at"),
            func.round(net_amount(refunds) * UNITS).label("units"),
            (Purchase.points - func.coalesce(refunds.c.points, 0)).label("points"),
        )
        .join(OutboxPurchase, OutboxPurchase.id == Purchase.outbox_id)
        .join(CustomerWallet, CustomerWallet.address == Purchase.customer_wallet)
        .outerjoin(refunds, refunds.c.pk == Purchase.id)
        .where(status.in_(CONFIRMED), *purchases_where)
        .subquery("p")
    )
    return (
        select(
            inner.c.customer_id,
            inner.c.partner_id,
            func.min(inner.c.at),
            func.max(inner.c.at),
            func.count(),
            func.sum(inner.c.units),
            func.sum(inner.c.points),
        )
        .where(inner.c.units > 0)
        .group_by(inner.c.customer_id, inner.c.partner_id)
    )


def refresh(bind: Session | Connection, customers: list[int] | None = None) -> None:
    """Recomputes the totals of ``customers`` (None: everybody's, the back-fill, which also moves
    the marks to the newest purchase and refund) in the caller's transaction."""
    if customers is None:
        bind.execute(delete(TOTALS))
        bind.execute(insert(TOTALS).from_select(COLUMNS, totals_select()))
        _mark(bind, "purchases", bind.scalar(select(func.max(Purchase.id))))
        _mark(bind, "refunds", bind.scalar(select(func.max(Refund.id))))
        return
    ids = sorted(set(customers))
    postgresql = _dialect(bind) == "postgresql"
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        bind.execute(delete(TOTALS).where(TOTALS.c.customer_id.in_(chunk)))
        if postgresql:  # a concurrent refresh of the same member inserted first: the newer values win
            put = pg_insert(TOTALS).from_select(COLUMNS, totals_select(chunk))
            put = put.on_conflict_do_update(
                index_elements=["customer_id", "partner_id"], set_={c: put.excluded[c] for c in COLUMNS[2:]}
            )
            bind.execute(put)
        else:
            bind.execute(insert(TOTALS).from_select(COLUMNS, totals_select(chunk)))


def add_confirmed_purchases(session: Session, purchase_pks: list[int]) -> None:
    """The sender's call, in the transaction that announces these purchases confirmed (each one
    once): their amounts added to their members' totals, an upsert per (customer, partner) that
    reads no other purchase. A purchase has no refund before it is confirmed, so its net amount is
    its amount; one of zero does not count."""
    if not purchase_pks:
        return
    postgresql = session.get_bind().dialect.name == "postgresql"
    upsert: Any = pg_insert if postgresql else sqlite_insert
    lesser, greater = (func.least, func.greatest) if postgresql else (func.min, func.max)
    units = func.round(Purchase.amount * UNITS)
    for start in range(0, len(purchase_pks), CHUNK):
        rows = (
            select(
                CustomerWallet.customer_id,
                Purchase.partner_id,
                func.min(Purchase.purchased_at),
                func.max(Purchase.purchased_at),
                func.count(),
                func.sum(units),
                func.sum(Purchase.points),
            )
            .join(CustomerWallet, CustomerWallet.address == Purchase.customer_wallet)
            .where(Purchase.id.in_(purchase_pks[start : start + CHUNK]), units > 0)
            .group_by(CustomerWallet.customer_id, Purchase.partner_id)
        )
        put = upsert(TOTALS).from_select(COLUMNS, rows)
        new = put.excluded
        put = put.on_conflict_do_update(
            index_elements=["customer_id", "partner_id"],
            set_={
                "first_at": lesser(TOTALS.c.first_at, new.first_at),
                "last_at": greater(TOTALS.c.last_at, new.last_at),
                "purchases": TOTALS.c.purchases + new.purchases,
                "units": TOTALS.c.units + new.units,
                "points": TOTALS.c.points + new.points,
            },
        )
        session.execute(put)


def update_member_totals(session: Session, *, wallets: list[str]) -> None:
    """The write paths' one call (purchases final, a refund stored, a reversal final), in their
    transaction: the totals of the customers of ``wallets`` recomputed."""
    if wallets:
        refresh(session, customers_of_wallets(session, wallets))


def customers_of_wallets(bind: Session | Connection, wallets: list[str]) -> list[int]:
    found: set[int] = set()
    unique = sorted(set(wallets))
    for start in range(0, len(unique), CHUNK):
        q = select(CustomerWallet.customer_id).where(CustomerWallet.address.in_(unique[start : start + CHUNK]))
        found.update(int(c) for c in bind.scalars(q))
    return sorted(found)


def catch_up(bind: Session | Connection) -> int:
    """Folds the purchases and refunds written since the marks into the totals (their customers'
    rows recomputed) and moves the marks; returns how many customers were refreshed."""
    if _dialect(bind) == "postgresql":
        # the senders' increments wait, and those under way finish first: a recomputation must not
        # overwrite one committed while it read (READ COMMITTED; each statement below reads anew)
        bind.execute(text("LOCK TABLE member_partner_totals IN SHARE ROW EXCLUSIVE MODE"))
    marks = {str(n): int(i) for n, i in bind.execute(select(MARKS.c.name, MARKS.c.last_id))}
    p_mark, r_mark = marks.get("purchases", 0), marks.get("refunds", 0)
    p_top = bind.scalar(select(func.max(Purchase.id))) or 0
    r_top = bind.scalar(select(func.max(Refund.id))) or 0
    if p_top <= p_mark and r_top <= r_mark:
        return 0
    wallets = (
        select(Purchase.customer_wallet)
        .where(Purchase.id > p_mark)
        .union(
            select(Purchase.customer_wallet).join(Refund, Refund.purchase_pk == Purchase.id).where(Refund.id > r_mark)
        )
    )
    customers = [
        int(c) for c in bind.scalars(select(CustomerWallet.customer_id).where(CustomerWallet.address.in_(wallets)))
    ]
    refresh(bind, customers)
    _mark(bind, "purchases", p_top)
    _mark(bind, "refunds", r_top)
    return len(customers)


def _dialect(bind: Session | Connection) -> str:
    return str(bind.get_bind().dialect.name if isinstance(bind, Session) else bind.dialect.name)


def _mark(bind: Session | Connection, name: str, last_id: int | None) -> None:
    value = int(last_id or 0)
    if bind.execute(update(MARKS).where(MARKS.c.name == name).values(last_id=value)).rowcount == 0:
        bind.execute(insert(MARKS).values(name=name, last_id=value))
