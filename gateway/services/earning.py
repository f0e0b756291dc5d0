"""What a group of purchases earns under their partners' rules, for the purchase writer
(gateway/services/purchase_writer.py): the store's side of loyalty/earning.py.

A partner with an active rule set (network/store/earning_rules.py) earns by it; a partner without
one earns by its rate, ``points_per_unit``: a purchase posted without lines or tenders gets
exactly today's ``points_for`` (no breakdown), one with them is evaluated under the rate as a
base-only rule set of version 0 (:func:`rate_ruleset`), which gives the same points on what can
earn. Per group the writer asks :meth:`RulesCache.active` once (one query), and each partner's
purchases of the group are evaluated together (:func:`earn`): whether each member's purchase is
their first at the partner (one query, only when a rule gives a first-purchase bonus), their
points so far towards each cap in the cap's current period (``earning_cap_usage``, one query),
their tier multiplier (:func:`tier_multipliers`), and afterwards the caps' new usage written in
the group's transaction (:func:`add_cap_usage`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from threading import Lock
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from gateway.services import membership_benefits, tiers
from loyalty.earning import Earning, MemberContext, MemberPurchase, evaluate_group, period_bounds
from loyalty.earning_rules import BaseRate, CompiledRules, RuleSet, compile_rules
from loyalty.lines import Basket, Line
from loyalty.memberships import extra_points
from loyalty.rules_json import ruleset_from_json
from network.purchases import MAX_POINTS
from network.store import EarningCapUsage, EarningRuleSet, Partner, Purchase

RATE_VERSION = 0  # the version of the rule set a partner's rate makes when it has none
CapKey = tuple[str, str, date]  # (wallet, cap id, first day of the cap's period)


def rate_ruleset(partner: Partner) -> RuleSet:
    """The partner's rate as a rule set: one base rule, rounded down (what ``points_for`` does)."""
    return RuleSet(
        partner_id=partner.id,
        version=RATE_VERSION,
        currency=partner.currency,
        time_zone="UTC",
        rules=(BaseRate(id="base", version=1, points_per_unit=Decimal(partner.points_per_unit)),),
    )


def tier_multipliers(session: Session, wallets: Iterable[str]) -> dict[str, Decimal]:
    """The earn multiplier of each member's tier, by wallet (gateway/services/tiers.py: the tier
    in force on the ladder in force; 1 without a ladder); read only for a rule set with a tier rule."""
    return tiers.multipliers_of(session, wallets)


class RulesCache:
    """Compiled active rule sets by (partner, version): a version's rules never change once
    written, so a new activation is a new key; :meth:`active` reads which version is active
    (one query per group) and compiles only a version it has not seen."""

    def __init__(self, max_versions: int = 1024) -> None:
        self._compiled: dict[tuple[int, int], CompiledRules] = {}
        self._rates: dict[tuple[int, Decimal, str], CompiledRules] = {}
        self._max = max_versions
        self._lock = Lock()

    def active(self, session: Session, partner_ids: Iterable[int]) -> dict[int, CompiledRules]:
        """The compiled active rule set of each partner that has one."""
        rows = session.execute(
            select(EarningRuleSet.partner_id, EarningRuleSet.version, EarningRuleSet.id).where(
                EarningRuleSet.partner_id.in_(set(partner_ids)), EarningRuleSet.status == "active"
            )
        ).all()
        out: dict[int, CompiledRules] = {}
        for partner_id, version, row_id in rows:
            compiled = self._compiled.get((partner_id, version))
            if compiled is None:
                rules = session.scalar(select(EarningRuleSet.rules).where(EarningRuleSet.id == row_id))
                compiled = compile_rules(ruleset_from_json(rules))
                with self._lock:
                    if len(self._compiled) >= self._max:
                        self._compiled.clear()
                    self._compiled[(partner_id, version)] = compiled
            out[partner_id] = compiled
        return out

    def rate(self, partner: Partner) -> CompiledRules:
        """The partner's rate as compiled rules (:func:`rate_ruleset`)."""
        key = (partner.id, Decimal(partner.points_per_unit), partner.currency)
        compiled = self._rates.get(key)
        if compiled is None:
            compiled = compile_rules(rate_ruleset(partner))
            with self._lock:
                if len(self._rates) >= self._max:
                    self._rates.clear()
                self._rates[key] = compiled
        return compiled


