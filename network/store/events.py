"""Domain events: what happened that matters to someone outside (a purchase accepted or
confirmed, a refund failed, a customer linked...), written in the same database transaction as
the change (a transactional outbox), and read by consumers with cursors of their own.

Writing: :func:`record` (one event) and :func:`record_many` (one ``executemany``, for the
group commit of purchases and the sender's batches) add rows to ``domain_events`` in the
caller's transaction; they flush nothing and commit nothing, so an event exists if and only if
its change was committed. The events are the store's own rows, never the indexer's
(``chain_events`` are deleted when the indexer rewinds after a reorg; these never are: they are
pruned only once every consumer has read them and they are older than the retention, :func:`prune`).

Reading: :func:`consume` runs one consumer (a name of its own in ``event_cursors``): it reads
the events after its cursor, hands them to the consumer's function and moves the cursor, all
in one transaction. An event is handed over at least once (a handler whose transaction rolls
back sees it again), so handlers are idempotent.

Ids are a cursor, not a clock: with concurrent writers (PostgreSQL sequences), a transaction
can commit an id lower than one already read. The cursor therefore remembers the holes it
stepped over (``gaps``: ranges of ids missing when it moved past them) and reads them again on
each run until they show up, or until they are older than ``gap_ttl_s`` (an id taken by a
transaction that rolled back never shows up). A late event is handed over after higher ones:
consumers get events in id order except for late commits. See :func:`advance`.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from network.store.base import Base, UTCDateTime, utcnow

log = logging.getLogger(__name__)

GAP_TTL_S = 600.0  # how long a hole in the ids is waited for (a transaction open longer is not expected)
MAX_GAPS = 1_000  # ranges remembered per consumer; the oldest are dropped beyond it
READ_CHUNK = 5_000  # ids per IN (...): under every SQLite build's variable limit


class DomainEvent(Base):
    """One thing that happened. ``id`` orders the events and is the consumers' cursor;
    ``event_id`` is the public id (the one webhooks carry); ``partner_id`` and
    ``customer_wallet`` say whom it concerns (either may be None: a settlement concerns every
    partner, a partner's funds no customer)."""

    __tablename__ = "domain_events"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused, even after the newest is deleted

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    partner_id: Mapped[int | None] = mapped_column(Integer)
    customer_wallet: Mapped[str | None] = mapped_column(String(42))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EventCursor(Base):
    """Where one consumer stands: every event up to ``last_id`` was handed to it, except the
    ids inside ``gaps`` (``[[first, last, since], ...]``, since as Unix time), which were
    missing when it moved past them and are read again until they appear or expire."""

    __tablename__ = "event_cursors"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    gaps: Mapped[list] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


EVENTS = DomainEvent.__table__
CURSORS = EventCursor.__table__


@dataclass(frozen=True, slots=True)
class Event:
    """A domain event as consumers get it."""

    id: int
    event_id: str
    type: str
    partner_id: int | None
    customer_wallet: str | None
    payload: dict[str, Any]
    created_at: datetime


# ---------------------------------------------------------------------- writing


def new_event_id() -> str:
    """``evt_`` and 32 hex digits, as webhooks always carried, ordered by time like a UUIDv7 (the
    milliseconds first, then 80 random bits): the unique index then grows at its end, where a
    random id dirtied a page of the index per event (a thousand-purchase batch wrote ~4 MB)."""
    return f"evt_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def event_row(
    event_type: str,
    *,
    payload: dict[str, Any],
    partner_id: int | None = None,
    customer_wallet: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The row of one event, for :func:`record_many`."""
    return {
        "event_id": new_event_id(),
        "type": event_type,
        "partner_id": partner_id,
        "customer_wallet": customer_wallet,
        "payload": payload,
        "created_at": at or utcnow(),
    }


def record(
    session: Session,
    event_type: str,
    *,
    payload: dict[str, Any],
    partner_id: int | None = None,
    customer_wallet: str | None = None,
) -> str:
    """Adds one event in the caller's transaction (the caller commits); returns its public id."""
    row = event_row(event_type, payload=payload, partner_id=partner_id, customer_wallet=customer_wallet)
    session.execute(insert(EVENTS), [row])
    return str(row["event_id"])


def record_many(session: Session, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Adds events (rows of :func:`event_row`) in one ``executemany``, in the caller's
    transaction; returns their public ids."""
    if rows:
        session.connection().execute(insert(EVENTS), list(rows))
    return [str(r["event_id"]) for r in rows]


# ---------------------------------------------------------------------- reading


Gap = list[float]  # [first id, last id, since (Unix time)]


def advance(
    last_id: int, gaps: list[Gap], seen: Collection[int], *, now: float, ttl_s: float = GAP_TTL_S
) -> tuple[int, list[Gap], list[Gap]]:
    """The cursor after a read: (new last id, gaps still waited for, gaps given up). ``seen``
    are the ids read (after ``last_id`` and inside ``gaps``); every id after ``last_id`` and
    below the highest seen that was not seen becomes a gap, found ids leave their gaps, and gaps
    older than ``ttl_s`` are given up (as are the oldest beyond :data:`MAX_GAPS`)."""
    found = sorted(seen)
    kept: list[Gap] = []
    for first, last, since in gaps:
        start = int(first)
        for i in (i for i in found if first <= i <= last):
            if i > start:
                kept.append([start, i - 1, since])
            start = i + 1
        if start <= last:
            kept.append([start, int(last), since])
    expected = last_id + 1
    for i in (i for i in found if i > last_id):
        if i > expected:
            kept.append([expected, i - 1, now])
        expected = i + 1
    new_last = max(last_id, expected - 1)
    live = [g for g in kept if now - g[2] <= ttl_s]
    expired = [g for g in kept if now - g[2] > ttl_s]
    if len(live) > MAX_GAPS:
        live.sort(key=lambda g: (g[2], g[0]))
        expired += live[: len(live) - MAX_GAPS]
        live = live[len(live) - MAX_GAPS :]
    return new_last, sorted(live), expired


def _in_gaps(gaps: list[Gap]) -> Any:
    return or_(*(EVENTS.c.id.between(int(first), int(last)) for first, last, _ in gaps))


def _cursor(session: Session, consumer: str) -> tuple[int, list[Gap]]:
    row = session.execute(select(CURSORS.c.last_id, CURSORS.c.gaps).where(CURSORS.c.consumer == consumer)).first()
    if row is not None:
        return int(row.last_id), list(row.gaps or [])
    try:
        with session.begin_nested():
            session.execute(insert(CURSORS), [{"consumer": consumer, "last_id": 0, "gaps": [], "updated_at": utcnow()}])
    except IntegrityError:  # another run of the same consumer made it first
        pass
    return 0, []


def _anything_new(session: Session, last_id: int, gaps: list[Gap], now: float, ttl_s: float) -> bool:
    """Read without a lock: is there an event after the cursor, one in a gap, or a gap to give up?"""
    if session.scalar(select(EVENTS.c.id).where(EVENTS.c.id > last_id).limit(1)) is not None:
        return True
    if not gaps:
        return False
    if any(now - since > ttl_s for _, _, since in gaps):
        return True
    return session.scalar(select(EVENTS.c.id).where(_in_gaps(gaps)).limit(1)) is not None


def consume(
    sessions: sessionmaker[Session],
    consumer: str,
    handle: Callable[[Session, list[Event]], None],
    *,
    wants: Callable[[str, int | None], bool] | None = None,
    limit: int = 10_000,
    gap_ttl_s: float = GAP_TTL_S,
) -> int:
    """One run of ``consumer``: hands the events after its cursor (and the late ones inside its
    gaps), in id order, to ``handle(session, events)``, moves the cursor, and commits both
    together; returns how many events were read. ``wants(type, partner_id)`` skips, unread, the
    events the consumer has no use for (its cursor moves past them all the same).

    Runs of one consumer are serialised by a write on its cursor row before anything is read
    (a row lock on PostgreSQL, the write lock on SQLite), so two runs never hand over the same
    event at once. Idle runs only read."""
    now = utcnow().timestamp()
    with sessions() as session:
        last_id, gaps = _cursor(session, consumer)
        if not _anything_new(session, last_id, gaps, now, gap_ttl_s):
            session.commit()
            return 0
        session.execute(update(CURSORS).where(CURSORS.c.consumer == consumer).values(updated_at=utcnow()))
        last_id, gaps = _cursor(session, consumer)  # again, under the lock
        heads = session.execute(
            select(EVENTS.c.id, EVENTS.c.type, EVENTS.c.partner_id)
            .where(EVENTS.c.id > last_id)
            .order_by(EVENTS.c.id)
            .limit(limit)
        ).all()
        if gaps:
            heads += session.execute(
                select(EVENTS.c.id, EVENTS.c.type, EVENTS.c.partner_id).where(_in_gaps(gaps))
            ).all()
        new_last, new_gaps, expired = advance(last_id, gaps, [h.id for h in heads], now=now, ttl_s=gap_ttl_s)
        for first, last, since in expired:
            log.warning(
                "event consumer %s gives up waiting for ids %d..%d (missing since %s): rolled back, or "
                "committed after %.0f s",
                consumer,
                first,
                last,
                datetime.fromtimestamp(since).isoformat(),
                gap_ttl_s,
            )
        wanted = sorted(h.id for h in heads if wants is None or wants(h.type, h.partner_id))
        events = _load(session, wanted)
        if events:
            handle(session, events)
        session.execute(
            update(CURSORS)
            .where(CURSORS.c.consumer == consumer)
            .values(last_id=new_last, gaps=new_gaps, updated_at=utcnow())
        )
        session.commit()
    return len(heads)


def _load(session: Session, ids: list[int]) -> list[Event]:
    events: list[Event] = []
    for start in range(0, len(ids), READ_CHUNK):
        chunk = ids[start : start + READ_CHUNK]
        rows = session.execute(select(EVENTS).where(EVENTS.c.id.in_(chunk)).order_by(EVENTS.c.id)).all()
        events += [Event(**row._mapping) for row in rows]
    return events


def cursor_of(session: Session, consumer: str) -> tuple[int, list[Gap]]:
    """(last id, gaps) of a consumer; (0, []) for one that never ran."""
    row = session.execute(select(CURSORS.c.last_id, CURSORS.c.gaps).where(CURSORS.c.consumer == consumer)).first()
    return (0, []) if row is None else (int(row.last_id), list(row.gaps or []))


# ---------------------------------------------------------------------- pruning


def prunable_below(session: Session) -> int:
    """The highest id every consumer has read for good: below each cursor's ``last_id`` and below
    the first id of each of its gaps (an id in a gap may still commit). 0 while no consumer has
    a cursor: nothing is read yet."""
    rows = session.execute(select(CURSORS.c.last_id, CURSORS.c.gaps)).all()
    if not rows:
        return 0
    safe = min(int(last_id) for last_id, _ in rows)
    for _, gaps in rows:
        for first, _last, _since in gaps or []:
            safe = min(safe, int(first) - 1)
    return max(safe, 0)


def prune(session: Session, *, before: datetime, limit: int = READ_CHUNK) -> int:
    """Deletes up to ``limit`` events written before ``before`` that every consumer has read
    (:func:`prunable_below`), oldest first, in the caller's transaction; returns how many. A
    consumer added later starts after what was pruned."""
    safe = prunable_below(session)
    if safe <= 0:
        return 0
    doomed = (
        select(EVENTS.c.id)
        .where(EVENTS.c.id <= safe, EVENTS.c.created_at < before)
        .order_by(EVENTS.c.id)
        .limit(limit)
        .scalar_subquery()
    )
    return int(session.execute(delete(EVENTS).where(EVENTS.c.id.in_(doomed))).rowcount)  # type: ignore[attr-defined]


def newest_id(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(EVENTS.c.id), 0))) or 0)


__all__ = [
    "DomainEvent",
    "Event",
    "EventCursor",
    "advance",
    "consume",
    "cursor_of",
    "event_row",
    "new_event_id",
    "newest_id",
    "prunable_below",
    "prune",
    "record",
    "record_many",
]
