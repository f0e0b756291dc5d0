"""Tiers' invariants over generated ladders, policies and histories (loyalty/tiers.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.tier_changes import Member, dry_run, recalculation_chunk
from loyalty.tier_progress import progress
from loyalty.tiers import (
    Anniversary,
    FixedDate,
    Kind,
    Ladder,
    Movement,
    Tier,
    TierPolicy,
    TierState,
    Window,
    lookback,
    next_state,
    qualifying_points,
    review_date,
    set_manual,
)

BASE = datetime(2025, 1, 1, tzinfo=UTC)
HOURS = 3 * 366 * 24  # histories span three years
NAMES = ("Member", "Bronze", "Silver", "Gold", "Platinum")


def hour(n: int) -> datetime:
    return BASE + timedelta(hours=n)


@st.composite
def ladders(draw: st.DrawFn) -> Ladder:
    rungs = draw(st.lists(st.integers(1, 30_000), min_size=1, max_size=4, unique=True))
    names = draw(st.permutations(NAMES[1:]))
    return Ladder(
        (Tier(NAMES[0], 0), *(Tier(name, points) for name, points in zip(names, sorted(rungs), strict=False)))
    )


policies = st.one_of(
    st.builds(
        TierPolicy,
        window=st.just(Window.ROLLING_12_MONTHS),
        review=st.one_of(st.just(Anniversary()), st.builds(FixedDate, st.integers(1, 12), st.integers(1, 28))),
        grace=st.integers(0, 90).map(lambda days: timedelta(days=days)),
    ),
    st.builds(
        TierPolicy,
        window=st.just(Window.CALENDAR_YEAR),
        review=st.just(FixedDate(1, 1)),
        grace=st.integers(0, 90).map(lambda days: timedelta(days=days)),
    ),
)


@st.composite
def histories(draw: st.DrawFn, max_size: int = 14) -> list[Movement]:
    """Purchases and qualifying bonuses over three years, some refunded (in part) later."""
    earned = draw(
        st.lists(
            st.tuples(st.integers(0, HOURS), st.integers(0, 12_000), st.sampled_from([Kind.PURCHASE, Kind.BONUS])),
            max_size=max_size,
        )
    )
    movements = [Movement(at=hour(at), points=points, kind=kind) for at, points, kind in earned]
    refundable = {i: m.points for i, m in enumerate(movements) if m.kind is Kind.PURCHASE and m.points}
    for i in draw(st.lists(st.sampled_from(sorted(refundable)), max_size=3)) if refundable else []:
        if not refundable[i]:
            continue
        share = draw(st.integers(1, refundable[i]))  # a refund claws back at most what is left of the purchase
        refundable[i] -= share
        purchase = movements[i]
        later = purchase.at + timedelta(hours=draw(st.integers(0, 200 * 24)))
        movements.append(Movement(at=later, points=-share, kind=Kind.REFUND, counts_at=purchase.at))
    return movements


checkpoints = st.lists(st.integers(0, HOURS + 2 * 366 * 24), min_size=1, max_size=8).map(
    lambda hours: [hour(h) for h in sorted(hours)]
)


def walk(ladder: Ladder, policy: TierPolicy, history: list[Movement], times: list[datetime]):
    """The member's state asked at each checkpoint in turn: (state before, state after, changes)."""
    state = TierState.start(ladder, BASE)
    steps = []
    for at in times:
        after, changes = next_state(ladder, policy, state, history, at)
        steps.append((state, after, changes))
        state = after
    return steps


@settings(max_examples=150, deadline=None)
@given(ladders(), policies, histories(), checkpoints)
def test_a_member_moves_down_only_at_a_review_and_one_tier_at_a_time(ladder, policy, history, times) -> None:
    for before, _, changes in walk(ladder, policy, history, times):
        since = before.since
        for change in changes:
            step = ladder.rank(change.to_tier) - ladder.rank(change.from_tier)
            if change.reason == "qualified":
                assert step > 0
            else:
                # down: exactly one tier, at the verdict of a review of the tier it leaves
                assert (change.reason, step) == ("review", -1)
                just_before = change.at - timedelta(microseconds=1)
                assert review_date(policy, since, just_before) + policy.grace == change.at
            since = change.at
        reviews = [c.at for c in changes if c.reason == "review"]
        assert len(set(reviews)) == len(reviews)


