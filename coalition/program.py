"""The loyalty program ``coalition demo`` runs (pure: no HTTP, no chain, no terminal): its three
shops with their catalogues, each shop's earning rules, the coalition's tier ladder, the members'
profiles, and the baskets a till rings up.

Each shop's rule set (drafted and activated through the operator API) keeps the shop's rate as
its base and adds a category multiplier, an excluded category and a first-purchase bonus; the
Grocery adds the member's tier multiplier, the Pharmacy a bonus window (``happy-hours``) over
the hours around the demo's own time, in its time zone. Only the base rate's points
qualify for the tier (the rules' default), so a member's qualifying points are the sum of the
``base`` entries of their purchases' breakdowns (:func:`qualifying_points`).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

CENT = Decimal("0.01")
TIME_ZONE = "Europe/Paris"  # where the shops' rules read a purchase's time
BONUS_RULE = "happy-hours"


@dataclass(frozen=True)
class Item:
    """A product of a shop's catalogue; a ``weighed`` one (fuel) sells by the litre."""

    sku: str
    category: str
    unit_price: Decimal
    weighed: bool = False


@dataclass(frozen=True)
class ShopPlan:
    kind: str
    points_per_unit: str
    issue_price: int  # cUSD base units per point issued
    reimbursement_rate: int  # cUSD base units per point redeemed
    rewards: tuple[tuple[str, str, int, int], ...]  # sku, name, points, stock
    catalogue: tuple[Item, ...]
    multiplier: tuple[str, str]  # (category, factor): those lines earn factor × the base rate
    excluded: str  # a category that earns nothing
    welcome: int  # points of a member's first purchase at the shop
    tier_rule: bool = False  # the member's tier multiplier applies here
    bonus_window: bool = False  # ×3 on every line for the hours around now, today


def _items(*rows: tuple[str, str, str] | tuple[str, str, str, bool]) -> tuple[Item, ...]:
    return tuple(Item(row[0], row[1], Decimal(row[2]), *row[3:]) for row in rows)


SHOPS = (
    ShopPlan(
        "Grocery", "1", 10_000, 8_000,
        (("COFFEE", "Free coffee", 30, 60), ("BASKET", "Fruit basket", 150, 10)),
        _items(("APPLES", "fresh", "3.49"), ("CHEESE", "fresh", "7.80"), ("BREAD", "bakery", "2.10"),
               ("WINE", "wine", "11.90"), ("COFFEE-BEANS", "pantry", "8.45"), ("CIGARETTES", "tobacco", "11.20")),
        ("fresh", "2"), "tobacco", 25, tier_rule=True,
    ),
    ShopPlan(
        "Fuel station", "2", 12_000, 9_000,
        (("WASH", "Car wash", 60, 40), ("FUEL-10", "10 litres", 200, 10)),
        _items(("UNLEADED", "fuel", "1.849", True), ("DIESEL", "fuel", "1.749", True), ("WASH", "car-wash", "14.00"),
               ("SNACKS", "shop", "3.20"), ("LOTTO", "lottery", "5.00")),
        ("car-wash", "3"), "lottery", 50,
    ),
    ShopPlan(
        "Pharmacy", "1.5", 9_000, 7_000,
        (("VITAMINS", "Vitamins", 40, 40), ("SPF", "Sun cream", 90, 20)),
        _items(("SPF50", "beauty", "15.90"), ("SERUM", "beauty", "27.50"), ("VITAMIN-C", "health", "8.40"),
               ("PLASTERS", "health", "3.95"), ("THERMOMETER", "health", "19.90"), ("RX", "prescription", "12.00")),
        ("beauty", "2"), "prescription", 30, bonus_window=True,
    ),
)  # fmt: skip

# Coalition-wide: qualifying points (base points of confirmed purchases, net of refunds) in a rolling year
LADDER: dict[str, Any] = {
    "tiers": [
        {"name": "Member", "threshold": 0, "multiplier": "1"},
        {"name": "Silver", "threshold": 1500, "multiplier": "1.25"},
        {"name": "Gold", "threshold": 3000, "multiplier": "1.5"},
    ],
    "policy": {"window": "rolling_12_months", "review": {"kind": "anniversary"}, "grace_days": 30},
}

LOCALES = (("fr-FR", "Europe/Paris"), ("de-DE", "Europe/Berlin"), ("nl-NL", "Europe/Amsterdam"),
           ("en-GB", "Europe/London"), ("es-ES", "Europe/Madrid"), ("it-IT", "Europe/Rome"))  # fmt: skip


# ------------------------------------------------------------------------------ members


def profile(i: int, ref: str) -> dict[str, Any]:
    """The enrolment fields of the ``i``-th customer: an email, a locale and its time zone, and
    the consents given at the till (email always, SMS every third, push every other)."""
    locale, time_zone = LOCALES[i % len(LOCALES)]
    channels = {"email": True, "sms": i % 3 == 0, "push": i % 2 == 1}
    consents = [{"channel": c, "granted": granted, "source": "pos"} for c, granted in channels.items()]
    return {"email": f"{ref}@example.com", "locale": locale, "time_zone": time_zone, "consents": consents}


# ------------------------------------------------------------------------------ baskets


def net_of(line: Mapping[str, Any]) -> Decimal:
    """A line's net as the gateway computes it: quantity × unit price − discount, half-up to cents."""
    gross = Decimal(line["quantity"]) * Decimal(line["unit_price"]) - Decimal(line.get("discount", "0"))
    return gross.quantize(CENT, rounding=ROUND_HALF_UP)


def line(item: Item, quantity: Decimal | int, discount: Decimal = Decimal(0)) -> dict[str, Any]:
    return {
        "sku": item.sku,
        "category": item.category,
        "quantity": str(quantity),
        "unit_price": str(item.unit_price),
        "discount": str(discount),
    }


