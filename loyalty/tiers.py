"""Coalition-wide tiers: the ladder, what qualifies, when a member moves, what a member sees (pure).

No store, no chain, no HTTP: the store feeds a member's :class:`TierState` and qualifying
:class:`Movement` rows, the answers are a new state and the :class:`TierChange` records to emit
as ``tier.changed`` events. Every time is an aware datetime, normalized to UTC.

The rules, and where they differ from the platforms we studied:

- **What qualifies.** Points earned on confirmed purchases at any partner, net of refunds, plus
  bonus points a rule marked as qualifying (the caller passes only those). Never the balance:
  nothing here takes one, so spending or expiring points cannot cost a tier (Talon.One's
  ``balance_based`` downgrade and Open Loyalty's "levels by points balance" do).
- **The window.** A rolling 12 months (a movement at ``t`` counts while ``t`` is in
  ``(now - 1 year, now]``) or the calendar year (``[1 January, now]``, reviewed on 1 January).
- **A refund's clawback** counts in the window of the purchase it refunds (``Movement.counts_at``),
  from the moment it is recorded: it never eats into a later window, and in a rolling window it
  leaves together with the purchase, so a refunded purchase nets to zero at every moment.
- **Up at once.** A member moves up as soon as the qualifying points reach a threshold, effective
  at the movement that crossed it (several tiers at once if the points say so).
- **Down only at a review, one tier at a time, after the grace period.** Reviews fall on the
  anniversary of the member's last tier change or on a fixed date each year. The verdict falls at
  review + grace: the member keeps the tier if the points of the window that closed at the review,
  plus what qualified during the grace period, reach its threshold; otherwise the member moves
  down exactly one tier (Talon.One's ``one_down``, with a grace period it does not have). A refund
  never takes a tier away on the spot either: it lowers what counts at the next review.
- **A tier set by hand has an end date**, mandatory. Until then the member holds the higher of it
  and the earned tier (an operator's grant is a guarantee, never a cap); at the end date the
  earned tier applies, the one the rules kept computing all along: a manual tier is never a
  floor forever (Open Loyalty keeps a manually assigned tier until someone removes it).
- **The member sees when the tier is at stake** (loyalty/tier_progress.py ``progress``): the next review, the points
  still needed by its verdict and which of today's qualifying points will have left the window
  by then (Talon.One sends "will downgrade" data only as a notification).
- **A ladder change is dry-run and applied by a resumable recalculation** (loyalty/tier_changes.py:
  ``dry_run``, ``recalculation_chunk``): members move up at once; a raised threshold is met at the
  member's next review, never by an immediate drop; a tier removed from the ladder places its
  members on the highest remaining tier whose threshold is not above the old one's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

MAX_GRACE = timedelta(days=180)


class TierError(ValueError):
    """The root of this module's errors."""


class LadderInvalid(TierError):
    """A ladder that cannot be used: the message names the offending tier and value."""


class PolicyInvalid(TierError):
    """A tier policy that cannot be used."""


class TierUnknown(TierError):
    """A tier name that is not on the ladder."""

    def __init__(self, name: str, ladder: Ladder) -> None:
        super().__init__(f"tier {name!r} is not on the ladder; known: {', '.join(ladder.names)}")
        self.name = name


def require_utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise TierError(f"{what} must be an aware datetime (UTC), got {value!r}")
    return value.astimezone(UTC)


def _add_years(value: datetime, years: int) -> datetime:
    """The same date and time ``years`` later; 29 February, in a year without one, is 1 March at
    00:00 (so that a later instant never maps to an earlier one: windows only move forward)."""
    try:
        return value.replace(year=value.year + years)
    except ValueError:
        return datetime(value.year + years, 3, 1, tzinfo=value.tzinfo)


# ---------------------------------------------------------------------------------- the ladder