@settings(max_examples=150, deadline=None)
@given(ladders(), policies, histories(), checkpoints)
def test_asking_step_by_step_or_once_gives_the_same_tier_and_changes(ladder, policy, history, times) -> None:
    steps = walk(ladder, policy, history, times)
    stepped = tuple(change for _, _, changes in steps for change in changes)
    once, changes = next_state(ladder, policy, TierState.start(ladder, BASE), history, times[-1])
    assert (once, changes) == (steps[-1][1], stepped)
    assert next_state(ladder, policy, once, history, times[-1]) == (once, ())


@settings(max_examples=150, deadline=None)
@given(ladders(), policies, histories(), checkpoints, st.randoms(use_true_random=False))
def test_the_tier_follows_qualifying_points_not_how_they_were_booked(ladder, policy, history, times, rnd) -> None:
    """Each purchase split in two, a purchase and its full refund booked at the same instant, the
    list shuffled: qualifying points are the same at every moment, so is everything else."""
    rebooked: list[Movement] = []
    for m in history:
        if m.kind is Kind.PURCHASE:
            part = rnd.randint(0, m.points)
            rebooked += [
                Movement(at=m.at, points=part, kind=m.kind),
                Movement(at=m.at, points=m.points - part, kind=m.kind),
            ]
            rebooked += [
                Movement(at=m.at, points=700, kind=Kind.PURCHASE),
                Movement(at=m.at, points=-700, kind=Kind.REFUND, counts_at=m.at),
            ]
        else:
            rebooked.append(m)
    rnd.shuffle(rebooked)
    for at in times:
        assert qualifying_points(rebooked, policy, at) == qualifying_points(history, policy, at)
    assert walk(ladder, policy, rebooked, times) == walk(ladder, policy, history, times)


@settings(max_examples=150, deadline=None)
@given(
    ladders(), st.lists(st.tuples(st.integers(0, 300 * 24), st.integers(0, 12_000)), max_size=12), st.integers(0, 300)
)
def test_before_any_review_the_tier_is_the_highest_reached_by_qualifying_points(ladder, earned, day) -> None:
    """Within the first year of an anniversary policy nothing can be reviewed: the tier is the
    rung of the highest qualifying total reached so far."""
    policy = TierPolicy()
    history = [Movement(at=hour(at), points=points, kind=Kind.PURCHASE) for at, points in earned]
    at = BASE + timedelta(days=day)
    state, _ = next_state(ladder, policy, TierState.start(ladder, BASE), history, at)
    reached = max((qualifying_points(history, policy, m.at) for m in history if m.at <= at), default=0)
    assert state.tier == ladder.tiers[ladder.rank_for(reached)].name


@st.composite
def ladder_changes(draw: st.DrawFn):
    old, new, policy = draw(ladders()), draw(ladders()), draw(policies)
    asked = hour(draw(st.integers(0, HOURS)))
    members = []
    for member_id in sorted(draw(st.sets(st.integers(1, 10_000), max_size=12))):
        history = draw(histories(max_size=6))
        state, _ = next_state(old, policy, TierState.start(old, BASE), history, asked)
        members.append(Member(member_id, state, tuple(history)))
    at = asked + timedelta(hours=draw(st.integers(0, 400 * 24)))
    return old, new, policy, members, at


