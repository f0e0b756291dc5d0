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

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from loyalty.earning import Earning, MemberContext, MemberPurchase, evaluate_group, period_bounds
from loyalty.earning_rules import BaseRate, CompiledRules, RuleSet, compile_rules
from loyalty.lines import Basket, Line
from loyalty.rules_json import ruleset_from_json
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
    """The earn multiplier of each member's tier, by wallet; a wallet left out earns ×1. The
    tiers' store (issue 16 part 5) answers here; until it exists every member is ×1."""
    return {}


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


def earn(
    session: Session, *, partner_id: int, compiled: CompiledRules, purchases: Sequence[tuple[str, Basket]]
) -> Earned:
    """:func:`loyalty.earning.evaluate_group` of one partner's ``(wallet, basket)`` in order, with
    each member's context read from the store (see the module doc)."""
    wallets = {wallet for wallet, _ in purchases}
    seen_before = _bought_before(session, partner_id, wallets) if compiled.firsts else set()
    tiers = tier_multipliers(session, wallets) if compiled.tiers else {}
    caps = compiled.rule_caps + compiled.total_caps
    zone = compiled.ruleset.time_zone
    cap_keys: list[dict[str, CapKey]] = []
    if caps:
        for wallet, basket in purchases:
            at = basket.purchased_at
            cap_keys.append({cap.id: (wallet, cap.id, period_bounds(cap.period, at, zone)[0].date()) for cap in caps})
        starts = {key[2] for keys in cap_keys for key in keys.values()}
        stored = _cap_usage(session, partner_id, wallets, {cap.id for cap in caps}, starts)
    else:
        cap_keys = [{} for _ in purchases]
        stored = {}
    members = [
        MemberPurchase(
            member=wallet,
            basket=basket,
            context=MemberContext(
                tier_multiplier=tiers.get(wallet, Decimal(1)),
                first_purchase=wallet not in seen_before,
                cap_used={cap_id: stored.get(key, 0) for cap_id, key in keys.items()},
            ),
        )
        for (wallet, basket), keys in zip(purchases, cap_keys, strict=True)
    ]
    return Earned(evaluate_group(compiled, members), cap_keys, stored)


def add_cap_usage(session: Session, partner_id: int, earned: Earned, accepted: Iterable[int]) -> None:
    """Adds to ``earning_cap_usage`` what the accepted purchases (their indices in ``earned``) count
    towards each cap, in the caller's transaction. The writer holds the partner's row locked
    (``SELECT ... FOR UPDATE``) from the read of the usage to the commit, so two processes never
    add to the same row from the same read."""
    added: dict[CapKey, int] = {}
    for i in accepted:
        keys = earned.cap_keys[i]
        for cap_id, points in earned.earnings[i].cap_usage:
            if points:
                key = keys[cap_id]
                added[key] = added.get(key, 0) + points
    if not added:
        return
    t = EarningCapUsage.__table__
    existing = [(key, points) for key, points in added.items() if key in earned.cap_stored]
    fresh = [(key, points) for key, points in added.items() if key not in earned.cap_stored]
    for (wallet, cap_id, start), points in existing:
        session.execute(
            update(EarningCapUsage)
            .where(
                t.c.partner_id == partner_id,
                t.c.wallet == wallet,
                t.c.cap_id == cap_id,
                t.c.period_start == start,
            )
            .values(points=EarningCapUsage.points + points)
        )
    if fresh:
        session.connection().execute(
            insert(t),
            [
                {"partner_id": partner_id, "wallet": w, "cap_id": c, "period_start": s, "points": p}
                for (w, c, s), p in fresh
            ],
        )


def _bought_before(session: Session, partner_id: int, wallets: set[str]) -> set[str]:
    """The wallets that have a purchase at the partner already."""
    return set(
        session.scalars(
            select(Purchase.customer_wallet)
            .where(Purchase.partner_id == partner_id, Purchase.customer_wallet.in_(wallets))
            .distinct()
        )
    )


def _cap_usage(
    session: Session, partner_id: int, wallets: set[str], cap_ids: set[str], starts: set[date]
) -> dict[CapKey, int]:
    rows = session.execute(
        select(
            EarningCapUsage.wallet, EarningCapUsage.cap_id, EarningCapUsage.period_start, EarningCapUsage.points
        ).where(
            EarningCapUsage.partner_id == partner_id,
            EarningCapUsage.wallet.in_(wallets),
            EarningCapUsage.cap_id.in_(cap_ids),
            EarningCapUsage.period_start.in_(starts),
        )
    )
    return {(wallet, cap_id, start): int(points) for wallet, cap_id, start, points in rows}
