"""Tiers by example (loyalty/tiers.py): every time is given by the test, the clock is ours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from loyalty.tier_changes import Member, dry_run, recalculation_chunk
from loyalty.tier_progress import progress
from loyalty.tiers import (
    Anniversary,
    FixedDate,
    Kind,
    Ladder,
    LadderInvalid,
    ManualTier,
    Movement,
    PolicyInvalid,
    Tier,
    TierChange,
    TierError,
    TierPolicy,
    TierState,
    TierUnknown,
    Window,
    end_manual,
    next_state,
    qualifying_points,
    review_date,
    set_manual,
)

LADDER = Ladder(
    (
        Tier("Member", 0),
        Tier("Silver", 1_000, Decimal("1.25")),
        Tier("Gold", 5_000, Decimal("1.5")),
        Tier("Platinum", 15_000, Decimal(2)),
    )
)
ROLLING = TierPolicy()
CALENDAR = TierPolicy(window=Window.CALENDAR_YEAR, review=FixedDate(1, 1))
JOINED = datetime(2026, 1, 1, tzinfo=UTC)


def on(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def buy(at: datetime, points: int) -> Movement:
    return Movement(at=at, points=points, kind=Kind.PURCHASE)


def refund(at: datetime, points: int, of: datetime) -> Movement:
    return Movement(at=at, points=-points, kind=Kind.REFUND, counts_at=of)


def start() -> TierState:
    return TierState.start(LADDER, JOINED)


# ---------------------------------------------------------------------------------- the ladder and the policy


def test_a_ladder_starts_at_zero() -> None:
    with pytest.raises(LadderInvalid, match="'Silver' must be at 0 points, not 10"):
        Ladder((Tier("Silver", 10),))


def test_a_ladder_climbs_strictly() -> None:
    with pytest.raises(LadderInvalid, match="'Gold' at 1000 points must be above 'Silver' at 1000"):
        Ladder((Tier("Member", 0), Tier("Silver", 1_000), Tier("Gold", 1_000)))


def test_a_ladder_names_each_tier_once() -> None:
    with pytest.raises(LadderInvalid, match="'Silver' is used twice"):
        Ladder((Tier("Member", 0), Tier("Silver", 1_000), Tier("Silver", 2_000)))


def test_a_multiplier_is_a_positive_decimal() -> None:
    with pytest.raises(LadderInvalid, match="multiplier must be a positive Decimal"):
        Ladder((Tier("Member", 0, 1.5),))  # type: ignore[arg-type]
    with pytest.raises(LadderInvalid, match="multiplier must be a positive Decimal"):
        Ladder((Tier("Member", 0, Decimal(0)),))


def test_an_unknown_tier_is_named_with_the_known_ones() -> None:
    with pytest.raises(TierUnknown, match="'Diamond' is not on the ladder; known: Member, Silver, Gold, Platinum"):
        LADDER.rank("Diamond")


def test_a_calendar_year_is_reviewed_on_the_first_of_january() -> None:
    with pytest.raises(PolicyInvalid, match="reviewed on 1 January"):
        TierPolicy(window=Window.CALENDAR_YEAR, review=Anniversary())


def test_the_grace_period_is_bounded_and_a_review_date_exists_every_year() -> None:
    with pytest.raises(PolicyInvalid, match="grace must be from 0 to 180 days"):
        TierPolicy(grace=timedelta(days=181))
    with pytest.raises(PolicyInvalid, match="2/29 is not a date of every year"):
        FixedDate(2, 29)


def test_a_refund_names_the_purchase_it_refunds_and_claws_back() -> None:
    with pytest.raises(TierError, match="names the time of the purchase"):
        Movement(at=on(2026, 3, 1), points=-10, kind=Kind.REFUND)
    with pytest.raises(TierError, match="expected points <= 0"):
        Movement(at=on(2026, 3, 1), points=10, kind=Kind.REFUND, counts_at=on(2026, 2, 1))
    with pytest.raises(TierError, match="expected points >= 0"):
        buy(on(2026, 3, 1), -10)


def test_times_are_kept_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    movement = buy(datetime(2026, 6, 1, 14, tzinfo=paris), 10)
    assert movement.at == movement.counted == on(2026, 6, 1)
    assert movement.at.tzinfo is UTC


def test_times_must_be_aware() -> None:
    with pytest.raises(TierError, match="aware datetime"):
        buy(datetime(2026, 3, 1), 10)


# ---------------------------------------------------------------------------------- qualifying points


def test_a_rolling_window_loses_points_a_year_after_they_were_earned() -> None:
    history = [buy(on(2026, 2, 1), 1_200), buy(on(2026, 6, 1), 300)]
    assert qualifying_points(history, ROLLING, on(2027, 1, 31)) == 1_500
    assert qualifying_points(history, ROLLING, on(2027, 2, 1)) == 300  # the February purchase has left
    assert qualifying_points(history, ROLLING, on(2027, 6, 1)) == 0


def test_a_calendar_year_starts_again_from_zero_on_the_first_of_january() -> None:
    history = [buy(on(2026, 12, 31, 23), 4_000), buy(on(2027, 1, 1, 0), 100)]
    assert qualifying_points(history, CALENDAR, on(2026, 12, 31, 23)) == 4_000
    assert qualifying_points(history, CALENDAR, on(2027, 1, 1, 0)) == 100


def test_a_refund_claws_back_from_the_window_of_the_purchase_it_refunds() -> None:
    december = on(2026, 12, 10)
    history = [buy(december, 2_000), buy(on(2027, 1, 5), 700), refund(on(2027, 1, 20), 2_000, of=december)]
    # the new year's total is not touched by last year's refund...
    assert qualifying_points(history, CALENDAR, on(2027, 1, 21)) == 700
    # ...and last year's total loses it only from the moment the refund is recorded
    assert qualifying_points(history, CALENDAR, on(2026, 12, 31)) == 2_000


def test_a_refunded_purchase_leaves_a_rolling_window_together_with_its_refund() -> None:
    march = on(2026, 3, 1)
    history = [buy(march, 3_000), refund(on(2026, 9, 1), 1_000, of=march), buy(on(2027, 1, 1), 500)]
    assert qualifying_points(history, ROLLING, on(2026, 8, 31)) == 3_000
    assert qualifying_points(history, ROLLING, on(2026, 9, 1)) == 2_000
    assert qualifying_points(history, ROLLING, on(2027, 3, 2)) == 500  # not 500 - 1,000


def test_only_the_movements_known_by_then_count() -> None:
    history = [buy(on(2026, 3, 1), 1_000)]
    assert qualifying_points(history, ROLLING, on(2026, 2, 28)) == 0


# ---------------------------------------------------------------------------------- moving up and down


def test_a_member_moves_up_mid_year_at_the_purchase_that_crossed_the_threshold() -> None:
    crossing = on(2026, 6, 15)
    history = [buy(on(2026, 2, 1), 800), buy(crossing, 300)]
    state, changes = next_state(LADDER, ROLLING, start(), history, on(2026, 7, 1))
    assert changes == (TierChange("Member", "Silver", "qualified", crossing),)
    assert (state.tier, state.earned, state.since) == ("Silver", "Silver", crossing)


def test_one_purchase_can_climb_several_tiers_at_once() -> None:
    history = [buy(on(2026, 2, 1), 16_000)]
    _, changes = next_state(LADDER, ROLLING, start(), history, on(2026, 3, 1))
    assert changes == (TierChange("Member", "Platinum", "qualified", on(2026, 2, 1)),)


def test_a_member_moves_down_only_at_the_review_and_one_tier_only() -> None:
    reached = on(2026, 2, 1)
    history = [buy(reached, 16_000)]
    platinum, _ = next_state(LADDER, ROLLING, start(), history, on(2026, 3, 1))
    # the points left the window on 2027-02-01, but the tier is kept until its review
    held, changes = next_state(LADDER, ROLLING, platinum, history, on(2027, 1, 31))
    assert (held.tier, changes) == ("Platinum", ())
    state, changes = next_state(LADDER, ROLLING, held, history, on(2029, 6, 1))
    assert changes == (
        TierChange("Platinum", "Gold", "review", on(2027, 2, 1)),
        TierChange("Gold", "Silver", "review", on(2028, 2, 1)),
        TierChange("Silver", "Member", "review", on(2029, 2, 1)),
    )
    assert state.tier == "Member"


def test_a_member_who_earned_enough_keeps_the_tier_at_the_review() -> None:
    history = [buy(on(2026, 2, 1), 5_000), buy(on(2026, 11, 1), 5_200)]
    state, changes = next_state(LADDER, ROLLING, start(), history, on(2027, 3, 1))
    assert [c.to_tier for c in changes] == ["Gold"]
    assert state.since == on(2026, 2, 1)
    assert review_date(ROLLING, state.since, state.as_of) == on(2028, 2, 1)


def test_the_verdict_falls_after_the_grace_period_and_points_earned_in_it_count() -> None:
    policy = TierPolicy(grace=timedelta(days=30))
    reached = on(2026, 2, 1)
    history = [buy(reached, 5_000), buy(on(2026, 10, 1), 4_000)]
    gold, _ = next_state(LADDER, policy, start(), history, on(2026, 3, 1))
    # short by 1,000 at the review (2027-02-01), still Gold until the verdict on 2027-03-03
    in_grace, changes = next_state(LADDER, policy, gold, history, on(2027, 3, 2))
    assert (in_grace.tier, changes) == ("Gold", ())
    _, changes = next_state(LADDER, policy, in_grace, history, on(2027, 3, 4))
    assert changes == (TierChange("Gold", "Silver", "review", on(2027, 3, 3)),)
    # the same member buying 1,000 points' worth during the grace period keeps Gold
    saved = [*history, buy(on(2027, 2, 20), 1_000)]
    kept, changes = next_state(LADDER, policy, in_grace, saved, on(2027, 3, 4))
    assert (kept.tier, changes) == ("Gold", ())


def test_a_calendar_year_is_judged_on_the_year_that_ended() -> None:
    history = [buy(on(2026, 4, 1), 1_500), buy(on(2027, 3, 1), 200)]
    silver, _ = next_state(LADDER, CALENDAR, start(), history, on(2026, 12, 31))
    assert silver.tier == "Silver"
    kept, changes = next_state(LADDER, CALENDAR, silver, history, on(2027, 6, 1))
    assert (kept.tier, changes) == ("Silver", ())  # 2026 had 1,500 points
    _, changes = next_state(LADDER, CALENDAR, kept, history, on(2028, 1, 2))
    assert changes == (TierChange("Silver", "Member", "review", datetime(2028, 1, 1, tzinfo=UTC)),)


def test_a_fixed_review_date_reviews_every_member_on_that_day() -> None:
    policy = TierPolicy(review=FixedDate(4, 1))
    history = [buy(on(2026, 2, 1), 1_000)]
    silver, _ = next_state(LADDER, policy, start(), history, on(2026, 3, 1))
    # reviewed on 2026-04-01 (kept: the February points are in the window), then on 2027-04-01
    assert review_date(policy, silver.since, silver.as_of) == datetime(2026, 4, 1, tzinfo=UTC)
    _, changes = next_state(LADDER, policy, silver, history, on(2027, 5, 1))
    assert changes == (TierChange("Silver", "Member", "review", datetime(2027, 4, 1, tzinfo=UTC)),)


def test_a_refund_does_not_take_a_tier_away_before_the_review() -> None:
    purchase = on(2026, 2, 1)
    history = [buy(purchase, 1_000), refund(on(2026, 2, 10), 1_000, of=purchase)]
    state, changes = next_state(LADDER, ROLLING, start(), history, on(2026, 3, 1))
    assert state.tier == "Silver"
    assert changes == (TierChange("Member", "Silver", "qualified", purchase),)
    assert progress(LADDER, ROLLING, state, history, on(2026, 3, 1)).points_to_keep == 1_000


def test_asking_twice_at_the_same_time_changes_nothing() -> None:
    history = [buy(on(2026, 2, 1), 6_000)]
    state, _ = next_state(LADDER, ROLLING, start(), history, on(2027, 5, 1))
    assert next_state(LADDER, ROLLING, state, history, on(2027, 5, 1)) == (state, ())


# ---------------------------------------------------------------------------------- tiers set by hand


def test_a_tier_set_by_hand_holds_until_its_end_date_then_the_earned_tier_applies() -> None:
    history = [buy(on(2026, 2, 1), 1_200)]
    silver, _ = next_state(LADDER, ROLLING, start(), history, on(2026, 3, 1))
    until = on(2026, 9, 1)
    granted, changes = set_manual(LADDER, ROLLING, silver, history, tier="Platinum", until=until, at=on(2026, 3, 1))
    assert changes == (TierChange("Silver", "Platinum", "manual", on(2026, 3, 1)),)
    assert (granted.tier, granted.earned) == ("Platinum", "Silver")
    held, changes = next_state(LADDER, ROLLING, granted, history, on(2026, 8, 31))
    assert (held.tier, changes) == ("Platinum", ())
    after, changes = next_state(LADDER, ROLLING, held, history, on(2026, 9, 2))
    assert changes == (TierChange("Platinum", "Silver", "manual_ended", until),)
    assert after.manual is None


def test_the_rules_keep_running_under_a_manual_tier() -> None:
    history = [buy(on(2026, 2, 1), 1_200), buy(on(2026, 5, 1), 20_000)]
    silver, _ = next_state(LADDER, ROLLING, start(), history, on(2026, 3, 1))
    granted, _ = set_manual(LADDER, ROLLING, silver, history, tier="Gold", until=on(2027, 1, 1), at=on(2026, 3, 1))
    # earning Platinum under a manual Gold moves the member up at once: a grant is never a cap
    state, changes = next_state(LADDER, ROLLING, granted, history, on(2026, 6, 1))
    assert changes == (TierChange("Gold", "Platinum", "qualified", on(2026, 5, 1)),)
    assert state.tier == state.earned == "Platinum"


def test_a_manual_tier_can_be_ended_early() -> None:
    history = [buy(on(2026, 2, 1), 1_200)]
    granted, _ = set_manual(LADDER, ROLLING, start(), history, tier="Gold", until=on(2027, 1, 1), at=on(2026, 3, 1))
    ended, changes = end_manual(LADDER, ROLLING, granted, history, at=on(2026, 4, 1))
    assert changes == (TierChange("Gold", "Silver", "manual_ended", on(2026, 4, 1)),)
    assert (ended.tier, ended.manual) == ("Silver", None)
    assert end_manual(LADDER, ROLLING, ended, history, at=on(2026, 4, 1)) == (ended, ())


def test_a_manual_tier_has_an_end_date_after_it_is_set() -> None:
    with pytest.raises(TypeError):
        ManualTier(tier="Gold", set_at=on(2026, 3, 1))  # type: ignore[call-arg]
    with pytest.raises(TierError, match="a manual tier ends after it is set"):
        set_manual(LADDER, ROLLING, start(), [], tier="Gold", until=on(2026, 3, 1), at=on(2026, 3, 1))


def test_a_manual_tier_below_the_earned_one_changes_nothing_visible() -> None:
    history = [buy(on(2026, 2, 1), 6_000)]
    gold, _ = next_state(LADDER, ROLLING, start(), history, on(2026, 3, 1))
    state, changes = set_manual(LADDER, ROLLING, gold, history, tier="Silver", until=on(2026, 6, 1), at=on(2026, 3, 1))
    assert (state.tier, changes) == ("Gold", ())


# ---------------------------------------------------------------------------------- what the member sees


def test_progress_shows_the_next_tier_the_review_and_the_points_that_will_leave() -> None:
    history = [buy(on(2026, 2, 1), 3_000), buy(on(2026, 7, 1), 2_500), buy(on(2027, 1, 10), 600)]
    seen = progress(LADDER, ROLLING, start(), history, on(2027, 1, 15))
    assert (seen.tier, seen.qualifying_points) == ("Gold", 6_100)
    assert (seen.next_tier, seen.points_to_next) == ("Platinum", 8_900)
    # Gold since 2026-07-01: reviewed on 2027-07-01, when the February and July points have left
    assert seen.review_at == seen.decided_at == on(2027, 7, 1)
    assert [(m.counted, m.points) for m in seen.leaving] == [(on(2026, 2, 1), 3_000), (on(2026, 7, 1), 2_500)]
    assert seen.points_leaving == 5_500
    assert seen.points_to_keep == 5_000 - 600


def test_progress_at_the_bottom_has_nothing_to_keep() -> None:
    seen = progress(LADDER, ROLLING, start(), [buy(on(2026, 2, 1), 400)], on(2026, 3, 1))
    assert (seen.tier, seen.points_to_next, seen.review_at, seen.points_to_keep) == ("Member", 600, None, 0)


def test_progress_at_the_top_has_no_next_tier_and_shows_a_manual_end_date() -> None:
    history = [buy(on(2026, 2, 1), 1_000)]
    granted, _ = set_manual(
        LADDER, ROLLING, start(), history, tier="Platinum", until=on(2026, 12, 1), at=on(2026, 3, 1)
    )
    seen = progress(LADDER, ROLLING, granted, history, on(2026, 3, 1))
    assert (seen.tier, seen.earned, seen.next_tier, seen.points_to_next) == ("Platinum", "Silver", None, None)
    assert seen.manual_until == on(2026, 12, 1)


def test_progress_during_the_grace_period_counts_what_still_qualifies() -> None:
    policy = TierPolicy(window=Window.CALENDAR_YEAR, review=FixedDate(1, 1), grace=timedelta(days=31))
    history = [buy(on(2026, 3, 1), 4_500), buy(on(2026, 3, 2), 600), buy(on(2027, 1, 10), 200)]
    seen = progress(LADDER, policy, start(), history, on(2027, 1, 15))
    assert seen.tier == "Gold"
    assert seen.review_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert seen.decided_at == datetime(2027, 2, 1, tzinfo=UTC)
    assert (seen.points_to_keep, seen.leaving) == (0, ())


# ---------------------------------------------------------------------------------- changing the ladder


def members_on(ladder: Ladder, histories: dict[int, list[Movement]], at: datetime) -> list[Member]:
    members = []
    for member_id, history in sorted(histories.items()):
        state, _ = next_state(ladder, ROLLING, TierState.start(ladder, JOINED), history, at)
        members.append(Member(member_id, state, tuple(history)))
    return members


def test_a_dry_run_counts_who_would_move_and_the_recalculation_moves_them() -> None:
    now = on(2026, 6, 1)
    members = members_on(
        LADDER,
        {1: [buy(on(2026, 2, 1), 800)], 2: [buy(on(2026, 2, 1), 1_200)], 3: [buy(on(2026, 2, 1), 5_500)], 4: []},
        now,
    )
    # Silver at 750 points, Gold removed: Gold members are placed on Silver
    cheaper = Ladder((Tier("Member", 0), Tier("Silver", 750), Tier("Platinum", 15_000)))
    seen = dry_run(LADDER, cheaper, ROLLING, members, at=now)
    assert (seen.up, seen.down, seen.unchanged) == (1, 1, 2)
    assert seen.before == {"Member": 2, "Silver": 1, "Gold": 1, "Platinum": 0}
    assert seen.after == {"Member": 1, "Silver": 3, "Platinum": 0}
    assert seen.summary() == (
        "1 of 4 members would move up, 1 down, 2 unchanged; 3 not yet qualified to keep their tier at their next review"
        " (now 2)"
    )
    chunk = recalculation_chunk(LADDER, cheaper, ROLLING, members, cursor=None, at=now, size=10)
    assert chunk.done and chunk.cursor == 4
    assert [(c.member_id, c.direction, c.changes) for c in chunk.changes] == [
        (1, "up", (TierChange("Member", "Silver", "qualified", now),)),
        (3, "down", (TierChange("Gold", "Silver", "ladder", now),)),
    ]


def test_a_raised_threshold_is_met_at_the_next_review_not_at_once() -> None:
    now = on(2026, 6, 1)
    members = members_on(LADDER, {1: [buy(on(2026, 2, 1), 5_500)]}, now)
    dearer = Ladder((Tier("Member", 0), Tier("Silver", 1_000), Tier("Gold", 6_000), Tier("Platinum", 15_000)))
    seen = dry_run(LADDER, dearer, ROLLING, members, at=now)
    assert (seen.up, seen.down, seen.unchanged) == (0, 0, 1)
    assert (seen.at_risk_before, seen.at_risk_after) == (1, 1)
    assert recalculation_chunk(LADDER, dearer, ROLLING, members, cursor=None, at=now).changes == ()


def test_a_recalculation_resumes_after_its_cursor_and_is_done_at_the_end() -> None:
    now = on(2026, 6, 1)
    members = members_on(LADDER, {i: [buy(on(2026, 2, 1), 1_000 * i)] for i in range(1, 6)}, now)
    cheaper = Ladder((Tier("Member", 0), Tier("Silver", 500), Tier("Gold", 2_000), Tier("Platinum", 4_000)))
    first = recalculation_chunk(LADDER, cheaper, ROLLING, members, cursor=None, at=now, size=2)
    assert (first.cursor, first.done) == (2, False)
    second = recalculation_chunk(LADDER, cheaper, ROLLING, members, cursor=first.cursor, at=now, size=2)
    third = recalculation_chunk(LADDER, cheaper, ROLLING, members, cursor=second.cursor, at=now, size=2)
    assert (second.cursor, second.done, third.cursor, third.done) == (4, False, 5, True)
    moved = [c.member_id for chunk in (first, second, third) for c in chunk.changes]
    assert moved == [2, 3, 4, 5]


def test_a_recalculation_refuses_members_out_of_order() -> None:
    members = members_on(LADDER, {1: [], 2: []}, on(2026, 6, 1))
    with pytest.raises(TierError, match="ordered by id"):
        recalculation_chunk(LADDER, LADDER, ROLLING, members[::-1], cursor=None, at=on(2026, 6, 1))