def run(old, new, policy, members, at, *, cursor, size, stop_after=None):
    """Chunks from ``cursor`` to the end (or ``stop_after`` chunks), each chunk's new states written
    back as the store would: the members afterwards, the changes made, the last cursor."""
    members, made, chunks = list(members), [], 0
    while stop_after is None or chunks < stop_after:
        chunk = recalculation_chunk(old, new, policy, members, cursor=cursor, at=at, size=size)
        written = {c.member_id: c.after for c in chunk.changes}
        members = [Member(m.id, written.get(m.id, m.state), m.movements) for m in members]
        made += chunk.changes
        cursor, chunks = chunk.cursor, chunks + 1
        if chunk.done:
            break
    return members, made, cursor


@settings(max_examples=100, deadline=None)
@given(ladder_changes(), st.integers(1, 5))
def test_a_dry_run_counts_what_the_recalculation_then_does(change, size) -> None:
    old, new, policy, members, at = change
    seen = dry_run(old, new, policy, members, at=at)
    after, made, _ = run(old, new, policy, members, at, cursor=None, size=size)
    assert seen.up == sum(c.direction == "up" for c in made)
    assert seen.down == sum(c.direction == "down" for c in made)
    assert seen.up + seen.down + seen.unchanged == len(members)
    assert sum(seen.after.values()) == len(members)
    assert seen.after == {name: sum(m.state.tier == name for m in after) for name in new.names}


@settings(max_examples=100, deadline=None)
@given(ladder_changes(), st.integers(1, 5), st.integers(0, 4))
def test_a_recalculation_resumes_from_its_cursor_and_a_second_run_changes_nothing(change, size, crash_after) -> None:
    old, new, policy, members, at = change
    whole, made, _ = run(old, new, policy, members, at, cursor=None, size=size)
    # a crash after some chunks: their states were written with the cursor, the rest was not
    partial, _, cursor = run(old, new, policy, members, at, cursor=None, size=size, stop_after=crash_after)
    resumed, _, _ = run(old, new, policy, partial, at, cursor=cursor, size=size)
    assert resumed == whole
    again, made_again, _ = run(old, new, policy, whole, at, cursor=None, size=size)
    assert (again, made_again) == (whole, [])
    assert all(m.state.tier in new.names for m in whole)
    assert len({c.member_id for c in made}) == len(made)


@settings(max_examples=150, deadline=None)
@given(ladders(), policies, histories(), checkpoints, st.integers(0, 400 * 24))
def test_movements_older_than_the_lookback_change_nothing(ladder, policy, history, times, later) -> None:
    for before, after, changes in walk(ladder, policy, history, times):
        recent = [m for m in history if m.counted > lookback(policy, before)]
        assert next_state(ladder, policy, before, recent, after.as_of) == (after, changes)
        shown = after.as_of + timedelta(hours=later)
        recent = [m for m in history if m.counted > lookback(policy, after)]
        assert progress(ladder, policy, after, recent, shown) == progress(ladder, policy, after, history, shown)


@settings(max_examples=150, deadline=None)
@given(ladders(), policies, histories(), checkpoints, st.data())
def test_a_manual_tier_holds_until_its_end_and_the_rules_run_underneath(ladder, policy, history, times, data) -> None:
    granted_at = times[0]
    until = granted_at + timedelta(hours=data.draw(st.integers(1, 500 * 24)))
    tier = data.draw(st.sampled_from(ladder.names))
    plain = walk(ladder, policy, history, times)
    state, _ = next_state(ladder, policy, TierState.start(ladder, BASE), history, granted_at)
    state, _ = set_manual(ladder, policy, state, history, tier=tier, until=until, at=granted_at)
    for at, (_, without, _) in zip(times, plain, strict=True):
        state, changes = next_state(ladder, policy, state, history, at)
        # the earned tier is exactly what it would have been without the grant
        assert (state.earned, state.since) == (without.earned, without.since)
        if at < until:
            assert state.manual is not None
            assert ladder.rank(state.tier) == max(ladder.rank(tier), ladder.rank(state.earned))
        else:
            assert (state.manual, state.tier) == (None, state.earned)
        for change in changes:
            down = ladder.rank(change.to_tier) < ladder.rank(change.from_tier)
            assert not down or change.reason in ("review", "manual_ended")
            assert change.reason != "manual_ended" or change.at == until
