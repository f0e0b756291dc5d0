"""A partner's rule set versions: read, draft, activate, and simulate a proposal on past purchases.

The operator owns the program, so it writes the rules (a partner reads its own: the rules decide
what the coalition pays for, through the points it issues). A version is a draft until it is
activated; activating retires the active one in the same transaction, and the writer uses the
new version from its next group (gateway/services/earning.py). A draft's rules keep their own
versions: a rule left out of ``version`` gets its version in the active set when unchanged, one
more when changed, and 1 when new. A partner without an active version earns by its rate, shown
as version 0 (:func:`gateway.services.earning.rate_ruleset`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.errors import NotFound, RulesetNotDraft
from gateway.errors import RulesInvalid as RulesRefused
from gateway.services.earning import basket_of, rate_ruleset, tier_multipliers
from loyalty.earning import MemberContext, MemberPurchase
from loyalty.earning_rules import Rule, RuleSet, RulesInvalid
from loyalty.rules_json import rule_from_json, ruleset_from_json, ruleset_to_json
from loyalty.simulation import Simulation, simulate
from network.store import EarningRuleSet, Partner, Purchase, utcnow

SETTLEMENT_TOKEN_DECIMALS = 6  # cUSD: the issue price is in its base units (README "money model")
SETTLEMENT_TOKEN_SYMBOL = "cUSD"
MAX_SIMULATED = 200_000  # purchases a simulation reads at most (the newest)


@dataclass(frozen=True, slots=True)
class Version:
    """A version as the API shows it (``rules`` is loyalty/rules_json.py's JSON)."""

    version: int
    status: str
    rules: dict[str, Any]
    created_at: datetime | None
    created_by: str | None
    activated_at: datetime | None
    activated_by: str | None


def versions(session: Session, *, partner: Partner) -> list[Version]:
    """Every version of the partner's rules, newest first; none: its rate, as version 0."""
    rows = session.scalars(
        select(EarningRuleSet).where(EarningRuleSet.partner_id == partner.id).order_by(EarningRuleSet.version.desc())
    ).all()
    if not rows:
        return [_rate_version(partner)]
    return [_version(row) for row in rows]


def active(session: Session, *, partner: Partner) -> Version:
    """The version in force: the active one, or the partner's rate as version 0."""
    row = _active_row(session, partner.id)
    return _rate_version(partner) if row is None else _version(row)


def draft(session: Session, *, partner: Partner, rules: Mapping[str, Any], by: str) -> Version:
    """Stores ``rules`` (time_zone, rounding, rules; currency is the partner's) as the next
    version, a draft. Raises ``RulesInvalid`` (gateway.errors) naming the bad rule."""
    last = session.scalar(select(func.max(EarningRuleSet.version)).where(EarningRuleSet.partner_id == partner.id))
    ruleset = _parse(partner, rules, (last or 0) + 1, _in_force(session, partner))
    row = EarningRuleSet(
        partner_id=partner.id,
        version=ruleset.version,
        rules=ruleset_to_json(ruleset),
        status="draft",
        created_at=utcnow(),
        created_by=by,
    )
    session.add(row)
    session.flush()
    return _version(row)


def activate(session: Session, *, partner: Partner, version: int, by: str) -> Version:
    """Makes the draft ``version`` the partner's rules and retires the active one."""
    row = session.scalar(
        select(EarningRuleSet)
        .where(EarningRuleSet.partner_id == partner.id, EarningRuleSet.version == version)
        .with_for_update()
    )
    if row is None:
        raise NotFound(f"partner {partner.id} has no version {version} of its rules")
    if row.status != "draft":
        raise RulesetNotDraft(f"version {version} of partner {partner.id}'s rules is {row.status}, not a draft")
    now = utcnow()
    current = _active_row(session, partner.id)
    if current is not None:
        current.status, current.retired_at = "retired", now
        session.flush()  # one active version per partner: the index sees the retirement first
    row.status, row.activated_at, row.activated_by = "active", now, by
    session.flush()
    return _version(row)


def simulation(
    session: Session, *, partner: Partner, rules: Mapping[str, Any], days: int, now: datetime | None = None
) -> Simulation:
    """What ``rules`` (a proposal, as for :func:`draft`) would have issued against the rules in
    force over the partner's purchases of the last ``days`` days (at most the newest
    ``MAX_SIMULATED``): each purchase as it was posted (lines, tenders, time), whether it was its
    member's first at the partner, the member's tier multiplier of today; caps start the window
    at 0 (loyalty/simulation.py)."""
    current = _in_force(session, partner)
    proposed = _parse(partner, rules, current.version + 1, current)
    since = (now or utcnow()) - timedelta(days=days)
    rows = session.execute(
        select(
            Purchase.customer_wallet,
            Purchase.seq,
            Purchase.amount,
            Purchase.currency,
            Purchase.purchased_at,
            Purchase.lines,
            Purchase.paid_with,
        )
        .where(Purchase.partner_id == partner.id, Purchase.purchased_at >= since)
        .order_by(Purchase.purchased_at.desc())
        .limit(MAX_SIMULATED)
    ).all()
    wallets = {row.customer_wallet for row in rows}
    firsts = _first_seqs(session, partner.id, wallets)
    tiers = tier_multipliers(session, wallets)
    purchases = [
        MemberPurchase(
            member=row.customer_wallet,
            basket=basket_of(Decimal(row.amount), row.currency, row.purchased_at, row.lines, row.paid_with),
            context=MemberContext(
                tier_multiplier=tiers.get(row.customer_wallet, Decimal(1)),
                first_purchase=firsts.get(row.customer_wallet) == row.seq,
            ),
        )
        for row in rows
        if row.currency == partner.currency
    ]
    return simulate(
        current, proposed, purchases, issue_price=int(partner.issue_price), token_decimals=SETTLEMENT_TOKEN_DECIMALS
    )


def _first_seqs(session: Session, partner_id: int, wallets: set[str]) -> dict[str, int]:
    if not wallets:
        return {}
    rows = session.execute(
        select(Purchase.customer_wallet, func.min(Purchase.seq))
        .where(Purchase.partner_id == partner_id, Purchase.customer_wallet.in_(wallets))
        .group_by(Purchase.customer_wallet)
    )
    return {wallet: int(seq) for wallet, seq in rows}


def _in_force(session: Session, partner: Partner) -> RuleSet:
    row = _active_row(session, partner.id)
    return rate_ruleset(partner) if row is None else ruleset_from_json(row.rules)


def _active_row(session: Session, partner_id: int) -> EarningRuleSet | None:
    return session.scalar(
        select(EarningRuleSet).where(EarningRuleSet.partner_id == partner_id, EarningRuleSet.status == "active")
    )


def _parse(partner: Partner, rules: Mapping[str, Any], version: int, previous: RuleSet) -> RuleSet:
    """The proposal as a rule set of ``version``, each rule's own version filled in (see the module doc)."""
    before = {rule.id: rule for rule in previous.rules}
    items = []
    for item in rules.get("rules") or []:
        if isinstance(item, Mapping) and "version" not in item:
            old = before.get(str(item.get("id")))
            item = {**item, "version": _rule_version(old, item)}
        items.append(item)
    data = {
        "partner_id": partner.id,
        "version": version,
        "currency": partner.currency,
        "time_zone": rules.get("time_zone", "UTC"),
        "rounding": rules.get("rounding", "down"),
        "rules": items,
    }
    try:
        return ruleset_from_json(data)
    except RulesInvalid as exc:
        raise RulesRefused(str(exc)) from exc


def _rule_version(old: Rule | None, item: Mapping[str, Any]) -> int:
    """The rule's version in a new set: its old one unless what it does changed. Compared as
    rules, not as JSON text, so that "2" and "2.000000" are the same factor."""
    if old is None:
        return 1
    try:
        now = rule_from_json({**item, "version": old.version})
    except RulesInvalid:
        return old.version + 1  # the proposal's check names the problem
    return old.version if now == old else old.version + 1


def _version(row: EarningRuleSet) -> Version:
    return Version(
        version=row.version,
        status=row.status,
        rules=row.rules,
        created_at=row.created_at,
        created_by=row.created_by,
        activated_at=row.activated_at,
        activated_by=row.activated_by,
    )


def _rate_version(partner: Partner) -> Version:
    return Version(
        version=0,
        status="active",
        rules=ruleset_to_json(rate_ruleset(partner)),
        created_at=None,
        created_by=None,
        activated_at=None,
        activated_by=None,
    )
