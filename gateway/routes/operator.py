"""Operator API: onboarding and listing partners. Authenticated by the operator token."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from gateway.deps import ChainDep, OperatorDep, SessionDep, SettingsDep
from gateway.errors import problem_responses
from gateway.models import Partner
from gateway.schemas import PartnerCreate, PartnerCreated, PartnerPublic
from gateway.services import onboarding

router = APIRouter(prefix="/v1/operator", tags=["operator"])


def _public(p: Partner) -> PartnerPublic:
    return PartnerPublic(
        id=p.id,
        name=p.name,
        minter=p.minter,
        treasury=p.treasury,
        currency=p.currency,
        points_per_unit=p.points_per_unit,
        issue_price=p.issue_price,
        reimbursement_rate=p.reimbursement_rate,
        issuance_limit=p.issuance_limit,
        status=p.status,
    )


@router.post(
    "/partners",
    status_code=status.HTTP_201_CREATED,
    response_model=PartnerCreated,
    summary="Onboard a partner (on chain) and issue its API key",
    responses=problem_responses("unauthorized", "validation-error", "chain-unavailable"),
)
def create_partner(
    body: PartnerCreate, _: OperatorDep, session: SessionDep, chain: ChainDep, settings: SettingsDep
) -> PartnerCreated:
    partner, api_key = onboarding.onboard(session, chain=chain, settings=settings, body=body)
    return PartnerCreated(**_public(partner).model_dump(), api_key=api_key)


@router.get(
    "/partners",
    response_model=list[PartnerPublic],
    summary="All partners",
    responses=problem_responses("unauthorized"),
)
def list_partners(_: OperatorDep, session: SessionDep) -> list[PartnerPublic]:
    answer = [_public(p) for p in session.scalars(select(Partner).order_by(Partner.id))]
    session.commit()  # releases the connection before the answer is serialized in another worker thread
    return answer
