"""The pure rules of paying with points at the till (loyalty/points_payments.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty import points_payments as rules


def test_an_amount_buys_the_most_points_not_worth_more_than_it() -> None:
    q = rules.quote(point_value=8_000, amount=Decimal("5.00"))  # 0.008 cUSD a point
    assert (q.points, q.money_value) == (625, 5_000_000)
    q = rules.quote(point_value=3_000, amount=Decimal("1.00"))  # 333.33 points: rounded down
    assert (q.points, q.money_value) == (333, 999_000)
    assert rules.to_money(q.money_value) == Decimal("0.999000")
    q = rules.quote(point_value=8_000, points=250)
    assert (q.points, q.money_value) == (250, 2_000_000)


def test_an_amount_below_one_point_and_bad_inputs_are_refused() -> None:
    with pytest.raises(rules.AmountTooSmall):
        rules.quote(point_value=8_000, amount=Decimal("0.0079"))
    with pytest.raises(ValueError):
        rules.quote(point_value=0, points=1)
    with pytest.raises(ValueError):
        rules.quote(point_value=8_000, amount=Decimal(1), points=1)


def test_free_points_are_the_balance_less_redemptions_in_flight_and_open_holds() -> None:
    assert rules.available(balance=1_000, in_flight=300, held=500) == 200
    assert rules.available(balance=1_000, in_flight=700, held=500) == 0  # never negative


def test_a_hold_holds_only_while_authorised_and_before_its_expiry() -> None:
    now = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    expiry = now + timedelta(minutes=15)
    assert rules.is_open("authorised", expiry, now)
    assert not rules.is_open("authorised", expiry, expiry)  # at the expiry instant it holds nothing
    assert not rules.is_open("released", expiry, now)
    assert not rules.is_open("captured", expiry, now)


def test_a_capture_takes_all_or_a_part_never_more() -> None:
    assert rules.capture_points(held=625, amount_points=None) == 625
    assert rules.capture_points(held=625, amount_points=200) == 200
    with pytest.raises(rules.CaptureExceedsHold):
        rules.capture_points(held=625, amount_points=626)
    with pytest.raises(rules.AmountTooSmall):
        rules.capture_points(held=625, amount_points=0)


def test_refunds_give_back_points_in_proportion_and_all_of_them_in_the_end() -> None:
    # 625 points paid on a 40.00 purchase; refunded 10.00, then 10.00 more, then the rest
    first = rules.given_back(paid_points=625, refunded=Decimal("10.00"), amount=Decimal("40.00"), already_given=0)
    assert first == 156
    second = rules.given_back(paid_points=625, refunded=Decimal("20.00"), amount=Decimal("40.00"), already_given=156)
    assert second == 156
    last = rules.given_back(paid_points=625, refunded=Decimal("40.00"), amount=Decimal("40.00"), already_given=312)
    assert last == 313
    assert rules.given_back(paid_points=625, refunded=Decimal("40.00"), amount=Decimal("40.00"), already_given=625) == 0