@dataclass(frozen=True, slots=True)
class Tier:
    """A rung: reached at ``threshold`` qualifying points; its earn multiplier is an input of the
    earning rules (loyalty/earning.py), nothing here uses it."""

    name: str
    threshold: int
    multiplier: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class Ladder:
    """The tiers from the bottom up: the first at 0 points, thresholds strictly increasing, names
    unique, multipliers positive Decimals."""

    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        tiers = tuple(self.tiers)
        object.__setattr__(self, "tiers", tiers)
        if not tiers:
            raise LadderInvalid("a ladder needs at least one tier")
        if tiers[0].threshold != 0:
            raise LadderInvalid(f"the first tier {tiers[0].name!r} must be at 0 points, not {tiers[0].threshold}")
        seen: set[str] = set()
        for below, tier in zip((None, *tiers), tiers, strict=False):
            if not isinstance(tier.name, str) or not tier.name.strip() or len(tier.name) > 64:
                raise LadderInvalid(f"tier names are 1 to 64 characters, got {tier.name!r}")
            if tier.name in seen:
                raise LadderInvalid(f"tier name {tier.name!r} is used twice")
            seen.add(tier.name)
            if not isinstance(tier.threshold, int) or isinstance(tier.threshold, bool):
                raise LadderInvalid(f"tier {tier.name!r}: threshold must be an integer, got {tier.threshold!r}")
            if below is not None and tier.threshold <= below.threshold:
                raise LadderInvalid(
                    f"tier {tier.name!r} at {tier.threshold} points must be above {below.name!r} at {below.threshold}"
                )
            if not isinstance(tier.multiplier, Decimal) or not tier.multiplier.is_finite() or tier.multiplier <= 0:
                raise LadderInvalid(
                    f"tier {tier.name!r}: multiplier must be a positive Decimal, got {tier.multiplier!r}"
                )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(tier.name for tier in self.tiers)

    @property
    def bottom(self) -> Tier:
        return self.tiers[0]

    def rank(self, name: str) -> int:
        """The position of tier ``name``, 0 at the bottom. Raises :class:`TierUnknown`."""
        for position, tier in enumerate(self.tiers):
            if tier.name == name:
                return position
        raise TierUnknown(name, self)

    def tier(self, name: str) -> Tier:
        return self.tiers[self.rank(name)]

    def rank_for(self, points: int) -> int:
        """The highest rung that ``points`` qualifying points reach."""
        reached = 0
        for position, tier in enumerate(self.tiers):
            if tier.threshold <= points:
                reached = position
        return reached

    def place(self, name: str, old: Ladder) -> str:
        """Where a member of ``old``'s tier ``name`` stands on this ladder: the same name if it is
        still here, otherwise the highest tier whose threshold is not above the old tier's."""
        if name in self.names:
            return name
        return self.tiers[self.rank_for(old.tier(name).threshold)].name


# ---------------------------------------------------------------------------------- the policy


class Window(StrEnum):
    ROLLING_12_MONTHS = "rolling_12_months"
    CALENDAR_YEAR = "calendar_year"


@dataclass(frozen=True, slots=True)
class Anniversary:
    """Reviews fall on each anniversary of the member's last tier change."""


@dataclass(frozen=True, slots=True)
class FixedDate:
    """Reviews fall each year on ``month``/``day`` at 00:00 UTC (29 February is refused)."""

    month: int
    day: int

    def __post_init__(self) -> None:
        try:
            datetime(2025, self.month, self.day, tzinfo=UTC)  # a year without 29 February
        except (TypeError, ValueError) as exc:
            raise PolicyInvalid(f"review date {self.month}/{self.day} is not a date of every year") from exc


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """How qualifying points are counted and when a member is reviewed.

    ``window``: a rolling 12 months or the calendar year (the latter is reviewed on 1 January).
    ``review``: :class:`Anniversary` or a :class:`FixedDate`. ``grace``: how long after a review
    its verdict falls (0 to 180 days); points qualifying in the meantime still count for it."""

    window: Window = Window.ROLLING_12_MONTHS
    review: Anniversary | FixedDate = field(default_factory=Anniversary)
    grace: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if not isinstance(self.window, Window):
            raise PolicyInvalid(f"window must be one of {', '.join(Window)}, got {self.window!r}")
        if not isinstance(self.review, Anniversary | FixedDate):
            raise PolicyInvalid(f"review must be Anniversary() or FixedDate(month, day), got {self.review!r}")
        if self.window is Window.CALENDAR_YEAR and self.review != FixedDate(1, 1):
            raise PolicyInvalid("a calendar-year window is reviewed on 1 January: review=FixedDate(1, 1)")
        if not timedelta(0) <= self.grace <= MAX_GRACE:
            raise PolicyInvalid(f"grace must be from 0 to {MAX_GRACE.days} days, got {self.grace}")


