"""loyalty/expiry_schedule.py: a holder's expiry time folded from its movements, as the contract keeps it."""

from __future__ import annotations

import pytest

from loyalty.expiry_schedule import DAY_S, HolderExpiry, Movement, Windows, holder_expiry, reminders_due

W = 730 * DAY_S
ONE = Windows([((1, 0), W)])


def _m(block: int, t: int, points: int, kind: str = "earned", log_index: int = 5) -> Movement:
    return Movement((block, log_index), t, kind, points)


def test_the_last_movement_sets_the_expiry_time() -> None:
    assert holder_expiry([_m(10, 1_000, 5), _m(20, 2_000, -2, "redeemed")], ONE) == HolderExpiry(3, 2_000 + W)


def test_a_transfer_of_nothing_is_no_activity() -> None:
    assert holder_expiry([_m(10, 1_000, 5), _m(20, 2_000, 0, "received")], ONE) == HolderExpiry(5, 1_000 + W)


def test_an_expiry_resets_the_holder_and_later_points_start_again() -> None:
    moves = [_m(10, 1_000, 5), _m(30, 9_000, -5, "expired", 1), _m(30, 9_000, 4, "received", 2)]
    assert holder_expiry(moves, ONE) == HolderExpiry(4, 9_000 + W)
    assert holder_expiry(moves[:2], ONE) == HolderExpiry(0, 0)


def test_a_shorter_window_never_shortens_the_life_of_points_held() -> None:
    windows = Windows([((1, 0), W), ((15, 0), 30 * DAY_S)])
    moves = [_m(10, 1_000, 5), _m(20, 2_000, 1)]
    assert holder_expiry(moves, windows).expires_at == 1_000 + W
    assert windows.at((14, 9)) == W and windows.at((15, 1)) == 30 * DAY_S and windows.shortest == 30 * DAY_S


def test_the_window_in_force_is_the_one_at_the_movements_position() -> None:
    windows = Windows([((1, 0), 30 * DAY_S), ((15, 3), W)])
    assert holder_expiry([_m(15, 5_000, 1, log_index=2)], windows).expires_at == 5_000 + 30 * DAY_S
    assert holder_expiry([_m(15, 5_000, 1, log_index=4)], windows).expires_at == 5_000 + W


def test_points_are_due_only_once_the_time_is_past_their_expiry() -> None:
    e = HolderExpiry(5, 1_000)
    assert not e.due(1_000) and e.due(1_001) and not HolderExpiry(0, 500).due(1_000)


def test_no_window_known_is_refused() -> None:
    with pytest.raises(ValueError, match="ExpiryWindowChanged"):
        Windows([])


@pytest.mark.parametrize(
    ("days_left", "due"),
    [(31, []), (30, [30]), (8, [30]), (7, [30, 7]), (0, [30, 7]), (-1, [])],
)
def test_reminders_come_due_30_then_7_days_before(days_left: int, due: list[int]) -> None:
    expires_at = 100 * DAY_S
    now = expires_at - days_left * DAY_S
    assert reminders_due(expires_at, now, [7, 30]) == due