def basket(
    catalogue: Sequence[Item], rng: random.Random, excluded: Collection[str] = ()
) -> tuple[list[dict[str, Any]], Decimal]:
    """One to three products of the catalogue, two to four units each (10 to 50 litres of fuel),
    one line in five with 10 % off; answers the lines and their total (the purchase's amount).
    At least one product is outside the ``excluded`` categories (a basket that earns nothing is
    refused: ``no-points``)."""
    chosen = rng.sample(list(catalogue), rng.randint(1, min(3, len(catalogue))))
    if all(i.category in excluded for i in chosen):
        chosen.append(rng.choice([i for i in catalogue if i.category not in excluded]))
    lines = []
    for item in chosen:
        quantity: Decimal | int = Decimal(rng.randint(1000, 5000)) / 100 if item.weighed else rng.randint(2, 4)
        discount = Decimal(0)
        if rng.random() < 0.2:
            discount = (Decimal(quantity) * item.unit_price / 10).quantize(CENT, rounding=ROUND_DOWN)
        lines.append(line(item, quantity, discount))
    return lines, sum((net_of(x) for x in lines), Decimal(0))


# ------------------------------------------------------------------------------ earning rules


def bonus_window(now: datetime, time_zone: str = TIME_ZONE) -> dict[str, Any]:
    """×3 from an hour before ``now`` to two hours after it, in the shop's time zone, on the
    dates these fall on (across midnight the hours cross it and the dates are two)."""
    local = now.astimezone(ZoneInfo(time_zone))
    start, until = local - timedelta(hours=1), local + timedelta(hours=2)
    return {
        "kind": "bonus_window",
        "id": BONUS_RULE,
        "factor": "3",
        "starts_on": start.date().isoformat(),
        "ends_on": until.date().isoformat(),
        "hours": [start.strftime("%H:%M"), until.strftime("%H:%M")],
    }


def window_text(rule: Mapping[str, Any]) -> str:
    """A bonus window's dates and hours: "2026-12-05 09:30-12:30 Europe/Paris"."""
    dates = rule.get("starts_on") or ""
    if rule.get("ends_on") not in (None, rule.get("starts_on")):
        dates = f"{dates} to {rule['ends_on']}"
    return f"{dates} {'-'.join(rule.get('hours') or ['00:00', '24:00'])} {TIME_ZONE}".strip()


def rule_set(plan: ShopPlan, now: datetime) -> dict[str, Any]:
    """The draft of the shop's rule set (POST /v1/operator/partners/{id}/rules)."""
    category, factor = plan.multiplier
    rules: list[dict[str, Any]] = [
        {"kind": "base", "id": "base", "points_per_unit": plan.points_per_unit},
        {"kind": "multiplier", "id": f"{category}-x{factor}", "factor": factor, "categories": [category]},
        {"kind": "exclusion", "id": f"no-{plan.excluded}", "categories": [plan.excluded]},
        {"kind": "first_purchase", "id": "welcome", "points": plan.welcome},
    ]
    if plan.tier_rule:
        rules.append({"kind": "tier", "id": "tier"})
    if plan.bonus_window:
        rules.append(bonus_window(now))
    return {"time_zone": TIME_ZONE, "rounding": "down", "rules": rules}


def describe(rule: Mapping[str, Any], points_per_unit: str) -> str:
    """A rule as a person reads it: "×2 on fresh", "nothing on tobacco", "+25 on a first purchase"."""
    scope = ", ".join(rule.get("categories") or rule.get("skus") or rule.get("labels") or ["everything"])
    kind = rule["kind"]
    if kind == "base":
        return f"{plain(rule['points_per_unit'])} pt per EUR"
    if kind == "multiplier":
        return f"×{plain(rule['factor'])} on {scope}"
    if kind == "exclusion":
        return f"nothing on {scope}"
    if kind == "first_purchase":
        return f"+{rule['points']} on a first purchase here"
    if kind == "tier":
        return "× the member's tier multiplier"
    if kind == "bonus_window":
        return f"×{plain(rule['factor'])} on {scope}, {window_text(rule)}"
    return kind


def plain(value: str | Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def qualifying_points(breakdown: Sequence[Mapping[str, Any]] | None, points: int) -> int:
    """The points of a purchase that count towards the tier: its base rate's (the only rule the
    demo marks qualifying), at most its points; all of them without a breakdown."""
    if breakdown is None:
        return points
    return min(points, sum(int(e["points"]) for e in breakdown if e["kind"] == "base"))


def ladder_of(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The tiers and policy of a ladder answer (GET /v1/operator/tiers/ladder) in the shape of
    :data:`LADDER`, to compare them."""
    policy = answer["policy"]
    return {
        "tiers": [{k: t[k] for k in ("name", "threshold", "multiplier")} for t in answer["tiers"]],
        "policy": {
            "window": policy["window"],
            "review": {k: v for k, v in policy["review"].items() if v is not None},
            "grace_days": policy["grace_days"],
        },
    }


def till_lines(plan: ShopPlan) -> list[dict[str, Any]]:
    """A receipt that shows the shop's rules at work: a product of the multiplied category, two
    of an ordinary one (30 litres of fuel), one of the excluded category."""
    category = plan.multiplier[0]
    boosted = next(i for i in plan.catalogue if i.category == category)
    ordinary = next(i for i in plan.catalogue if i.category not in (category, plan.excluded))
    excluded = next(i for i in plan.catalogue if i.category == plan.excluded)
    return [line(boosted, 1), line(ordinary, 30 if ordinary.weighed else 2), line(excluded, 1)]
