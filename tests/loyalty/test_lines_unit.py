"""Purchase lines (loyalty/lines.py): nets, the amount check and its message, and what of each
line can earn once exclusions and the part paid with points or gift cards are taken out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from loyalty.lines import Basket, BasketInvalid, Line, check_basket, eligibility, line_net, lines_mismatch

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def basket(amount: str, *lines: Line, points: str = "0", gift_cards: str = "0", currency: str = "EUR") -> Basket:
    return Basket(D(amount), currency, AT, lines, D(points), D(gift_cards))


def test_a_lines_net_is_quantity_times_price_less_its_discount() -> None:
    assert line_net(Line("a", D("4.50"), D(3), discount=D("1.50")), "EUR") == D("12.00")


def test_a_weighed_lines_net_is_rounded_half_up_to_the_cent() -> None:
    assert line_net(Line("apples", D("2.99"), D("0.345")), "EUR") == D("1.03")  # 1.03155
    assert line_net(Line("fuel", D("1.799"), D("40.125")), "EUR") == D("72.18")  # 72.184875
    assert line_net(Line("x", D("0.5"), D(1)), "JPY") == D(1)  # no minor unit: half up to the yen


def test_lines_that_add_up_to_the_amount_are_no_mismatch() -> None:
    lines = [Line("a", D("60.00")), Line("b", D("20.00"), D(2))]
    assert lines_mismatch(lines, D("100.00"), "EUR") is None
    assert lines_mismatch([], D("100.00"), "EUR") is None  # no lines: today's behaviour


def test_a_mismatch_names_the_difference_and_its_side() -> None:
    short = lines_mismatch([Line("a", D("95"))], D("100.00"), "EUR")
    assert short is not None and short.difference == D("-5.00")
    assert short.message == "the lines add up to 95.00 EUR, 5.00 less than the amount 100.00"
    over = lines_mismatch([Line("a", D("100.01"))], D("100"), "EUR")
    assert over is not None
    assert over.message == "the lines add up to 100.01 EUR, 0.01 more than the amount 100.00"


def test_a_basket_whose_lines_do_not_add_up_is_refused_with_that_message() -> None:
    with pytest.raises(BasketInvalid, match=r"5\.00 less than the amount 100\.00") as caught:
        check_basket(basket("100.00", Line("a", D("95.00"))))
    assert caught.value.field == "lines"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (basket("10", Line("a", D("10"), D(0))), "lines[0].quantity"),
        (basket("10", Line("a", D("-10"), D(-1))), "lines[0].quantity"),
        (basket("10", Line("a", D("5")), Line("b", D("5"), discount=D("6"))), "lines[1].discount"),
        (basket("10", Line("", D("10"))), "lines[0].sku"),
        (basket("10", points="8", gift_cards="3"), "paid_with_points"),
        (basket("10", gift_cards="-1"), "paid_with_gift_cards"),
        (basket("10.00001"), "amount"),
        (Basket(D("10"), "EUR", datetime(2026, 6, 1, 12)), "purchased_at"),
    ],
)
def test_what_the_rules_cannot_evaluate_is_refused_naming_the_field(bad: Basket, field: str) -> None:
    with pytest.raises(BasketInvalid) as caught:
        check_basket(bad)
    assert caught.value.field == field


def test_without_lines_the_whole_amount_less_the_tenders_can_earn() -> None:
    split = eligibility(basket("42.5", points="2.50", gift_cards="10"))
    assert split.eligible == (300_000,)  # 30.0000 in money units of 10**-4
    assert split.non_earning_shares == (125_000,)


def test_points_paid_are_spread_over_the_lines_pro_rata_to_the_cent() -> None:
    # 10.00 over nets 33.33 / 33.33 / 33.34 (100.00): 3.333, 3.333, 3.334 -> 3.33 + 3.33 + 3.34
    lines = (Line("a", D("33.33")), Line("b", D("33.33")), Line("c", D("33.34")))
    split = eligibility(basket("100.00", *lines, points="10.00"))
    assert split.non_earning_shares == (33_300, 33_300, 33_400)
    assert sum(split.non_earning_shares) == 100_000
    assert split.eligible == (300_000, 300_000, 300_000)


def test_the_left_over_cent_goes_to_the_largest_remainder_whatever_the_line_order() -> None:
    # 0.01 over two equal lines: a tie, given to the line that sorts first (sku "a")
    a, b = Line("a", D("5.00")), Line("b", D("5.00"))
    assert eligibility(basket("10.00", a, b, points="0.01")).non_earning_shares == (100, 0)
    assert eligibility(basket("10.00", b, a, points="0.01")).non_earning_shares == (0, 100)


def test_excluded_lines_earn_nothing_and_take_their_share_of_the_points_paid() -> None:
    lines = (Line("cig", D("60.00"), category="tobacco"), Line("bread", D("40.00"), labels=frozenset({"bio"})))
    split = eligibility(basket("100.00", *lines, points="30.00"), excluded_categories=frozenset({"tobacco"}))
    assert split.excluded == (True, False)
    assert split.non_earning_shares == (180_000, 120_000)  # 18.00 / 12.00
    assert split.eligible == (0, 280_000)  # bread: 40.00 - 12.00
    assert split.excluded_total == 420_000  # tobacco paid in money: 60.00 - 18.00
    by_label = eligibility(basket("100.00", *lines), excluded_labels=frozenset({"bio"}))
    assert by_label.eligible == (600_000, 0)


def test_a_basket_paid_all_with_points_and_gift_cards_has_nothing_to_earn() -> None:
    lines = (Line("a", D("7.77")), Line("b", D("2.23"), D(1)))
    split = eligibility(basket("10.00", *lines, points="6.00", gift_cards="4.00"))
    assert split.eligible == (0, 0)