def basket_of(
    amount: Decimal,
    currency: str,
    purchased_at: datetime,
    lines: Sequence[Any] | None,
    paid_with: Any | None,
) -> Basket:
    """The basket of a purchase: ``lines`` and ``paid_with`` as posted (``LineCreate`` and
    ``PaidWith``, whose fields are Decimals already) or as stored (their JSON: dicts of strings)."""
    if paid_with is None:
        points = gift_cards = Decimal(0)
    elif isinstance(paid_with, dict):
        points, gift_cards = Decimal(paid_with.get("points", 0)), Decimal(paid_with.get("gift_cards", 0))
    else:
        points, gift_cards = paid_with.points, paid_with.gift_cards
    return Basket(
        amount=amount,
        currency=currency,
        purchased_at=purchased_at,
        lines=tuple(_stored_line(line) if isinstance(line, dict) else _posted_line(line) for line in lines or ()),
        paid_with_points=points,
        paid_with_gift_cards=gift_cards,
    )


def _posted_line(line: Any) -> Line:
    return Line(line.sku, line.unit_price, line.quantity, line.category, line.discount, frozenset(line.labels))


def _stored_line(line: dict[str, Any]) -> Line:
    return Line(
        sku=str(line["sku"]),
        unit_price=Decimal(line["unit_price"]),
        quantity=Decimal(line.get("quantity", 1)),
        category=line.get("category"),
        discount=Decimal(line.get("discount", 0)),
        labels=frozenset(line.get("labels") or ()),
    )


@dataclass(frozen=True, slots=True)
class Earned:
    """What the group's purchases of one partner earned, in their order, and the caps' usage they read."""

    earnings: list[Earning]
    cap_keys: list[dict[str, CapKey]]  # per purchase: cap id -> its key in earning_cap_usage
    cap_stored: dict[CapKey, int]  # the usage read from the store (a key absent: no row yet)


Purchases = dict[int, tuple[CompiledRules, list[tuple[str, Basket]]]]  # partner -> (rules, (wallet, basket)...)


def earn(session: Session, purchases: Purchases) -> dict[int, Earned]:
    """:func:`loyalty.earning.evaluate_group` of each partner's ``(wallet, basket)`` in order, with
    each member's context read from the store (see the module doc): one query for the first
    purchases and one for the caps' usage, whatever the number of partners (a group is often a
    handful of purchases: per-partner queries would cost more than the rules)."""
    firsts = [(pid, wallet) for pid, (rules, items) in purchases.items() if rules.firsts for wallet, _ in items]
    seen_before = _bought_before(session, firsts)
    tiered = {wallet for rules, items in purchases.values() if rules.tiers for wallet, _ in items}
    tiers = tier_multipliers(session, tiered) if tiered else {}
    cap_keys: dict[int, list[dict[str, CapKey]]] = {}
    for pid, (rules, items) in purchases.items():
        caps = rules.rule_caps + rules.total_caps
        zone = rules.ruleset.time_zone
        cap_keys[pid] = [
            {cap.id: (wallet, cap.id, period_bounds(cap.period, basket.purchased_at, zone)[0].date()) for cap in caps}
            for wallet, basket in items
        ]
    wanted = {(pid, *key) for pid, per_item in cap_keys.items() for keys in per_item for key in keys.values()}
    stored = _cap_usage(session, wanted)
    out: dict[int, Earned] = {}
    for pid, (rules, items) in purchases.items():
        members = [
            MemberPurchase(
                member=wallet,
                basket=basket,
                context=MemberContext(
                    tier_multiplier=tiers.get(wallet, Decimal(1)),
                    first_purchase=(pid, wallet) not in seen_before,
                    cap_used={cap_id: stored.get((pid, *key), 0) for cap_id, key in keys.items()},
                ),
            )
            for (wallet, basket), keys in zip(items, cap_keys[pid], strict=True)
        ]
        mine = {key[1:]: points for key, points in stored.items() if key[0] == pid}
        out[pid] = Earned(evaluate_group(rules, members), cap_keys[pid], mine)
    return out


