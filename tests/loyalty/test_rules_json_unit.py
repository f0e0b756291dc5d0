"""A rule set as JSON and back (loyalty/rules_json.py): every kind survives the round trip, and a
bad rule is refused naming it."""

from __future__ import annotations

import json
from datetime import date, time
from decimal import Decimal as D
from typing import Any

import pytest

from loyalty.earning_rules import (
    BaseRate,
    BonusWindow,
    Cap,
    Exclusion,
    FirstPurchaseBonus,
    MinimumOrder,
    Multiplier,
    RuleSet,
    RulesInvalid,
    Scope,
    TierMultiplier,
)
from loyalty.rules_json import ruleset_from_json, ruleset_to_json

EVERY_KIND = RuleSet(
    7,
    3,
    "EUR",
    "Europe/Paris",
    (
        BaseRate("base", 2, D("1.5")),
        Multiplier("wine-x2", 1, D(2), Scope(categories=frozenset({"wine"}), labels=frozenset({"bio", "aoc"}))),
        BonusWindow("sat", 4, D("1.25"), Scope(), date(2026, 12, 1), None, frozenset({5, 6}), (time(22), time(2))),
        TierMultiplier("tier", 1, qualifying=True),
        FirstPurchaseBonus("welcome", 1, 250),
        MinimumOrder("min", 1, D("20.00")),
        Exclusion("no-tobacco", 1, Scope(skus=frozenset({"cig-1"}))),
        Cap("wine-cap", 1, 1000, "month", "wine-x2"),
        Cap("daily", 1, 5000, "day"),
    ),
    "half_even",
)


def test_every_kind_of_rule_survives_the_round_trip_through_json_text() -> None:
    data = json.loads(json.dumps(ruleset_to_json(EVERY_KIND)))
    assert ruleset_from_json(data) == EVERY_KIND
    assert data["rules"][1] == {
        "kind": "multiplier",
        "id": "wine-x2",
        "version": 1,
        "factor": "2",
        "skus": [],
        "categories": ["wine"],
        "labels": ["aoc", "bio"],
        "qualifying": False,
    }
    assert data["rules"][2]["hours"] == ["22:00", "02:00"] and data["rules"][7]["rule"] == "wine-x2"


def _with(rule: dict[str, Any]) -> dict[str, Any]:
    data = ruleset_to_json(EVERY_KIND)
    data["rules"] = [data["rules"][0], rule]
    return data


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"kind": "cashback", "id": "x", "version": 1}, "kind must be one of"),
        ({"kind": "multiplier", "id": "x", "version": 1}, "factor is missing"),
        ({"kind": "multiplier", "id": "x", "version": 1, "factor": 2.5}, "decimal string"),
        ({"kind": "first_purchase", "id": "x", "version": "1", "points": 5}, "integer"),
        ({"kind": "bonus_window", "id": "x", "version": 1, "factor": "2", "hours": ["25:00", "02:00"]}, "cannot hold"),
        ({"kind": "cap", "id": "x", "version": 1, "limit": 5, "period": "day", "rule": "ghost"}, "not an earning rule"),
    ],
)
def test_a_bad_rule_is_refused_naming_it(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(RulesInvalid, match=message) as caught:
        ruleset_from_json(_with(rule))
    assert caught.value.rule == "x"


def test_a_rule_set_without_its_fields_is_refused() -> None:
    with pytest.raises(RulesInvalid, match="expected partner_id"):
        ruleset_from_json({"version": 1, "rules": []})
