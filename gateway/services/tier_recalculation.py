"""A change of the tier ladder: dry-run it, then apply it by a resumable, idempotent recalculation.

:func:`dry_run_of` says what applying a proposed ladder now would do (loyalty/tier_changes.py
``dry_run``: how many members would move up, down, and who). :func:`apply` makes a proposed
version the ladder in force and records a run (``tier_recalculations``) at a fixed instant;
:func:`run_chunk` then takes the next members in id order after the run's cursor and places each
on the new ladder (``recalculation_chunk``), writing their states, their changes (``tier.changed``
events) and the cursor in one transaction. A run stopped anywhere resumes from its cursor, and
since every member is recalculated at the run's instant, running a chunk again changes nothing.
Members the consumer or the review reach first are placed by them the same way
(gateway/services/tiers.py ``place``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import func, select, union, update
from sqlalchemy.orm import Session

from gateway.errors import NotFound, TierLadderInvalid
from gateway.services import tier_ladders
from gateway.services.tier_ladders import Version
from gateway.services.tier_members import (
    Placed,
    as_utc,
    bottom_only,
    load,
    movements_of,
    place,
    placed_of,
    protect_tier,
    write,
)
from loyalty.tier_changes import DryRun, Member, dry_run, recalculation_chunk
from loyalty.tiers import Ladder, TierPolicy
from loyalty.tiers import TierState as State
from network.store import TierLadder, TierMovement, TierRecalculation, TierState, utcnow

CHUNK = 500
PAGE = 1_000


def member_ids(session: Session, *, after: int | None, limit: int) -> list[int]:
    """Members (customers with a tier state or a qualifying movement) after ``after``, in id order."""
    low = -1 if after is None else after
    ids = union(
        select(TierState.customer_id.label("id")).where(TierState.customer_id > low),
        select(TierMovement.customer_id.label("id")).where(TierMovement.customer_id > low),
    ).subquery()
    return list(session.scalars(select(ids.c.id).order_by(ids.c.id).limit(limit)))


def member_count(session: Session) -> int:
    ids = union(select(TierState.customer_id.label("id")), select(TierMovement.customer_id.label("id"))).subquery()
    return int(session.scalar(select(func.count()).select_from(ids)) or 0)


# ------------------------------------------------------------------------------ dry run


def _members_now(session: Session, current: Version | None, new: Ladder, now: datetime) -> Iterator[Member]:
    """Every member as the ladder in force sees it at ``now`` (a member of no state, or every
    member before the first ladder: at the bottom), page by page."""
    known = tier_ladders.versions(session)
    after: int | None = None
    while ids := member_ids(session, after=after, limit=PAGE):
        for customer_id in ids:
            if current is None:
                start = State.start(bottom_only(new), now)
                yield Member(customer_id, start, movements_of(session, customer_id))
            else:
                placed = place(session, current, known, customer_id, now=now, lock=False)
                yield Member(customer_id, placed.state, placed.movements)
        after = ids[-1]


def dry_run_of(session: Session, *, ladder: Ladder, policy: TierPolicy, now: datetime) -> DryRun:
    """What applying ``ladder`` and ``policy`` at ``now`` would do; nothing is written."""
    current = tier_ladders.active(session)
    old = current.ladder if current is not None else bottom_only(ladder)
    return dry_run(old, ladder, policy, _members_now(session, current, ladder, now), at=now)


# ------------------------------------------------------------------------------ applying


def apply(session: Session, *, version: int, now: datetime) -> TierRecalculation:
    """Makes the proposed ``version`` the ladder in force from ``now`` and records its
    recalculation run (to run by :func:`run_chunk`). Applying the version in force again answers
    its run; a version a later one replaced is refused (PUT it again). Not committed."""
    target = tier_ladders.get(session, version=version)
    existing = session.scalar(select(TierRecalculation).where(TierRecalculation.to_version == version))
    if existing is not None and target.status == "active":
        return existing
    if target.status != "proposed":
        raise TierLadderInvalid(f"tier ladder version {version} is {target.status}: PUT it again as a new version")
    current = tier_ladders.active(session)
    session.execute(update(TierLadder).where(TierLadder.status == "active").values(status="retired"))
    session.execute(update(TierRecalculation).where(TierRecalculation.status == "running").values(status="superseded"))
    session.execute(update(TierLadder).where(TierLadder.id == version).values(status="active", activated_at=now))
    run = TierRecalculation(
        from_version=None if current is None else current.id,
        to_version=version,
        status="running",
        at=now,
        cursor=None,
        members_done=0,
        moved_up=0,
        moved_down=0,
        changed=0,
        created_at=utcnow(),
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, *, run_id: int) -> TierRecalculation:
    run = session.get(TierRecalculation, run_id)
    if run is None:
        raise NotFound(f"no tier recalculation {run_id}")
    return run


def runs_pending(session: Session) -> list[int]:
    return list(session.scalars(select(TierRecalculation.id).where(TierRecalculation.status == "running")))


def run_chunk(session: Session, *, run_id: int, size: int = CHUNK) -> tuple[bool, list[str]]:
    """The next ``size`` members of the run placed on its ladder, written with the run's cursor
    (the caller commits); (whether the run is over, the ``tier.changed`` events written)."""
    run = session.scalar(select(TierRecalculation).where(TierRecalculation.id == run_id).with_for_update())
    if run is None or run.status != "running":
        return True, []
    version = tier_ladders.get(session, version=run.to_version)
    known = tier_ladders.versions(session)
    at = as_utc(run.at)
    ids = member_ids(session, after=run.cursor, limit=size)
    groups: dict[int | None, list[tuple[Member, bool]]] = defaultdict(list)
    olds: dict[int | None, Ladder] = {}
    for customer_id in ids:
        old, key, member, stored = load(session, version, known, customer_id, now=at)
        olds[key] = old
        groups[key].append((member, stored))
    events: list[str] = []
    for key, members in groups.items():
        chunk = recalculation_chunk(
            olds[key], version.ladder, version.policy, [m for m, _ in members], cursor=None, at=at, size=len(members)
        )
        changes = {c.member_id: c for c in chunk.changes}
        for member, stored in members:
            change = changes.get(member.id)
            placed: Placed = protect_tier(session, version.ladder, placed_of(member, change, at, stored))
            events += write(session, version, placed, recalculation_id=run.id)
            if change is not None:  # as the dry-run counts: a member of no state yet starts at the bottom
                run.moved_up += change.direction == "up"
                run.moved_down += change.direction == "down"
            run.changed += bool(placed.changes)
    run.members_done += len(ids)
    run.cursor = ids[-1] if ids else run.cursor
    if len(ids) < size:
        run.status, run.finished_at = "done", utcnow()
    session.flush()
    return run.status == "done", events
