"""What a member sees of the tier (pure, on loyalty/tiers.py's rules): the tier in force and the
earned one, the qualifying points, the next tier and the points missing to reach it, the next
review and when its verdict falls, the points still needed by then to keep the tier, and which
of today's qualifying points will have left the window by then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from loyalty.tiers import (
    Ladder,
    Movement,
    TierPolicy,
    TierState,
    next_state,
    qualifying_points,
    qualifying_sum,
    review_date,
    review_window_start,
    window_start,
)


@dataclass(frozen=True, slots=True)
class Progress:
    """A member's view at ``at``.

    ``next_tier``/``points_to_next``: the tier above the one in force and the qualifying points
    still missing (None at the top). ``review_at``/``decided_at``: the next review of the earned
    tier and when its verdict falls (review + grace); ``points_to_keep``: the points still needed
    by ``decided_at`` to keep the earned tier, counting ``leaving`` out: today's qualifying
    movements that will have left the window by the review. All None/0/() at the bottom tier,
    which cannot be lost. ``manual_until``: the end of a manual tier, after which ``earned``
    applies."""

    at: datetime
    tier: str
    earned: str
    qualifying_points: int
    next_tier: str | None
    points_to_next: int | None
    review_at: datetime | None
    decided_at: datetime | None
    points_to_keep: int
    leaving: tuple[Movement, ...]
    points_leaving: int
    manual_until: datetime | None


def progress(
    ladder: Ladder, policy: TierPolicy, state: TierState, movements: Sequence[Movement], at: datetime
) -> Progress:
    """What the member sees at ``at`` (the state is first brought up to ``at``)."""
    state, _ = next_state(ladder, policy, state, movements, at)
    at = state.as_of
    points = qualifying_points(movements, policy, at)
    above = ladder.rank(state.tier) + 1
    next_tier = ladder.tiers[above] if above < len(ladder.tiers) else None
    review = decided = None
    to_keep = 0
    leaving: tuple[Movement, ...] = ()
    if ladder.rank(state.earned) > 0:
        review = review_date(policy, state.since, at)
        decided = review + policy.grace
        start = review_window_start(policy, review)
        counted = qualifying_sum(movements, start=start, end=at, known_at=at)
        to_keep = max(0, ladder.tier(state.earned).threshold - counted)
        now_start, now_inclusive = window_start(policy, at)
        begin, inclusive = start
        leaving = tuple(
            sorted(
                (
                    m
                    for m in movements
                    if m.at <= at
                    and (now_start <= m.counted if now_inclusive else now_start < m.counted)
                    and (m.counted < begin if inclusive else m.counted <= begin)
                ),
                key=lambda m: (m.counted, m.at),
            )
        )
    return Progress(
        at=at,
        tier=state.tier,
        earned=state.earned,
        qualifying_points=points,
        next_tier=next_tier.name if next_tier else None,
        points_to_next=max(0, next_tier.threshold - points) if next_tier else None,
        review_at=review,
        decided_at=decided,
        points_to_keep=to_keep,
        leaving=leaving,
        points_leaving=sum(m.points for m in leaving),
        manual_until=state.manual.until if state.manual else None,
    )
