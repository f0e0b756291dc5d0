"""loyalty/liability.py: the points outstanding per business day, net of expiry, and their value
between the lowest and the highest reimbursement rate of the partners active at the day's end."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.liability import (
    SIGNS,
    LiabilityDay,
    Movement,
    RateEvent,
    active_rates,
    business_days,
    liability_by_day,
)

DAY = 86_400
T0 = 1_764_547_200  # 2025-12-01 00:00 UTC
DAYS = business_days(date(2025, 12, 1), date(2025, 12, 3), "UTC")


def _onboard(at: int, pid: int, rate: int, block: int = 1) -> RateEvent:
    return RateEvent(at, (block, 0), pid, "PartnerOnboarded", rate)


def test_days_are_local_midnights_and_follow_each_other() -> None:
    assert DAYS[0] == ("2025-12-01", T0, T0 + DAY)
    assert [d[0] for d in DAYS] == ["2025-12-01", "2025-12-02", "2025-12-03"]
    berlin = business_days(date(2026, 3, 29), date(2026, 3, 29), "Europe/Berlin")  # summer time begins
    assert berlin[0][2] - berlin[0][1] == 23 * 3_600


def test_expired_points_leave_the_outstanding_points_the_day_they_expire() -> None:
    moves = [
        Movement(T0 + 10, "earned", 1_000),
        Movement(T0 + DAY + 5, "redeemed", 200),
        Movement(T0 + DAY + 6, "restored", 50),
        Movement(T0 + DAY + 7, "reversed", 30),
        Movement(T0 + 2 * DAY, "expired", 700),  # the first second of the third day
    ]
    days = liability_by_day(DAYS, moves, [_onboard(T0 - 1, 1, 8_000)])
    assert [d.outstanding for d in days] == [1_000, 820, 120]
    assert [d.expired for d in days] == [0, 0, 700]
    assert (days[1].issued, days[1].redeemed, days[1].restored, days[1].reversed) == (0, 200, 50, 30)
    assert (days[2].value_low, days[2].value_high) == (120 * 8_000, 120 * 8_000)


def test_the_opening_balance_and_movements_before_the_range_carry_in() -> None:
    days = liability_by_day(DAYS, [Movement(T0 - 1, "earned", 5), Movement(T0 + 3 * DAY, "earned", 9)], [], opening=40)
    assert [d.outstanding for d in days] == [45, 45, 45]  # the one after the range is ignored
    assert days[0].rate_low is None and days[0].value_high is None  # no active partner: no value


def test_the_value_lies_between_the_lowest_and_highest_active_rate_at_the_days_end() -> None:
    events = [
        _onboard(T0 - 10, 1, 8_000),
        _onboard(T0 - 10, 2, 9_500, block=2),
        RateEvent(T0 + DAY + 1, (3, 0), 2, "PartnerSuspended"),  # the second day: only partner 1
        RateEvent(T0 + 2 * DAY + 1, (4, 0), 2, "PartnerReactivated"),
        RateEvent(T0 + 2 * DAY + 2, (5, 0), 1, "PartnerRerated", 7_000),
    ]
    days = liability_by_day(DAYS, [Movement(T0, "earned", 10)], events)
    assert [(d.rate_low, d.rate_high) for d in days] == [(8_000, 9_500), (8_000, 8_000), (7_000, 9_500)]
    assert (days[2].value_low, days[2].value_high) == (70_000, 95_000)


def test_a_rate_event_in_the_same_second_is_ordered_by_block_and_log() -> None:
    later, earlier = RateEvent(5, (9, 1), 1, "PartnerRerated", 2), RateEvent(5, (9, 0), 1, "PartnerOnboarded", 1)
    assert active_rates([later, earlier], 6) == {1: 2}
    assert active_rates([later, earlier], 5) == {}  # the day ends before the second of the events


def test_what_is_not_a_supply_movement_is_refused() -> None:
    with pytest.raises(ValueError):
        liability_by_day(DAYS, [Movement(T0, "sent", 5)], [])
    with pytest.raises(ValueError):
        liability_by_day(DAYS, [Movement(T0, "earned", -5)], [])
    with pytest.raises(ValueError):
        liability_by_day([DAYS[0], DAYS[2]], [], [])


@given(st.lists(st.tuples(st.integers(-DAY, 4 * DAY), st.sampled_from(sorted(SIGNS)), st.integers(0, 2**80))))
def test_property_outstanding_is_the_running_sum_of_signed_movements(moves: list[tuple[int, str, int]]) -> None:
    movements = [Movement(T0 + at, kind, points) for at, kind, points in moves]
    days: list[LiabilityDay] = liability_by_day(DAYS, movements, [])
    for d in days:
        assert d.outstanding == sum(SIGNS[m.kind] * m.points for m in movements if m.at < d.end)
        assert d.expired == sum(m.points for m in movements if m.kind == "expired" and d.end - DAY <= m.at < d.end)