def add_cap_usage(session: Session, earned: dict[int, Earned], accepted: dict[int, list[int]]) -> None:
    """Adds to ``earning_cap_usage`` what the accepted purchases (per partner, their indices in
    its ``Earned``) count towards each cap, in the caller's transaction: one INSERT of the new
    rows, one UPDATE per row that exists. The writer holds the partners' rows locked
    (``SELECT ... FOR UPDATE``) from the read of the usage to the commit, so two processes never
    add to the same row from the same read."""
    fresh: list[dict[str, Any]] = []
    existing: list[dict[str, Any]] = []
    for pid, done in earned.items():
        added: dict[CapKey, int] = {}
        for i in accepted.get(pid, ()):
            keys = done.cap_keys[i]
            for cap_id, points in done.earnings[i].cap_usage:
                if points:
                    added[keys[cap_id]] = added.get(keys[cap_id], 0) + points
        for (wallet, cap_id, start), points in added.items():
            row = {"p": pid, "w": wallet, "c": cap_id, "s": start, "points": points}
            (existing if (wallet, cap_id, start) in done.cap_stored else fresh).append(row)
    t = EarningCapUsage.__table__
    connection = session.connection()
    if existing:
        connection.execute(
            update(t)
            .where(
                t.c.partner_id == bindparam("p"),
                t.c.wallet == bindparam("w"),
                t.c.cap_id == bindparam("c"),
                t.c.period_start == bindparam("s"),
            )
            .values(points=t.c.points + bindparam("points")),
            existing,
        )
    if fresh:
        connection.execute(
            insert(t),
            [{"partner_id": r["p"], "wallet": r["w"], "cap_id": r["c"], "period_start": r["s"], "points": r["points"]}
             for r in fresh],
        )  # fmt: skip


def _bought_before(session: Session, keys: list[tuple[int, str]]) -> set[tuple[int, str]]:
    """The (partner, wallet) of ``keys`` that have a purchase already."""
    if not keys:
        return set()
    t = Purchase.__table__
    # by the wallets alone (their index): with the partners in the WHERE too, SQLite's planner
    # takes the (partner, purchase_id) index and reads every purchase of the partner
    rows = session.connection().execute(
        select(t.c.partner_id, t.c.customer_wallet)
        .where(t.c.customer_wallet.in_({w for _, w in keys}))
        .group_by(t.c.partner_id, t.c.customer_wallet)
    )
    wanted = set(keys)
    return {key for key in ((pid, wallet) for pid, wallet in rows) if key in wanted}


def _cap_usage(session: Session, keys: set[tuple[int, str, str, date]]) -> dict[tuple[int, str, str, date], int]:
    """The stored usage of ``keys`` (partner, wallet, cap id, period start) that have a row."""
    if not keys:
        return {}
    t = EarningCapUsage.__table__
    rows = session.connection().execute(
        select(t.c.partner_id, t.c.wallet, t.c.cap_id, t.c.period_start, t.c.points).where(
            t.c.partner_id.in_({k[0] for k in keys}),
            t.c.wallet.in_({k[1] for k in keys}),
            t.c.cap_id.in_({k[2] for k in keys}),
            t.c.period_start.in_({k[3] for k in keys}),
        )
    )
    found = {(pid, wallet, cap_id, start): int(points) for pid, wallet, cap_id, start, points in rows}
    return {key: points for key, points in found.items() if key in keys}


Found = tuple[int, dict[str, Any], list[dict[str, Any]] | None, int | None]  # points, rule, breakdown, qualifying


def apply_plan_multipliers(
    session: Session, found: list[Found | None], buyers: Sequence[tuple[int, str]], *, now: datetime
) -> list[Found | None]:
    """Paid memberships' earn multiplier (loyalty/memberships.py): each purchase whose customer
    holds, at ``now``, a plan honoured at its partner (``buyers``: (partner, wallet) in the same
    order) gets ``floor(points * multiplier)``, the rules' points (the tier's multiplier in them)
    times the plan's; the extra is a ``membership`` line of the breakdown and never qualifying
    (a fee never buys a tier). One read for the group (:func:`membership_benefits.plan_multipliers`)."""
    wanted = [pair for pair, item in zip(buyers, found, strict=True) if item is not None]
    multipliers = membership_benefits.plan_multipliers(session, wanted, now=now)
    if not multipliers:
        return found
    out: list[Found | None] = []
    for pair, item in zip(buyers, found, strict=True):
        multiplier = multipliers.get(pair)
        if item is None or multiplier is None:
            out.append(item)
            continue
        points, rule, breakdown, qualifying = item
        extra = min(extra_points(points, multiplier), MAX_POINTS - points)
        line = {"rule": "membership", "version": 1, "kind": "membership", "points": extra}
        lines = [*(breakdown or [{"rule": "rate", "version": RATE_VERSION, "kind": "base", "points": points}]), line]
        out.append((points + extra, rule, lines, points if qualifying is None else qualifying))
    return out