# ---------------------------------------------------------------------------------- movements


class Kind(StrEnum):
    PURCHASE = "purchase"  # points earned on a confirmed purchase (>= 0)
    REFUND = "refund"  # the points a refund clawed back (<= 0), counted at the purchase's time
    BONUS = "bonus"  # bonus points a rule marked as qualifying (>= 0)


@dataclass(frozen=True, slots=True)
class Movement:
    """A change of a member's qualifying points, recorded at ``at``. ``counts_at`` is when it
    counts in a window: the refunded purchase's time for a refund (required), ``at`` otherwise."""

    at: datetime
    points: int
    kind: Kind
    counts_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", require_utc(self.at, "a movement's time"))
        if not isinstance(self.points, int) or isinstance(self.points, bool):
            raise TierError(f"a movement's points must be an integer, got {self.points!r}")
        kind = Kind(self.kind)
        object.__setattr__(self, "kind", kind)
        if kind is Kind.REFUND:
            if self.points > 0:
                raise TierError(f"a refund claws points back: expected points <= 0, got {self.points}")
            if self.counts_at is None:
                raise TierError("a refund's movement names the time of the purchase it refunds (counts_at)")
            counts_at = require_utc(self.counts_at, "a refund's counts_at")
            if counts_at > self.at:
                raise TierError(f"a refund at {self.at} cannot refund a purchase made later, at {counts_at}")
            object.__setattr__(self, "counts_at", counts_at)
        else:
            if self.points < 0:
                raise TierError(f"a {kind} movement earns: expected points >= 0, got {self.points}")
            if self.counts_at is not None and require_utc(self.counts_at, "counts_at") != self.at:
                raise TierError(f"only a refund counts at another time than it is recorded ({kind})")
            object.__setattr__(self, "counts_at", self.at)

    @property
    def counted(self) -> datetime:
        assert self.counts_at is not None  # set in __post_init__
        return self.counts_at


def window_start(policy: TierPolicy, at: datetime) -> tuple[datetime, bool]:
    """The start of the window that ends at ``at``, and whether the start itself is inside."""
    if policy.window is Window.CALENDAR_YEAR:
        return datetime(at.year, 1, 1, tzinfo=UTC), True
    return _add_years(at, -1), False


def review_window_start(policy: TierPolicy, review: datetime) -> tuple[datetime, bool]:
    """The start of the window that closes at ``review`` (for a calendar year, reviewed on
    1 January, the year that just ended)."""
    return _add_years(review, -1), policy.window is Window.CALENDAR_YEAR


def qualifying_sum(
    movements: Iterable[Movement], *, start: tuple[datetime, bool], end: datetime, known_at: datetime
) -> int:
    """Points of the movements recorded by ``known_at`` that count in the window from ``start``
    ((instant, inclusive)) to ``end``, never below 0."""
    begin, inclusive = start
    total = sum(
        m.points
        for m in movements
        if m.at <= known_at and (begin <= m.counted if inclusive else begin < m.counted) and m.counted <= end
    )
    return max(0, total)


def qualifying_points(movements: Iterable[Movement], policy: TierPolicy, at: datetime) -> int:
    """The member's qualifying points at ``at``: the movements recorded by then that count in the
    window ending at ``at`` (never below 0)."""
    at = require_utc(at, "at")
    return qualifying_sum(movements, start=window_start(policy, at), end=at, known_at=at)


