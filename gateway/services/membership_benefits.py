"""Paid memberships read where they count: the perk check at a checkout (:func:`perks_of`: one
query by the (customer, entitled_until) index), the plans' earn multiplier for the earning path
(:func:`plan_multipliers`, gateway/services/earning.py) and tier protection (:func:`tier_protected`,
for gateway/services/tier_members.py ``protect_tier``). Reads only: the changes are
gateway/services/memberships.py's. The rules are loyalty/memberships.py's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.errors import NotFound
from loyalty import memberships as rules
from loyalty.memberships import Benefits, Plan
from network.store import CustomerLink, CustomerWallet, MembershipPlan, MembershipPlanPartner, MembershipSubscription


def plan_of(row: MembershipPlan, honoured_by: Iterable[int]) -> Plan:
    return Plan(
        id=row.id, name=row.name, owner_partner_id=row.owner_partner_id, honoured_by=frozenset(honoured_by),
        price=Decimal(row.price), currency=row.currency, period=row.period,  # type: ignore[arg-type]
        trial_days=row.trial_days, earn_multiplier=Decimal(row.earn_multiplier), tier_protection=row.tier_protection,
        members_only_skus=frozenset(row.members_only_skus or ()), perks=tuple(row.perks or ()),
        coalition_share=Decimal(row.coalition_share),
    )  # fmt: skip


def honouring(session: Session, plan_ids: Iterable[int]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    rows = session.execute(
        select(MembershipPlanPartner.plan_id, MembershipPlanPartner.partner_id).where(
            MembershipPlanPartner.plan_id.in_(set(plan_ids))
        )
    )
    for plan_id, partner_id in rows:
        found.setdefault(plan_id, set()).add(partner_id)
    return found


def _entitled_plans(session: Session, customer_ids: Iterable[int], now: datetime) -> dict[int, list[int]]:
    """The plans each customer is entitled to at ``now`` (one read by the (customer, entitled)
    index)."""
    found: dict[int, list[int]] = {}
    rows = session.execute(
        select(MembershipSubscription.customer_id, MembershipSubscription.plan_id).where(
            MembershipSubscription.customer_id.in_(set(customer_ids)), MembershipSubscription.entitled_until > now
        )
    )
    for customer_id, plan_id in rows:
        found.setdefault(customer_id, []).append(plan_id)
    return found


def _plans(session: Session, plan_ids: set[int]) -> dict[int, Plan]:
    if not plan_ids:
        return {}
    rows = list(session.scalars(select(MembershipPlan).where(MembershipPlan.id.in_(plan_ids))))
    honoured = honouring(session, plan_ids)
    return {r.id: plan_of(r, honoured.get(r.id, set())) for r in rows}


@dataclass(frozen=True, slots=True)
class Perks:
    customer_id: int
    benefits: Benefits
    plans: list[Plan]


def perks_of(session: Session, *, partner_id: int, ref: str, now: datetime) -> Perks:
    """The perk check: the plans of the partner's customer ``ref`` honoured at the partner and
    entitled now, with their benefits (one query: ref -> subscriptions -> plans and honouring)."""
    s, p, h = MembershipSubscription, MembershipPlan, MembershipPlanPartner
    honoured = select(h.plan_id).where(h.partner_id == partner_id)
    rows = session.execute(
        select(CustomerLink.customer_id, p)
        .select_from(CustomerLink)
        .outerjoin(s, (s.customer_id == CustomerLink.customer_id) & (s.entitled_until > now))
        .outerjoin(p, (p.id == s.plan_id) & ((p.owner_partner_id == partner_id) | p.id.in_(honoured)))
        .where(CustomerLink.partner_id == partner_id, CustomerLink.ref == ref)
    ).all()
    if not rows:
        raise NotFound(f"no customer {ref!r} of this partner")
    plans = {row.id: plan_of(row, {partner_id}) for _, row in rows if row is not None}
    found = sorted(plans.values(), key=lambda plan: plan.id)
    return Perks(int(rows[0][0]), rules.benefits_at(found, partner_id), found)


def plan_multipliers(
    session: Session, pairs: Iterable[tuple[int, str]], *, now: datetime
) -> dict[tuple[int, str], Decimal]:
    """The plans' earn multiplier of each (partner, wallet) whose customer is entitled now to a
    plan honoured at the partner (the highest of them; absent: none), for the earning path."""
    wanted = set(pairs)
    if not wanted:
        return {}
    customers = dict(
        session.execute(
            select(CustomerWallet.address, CustomerWallet.customer_id).where(
                CustomerWallet.address.in_({w for _, w in wanted})
            )
        ).all()
    )
    entitled = _entitled_plans(session, set(customers.values()), now)
    if not entitled:
        return {}
    plans = _plans(session, {pid for ids in entitled.values() for pid in ids})
    out: dict[tuple[int, str], Decimal] = {}
    for partner_id, wallet in wanted:
        customer_id = customers.get(wallet)
        if customer_id is None or customer_id not in entitled:
            continue
        benefits = rules.benefits_at([plans[i] for i in entitled[customer_id] if i in plans], partner_id)
        if benefits.earn_multiplier > 1:
            out[(partner_id, wallet)] = benefits.earn_multiplier
    return out


def tier_protected(session: Session, *, customer_id: int, now: datetime) -> bool:
    """Whether the customer holds, now, a subscription to a plan with tier protection."""
    found = session.scalar(
        select(func.count())
        .select_from(MembershipSubscription)
        .join(MembershipPlan, MembershipPlan.id == MembershipSubscription.plan_id)
        .where(
            MembershipSubscription.customer_id == customer_id,
            MembershipSubscription.entitled_until > now,
            MembershipPlan.tier_protection.is_(True),
        )
    )
    return bool(found)
