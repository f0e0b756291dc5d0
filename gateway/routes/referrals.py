"""Referrals over HTTP: the operator's audit trail (each referral, its decision, its awards) and the
member's own code, share link and counts on ``/v1/me/referral`` (gateway/services/referrals.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from gateway.deps import OperatorDep, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.routes.me_api import CurrentCustomer
from gateway.schemas_rewards import (
    MyReferralPublic,
    ReferralAwardPublic,
    ReferralEventPublic,
    ReferralList,
    ReferralPublic,
)
from gateway.services import members
from gateway.services import referrals as service
from gateway.timeutil import as_utc

router = APIRouter(tags=["referrals"], responses=problem_responses("rate-limited"))


@router.get(
    "/v1/operator/referrals",
    response_model=ReferralList,
    summary="Referrals with their audit trail and awards",
    responses=problem_responses("unauthorized", "validation-error"),
)
def referral_audit(
    _: OperatorDep,
    session: SessionDep,
    referrer_id: Annotated[
        int | None, Query(ge=1, lt=2**63, description="Only this referrer's (a customer id)", examples=[12])
    ] = None,
    state: Annotated[
        Literal["pending", "qualified", "rejected"] | None,
        Query(description="Only the referrals in this state", examples=["rejected"]),
    ] = None,
    after: Annotated[int, Query(ge=0, lt=2**63, description="The page after this id", examples=[0])] = 0,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many", examples=[100])] = 100,
) -> ReferralList:
    """Each referral (oldest first, a page after id ``after``): who referred whom, where the new
    member enrolled, the decision and its reason, every audit line, and the bonuses minted."""
    found = service.audit(session, referrer_id=referrer_id, status=state, limit=limit, after=after)
    session.commit()
    page = [
        ReferralPublic(
            id=r.id, referrer_id=r.referrer_id, referee_id=r.referee_id, partner_id=r.partner_id, status=r.status,
            reason=r.reason, created_at=as_utc(r.created_at),
            decided_at=None if r.decided_at is None else as_utc(r.decided_at),
            events=[ReferralEventPublic(**(e | {"at": as_utc(e["at"])})) for e in r.events],
            awards=[ReferralAwardPublic(**a.__dict__) for a in r.awards],
        )
        for r in found
    ]  # fmt: skip
    return ReferralList(referrals=page, next_after=page[-1].id if len(page) == limit else None)


@router.get(
    "/v1/me/referral",
    response_model=MyReferralPublic,
    summary="My referral code, its share link, and what my referrals became",
    responses=problem_responses("unauthorized", "not-enrolled"),
    openapi_extra={"security": [{"customerToken": []}]},
)
def my_referral(wallet: CurrentCustomer, session: SessionDep, settings: SettingsDep) -> MyReferralPublic:
    """The code to share (a new member enrols with it), a link that carries it, and how many of the
    members who enrolled with it are pending, qualified (both of you paid) or rejected."""
    customer_id = members.customer_of_me(session, wallet=wallet)
    mine = service.mine(session, customer_id=customer_id, public_url=settings.public_url)
    session.commit()
    return MyReferralPublic(
        referral_code=mine.code, share_url=mine.share_url, pending=mine.pending, qualified=mine.qualified,
        rejected=mine.rejected, points_earned=mine.points_earned,
    )  # fmt: skip
