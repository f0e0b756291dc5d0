"""The customer page's pure rules (gateway/services/points_value.py): the cards add up, what the
balance buys, and what the points are worth."""

from __future__ import annotations

from gateway.services.points_value import Offer, affordable, cards, worth


def test_the_cards_add_up_to_the_ledger_balance() -> None:
    c = cards({"earned": 180, "redeemed": -50, "reversed": -20, "received": 5, "sent": -3, "unknown": 999})
    assert (c.earned, c.spent, c.refunded, c.received, c.sent) == (180, 50, 20, 5, 3)
    assert c.ledger_balance == 180 - 50 - 20 + 5 - 3 == 112
    assert c.pending(112) == 0 and c.pending(130) == 18  # the chain is ahead of the indexed history


def test_expired_points_are_a_card_of_their_own_and_the_cards_still_add_up() -> None:
    c = cards({"earned": 300, "redeemed": -100, "expired": -200})
    assert (c.earned, c.spent, c.expired) == (300, 100, 200)
    assert c.ledger_balance == 0 and c.pending(0) == 0  # not "-200 points not in your history"


def test_no_movement_is_a_zero_balance() -> None:
    c = cards({})
    assert c.ledger_balance == 0 and c.pending(0) == 0


def test_the_balance_buys_the_rewards_it_covers_in_stock_dearest_first() -> None:
    offers = [
        Offer(partner="Grocer", name="Coffee", sku="C", points=20, stock=None),
        Offer(partner="Fuel", name="Wash", sku="W", points=50, stock=4),
        Offer(partner="Fuel", name="Oil", sku="O", points=60, stock=0),  # out of stock
        Offer(partner="Grocer", name="Basket", sku="B", points=500, stock=None),  # too dear
        Offer(partner="Fuel", name="Exactly", sku="E", points=110, stock=1),  # exactly the balance
    ]
    assert [o.name for o in affordable(110, offers)] == ["Exactly", "Wash", "Coffee"]
    assert affordable(0, offers) == []


def test_the_points_are_worth_the_balance_at_the_lowest_and_highest_reimbursement_rate() -> None:
    w = worth(110, {"Grocer": 8_000, "Fuel": 9_000, "Cinema": 8_500})
    assert w is not None
    assert (w.low, w.high, w.low_partner, w.high_partner) == (880_000, 990_000, "Grocer", "Fuel")
    assert worth(110, {}) is None  # no partner with a reward: nothing to value against
    single = worth(10, {"Grocer": 8_000})
    assert single is not None and single.low == single.high == 80_000
