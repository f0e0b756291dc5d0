"""One member's tiers in the store, through loyalty/tiers.py's rules: read (:func:`load`), placed
on the ladder in force and brought up to now (:func:`place`), written with its changes, each a
``tier.changed`` domain event (:func:`write`).

A member's state is on the ladder version it was last written with; one on another version (or
none yet) is first placed on the ladder in force (loyalty/tier_changes.py ``recalculate``), so the
tier consumer, the review pass, a manual change and a recalculation in progress agree whoever
reaches the member first (gateway/services/tiers.py, tier_recalculation.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.services import customer_records, membership_benefits
from gateway.services.tier_ladders import Version, active, versions
from loyalty.memberships import protected_tier
from loyalty.tier_changes import Member, MemberChange, recalculate
from loyalty.tiers import Kind, Ladder, ManualTier, Movement, Tier, TierChange, lookback, review_date
from loyalty.tiers import TierState as State
from network.store import TierChangeRecord, TierMovement, TierState, utcnow
from network.store.events import record


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ------------------------------------------------------------------------------ members


def bottom_only(ladder: Ladder) -> Ladder:
    """The ladder of a member with no state yet: its bottom tier only."""
    return Ladder((Tier(ladder.bottom.name, 0, ladder.bottom.multiplier),))


def movements_of(session: Session, customer_id: int, *, after: datetime | None = None) -> tuple[Movement, ...]:
    query = select(TierMovement).where(TierMovement.customer_id == customer_id)
    if after is not None:
        query = query.where(TierMovement.counts_at > after)
    rows = session.scalars(query.order_by(TierMovement.at, TierMovement.id))
    return tuple(
        Movement(
            at=as_utc(m.at),
            points=int(m.points),
            kind=Kind(m.kind),
            counts_at=as_utc(m.counts_at) if m.kind == Kind.REFUND else None,
        )
        for m in rows
    )


def state_of(row: TierState) -> State:
    manual = None
    if row.manual_tier is not None and row.manual_until is not None and row.manual_set_at is not None:
        manual = ManualTier(tier=row.manual_tier, until=as_utc(row.manual_until), set_at=as_utc(row.manual_set_at))
    return State(tier=row.tier, earned=row.earned, since=as_utc(row.since), as_of=as_utc(row.as_of), manual=manual)


@dataclass(frozen=True, slots=True)
class Placed:
    """A member as the ladder in force sees it: its state there, its changes to write, and the
    tier in force before (on its own ladder)."""

    customer_id: int
    state: State
    changes: tuple[TierChange, ...]
    before: str | None
    movements: tuple[Movement, ...]


def load(
    session: Session,
    version: Version,
    known: Mapping[int, Version],
    customer_id: int,
    *,
    now: datetime,
    lock: bool = True,
) -> tuple[Ladder, int | None, Member, bool]:
    """The member as stored: the ladder its state is on and that ladder's version, its state and
    the movements the rules need from it, and whether it has a stored state. A member with no state
    yet (version None) starts at the bottom of ``version`` at its first movement since the ladder
    came in force (:func:`_first_instant`), so an upgrade is dated by the purchase that made it."""
    query = select(TierState).where(TierState.customer_id == customer_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None or (row.ladder_version != version.id and row.ladder_version not in known):
        old, old_version = version.ladder, None
        before = State.start(old, _first_instant(session, version, customer_id, now))
    else:
        before, old_version = state_of(row), row.ladder_version
        old = version.ladder if row.ladder_version == version.id else known[row.ladder_version].ladder
    movements = movements_of(session, customer_id, after=lookback(version.policy, before))
    return old, old_version, Member(customer_id, before, movements), row is not None


def _first_instant(session: Session, version: Version, customer_id: int, now: datetime) -> datetime:
    """When a member with no state starts on ``version``: its first movement recorded since the
    ladder came in force (what came before counts in the window, it does not make history), or
    ``now``."""
    since = as_utc(version.activated_at) if version.activated_at is not None else now
    first = session.scalar(
        select(func.min(TierMovement.at)).where(TierMovement.customer_id == customer_id, TierMovement.at >= since)
    )
    return min(now, max(since, as_utc(first))) if first is not None else now


def placed_of(member: Member, change: MemberChange | None, at: datetime, stored: bool) -> Placed:
    """What :func:`recalculate` answered for ``member``, as a :class:`Placed` to write (``None``:
    the same state, as of ``at``)."""
    before = member.state.tier if stored else None
    if change is None:
        state = replace(member.state, as_of=max(at, member.state.as_of))
        return Placed(member.id, state, (), before, member.movements)
    return Placed(member.id, change.after, change.changes, before, member.movements)


def place(
    session: Session,
    version: Version,
    known: Mapping[int, Version],
    customer_id: int,
    *,
    now: datetime,
    lock: bool = True,
) -> Placed:
    """The member on ``version`` brought up to ``now`` (see the module doc), not written."""
    old, _, member, stored = load(session, version, known, customer_id, now=now, lock=lock)
    at = max(now, member.state.as_of)
    change = recalculate(old, version.ladder, version.policy, member, at)
    return protect_tier(session, version.ladder, placed_of(member, change, at, stored))


def write(session: Session, version: Version, placed: Placed, *, recalculation_id: int | None = None) -> list[str]:
    """Writes the member's state and its changes (each a ``tier.changed`` event); returns the
    events' ids. Not committed."""
    state, policy = placed.state, version.policy
    review = review_date(policy, state.since, state.as_of) if version.ladder.rank(state.earned) > 0 else None
    due = [t for t in (review + policy.grace if review else None, state.manual.until if state.manual else None) if t]
    row = session.get(TierState, placed.customer_id)
    if row is None:
        row = TierState(customer_id=placed.customer_id)
        session.add(row)
    row.ladder_version = version.id
    row.tier, row.earned, row.since, row.as_of = state.tier, state.earned, state.since, state.as_of
    row.manual_tier = state.manual.tier if state.manual else None
    row.manual_until = state.manual.until if state.manual else None
    row.manual_set_at = state.manual.set_at if state.manual else None
    row.review_at, row.due_at, row.updated_at = review, min(due) if due else None, utcnow()
    wallets = customer_records.wallets_of(session, customer_id=placed.customer_id) if placed.changes else []
    ids = []
    for change in placed.changes:
        payload = {
            "customer_id": placed.customer_id,
            "from_tier": change.from_tier,
            "to_tier": change.to_tier,
            "reason": change.reason,
            "at": change.at.isoformat().replace("+00:00", "Z"),
            "multiplier": str(multiplier_of(version.ladder, change.to_tier)),
            "ladder_version": version.id,
        }
        event_id = record(session, "tier.changed", payload=payload, customer_wallet=wallets[0] if wallets else None)
        session.add(
            TierChangeRecord(
                customer_id=placed.customer_id,
                from_tier=change.from_tier,
                to_tier=change.to_tier,
                reason=change.reason,
                at=change.at,
                ladder_version=version.id,
                recalculation_id=recalculation_id,
                event_id=event_id,
                created_at=utcnow(),
            )
        )
        ids.append(event_id)
    session.flush()
    return ids