def _verdict_points(movements: Iterable[Movement], policy: TierPolicy, review: datetime) -> int:
    """What counts for the verdict of ``review``: the window that closed at it plus the grace period."""
    verdict = review + policy.grace
    return qualifying_sum(movements, start=review_window_start(policy, review), end=verdict, known_at=verdict)


# ---------------------------------------------------------------------------------- the member's state


@dataclass(frozen=True, slots=True)
class ManualTier:
    """A tier set by hand, held from ``set_at`` until ``until`` (mandatory, after ``set_at``)."""

    tier: str
    until: datetime
    set_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "until", require_utc(self.until, "a manual tier's end date"))
        object.__setattr__(self, "set_at", require_utc(self.set_at, "a manual tier's start"))
        if self.until <= self.set_at:
            raise TierError(f"a manual tier ends after it is set: until {self.until} is not after {self.set_at}")


@dataclass(frozen=True, slots=True)
class TierState:
    """A member's tiers as of ``as_of``: ``tier`` is the one in force (the higher of ``earned``
    and an active manual tier), ``earned`` the one the rules give, reached at ``since`` (the
    anchor of anniversary reviews)."""

    tier: str
    earned: str
    since: datetime
    as_of: datetime
    manual: ManualTier | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", require_utc(self.since, "since"))
        object.__setattr__(self, "as_of", require_utc(self.as_of, "as_of"))
        if self.since > self.as_of:
            raise TierError(f"a state reached at {self.since} cannot be as of an earlier {self.as_of}")
        if self.manual is not None and self.manual.until <= self.as_of:
            raise TierError(f"a manual tier that ended at {self.manual.until} is not held as of {self.as_of}")

    @classmethod
    def start(cls, ladder: Ladder, at: datetime) -> TierState:
        """A new member: the bottom tier, from ``at``."""
        return cls(tier=ladder.bottom.name, earned=ladder.bottom.name, since=at, as_of=at)


Reason = Literal["qualified", "review", "manual", "manual_ended", "ladder"]


@dataclass(frozen=True, slots=True)
class TierChange:
    """A change of the tier in force, to emit as a ``tier.changed`` event."""

    from_tier: str
    to_tier: str
    reason: Reason
    at: datetime


def tier_in_force(ladder: Ladder, earned: str, manual: ManualTier | None) -> str:
    if manual is None or ladder.rank(manual.tier) <= ladder.rank(earned):
        return earned
    return manual.tier


def lookback(policy: TierPolicy, state: TierState) -> datetime:
    """How far back the store must read: :func:`next_state` and ``progress`` from ``state``
    only look at movements that count after this instant (``counts_at`` > it)."""
    return _add_years(state.as_of - policy.grace, -1) - timedelta(days=1)  # a day to spare


def review_date(policy: TierPolicy, since: datetime, after: datetime) -> datetime:
    """The next review of a tier reached at ``since`` whose verdict falls after ``after``: the
    first review date after ``since`` with review + grace > ``after``."""
    if isinstance(policy.review, Anniversary):
        years = max(1, after.year - since.year - 1)
        review = _add_years(since, years)
        while review + policy.grace <= after:
            years += 1
            review = _add_years(since, years)
        return review
    year = min(since.year, after.year - 1)
    review = datetime(year, policy.review.month, policy.review.day, tzinfo=UTC)
    while review <= since or review + policy.grace <= after:
        year += 1
        review = datetime(year, policy.review.month, policy.review.day, tzinfo=UTC)
    return review


