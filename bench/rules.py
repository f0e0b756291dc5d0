"""The earning rules' CPU per purchase (loyalty/earning.py), in this process, nothing else running.

    .venv/bin/python -m bench.rules [--purchases 2000] [--rounds 7] [--json]

A rule set of 20 active rules of every kind (a base rate, 2 exclusions, 7 multipliers by SKU,
category and label, 4 bonus windows, a tier multiplier, a first-purchase bonus, a minimum order,
3 caps) is compiled once, then ``evaluate`` runs over ``--purchases`` generated purchases of 3
lines on average (a fixed seed: a fifth paid partly with points, purchase times spread over a
year, members at several tiers and cap levels). Each figure is this process's CPU time (not the
wall clock, which a shared machine's other processes disturb), the least of ``--rounds`` rounds,
in µs per purchase:

- ``points_for`` (today): the gateway's earn rule, amount × points per unit rounded down, the
  baseline measured in the same run;
- ``evaluate``, base rate only, no lines: the engine doing what ``points_for`` does;
- ``evaluate``, 20 rules; and ``check_basket`` + ``evaluate``, what the accept path will run;
- ``compile_rules`` of the 20 rules: once per group of purchases, not per purchase;
- the same with 20 running purchase campaigns evaluated after the rules
  (loyalty/campaigns/evaluation.py ``evaluate_purchase``: conditions, the arm's hash, the bonus),
  the accept path's combined pure cost (issue 20: under 50 µs).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal

from gateway.services.purchases import points_for
from loyalty.campaigns.evaluation import CompiledCampaign, PurchaseFacts, compile_campaign, evaluate_purchase
from loyalty.earning import MemberContext, evaluate
from loyalty.earning_rules import (
    BaseRate,
    BonusWindow,
    Cap,
    Exclusion,
    FirstPurchaseBonus,
    MinimumOrder,
    Multiplier,
    RuleSet,
    Scope,
    TierMultiplier,
    compile_rules,
)
from loyalty.lines import Basket, Line, check_basket, line_net
from network.store import Partner

CATEGORIES = ("grocery", "wine", "tobacco", "bakery", "household", "toys", "gift-cards")
LABELS = ("bio", "own-brand", "local", "promo")
TARGET_US = 30
TWENTY = "evaluate, 20 rules, ~3 lines"  # the figure the target is about
COMBINED = "check_basket + 20 rules + 20 campaigns"  # issue 20's figure
TARGET_COMBINED_US = 50


def twenty_rules() -> RuleSet:
    """20 active rules of mixed kinds, as a partner might run them."""
    rules = (
        BaseRate("base", 3, Decimal("1.5")),
        Exclusion("no-tobacco", 1, Scope(categories=frozenset({"tobacco"}))),
        Exclusion("no-gift-cards", 1, Scope(categories=frozenset({"gift-cards"}), skus=frozenset({"sku-0999"}))),
        Multiplier("wine-x2", 2, Decimal(2), Scope(categories=frozenset({"wine"}))),
        Multiplier("bakery-x1.5", 1, Decimal("1.5"), Scope(categories=frozenset({"bakery"}))),
        Multiplier("bio-x2", 1, Decimal(2), Scope(labels=frozenset({"bio"}))),
        Multiplier("own-brand-x3", 1, Decimal(3), Scope(labels=frozenset({"own-brand"}))),
        Multiplier("hero-skus-x5", 1, Decimal(5), Scope(skus=frozenset({f"sku-{i:04d}" for i in range(0, 40)}))),
        Multiplier("launch-x4", 1, Decimal(4), Scope(skus=frozenset({"sku-0100", "sku-0101", "sku-0102"}))),
        Multiplier("local-x1.2", 1, Decimal("1.2"), Scope(labels=frozenset({"local"}))),
        BonusWindow("saturday-morning", 1, Decimal(2), weekdays=frozenset({5}), hours=(clock(9), clock(12))),
        BonusWindow("happy-hour", 1, Decimal("1.5"), hours=(clock(17), clock(19))),
        BonusWindow(
            "toys-december", 1, Decimal(3), Scope(categories=frozenset({"toys"})), date(2026, 12, 1), date(2026, 12, 24)
        ),
        BonusWindow("late-night", 1, Decimal("1.25"), weekdays=frozenset({4, 5}), hours=(clock(22), clock(2))),
        TierMultiplier("tier", 1),
        FirstPurchaseBonus("welcome", 1, 250),
        MinimumOrder("minimum", 1, Decimal("1.00")),
        Cap("wine-monthly", 1, 1_000, "month", "wine-x2"),
        Cap("hero-daily", 1, 500, "day", "hero-skus-x5"),
        Cap("all-daily", 1, 5_000, "day"),
    )
    return RuleSet(1, 12, "EUR", "Europe/Paris", rules, "half_even")


def twenty_campaigns() -> list[CompiledCampaign]:
    """20 running purchase campaigns of mixed conditions and effects (some never match the bench's
    purchases, as most campaigns do not match most purchases), a 10 % control group each."""
    specs = [
        ({}, {"kind": "bonus_points", "mode": "fixed", "points": 50}),
        ({"categories": ["wine"]}, {"kind": "bonus_points", "mode": "per_unit", "points": 5}),
        ({"skus": [f"sku-{i:04d}" for i in range(0, 1000, 7)]}, {"kind": "bonus_points", "mode": "fixed", "points": 5}),
        ({"min_amount": "40"}, {"kind": "bonus_points", "mode": "multiplier", "factor": "2"}),
        (
            {"weekdays": [5, 6], "time_zone": "Europe/Paris"},
            {"kind": "bonus_points", "mode": "multiplier", "factor": "3"},
        ),
        ({"hours": [8, 12], "time_zone": "Europe/Paris"}, {"kind": "bonus_points", "mode": "fixed", "points": 20}),
        ({"first_purchase": True}, {"kind": "bonus_points", "mode": "fixed", "points": 100}),
        ({"partners": [2]}, {"kind": "bonus_points", "mode": "fixed", "points": 10}),
        ({"categories": ["toys"], "min_amount": "10"}, {"kind": "message", "message_kind": "campaign_offer"}),
        ({"categories": ["bakery", "grocery"]}, {"kind": "bonus_points", "mode": "per_unit", "points": 1}),
    ]
    out = []
    for i in range(20):
        conditions, effect = specs[i % len(specs)]
        out.append(
            compile_campaign(
                id=i + 1, version=1, funder_partner_id=1, owner="operator", trigger_type="purchase",
                trigger_params={}, conditions=conditions, effects=[effect], limits={"budget_points": 10**9},
                holdout_bp=1000, salt=f"bench-{i}",
            )
        )  # fmt: skip
    return out


def purchases(count: int, seed: int = 16) -> list[tuple[Basket, MemberContext]]:
    rnd = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = []
    for _ in range(count):
        lines = []
        for _ in range(rnd.choice((2, 3, 3, 4))):
            quantity = (
                Decimal(rnd.choice((1, 1, 2, 3))) if rnd.random() < 0.8 else Decimal(rnd.randint(100, 2000)) / 1000
            )
            labels = frozenset(rnd.sample(LABELS, rnd.choice((0, 0, 1, 2))))
            price = Decimal(rnd.randint(50, 5000)) / 100
            discount = Decimal(rnd.randint(0, 200)) / 100 if rnd.random() < 0.2 else Decimal(0)
            line = Line(f"sku-{rnd.randint(0, 999):04d}", price, quantity, rnd.choice(CATEGORIES), Decimal(0), labels)
            lines.append(replace(line, discount=discount) if discount < line_net(line, "EUR") else line)
        amount = sum((line_net(line, "EUR") for line in lines), Decimal(0))
        points = (amount * Decimal(rnd.randint(1, 50)) / 100).quantize(Decimal("0.01")) if rnd.random() < 0.2 else 0
        at = start + timedelta(seconds=rnd.randint(0, 365 * 86_400))
        member = MemberContext(
            tier_multiplier=rnd.choice((Decimal(1), Decimal("1.25"), Decimal("1.5"), Decimal(2))),
            first_purchase=rnd.random() < 0.05,
            cap_used={
                "wine-monthly": rnd.randint(0, 1_200),
                "hero-daily": rnd.randint(0, 600),
                "all-daily": rnd.randint(0, 300),
            },
        )
        made.append((Basket(amount, "EUR", at, tuple(lines), Decimal(points)), member))
    return made


def best_us(work: Callable[[], object], items: int, rounds: int) -> float:
    """The best of ``rounds`` timings of ``work`` (which handles ``items`` items), µs per item."""
    best = float("inf")
    for _ in range(rounds):
        began = time.process_time_ns()
        work()
        best = min(best, (time.process_time_ns() - began) / items / 1_000)
    return best


def measure(count: int, rounds: int) -> dict[str, float]:
    ruleset = twenty_rules()
    compiled = compile_rules(ruleset)
    base_only = compile_rules(RuleSet(1, 1, "EUR", "Europe/Paris", (BaseRate("base", 1, Decimal("1.5")),)))
    items = purchases(count)
    bare = [(Basket(basket.amount, "EUR", basket.purchased_at), member) for basket, member in items]
    partner = Partner(currency="EUR", points_per_unit=Decimal("1.5"))
    amounts = [basket.amount for basket, _ in items]

    def today() -> None:
        for amount in amounts:
            points_for(partner, amount, "EUR")

    def base() -> None:
        for basket, member in bare:
            evaluate(base_only, basket, member)

    def twenty() -> None:
        for basket, member in items:
            evaluate(compiled, basket, member)

    def accept_path() -> None:
        for basket, member in items:
            check_basket(basket)
            evaluate(compiled, basket, member)

    def compiling() -> None:
        for _ in range(100):
            compile_rules(ruleset)

    campaigns = twenty_campaigns()

    def combined() -> None:
        for i, (basket, member) in enumerate(items):
            check_basket(basket)
            earned = evaluate(compiled, basket, member)
            facts = PurchaseFacts(1, i + 1, basket.amount, basket.purchased_at, basket.lines, earned.points,
                                  member.first_purchase)  # fmt: skip
            evaluate_purchase(campaigns, facts, basket.purchased_at)

    return {
        "points_for (today)": best_us(today, count, rounds),
        "evaluate, base rate only, no lines": best_us(base, count, rounds),
        TWENTY: best_us(twenty, count, rounds),
        "check_basket + evaluate, 20 rules": best_us(accept_path, count, rounds),
        "compile_rules, 20 rules (once per group)": best_us(compiling, 100, rounds),
        COMBINED: best_us(combined, count, rounds),
    }


def table(result: dict[str, float], count: int) -> str:
    width = max(len(name) for name in result)
    rows = [f"{'what':<{width}}  CPU µs per purchase", f"{'-' * width}  -------------------"]
    rows += [f"{name:<{width}}  {us:>19.2f}" for name, us in result.items()]
    twenty = result[TWENTY]
    verdict = "under" if twenty < TARGET_US else "OVER"
    rows.append(f"{count} purchases, the least of the rounds; 20 rules: {verdict} the {TARGET_US} µs target")
    if COMBINED in result:
        verdict = "under" if result[COMBINED] < TARGET_COMBINED_US else "OVER"
        rows.append(f"20 rules + 20 campaigns: {verdict} the {TARGET_COMBINED_US} µs target")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    args = parser.parse_args()
    result = measure(args.purchases, args.rounds)
    print(json.dumps({k: round(v, 2) for k, v in result.items()}) if args.json else table(result, args.purchases))


if __name__ == "__main__":
    main()
