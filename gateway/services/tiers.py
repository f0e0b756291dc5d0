"""Coalition-wide tiers, wired: the store feeds loyalty/tiers.py's rules and writes what they answer.

- **Qualifying movements from domain events.** The tier consumer (:func:`consume`, cursor
  ``tiers``) reads ``purchase.confirmed`` and ``refund.confirmed``: a confirmed purchase qualifies
  with :func:`qualifying_points_of` its points, at the time it was confirmed; a refund takes back
  its share of them, counted at the purchase's time. One movement per source (a unique key), so an
  event read twice records one. The wallet's customer is the member (made one if the wallet has
  none: customer_records.customer_of_wallet). Each member touched is then brought up to now on the
  ladder in force: an upgrade applies at once; a refund never takes a tier away on the spot.
- **Reviews** (:func:`review_due`): members whose next review's verdict (review + grace) or
  manual tier's end (``due_at``) has passed are brought up to now: down by at most one tier.
- **A member's state** is read, placed on the ladder in force and written by
  gateway/services/tier_members.py, whoever reaches the member first.
- Every change of the tier in force is a ``tier.changed`` domain event (and a ``tier_changes`` row),
  in the same transaction; webhooks tell it to each partner that has a ref of the member.

Time: every function takes ``now``; the tasks and routes pass :func:`clock`, which a test moves
forward with ``COALITION_TIER_CLOCK_FILE`` (local mode only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from math import ceil
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import ManualTierEndInvalid, NotFound, TierLadderNotSet, TierUnknown
from gateway.services import customer_records
from gateway.services.tier_ladders import Version, active, versions
from gateway.services.tier_members import (
    Placed,
    as_utc,
    bring_up,
    multiplier_of,
    place,
    write,
)
from loyalty.memberships import protected_progress
from loyalty.tier_progress import Progress, progress
from loyalty.tiers import (
    ManualTier,
    TierError,
    end_manual,
    set_manual,
    tier_in_force,
)
from loyalty.tiers import TierState as State
from network.store import CustomerLink, CustomerWallet, TierChangeRecord, TierMovement, TierState, utcnow
from network.store.events import Event
from network.store.events import consume as consume_events

CONSUMER = "tiers"  # the tier consumer's cursor (network/store/events.py)
EVENT_TYPES = frozenset({"purchase.confirmed", "refund.confirmed"})
CONSUME_LIMIT = 5_000  # events read per transaction of the consumer
CONSUME_RUNS = 5
REVIEW_BATCH = 500


# ------------------------------------------------------------------------------ the clock


def clock(settings: Any) -> datetime:
    """Now, for the tier rules: the wall clock, plus the seconds written in
    ``settings.tier_clock_file`` when a test set one (local mode only)."""
    now = utcnow()
    path = getattr(settings, "tier_clock_file", None)
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            now += timedelta(seconds=float(path.read_text().strip() or 0))
    return now


# ------------------------------------------------------------------------------ what qualifies


def qualifying_points_of(points: int, qualifying: int | None = None) -> int:
    """The qualifying points of a confirmed purchase of ``points``: what the earning rules said
    count towards the tier (``qualifying_points`` of its ``purchase.confirmed``: the rules whose
    ``qualifying`` flag is on, the base rate's by default, bonuses' only where a rule says so), or
    all of them for a purchase earned by the partner's rate alone; never below 0 nor above ``points``."""
    return max(0, points if qualifying is None else min(points, qualifying))


# ------------------------------------------------------------------------------ movements


def _source(kind: str, partner_id: int | None, ref: str) -> str:
    return f"{kind}:{partner_id}:{ref}"