def next_state(
    ladder: Ladder, policy: TierPolicy, state: TierState, movements: Sequence[Movement], at: datetime
) -> tuple[TierState, tuple[TierChange, ...]]:
    """The member's state at ``at``, and the changes of the tier in force since ``state.as_of``.

    Walks what happened after ``state.as_of`` in time order: each instant a movement was recorded
    (an upgrade if the qualifying points reach a higher threshold), each review's verdict (one
    tier down if its points fall short), the end of a manual tier; at the same instant, movements
    first, then the verdict, then the manual end. A final check at ``at`` places the member on a
    ladder whose thresholds were lowered. Calling it again with the same ``at`` changes nothing."""
    at = require_utc(at, "at")
    if at < state.as_of:
        raise TierError(f"a state as of {state.as_of} cannot go back to {at}")
    ladder.rank(state.earned)
    if state.manual is not None:
        ladder.rank(state.manual.tier)
    instants = sorted({m.at for m in movements if state.as_of < m.at <= at})
    earned, since, manual, tier = state.earned, state.since, state.manual, state.tier
    changes: list[TierChange] = []

    def settle(now: datetime, reason: Reason) -> None:
        nonlocal tier
        held = tier_in_force(ladder, earned, manual)
        if held != tier:
            changes.append(TierChange(tier, held, reason, now))
            tier = held

    def upgrade(now: datetime) -> None:
        nonlocal earned, since
        reached = ladder.rank_for(qualifying_points(movements, policy, now))
        if reached > ladder.rank(earned):
            earned, since = ladder.tiers[reached].name, now
            settle(now, "qualified")

    if any(m.at == state.as_of for m in movements):
        upgrade(state.as_of)  # recorded at the very instant the state was last brought up to (harmless twice)
    cursor = state.as_of
    while True:
        next_movement = next((t for t in instants if t > cursor), None)
        review = review_date(policy, since, cursor) if ladder.rank(earned) > 0 else None
        verdict = review + policy.grace if review is not None else None
        manual_end = manual.until if manual is not None else None
        due = [t for t in (next_movement, verdict, manual_end) if t is not None and t <= at]
        if not due:
            break
        now = min(due)
        if now == next_movement:
            upgrade(now)
        if (
            review is not None
            and now == verdict
            and review > since  # not when an upgrade at this very instant started a new tier
            and _verdict_points(movements, policy, review) < ladder.tier(earned).threshold
        ):
            earned, since = ladder.tiers[ladder.rank(earned) - 1].name, now
            settle(now, "review")
        if manual is not None and now == manual.until:
            manual = None
            settle(now, "manual_ended")
        cursor = now
    upgrade(at)
    settle(at, "ladder")
    return TierState(tier=tier, earned=earned, since=since, as_of=at, manual=manual), tuple(changes)


def set_manual(
    ladder: Ladder,
    policy: TierPolicy,
    state: TierState,
    movements: Sequence[Movement],
    *,
    tier: str,
    until: datetime,
    at: datetime,
) -> tuple[TierState, tuple[TierChange, ...]]:
    """Sets ``tier`` by hand from ``at`` until ``until`` (replacing any earlier manual tier), after
    bringing the state up to ``at``. The member holds the higher of it and the earned tier."""
    ladder.rank(tier)
    current, changes = next_state(ladder, policy, state, movements, at)
    manual = ManualTier(tier=tier, until=until, set_at=at)
    held = tier_in_force(ladder, current.earned, manual)
    updated = replace(current, tier=held, manual=manual)
    if held == current.tier:
        return updated, changes
    return updated, (*changes, TierChange(current.tier, held, "manual", current.as_of))


def end_manual(
    ladder: Ladder, policy: TierPolicy, state: TierState, movements: Sequence[Movement], *, at: datetime
) -> tuple[TierState, tuple[TierChange, ...]]:
    """Ends a manual tier early, at ``at``: the earned tier applies from then (nothing to do
    without one)."""
    current, changes = next_state(ladder, policy, state, movements, at)
    if current.manual is None:
        return current, changes
    updated = replace(current, tier=current.earned, manual=None)
    if updated.tier == current.tier:
        return updated, changes
    return updated, (*changes, TierChange(current.tier, updated.tier, "manual_ended", current.as_of))
