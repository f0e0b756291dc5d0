"""loyalty/expiry.py: the contract's expiry rule mirrored, and a period's breakage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.expiry import Expiry, expired_points, expires_after_movement, points_expired

DAY = 86_400


def test_a_movement_pushes_the_expiry_out_to_now_plus_the_window() -> None:
    assert expires_after_movement(0, moved_at=1_000, window=730 * DAY, points=5) == 1_000 + 730 * DAY


def test_a_shorter_window_never_brings_the_expiry_closer() -> None:
    held = 1_000 + 730 * DAY
    assert expires_after_movement(held, moved_at=2_000, window=30 * DAY, points=5) == held


def test_a_transfer_of_nothing_moves_nothing() -> None:
    assert expires_after_movement(500, moved_at=2_000, window=30 * DAY, points=0) == 500


def test_points_live_through_their_expiry_time() -> None:
    assert expired_points(70, 1_000, 1_000) == 0
    assert expired_points(70, 1_000, 1_001) == 70


def test_a_periods_breakage_is_the_sum_of_its_expiries() -> None:
    assert points_expired([Expiry("0xa", 70, 1), Expiry("0xb", 5, 2)]) == 75
    assert points_expired([]) == 0
    with pytest.raises(ValueError):
        points_expired([Expiry("0xa", -1, 1)])


@given(
    st.integers(0, 2**64 - 1),
    st.lists(st.tuples(st.integers(0, 2**40), st.integers(30 * DAY, 3650 * DAY), st.integers(0, 10**6))),
)
def test_property_no_movement_ever_brings_an_expiry_closer(start: int, moves: list[tuple[int, int, int]]) -> None:
    expires_at = start
    for moved_at, window, points in moves:
        after = expires_after_movement(expires_at, moved_at=moved_at, window=window, points=points)
        assert after >= expires_at
        assert after >= moved_at + window or points == 0
        expires_at = after
