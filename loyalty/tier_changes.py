"""A change of the tier ladder: dry-run, then applied by a resumable recalculation.

Pure code, like loyalty/tiers.py whose rules it applies. Within a recalculation the old ladder
applies up to ``at``; then each member is placed on the new ladder and checked for upgrades:
a lowered threshold moves members up at once, a raised threshold is met at each member's next
review (never by an immediate drop), and the members of a removed tier go to the highest
remaining tier whose threshold is not above the old one's. :func:`recalculation_chunk` takes
members in id order and a cursor, so that a crash resumes where it stopped and a second run
changes nothing; :func:`dry_run` counts what the recalculation would do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from typing import Literal

from loyalty.tier_progress import progress
from loyalty.tiers import (
    Ladder,
    Movement,
    TierChange,
    TierError,
    TierPolicy,
    TierState,
    next_state,
    require_utc,
    tier_in_force,
)


@dataclass(frozen=True, slots=True)
class Member:
    """What the recalculation needs of a member: its id, state and qualifying movements."""

    id: int
    state: TierState
    movements: tuple[Movement, ...] = ()


Direction = Literal["up", "down", "same"]


@dataclass(frozen=True, slots=True)
class MemberChange:
    """A member's new state after a recalculation, the changes to emit, and which way the tier in
    force moved (``before.tier`` on the old ladder against ``after.tier`` on the new one)."""

    member_id: int
    before: TierState
    after: TierState
    changes: tuple[TierChange, ...]
    direction: Direction


def _direction(old: Ladder, new: Ladder, before: str, after: str) -> Direction:
    """Same name: same; otherwise by threshold (a tier renamed at the same threshold is the same)."""
    if before == after:
        return "same"
    was, now = old.tier(before).threshold, new.tier(after).threshold
    return "up" if now > was else "down" if now < was else "same"


def recalculate(old: Ladder, new: Ladder, policy: TierPolicy, member: Member, at: datetime) -> MemberChange | None:
    """The member on ladder ``new`` at ``at`` (from ``old``, which may be the same ladder: the
    periodic pass that applies the reviews due). The old ladder rules until ``at``: the state is
    brought up to ``at`` on it, placed on the new ladder, then checked for upgrades. A state
    already as of ``at`` (written by an earlier run of the same recalculation) is only checked.
    None when nothing but ``as_of`` would change."""
    before = member.state
    at = max(require_utc(at, "at"), before.as_of)
    current, changes = before, ()
    if before.as_of < at and _on(old, before):
        current, changes = next_state(old, policy, before, member.movements, at)
    manual = current.manual
    if manual is not None:
        manual = replace(manual, tier=new.place(manual.tier, old))
    earned = new.place(current.earned, old)
    placed = replace(current, earned=earned, manual=manual, tier=tier_in_force(new, earned, manual))
    if placed.tier != current.tier:
        changes = (*changes, TierChange(current.tier, placed.tier, "ladder", at))
    after, more = next_state(new, policy, placed, member.movements, at)
    if (after.tier, after.earned, after.since, after.manual) == (
        before.tier,
        before.earned,
        before.since,
        before.manual,
    ):
        return None  # only as_of moved: nothing to write
    return MemberChange(
        member_id=member.id,
        before=before,
        after=after,
        changes=(*changes, *more),
        direction=_direction(old, new, before.tier, after.tier),
    )


def _on(ladder: Ladder, state: TierState) -> bool:
    names = {state.earned, state.tier} | ({state.manual.tier} if state.manual else set())
    return names <= set(ladder.names)


@dataclass(frozen=True, slots=True)
class Chunk:
    """One step of a recalculation: the changes to write, in the same transaction as ``cursor``
    (the last member id looked at); ``done`` when no member is left after it."""

    changes: tuple[MemberChange, ...]
    cursor: int | None
    done: bool


def recalculation_chunk(
    old: Ladder,
    new: Ladder,
    policy: TierPolicy,
    members: Sequence[Member],
    *,
    cursor: int | None,
    at: datetime,
    size: int = 500,
) -> Chunk:
    """The next ``size`` members after ``cursor`` (None: from the start), recalculated.

    ``members`` are ordered by id (the store's page, or all of them). Resumable: after a crash,
    call again with the cursor last written. Idempotent: once a member's new state is written,
    recalculating it at the same ``at`` changes nothing."""
    if size < 1:
        raise TierError(f"a chunk holds at least one member, got size {size}")
    ids = [m.id for m in members]
    if any(a >= b for a, b in pairwise(ids)):
        raise TierError("members must be ordered by id, each once")
    pending = [m for m in members if cursor is None or m.id > cursor]
    batch = pending[:size]
    changes = tuple(c for m in batch if (c := recalculate(old, new, policy, m, at)) is not None)
    return Chunk(
        changes=changes,
        cursor=batch[-1].id if batch else cursor,
        done=len(pending) <= size,
    )


@dataclass(frozen=True, slots=True)
class MemberMove:
    """A member a ladder change would move: from its tier in force on the old ladder to the one on
    the new ladder."""

    member_id: int
    from_tier: str
    to_tier: str


@dataclass(frozen=True, slots=True)
class DryRun:
    """What a ladder change would do at ``at``: members moving up, down, unchanged; the members per
        tier before (old ladder) and after (new ladder), every tier listed; and how many would lose
        their earned tier at their next review if they earned nothing more, now (``at_risk_before``)
        and with the new ladder (``at_risk_after``); ``moving_up``/``moving_down`` list who would move,
    in the order the members were given."""

    up: int
    down: int
    unchanged: int
    before: Mapping[str, int]
    after: Mapping[str, int]
    at_risk_before: int
    at_risk_after: int
    moving_up: tuple[MemberMove, ...] = ()
    moving_down: tuple[MemberMove, ...] = ()

    def summary(self) -> str:
        """E.g. "412 of 10,000 members would move up, 37 down, 9,551 unchanged; 1,200 not yet
        qualified to keep their tier at their next review (now 800)"."""
        members = self.up + self.down + self.unchanged
        return (
            f"{self.up:,} of {members:,} member{'' if members == 1 else 's'} would move up, {self.down:,} down, "
            f"{self.unchanged:,} unchanged; {self.at_risk_after:,} not yet qualified to keep their tier at their "
            f"next review (now {self.at_risk_before:,})"
        )


def _at_risk(ladder: Ladder, policy: TierPolicy, state: TierState, movements: Sequence[Movement], at: datetime) -> bool:
    return progress(ladder, policy, state, movements, max(at, state.as_of)).points_to_keep > 0


def dry_run(old: Ladder, new: Ladder, policy: TierPolicy, members: Iterable[Member], *, at: datetime) -> DryRun:
    """What :func:`recalculation_chunk` would change if run now from ladder ``old`` to ``new``."""
    moves: Counter[str] = Counter()
    before: Counter[str] = Counter({name: 0 for name in old.names})
    after: Counter[str] = Counter({name: 0 for name in new.names})
    risk_before = risk_after = 0
    listed: dict[str, list[MemberMove]] = {"up": [], "down": []}
    for member in members:
        change = recalculate(old, new, policy, member, at)
        moves[change.direction if change else "same"] += 1
        state = change.after if change else member.state
        if change is not None and change.direction in listed:
            listed[change.direction].append(MemberMove(member.id, member.state.tier, state.tier))
        before[member.state.tier] += 1
        after[state.tier] += 1
        if _on(old, member.state):
            risk_before += _at_risk(old, policy, member.state, member.movements, at)
        risk_after += _at_risk(new, policy, state, member.movements, at)
    return DryRun(
        up=moves["up"],
        down=moves["down"],
        unchanged=moves["same"],
        before=dict(before),
        after=dict(after),
        at_risk_before=risk_before,
        at_risk_after=risk_after,
        moving_up=tuple(listed["up"]),
        moving_down=tuple(listed["down"]),
    )
