"""Analytics (migration 0026 analytics): the daily RFM snapshot and its runs, and the indexes the
KPIs read purchases and ledger movements by (gateway/services/analytics.py, rfm.py).

:class:`RfmSnapshot` holds one row per (day, scope, member): the member's raw values and scores as of
the end of ``day`` (UTC) and the named segment (loyalty/rfm.py's rule). ``scope`` is 0 for the
coalition, else a partner id. :class:`RfmRun` marks a (day, scope) done: written in the same
transaction as the snapshot's rows and ``segment.changed`` events, so a scope is either fully
there or not at all, and a run that stopped half-way resumes with the scopes still missing.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Index, Integer, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from network.store.base import Base, UTCDateTime, utcnow
from network.store.chain_tables import LedgerEntry
from network.store.tables import Purchase

_ID = BigInteger().with_variant(Integer, "sqlite")
COALITION = 0  # the scope of the whole coalition; a partner's scope is its id


class RfmSnapshot(Base):
    """A member's RFM values, scores and segment in one scope as of the end of ``day`` (UTC)."""

    __tablename__ = "rfm_snapshots"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scope: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(_ID, primary_key=True)
    last_day: Mapped[date] = mapped_column(Date)  # the UTC day of the last counted purchase
    frequency: Mapped[int] = mapped_column(Integer)
    monetary: Mapped[Decimal] = mapped_column(Numeric(24, 4))  # a partner's currency; points coalition-wide
    r: Mapped[int] = mapped_column(SmallInteger)
    f: Mapped[int] = mapped_column(SmallInteger)
    m: Mapped[int] = mapped_column(SmallInteger)
    segment: Mapped[str] = mapped_column(String(24))


class RfmRun(Base):
    """A (day, scope) whose snapshot is complete: how many members, how many changed segment."""

    __tablename__ = "rfm_runs"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scope: Mapped[int] = mapped_column(Integer, primary_key=True)
    members: Mapped[int] = mapped_column(Integer)
    changes: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Numeric(12, 3))
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# the KPIs' and the snapshot's reads: purchases by time (coalition) and by partner and time; ledger
# movements by kind and time, covering (chain, partner, points: the sums of a period and the
# liability's opening balance read the index alone, 10x faster than a row look-up each)
Index("ix_purchases_time", Purchase.purchased_at)
Index("ix_purchases_partner_time", Purchase.partner_id, Purchase.purchased_at)
Index(
    "ix_ledger_kind_time",
    LedgerEntry.kind,
    LedgerEntry.block_time,
    LedgerEntry.chain_id,
    LedgerEntry.partner_id,
    LedgerEntry.points,
)