def record_movements(session: Session, events: Iterable[Event]) -> set[int]:
    """The movements of confirmed purchases and refunds (each source once); returns the customers
    that got a new one. Not committed."""
    touched: set[int] = set()
    wanted = [e for e in events if e.type in EVENT_TYPES and e.payload.get("customer_wallet")]
    sources = [_source_of(e) for e in wanted]
    seen = _existing(session, TierMovement.source, sources)  # read again: recorded already
    bought_by = {e.payload["customer_wallet"] for e, s in zip(wanted, sources, strict=True)
                 if e.type == "purchase.confirmed" and s not in seen}  # fmt: skip
    owners = customer_records.customers_of_wallets(session, wallets=bought_by)  # in bulk: a backlog is thousands
    rows: list[dict[str, Any]] = []
    for event, source in zip(wanted, sources, strict=True):
        if source in seen:
            continue
        seen.add(source)
        p = event.payload
        wallet = p["customer_wallet"]
        kind = "purchase" if event.type == "purchase.confirmed" else "refund"
        at = as_utc(event.created_at)
        refunded: str | None = None
        if kind == "purchase":
            customer_id = owners[wallet]
            points = qualifying_points_of(int(p["points"]), p.get("qualifying_points"))
            counts_at = at
        else:
            _insert_movements(session, rows)  # the purchases before it, so that it finds its own
            of = _source("purchase", event.partner_id, p["purchase_id"])
            bought = session.scalar(select(TierMovement).where(TierMovement.source == of))
            if bought is None:
                continue  # the purchase never qualified: nothing to take back
            refunded, customer_id, counts_at = bought.source, bought.customer_id, as_utc(bought.counts_at)
            clawed = -int(
                session.scalar(
                    select(func.coalesce(func.sum(TierMovement.points), 0)).where(TierMovement.refunded == refunded)
                )
                or 0
            )
            share = ceil(int(p["points"]) * bought.points / max(1, _purchase_points(p, bought)))
            points = -max(0, min(bought.points - clawed, share))
        rows.append(
            {
                "customer_id": customer_id,
                "points": points,
                "kind": kind,
                "at": max(at, counts_at),
                "counts_at": counts_at,
                "source": source,
                "refunded": refunded,
                "partner_id": event.partner_id,
                "created_at": utcnow(),
            }
        )
        touched.add(customer_id)
    _insert_movements(session, rows)
    return touched


def _insert_movements(session: Session, rows: list[dict[str, Any]]) -> None:
    """The movements gathered so far, in one executemany (Core: the ORM's unit of work cost a
    millisecond an event); ``rows`` is emptied."""
    if rows:
        session.flush()
        session.connection().execute(insert(TierMovement.__table__), rows)
        rows.clear()


def _source_of(event: Event) -> str:
    if event.type == "purchase.confirmed":
        return _source("purchase", event.partner_id, event.payload["purchase_id"])
    return _source("refund", event.partner_id, event.payload["refund_id"])


def _existing(session: Session, column: Any, values: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(values), 5_000):
        found.update(session.scalars(select(column).where(column.in_(values[start : start + 5_000]))))
    return found


def _purchase_points(refund: Mapping[str, Any], bought: TierMovement) -> int:
    """The refunded purchase's points (a refund's event carries only its own): its qualifying
    points when every point qualifies, which is all that is known here for now."""
    return int(refund.get("purchase_points") or bought.points)


# ------------------------------------------------------------------------------ the consumer and the review


def consume(sessions: sessionmaker[Session], *, now: datetime, limit: int = CONSUME_LIMIT) -> tuple[int, list[str]]:
    """One run of the tier consumer: (events read, ``tier.changed`` events written)."""
    written: list[str] = []

    def handle(session: Session, events: list[Event]) -> None:
        written.extend(bring_up(session, record_movements(session, events), now=now))

    read = 0
    for _ in range(CONSUME_RUNS):  # a backlog is read in several transactions, each of ``limit`` events
        n = consume_events(sessions, CONSUMER, handle, wants=lambda t, _p: t in EVENT_TYPES, limit=limit)
        read += n
        if n < limit:
            break
    return read, written


def review_due(sessions: sessionmaker[Session], *, now: datetime, batch: int = REVIEW_BATCH) -> tuple[int, list[str]]:
    """The review pass: every member whose review verdict or manual tier's end is due by ``now``
    brought up to ``now`` (a transaction per batch); (members reviewed, events written). Run twice,
    the second finds nothing due."""
    reviewed, written, after = 0, [], -1
    while True:
        with sessions() as session:
            due = list(
                session.scalars(
                    select(TierState.customer_id)
                    .where(TierState.due_at <= now, TierState.customer_id > after)
                    .order_by(TierState.customer_id)
                    .limit(batch)
                )
            )
            if not due:
                return reviewed, written
            after = due[-1]  # each member once per pass, whatever its next due date
            written += bring_up(session, due, now=now)
            session.commit()
        reviewed += len(due)


# ------------------------------------------------------------------------------ manual tiers


def _required(session: Session) -> tuple[Version, dict[int, Version]]:
    version = active(session)
    if version is None:
        raise TierLadderNotSet("no tier ladder is in force yet: apply one (POST /v1/operator/tiers/recalculations)")
    return version, versions(session)


def set_manual_tier(session: Session, *, customer_id: int, tier: str, until: datetime, now: datetime) -> list[str]:
    """Sets ``tier`` by hand until ``until`` (the member holds the higher of it and the earned
    tier); returns the events written. Not committed."""
    version, known = _required(session)
    customer_records.get(session, customer_id=customer_id)
    if tier not in version.ladder.names:
        raise TierUnknown(f"tier {tier!r} is not on the ladder; known: {', '.join(version.ladder.names)}")
    placed = place(session, version, known, customer_id, now=now)
    if until <= placed.state.as_of:
        raise ManualTierEndInvalid(
            f"a manual tier ends after it is set: until {until.isoformat()} is not after {now.isoformat()}"
        )
    state, changes = set_manual(
        version.ladder, version.policy, placed.state, placed.movements, tier=tier, until=until, at=placed.state.as_of
    )
    return write(session, version, replace(placed, state=state, changes=(*placed.changes, *changes)))