def multiplier_of(ladder: Ladder, name: str) -> Decimal:
    return ladder.tier(name).multiplier if name in ladder.names else Decimal(1)


def bring_up(session: Session, customer_ids: Iterable[int], *, now: datetime) -> list[str]:
    """Each member brought up to ``now`` on the ladder in force and written; the ``tier.changed``
    events' ids. Nothing without a ladder in force. Not committed."""
    version = active(session)
    if version is None:
        return []
    known = versions(session)
    events: list[str] = []
    for customer_id in sorted(set(customer_ids)):
        events += write(session, version, place(session, version, known, customer_id, now=now))
    return events


def protect_tier(session: Session, ladder: Ladder, placed: Placed) -> Placed:
    """Tier protection (loyalty/memberships.py ``protected_tier``): a member whose tier the rules
    would lower, and who holds a plan with tier protection at that moment, keeps the tier held
    (no change of the tier in force is written; the earned tier is still the rules')."""
    if placed.before is None:
        return placed
    kept = protected_tier(ladder.names, placed.before, placed.state.tier)
    if kept == placed.state.tier:
        return placed
    if not membership_benefits.tier_protected(session, customer_id=placed.customer_id, now=placed.state.as_of):
        return placed
    return replace(placed, state=replace(placed.state, tier=kept), changes=())
