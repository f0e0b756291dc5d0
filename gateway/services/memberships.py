"""Paid membership plans: the store's side of loyalty/memberships.py (the rules).

Plans (:func:`create_plan`), a customer's subscriptions and their changes (:func:`subscribe`,
:func:`report_payment`, :func:`cancel`, :func:`resume`, :func:`change_plan`, and what time alone
does, :func:`sweep`), each change written with a ``membership.*`` domain event (the selling
partner's webhook; the event names the customer's wallet for messages) and a
``membership_events`` row in the caller's transaction. The readers (the perk check, the
earning path's multipliers, tier protection) are gateway/services/membership_benefits.py, which
the tiers and earning import without the writes. Times come from the
caller (the routes and tasks pass :func:`gateway.services.tiers.clock`, the one clock a test
moves for tiers and memberships alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import (
    IdempotencyConflict,
    MembershipPlanInvalid,
    MembershipTransitionInvalid,
    NotFound,
)
from gateway.services import customer_records
from gateway.services.membership_benefits import honouring, plan_of
from gateway.services.tier_members import bring_up
from loyalty import memberships as rules
from loyalty.memberships import Plan, Status, Step, Subscription
from network.store import (
    CustomerLink,
    CustomerWallet,
    MembershipEvent,
    MembershipPayment,
    MembershipPlan,
    MembershipPlanPartner,
    MembershipSubscription,
    MembershipTrial,
    Partner,
)
from network.store.events import record

SWEEP_BATCH = 500


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ------------------------------------------------------------------------------ plans


def get_plan(session: Session, *, plan_id: int) -> Plan:
    row = session.get(MembershipPlan, plan_id)
    if row is None:
        raise NotFound(f"no membership plan {plan_id}")
    return plan_of(row, honouring(session, [plan_id]).get(plan_id, set()))


def create_plan(
    session: Session,
    *,
    owner_partner_id: int | None,
    name: str,
    price: Decimal,
    currency: str,
    period: str,
    trial_days: int,
    earn_multiplier: Decimal,
    tier_protection: bool,
    members_only_skus: list[str],
    perks: list[str],
    honoured_by: list[int],
    coalition_share: Decimal,
) -> Plan:
    """A new plan (checked by loyalty/memberships.py's :class:`Plan`); the honouring partners must
    exist. Not committed."""
    try:
        checked = Plan(
            id=0, name=name, owner_partner_id=owner_partner_id, honoured_by=frozenset(honoured_by), price=price,
            currency=currency, period=period, trial_days=trial_days,  # type: ignore[arg-type]
            earn_multiplier=earn_multiplier, tier_protection=tier_protection,
            members_only_skus=frozenset(members_only_skus), perks=tuple(perks), coalition_share=coalition_share,
        )  # fmt: skip
    except rules.PlanInvalid as bad:
        raise MembershipPlanInvalid(str(bad)) from None
    partners = set(honoured_by) | ({owner_partner_id} if owner_partner_id is not None else set())
    known = set(session.scalars(select(Partner.id).where(Partner.id.in_(partners))))
    if partners - known:
        raise MembershipPlanInvalid(f"no partner {', '.join(map(str, sorted(partners - known)))} to honour the plan")
    row = MembershipPlan(
        owner_partner_id=owner_partner_id, name=name, price=checked.price, currency=currency, period=period,
        trial_days=trial_days, earn_multiplier=earn_multiplier, tier_protection=tier_protection,
        members_only_skus=sorted(members_only_skus), perks=list(perks), coalition_share=coalition_share,
        status="active",
    )  # fmt: skip
    session.add(row)
    session.flush()
    for partner_id in sorted(set(honoured_by)):
        session.add(MembershipPlanPartner(plan_id=row.id, partner_id=partner_id))
    session.flush()
    return plan_of(row, set(honoured_by))


def list_plans(session: Session, *, partner_id: int | None = None) -> list[Plan]:
    """Every plan (the operator), or those a partner owns or honours."""
    query = select(MembershipPlan).order_by(MembershipPlan.id)
    if partner_id is not None:
        honours = select(MembershipPlanPartner.plan_id).where(MembershipPlanPartner.partner_id == partner_id)
        query = query.where((MembershipPlan.owner_partner_id == partner_id) | MembershipPlan.id.in_(honours))
    rows = list(session.scalars(query))
    honoured = honouring(session, [r.id for r in rows])
    return [plan_of(r, honoured.get(r.id, set())) for r in rows]


def set_coalition_share(session: Session, *, plan_id: int, share: Decimal) -> Plan:
    """The operator's rate on a plan's future fees (fees reported before keep theirs)."""
    row = session.get(MembershipPlan, plan_id)
    if row is None:
        raise NotFound(f"no membership plan {plan_id}")
    if not Decimal(0) <= share <= Decimal(1):
        raise MembershipPlanInvalid(f"the coalition's share is between 0 and 1, got {share}")
    row.coalition_share = share
    session.flush()
    return get_plan(session, plan_id=plan_id)


# ------------------------------------------------------------------------------ subscriptions


def subscription_of(row: MembershipSubscription) -> Subscription:
    return Subscription(
        plan_id=row.plan_id, status=Status(row.status), started_at=_utc(row.started_at),  # type: ignore[arg-type]
        period_start=_utc(row.period_start), period_end=_utc(row.period_end),  # type: ignore[arg-type]
        anchor=_utc(row.anchor), cycles=row.cycles, cancel_at_period_end=row.cancel_at_period_end,
        grace_until=_utc(row.grace_until), credit=Decimal(row.credit), ended_at=_utc(row.ended_at),
    )  # fmt: skip


def _due_at(sub: Subscription) -> datetime | None:
    """When time alone changes the subscription (:func:`rules.advance`)."""
    if sub.status == Status.LAPSED:
        return None
    return sub.grace_until if sub.status == Status.PAST_DUE else sub.period_end


def _write(session: Session, row: MembershipSubscription, step: Step, *, at: datetime, grace_days: int) -> str | None:
    """Writes the step's subscription into ``row`` and, if it changed something, its event (a
    domain event for the seller's webhook, a ``membership_events`` row); the event's id."""
    sub = step.subscription
    was_protected = row.status != Status.LAPSED
    row.plan_id, row.status = sub.plan_id, str(sub.status)
    row.period_start, row.period_end, row.anchor, row.cycles = sub.period_start, sub.period_end, sub.anchor, sub.cycles
    row.cancel_at_period_end, row.grace_until, row.credit = sub.cancel_at_period_end, sub.grace_until, sub.credit
    row.ended_at, row.due_at = sub.ended_at, _due_at(sub)
    row.entitled_until = rules.entitled_until(sub, grace_days=grace_days)
    row.updated_at = at
    session.flush()
    if step.event is None:
        return None
    payload = public_payload(row) | {"amount_due": str(step.amount_due)}
    wallets = customer_records.wallets_of(session, customer_id=row.customer_id)
    event_id = record(
        session, step.event, payload=payload, partner_id=row.seller_partner_id,
        customer_wallet=wallets[0] if wallets else None,
    )  # fmt: skip
    session.add(MembershipEvent(subscription_id=row.id, type=step.event, at=at, event_id=event_id, payload=payload))
    if was_protected and sub.status == Status.LAPSED:
        _protection_ended(session, row.customer_id, at)
    session.flush()
    return event_id


def _protection_ended(session: Session, customer_id: int, at: datetime) -> None:
    """A lapsed subscription protects no tier any more: the member's tier is brought up to now, so
    a downgrade the rules computed while it was protected applies now."""
    bring_up(session, [customer_id], now=at)


def _iso(value: datetime | None) -> str | None:
    value = _utc(value)
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def public_payload(row: MembershipSubscription) -> dict[str, Any]:
    return {
        "subscription_id": row.id, "customer_id": row.customer_id, "plan_id": row.plan_id,
        "seller_partner_id": row.seller_partner_id, "status": row.status,
        "period_start": _iso(row.period_start), "period_end": _iso(row.period_end),
        "cancel_at_period_end": row.cancel_at_period_end, "grace_until": _iso(row.grace_until),
        "entitled_until": _iso(row.entitled_until), "credit": str(row.credit),
    }  # fmt: skip


def customer_of_ref(session: Session, *, partner_id: int, ref: str) -> int:
    link = session.scalar(
        select(CustomerLink.customer_id).where(CustomerLink.partner_id == partner_id, CustomerLink.ref == ref)
    )
    if link is None:
        raise NotFound(f"no customer {ref!r} of this partner")
    return int(link)


def get_subscription(
    session: Session, *, subscription_id: int, partner_id: int | None = None, customer_id: int | None = None
) -> MembershipSubscription:
    """The subscription, locked; a partner sees the ones it sold, a customer their own."""
    row = session.scalar(
        select(MembershipSubscription).where(MembershipSubscription.id == subscription_id).with_for_update()
    )
    if (
        row is None
        or (partner_id is not None and row.seller_partner_id != partner_id)
        or (customer_id is not None and row.customer_id != customer_id)
    ):
        raise NotFound(f"no membership subscription {subscription_id}")
    return row


def _transition(step: Any, *args: Any, **kwargs: Any) -> Step:
    try:
        return step(*args, **kwargs)  # type: ignore[no-any-return]
    except rules.TransitionInvalid as bad:
        raise MembershipTransitionInvalid(str(bad)) from None


@dataclass(frozen=True, slots=True)
class Reported:
    payment: MembershipPayment
    subscription: MembershipSubscription
    created: bool
    amount_due: Decimal = Decimal(0)


def subscribe(
    session: Session,
    *,
    partner_id: int,
    customer_id: int,
    plan_id: int,
    now: datetime,
    grace_days: int,
    provider_ref: str | None = None,
) -> Reported | MembershipSubscription:
    """A new subscription sold by ``partner_id`` (which must honour the plan): a trial if the plan
    has one and the customer never had one, else the first paid period, whose payment the partner
    took already (``provider_ref``, recorded as a succeeded payment of the plan's price). A
    customer with an entitled subscription to the plan gets ``membership-transition-invalid``. Not
    committed."""
    plan = get_plan(session, plan_id=plan_id)
    row_plan = session.get(MembershipPlan, plan_id)
    if row_plan is not None and row_plan.status != "active":
        raise MembershipTransitionInvalid(f"plan {plan_id} is retired: it takes no new subscriber")
    if not plan.honoured_at(partner_id):
        raise NotFound(f"no membership plan {plan_id} honoured by this partner")
    customer_records.get(session, customer_id=customer_id)
    current = session.scalar(
        select(MembershipSubscription.id).where(
            MembershipSubscription.customer_id == customer_id,
            MembershipSubscription.plan_id == plan_id,
            MembershipSubscription.status != str(Status.LAPSED),
        )
    )
    if current is not None:
        raise MembershipTransitionInvalid(f"the customer has subscription {current} to plan {plan_id} already")
    trial_used = session.get(MembershipTrial, customer_id) is not None
    step = _transition(rules.subscribe, plan, at=now, trial_used=trial_used, paid=provider_ref is not None)
    sub = step.subscription
    row = MembershipSubscription(
        customer_id=customer_id, plan_id=plan_id, seller_partner_id=partner_id, status=str(sub.status),
        started_at=now, period_start=sub.period_start, period_end=sub.period_end, cycles=0,
        cancel_at_period_end=False, credit=Decimal(0), updated_at=now,
    )  # fmt: skip
    session.add(row)
    session.flush()
    if sub.status == Status.TRIALING:
        try:
            with session.begin_nested():
                session.add(MembershipTrial(customer_id=customer_id, subscription_id=row.id, at=now))
        except IntegrityError:
            raise MembershipTransitionInvalid(
                "the customer had a free trial already (one per customer, ever)"
            ) from None
    _write(session, row, step, at=now, grace_days=grace_days)
    if provider_ref is None:
        return row
    payment = _payment(session, row, plan, provider_ref=provider_ref, outcome="succeeded", amount=plan.price, at=now)
    return Reported(payment, row, True, plan.price)


def _payment(
    session: Session, row: MembershipSubscription, plan: Plan, *, provider_ref: str, outcome: str,
    amount: Decimal, at: datetime,
) -> MembershipPayment:  # fmt: skip
    coalition = rules.fee_split(amount, plan.coalition_share)[0] if outcome == "succeeded" else Decimal(0)
    payment = MembershipPayment(
        subscription_id=row.id, partner_id=row.seller_partner_id, plan_id=plan.id, provider_ref=provider_ref,
        outcome=outcome, amount=amount, currency=plan.currency, coalition_amount=coalition, at=at,
    )  # fmt: skip
    session.add(payment)
    session.flush()
    return payment


def report_payment(
    session: Session,
    *,
    partner_id: int,
    subscription_id: int,
    provider_ref: str,
    outcome: str,
    amount: Decimal,
    currency: str,
    now: datetime,
    grace_days: int,
) -> Reported:
    """A renewal's (or a change's) payment as the selling partner's provider answered it:
    succeeded (the next period) or failed (past due, with the grace). The same ``provider_ref``
    reported again with the same subscription and outcome answers the first report (nothing
    changes); with another, ``idempotency-conflict``. Not committed."""
    existing = session.scalar(
        select(MembershipPayment).where(
            MembershipPayment.partner_id == partner_id, MembershipPayment.provider_ref == provider_ref
        )
    )
    if existing is not None:
        if existing.subscription_id != subscription_id or existing.outcome != outcome:
            raise IdempotencyConflict(f"provider_ref {provider_ref!r} was reported for another payment")
        row = get_subscription(session, subscription_id=subscription_id, partner_id=partner_id)
        return Reported(existing, row, False)
    row = get_subscription(session, subscription_id=subscription_id, partner_id=partner_id)
    plan = get_plan(session, plan_id=row.plan_id)
    if currency != plan.currency:
        raise MembershipTransitionInvalid(f"plan {plan.id} is paid in {plan.currency}, not {currency}")
    sub = rules.advance(subscription_of(row), at=now, grace_days=grace_days)
    if sub.event is not None:
        _write(session, row, sub, at=now, grace_days=grace_days)
    if outcome == "succeeded":
        step = _transition(rules.payment_succeeded, subscription_of(row), plan, at=now)
    else:
        step = _transition(rules.payment_failed, subscription_of(row), at=now, grace_days=grace_days)
    payment = _payment(session, row, plan, provider_ref=provider_ref, outcome=outcome, amount=amount, at=now)
    _write(session, row, step, at=now, grace_days=grace_days)
    return Reported(payment, row, True, step.amount_due)


def cancel(session: Session, *, row: MembershipSubscription, now: datetime, grace_days: int) -> MembershipSubscription:
    """Cancels at the period's end (a past-due subscription lapses now). Not committed."""
    _catch_up(session, row, now=now, grace_days=grace_days)
    _write(session, row, _transition(rules.cancel, subscription_of(row), at=now), at=now, grace_days=grace_days)
    return row


def resume(session: Session, *, row: MembershipSubscription, now: datetime, grace_days: int) -> MembershipSubscription:
    _catch_up(session, row, now=now, grace_days=grace_days)
    _write(session, row, _transition(rules.resume, subscription_of(row), at=now), at=now, grace_days=grace_days)
    return row


def change_plan(
    session: Session, *, row: MembershipSubscription, plan_id: int, now: datetime, grace_days: int
) -> Decimal:
    """Moves the subscription to ``plan_id`` (honoured by its seller) with proration; what the
    seller charges now (reported then as a payment). Not committed."""
    _catch_up(session, row, now=now, grace_days=grace_days)
    old, new = get_plan(session, plan_id=row.plan_id), get_plan(session, plan_id=plan_id)
    if not new.honoured_at(row.seller_partner_id):
        raise NotFound(f"no membership plan {plan_id} honoured by this partner")
    step = _transition(rules.change_plan, subscription_of(row), old, new, at=now)
    _write(session, row, step, at=now, grace_days=grace_days)
    return step.amount_due


def _catch_up(session: Session, row: MembershipSubscription, *, now: datetime, grace_days: int) -> None:
    step = rules.advance(subscription_of(row), at=now, grace_days=grace_days)
    if step.event is not None:
        _write(session, row, step, at=now, grace_days=grace_days)


def sweep(session: Session, *, now: datetime, grace_days: int, batch: int = SWEEP_BATCH) -> list[str]:
    """What time alone does to the subscriptions due by ``now`` (a renewal not reported: past due;
    a grace run out or a cancelled period ended: lapsed); the events written. Not committed."""
    rows = list(
        session.scalars(
            select(MembershipSubscription)
            .where(MembershipSubscription.due_at <= now, MembershipSubscription.status != str(Status.LAPSED))
            .order_by(MembershipSubscription.due_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    )
    events = []
    for row in rows:
        step = rules.advance(subscription_of(row), at=now, grace_days=grace_days)
        event = _write(session, row, step, at=now, grace_days=grace_days)
        if event is not None:
            events.append(event)
    return events


# ------------------------------------------------------------------------------ reading


def subscriptions_of(session: Session, *, customer_id: int) -> list[MembershipSubscription]:
    return list(
        session.scalars(
            select(MembershipSubscription)
            .where(MembershipSubscription.customer_id == customer_id)
            .order_by(MembershipSubscription.id.desc())
        )
    )


def subscriptions_sold(
    session: Session, *, partner_id: int | None, plan_id: int | None = None, limit: int = 100
) -> list[MembershipSubscription]:
    query = select(MembershipSubscription).order_by(MembershipSubscription.id.desc()).limit(limit)
    if partner_id is not None:
        query = query.where(MembershipSubscription.seller_partner_id == partner_id)
    if plan_id is not None:
        query = query.where(MembershipSubscription.plan_id == plan_id)
    return list(session.scalars(query))


def subscriptions_and_plans(
    session: Session, *, customer_id: int | None
) -> tuple[list[MembershipSubscription], dict[int, Plan]]:
    """A customer's subscriptions, newest first, and their plans (for /me)."""
    if customer_id is None:
        return [], {}
    rows = subscriptions_of(session, customer_id=customer_id)
    return rows, {plan_id: get_plan(session, plan_id=plan_id) for plan_id in {r.plan_id for r in rows}}


def cancel_mine(
    session: Session, *, wallet: str, subscription_id: int, now: datetime, grace_days: int
) -> MembershipSubscription:
    """A customer cancels their own subscription (not found: another's, or no customer). Not committed."""
    customer_id = session.scalar(select(CustomerWallet.customer_id).where(CustomerWallet.address == wallet))
    if customer_id is None:
        raise NotFound(f"no membership subscription {subscription_id}")
    row = get_subscription(session, subscription_id=subscription_id, customer_id=customer_id)
    return cancel(session, row=row, now=now, grace_days=grace_days)