def end_manual_tier(session: Session, *, customer_id: int, now: datetime) -> list[str]:
    """Ends the member's manual tier now (nothing to do without one). Not committed."""
    version, known = _required(session)
    customer_records.get(session, customer_id=customer_id)
    placed = place(session, version, known, customer_id, now=now)
    state, changes = end_manual(version.ladder, version.policy, placed.state, placed.movements, at=placed.state.as_of)
    return write(session, version, replace(placed, state=state, changes=(*placed.changes, *changes)))


# ------------------------------------------------------------------------------ reading


@dataclass(frozen=True, slots=True)
class MemberTier:
    """What a member sees: the progress (loyalty/tier_progress.py) and the multiplier of the
    tier in force."""

    customer_id: int | None
    progress: Progress
    multiplier: Decimal
    ladder_version: int


def member_exists(session: Session, *, customer_id: int) -> None:
    """:class:`NotFound` unless ``customer_id`` is a customer."""
    try:
        customer_records.get(session, customer_id=customer_id)
    except customer_records.CustomerNotFound:
        raise NotFound(f"no customer {customer_id}") from None


def tier_of(session: Session, *, customer_id: int | None, now: datetime) -> MemberTier:
    """The member's tier and progress at ``now``, read (nothing written); ``None``: a wallet of no
    customer yet, at the bottom tier."""
    version = active(session)
    if version is None:
        raise TierLadderNotSet("no tier ladder is in force yet")
    if customer_id is None:
        placed = Placed(0, State.start(version.ladder, now), (), None, ())
    else:
        placed = place(session, version, versions(session), customer_id, now=now, lock=False)
    seen = progress(version.ladder, version.policy, placed.state, placed.movements, placed.state.as_of)
    seen = protected_progress(version.ladder, seen, placed.state.tier)  # a paid plan's tier protection
    return MemberTier(customer_id, seen, multiplier_of(version.ladder, seen.tier), version.id)


def customer_by_ref(session: Session, *, partner_id: int, ref: str) -> int:
    """The customer ``partner_id`` knows as ``ref`` (its own customers only: 404 otherwise)."""
    link = session.scalar(select(CustomerLink).where(CustomerLink.partner_id == partner_id, CustomerLink.ref == ref))
    if link is None:
        raise NotFound(f"no customer {ref!r} of this partner")
    return link.customer_id


def customer_by_wallet(session: Session, *, wallet: str) -> int | None:
    return session.scalar(select(CustomerWallet.customer_id).where(CustomerWallet.address == wallet))


def history(session: Session, *, customer_id: int, limit: int = 100) -> list[TierChangeRecord]:
    return list(
        session.scalars(
            select(TierChangeRecord)
            .where(TierChangeRecord.customer_id == customer_id)
            .order_by(TierChangeRecord.id.desc())
            .limit(limit)
        )
    )


def multipliers_of(session: Session, wallets: Iterable[str], *, now: datetime | None = None) -> dict[str, Decimal]:
    """Each wallet's tier multiplier, for the earning rules' MemberContext (loyalty/earning.py):
    the multiplier of its customer's tier in force (a manual tier past its end no longer counts),
    on the ladder in force; 1 without a ladder, the bottom tier's for a wallet of no member. One
    read per call: the purchase writer calls it once per group."""
    wanted = list(dict.fromkeys(wallets))
    version = active(session)
    if version is None:
        return dict.fromkeys(wanted, Decimal(1))
    now = now or utcnow()
    ladder = version.ladder
    found: dict[str, Decimal] = dict.fromkeys(wanted, ladder.bottom.multiplier)
    known = versions(session)
    for start in range(0, len(wanted), 5_000):
        rows = session.execute(
            select(CustomerWallet.address, TierState)
            .join(TierState, TierState.customer_id == CustomerWallet.customer_id)
            .where(CustomerWallet.address.in_(wanted[start : start + 5_000]))
        ).all()
        for address, row in rows:
            own = known[row.ladder_version].ladder if row.ladder_version in known else ladder
            manual = None
            if row.manual_tier and row.manual_until and as_utc(row.manual_until) > now and row.manual_set_at:
                manual = ManualTier(row.manual_tier, as_utc(row.manual_until), as_utc(row.manual_set_at))
            try:
                held = tier_in_force(own, row.earned, manual)
                name = held if own is ladder else ladder.place(held, own)
            except TierError:
                continue
            found[address] = ladder.tier(name).multiplier
    return found
