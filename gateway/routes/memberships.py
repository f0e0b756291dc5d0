"""Paid membership plans over HTTP (gateway/services/memberships.py; the rules:
loyalty/memberships.py). A partner creates the plans it owns, sells them to its customers (by
ref), reports the payments its own provider took or failed to take (idempotent by the
provider's reference), cancels, resumes and changes plan on a customer's behalf, and asks the
perk check at its checkout; the operator creates coalition plans, sets the coalition's share and
lists subscribers; a customer reads and cancels their own on ``/v1/me/memberships``. Times are the
tiers' clock (:func:`tiers.clock`), which tests move."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from gateway.deps import CurrentPartner, OperatorDep, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.routes.me_api import CurrentCustomer
from gateway.schemas import Ident
from gateway.schemas_memberships import (
    OperatorPlanCreate,
    PaymentPublic,
    PaymentReport,
    PerksPublic,
    PlanChange,
    PlanCreate,
    PlanList,
    PlanPublic,
    ShareSet,
    SubscriptionCreate,
    SubscriptionList,
    SubscriptionPublic,
)
from gateway.services import membership_benefits, tiers, webhooks
from gateway.services import memberships as service
from loyalty.memberships import Plan
from network.store import MembershipSubscription

router = APIRouter(tags=["memberships"], responses=problem_responses("rate-limited"))
SubscriptionId = Annotated[int, Path(ge=1, lt=2**63, description="The subscription's id", examples=[7])]
PlanId = Annotated[int, Path(ge=1, lt=2**31, description="The plan's id", examples=[3])]
READ = problem_responses("unauthorized", "not-found", "validation-error")
CHANGE = problem_responses("unauthorized", "not-found", "validation-error", "membership-transition-invalid")
PLAN = problem_responses("unauthorized", "not-found", "validation-error", "membership-plan-invalid")
PAY = problem_responses(
    "unauthorized", "not-found", "validation-error", "membership-transition-invalid", "idempotency-conflict"
)


def _plain(value: Decimal) -> str:
    """A decimal without trailing zeros nor exponent (10 is "10", 0.1000 is "0.1")."""
    return format(value.normalize(), "f")


def plan_public(plan: Plan) -> PlanPublic:
    return PlanPublic(
        id=plan.id, name=plan.name, owner_partner_id=plan.owner_partner_id, honoured_by=sorted(plan.honoured_by),
        price=str(plan.price), currency=plan.currency, period=plan.period,  # type: ignore[arg-type]
        trial_days=plan.trial_days,
        earn_multiplier=_plain(plan.earn_multiplier), tier_protection=plan.tier_protection,
        perks=list(plan.perks), members_only_skus=sorted(plan.members_only_skus),
        coalition_share=_plain(plan.coalition_share),
    )  # fmt: skip


def subscription_public(row: MembershipSubscription, amount_due: object = None) -> SubscriptionPublic:
    renews = row.status in ("trialing", "active", "past_due") and not row.cancel_at_period_end
    return SubscriptionPublic(
        id=row.id, customer_id=row.customer_id, plan_id=row.plan_id, seller_partner_id=row.seller_partner_id,
        status=row.status,  # type: ignore[arg-type]
        started_at=row.started_at, period_start=row.period_start, period_end=row.period_end,
        next_renewal=row.period_end if renews else None, cancel_at_period_end=row.cancel_at_period_end,
        grace_until=row.grace_until, entitled_until=row.entitled_until, credit=str(row.credit),
        amount_due=None if amount_due is None else str(amount_due),
    )  # fmt: skip


def _told(events: Iterable[str] = ("soon",)) -> None:
    """The webhook consumer asked to run now (the beat's sweep runs it anyway)."""
    webhooks.publish_soon(list(events))


# ------------------------------------------------------------------------------ partner: plans


@router.post("/v1/memberships/plans", status_code=status.HTTP_201_CREATED, response_model=PlanPublic, responses=PLAN)
def create_plan(partner: CurrentPartner, session: SessionDep, settings: SettingsDep, body: PlanCreate) -> PlanPublic:
    """A plan you own, honoured by you and the partners you name; the coalition's share of its fees
    is the coalition's default (``COALITION_MEMBERSHIP_DEFAULT_COALITION_SHARE``) until the operator
    sets another."""
    plan = service.create_plan(
        session, owner_partner_id=partner.id, coalition_share=settings.membership_default_coalition_share,
        **body.model_dump(),
    )  # fmt: skip
    session.commit()
    return plan_public(plan)


@router.get("/v1/memberships/plans", response_model=PlanList, responses=READ)
def list_plans(partner: CurrentPartner, session: SessionDep) -> PlanList:
    """The plans you own or honour."""
    found = [plan_public(p) for p in service.list_plans(session, partner_id=partner.id)]
    session.commit()
    return PlanList(plans=found)


# ------------------------------------------------------------------------------ partner: subscriptions


@router.post(
    "/v1/customers/{ref}/memberships",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionPublic,
    responses=CHANGE,
)
def subscribe(
    ref: Ident, partner: CurrentPartner, session: SessionDep, settings: SettingsDep, body: SubscriptionCreate
) -> SubscriptionPublic:
    """Subscribes your customer to a plan you own or honour: a free trial if the plan has one and
    the customer never had one (once per customer, ever), else the first paid period, whose
    payment you took already (``provider_ref``)."""
    customer_id = service.customer_of_ref(session, partner_id=partner.id, ref=ref)
    made = service.subscribe(
        session, partner_id=partner.id, customer_id=customer_id, plan_id=body.plan_id, now=tiers.clock(settings),
        grace_days=settings.membership_grace_days, provider_ref=body.provider_ref,
    )  # fmt: skip
    row = made.subscription if isinstance(made, service.Reported) else made
    session.commit()
    _told()
    return subscription_public(row)


@router.get("/v1/customers/{ref}/memberships", response_model=SubscriptionList, responses=READ)
def customer_subscriptions(ref: Ident, partner: CurrentPartner, session: SessionDep) -> SubscriptionList:
    """Your customer's subscriptions that you sold, newest first."""
    customer_id = service.customer_of_ref(session, partner_id=partner.id, ref=ref)
    rows = [r for r in service.subscriptions_of(session, customer_id=customer_id) if r.seller_partner_id == partner.id]
    session.commit()
    return SubscriptionList(subscriptions=[subscription_public(r) for r in rows])


@router.get(
    "/v1/customers/{ref}/perks",
    response_model=PerksPublic,
    summary="The perk check at the checkout: the customer's plans honoured here and their perks",
    responses=READ,
)
def perks(ref: Ident, partner: CurrentPartner, session: SessionDep, settings: SettingsDep) -> PerksPublic:
    """The plans your customer holds now that you honour, their perks (free delivery, priority
    service...), the earn multiplier your purchases get and the members-only rewards. One indexed
    read."""
    found = membership_benefits.perks_of(session, partner_id=partner.id, ref=ref, now=tiers.clock(settings))
    session.commit()
    b = found.benefits
    return PerksPublic(
        customer_ref=ref, plans=list(b.plan_ids), perks=list(b.perks), earn_multiplier=_plain(b.earn_multiplier),
        tier_protection=b.tier_protection, members_only_skus=sorted(b.members_only_skus),
    )  # fmt: skip


@router.get("/v1/memberships/subscriptions/{subscription_id}", response_model=SubscriptionPublic, responses=READ)
def get_subscription(
    subscription_id: SubscriptionId, partner: CurrentPartner, session: SessionDep
) -> SubscriptionPublic:
    """A subscription you sold."""
    row = service.get_subscription(session, subscription_id=subscription_id, partner_id=partner.id)
    answer = subscription_public(row)
    session.commit()
    return answer


@router.post(
    "/v1/memberships/subscriptions/{subscription_id}/payments",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentPublic,
    responses={**PAY, 200: {"description": "The same report again: the first answer", "model": PaymentPublic}},
)
def report_payment(
    subscription_id: SubscriptionId,
    partner: CurrentPartner,
    session: SessionDep,
    settings: SettingsDep,
    body: PaymentReport,
    response: Response,
) -> PaymentPublic:
    """What your payment provider answered for a renewal (or a change of plan's charge):
    ``succeeded`` (the next period: a trial converts, a past-due subscription is active again) or
    ``failed`` (past due; the benefits hold during the grace). Idempotent by ``provider_ref``:
    the same report again answers 200 with the first answer."""
    reported = service.report_payment(
        session, partner_id=partner.id, subscription_id=subscription_id, provider_ref=body.provider_ref,
        outcome=body.outcome, amount=body.amount, currency=body.currency, now=tiers.clock(settings),
        grace_days=settings.membership_grace_days,
    )  # fmt: skip
    p, row = reported.payment, reported.subscription
    answer = PaymentPublic(
        id=p.id, subscription=subscription_public(row), provider_ref=p.provider_ref,
        outcome=p.outcome,  # type: ignore[arg-type]
        amount=str(p.amount), currency=p.currency, coalition_amount=str(p.coalition_amount), at=p.at,
    )  # fmt: skip
    session.commit()
    if not reported.created:
        response.status_code = status.HTTP_200_OK
    else:
        _told()
    return answer


def _changed(
    subscription_id: int, partner_id: int, session: SessionDep, settings: SettingsDep, action: str, plan_id: int = 0
) -> SubscriptionPublic:
    row = service.get_subscription(session, subscription_id=subscription_id, partner_id=partner_id)
    now, grace = tiers.clock(settings), settings.membership_grace_days
    due = None
    if action == "cancel":
        service.cancel(session, row=row, now=now, grace_days=grace)
    elif action == "resume":
        service.resume(session, row=row, now=now, grace_days=grace)
    else:
        due = service.change_plan(session, row=row, plan_id=plan_id, now=now, grace_days=grace)
    answer = subscription_public(row, due)
    session.commit()
    _told()
    return answer


@router.post(
    "/v1/memberships/subscriptions/{subscription_id}/cancel", response_model=SubscriptionPublic, responses=CHANGE
)
def cancel(
    subscription_id: SubscriptionId, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> SubscriptionPublic:
    """Cancels at the period's end on the customer's behalf: the benefits hold until then, no
    renewal is due (a past-due subscription lapses now)."""
    return _changed(subscription_id, partner.id, session, settings, "cancel")


@router.post(
    "/v1/memberships/subscriptions/{subscription_id}/resume", response_model=SubscriptionPublic, responses=CHANGE
)
def resume(
    subscription_id: SubscriptionId, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> SubscriptionPublic:
    """Undoes a cancellation before the period's end."""
    return _changed(subscription_id, partner.id, session, settings, "resume")


@router.post(
    "/v1/memberships/subscriptions/{subscription_id}/change", response_model=SubscriptionPublic, responses=CHANGE
)
def change_plan(
    subscription_id: SubscriptionId, partner: CurrentPartner, session: SessionDep, settings: SettingsDep,
    body: PlanChange,
) -> SubscriptionPublic:  # fmt: skip
    """Upgrades or downgrades to another plan you honour, in the same currency, now: the unused
    part of the current period is credited (``amount_due`` is the new price less it: charge it and
    report the payment; a larger credit is carried to the next renewals). A trial changes plan
    free, keeping its end."""
    return _changed(subscription_id, partner.id, session, settings, "change", body.plan_id)


# ------------------------------------------------------------------------------ operator

operator = APIRouter(prefix="/v1/operator/memberships", tags=["operator"], responses=problem_responses("rate-limited"))


@operator.post("/plans", status_code=status.HTTP_201_CREATED, response_model=PlanPublic, responses=PLAN)
def operator_create_plan(_: OperatorDep, session: SessionDep, body: OperatorPlanCreate) -> PlanPublic:
    """A plan of the coalition (``owner_partner_id`` None) or of a partner, with its share."""
    plan = service.create_plan(session, **body.model_dump())
    session.commit()
    return plan_public(plan)


@operator.get("/plans", response_model=PlanList, responses=problem_responses("unauthorized"))
def operator_plans(_: OperatorDep, session: SessionDep) -> PlanList:
    """Every plan, the coalition's and the partners', oldest first."""
    found = [plan_public(p) for p in service.list_plans(session)]
    session.commit()
    return PlanList(plans=found)


@operator.put("/plans/{plan_id}/share", response_model=PlanPublic, responses=PLAN)
def operator_set_share(_: OperatorDep, plan_id: PlanId, session: SessionDep, body: ShareSet) -> PlanPublic:
    """The coalition's share of the plan's fees reported from now on."""
    plan = service.set_coalition_share(session, plan_id=plan_id, share=body.coalition_share)
    session.commit()
    return plan_public(plan)


@operator.get("/subscribers", response_model=SubscriptionList, responses=READ)
def operator_subscribers(
    _: OperatorDep,
    session: SessionDep,
    plan_id: Annotated[int | None, Query(ge=1, lt=2**31, description="Only this plan's", examples=[3])] = None,
    limit: Annotated[int, Query(ge=1, le=1_000, description="The most items in the answer", examples=[100])] = 100,
) -> SubscriptionList:
    """Subscriptions, newest first (of one plan, if given)."""
    rows = service.subscriptions_sold(session, partner_id=None, plan_id=plan_id, limit=limit)
    answer = SubscriptionList(subscriptions=[subscription_public(r) for r in rows])
    session.commit()
    return answer


# ------------------------------------------------------------------------------ the customer


@router.get(
    "/v1/me/memberships",
    response_model=SubscriptionList,
    summary="My membership plans, their next renewal",
    responses=problem_responses("unauthorized"),
    openapi_extra={"security": [{"customerToken": []}]},
)
def my_memberships(wallet: CurrentCustomer, session: SessionDep) -> SubscriptionList:
    """Every subscription of the signed-in customer, newest first: its status, the period, the next
    renewal (None once cancelled) and until when its benefits hold."""
    customer_id = tiers.customer_by_wallet(session, wallet=wallet)
    rows = [] if customer_id is None else service.subscriptions_of(session, customer_id=customer_id)
    answer = SubscriptionList(subscriptions=[subscription_public(r) for r in rows])
    session.commit()
    return answer


@router.post(
    "/v1/me/memberships/{subscription_id}/cancel",
    response_model=SubscriptionPublic,
    summary="Cancel my membership at the period's end",
    responses=problem_responses("unauthorized", "not-found", "membership-transition-invalid"),
    openapi_extra={"security": [{"customerToken": []}]},
)
def cancel_mine(
    subscription_id: SubscriptionId, wallet: CurrentCustomer, session: SessionDep, settings: SettingsDep
) -> SubscriptionPublic:
    """Stops the renewal of one of my subscriptions: its benefits hold until the period's end."""
    row = service.cancel_mine(
        session, wallet=wallet, subscription_id=subscription_id, now=tiers.clock(settings),
        grace_days=settings.membership_grace_days,
    )  # fmt: skip
    answer = subscription_public(row)
    session.commit()
    _told()
    return answer


router.include_router(operator)
