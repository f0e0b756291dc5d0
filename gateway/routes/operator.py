"""Operator API: onboarding, listing, showing, funding, suspending, reactivating and re-rating
partners. Authenticated by the operator token."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.deps import ChainDep, OperatorDep, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.schemas import (
    PartnerAccount,
    PartnerCreate,
    PartnerCreated,
    PartnerDeposit,
    PartnerDepositCreate,
    PartnerPublic,
    PointsPerUnit,
    SettlementToken,
)
from gateway.services import onboarding, partner_account, partner_admin
from network.store import Partner

# every route: a client address that sent too many wrong operator tokens is refused (gateway/deps.py)
router = APIRouter(prefix="/v1/operator", tags=["operator"], responses=problem_responses("rate-limited"))
PartnerId = Annotated[int, Path(ge=1, lt=2**32)]
CHANGE_PROBLEMS = ("unauthorized", "not-found", "validation-error", "chain-rejected", "chain-unavailable")


class PartnerRerate(BaseModel):
    """New prices, limit or earn rule; fields left out keep their value. New prices are scheduled
    on chain and take effect after the registry's notice period (partners can react); the
    issuance limit and the earn rule change at once. Points issued before keep their price:
    every event carries the rate in force when it happened."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "issue_price": 12000,
                    "reimbursement_rate": 9000,
                    "issuance_limit": 2000000000000,
                    "points_per_unit": "2",
                }
            ]
        },
    )

    issue_price: int | None = Field(default=None, gt=0, lt=2**63, description="token units per point issued")
    reimbursement_rate: int | None = Field(default=None, ge=0, lt=2**63, description="token units per point redeemed")
    issuance_limit: int | None = Field(
        default=None, gt=0, lt=2**63, description="cap on unsettled issuance (the store keeps 64-bit integers)"
    )
    points_per_unit: PointsPerUnit | None = Field(
        default=None, description="The new earn rate: points per unit of the partner's currency"
    )

    @model_validator(mode="after")
    def _something(self) -> PartnerRerate:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} must not be null")
        return self


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
        scheduled_rerate=p.scheduled_rerate,
    )


@router.post(
    "/partners",
    status_code=status.HTTP_201_CREATED,
    response_model=PartnerCreated,
    summary="Onboard a partner (on chain) and issue its API key",
    responses=problem_responses(
        "unauthorized",
        "validation-error",
        "partner-exists",
        "idempotency-conflict",
        "chain-unavailable",
        "content-too-large",
    ),
)
def create_partner(
    body: PartnerCreate, _: OperatorDep, session: SessionDep, chain: ChainDep, settings: SettingsDep
) -> PartnerCreated:
    """Resumable: if an onboarding was cut off (chain unreachable, a crash), post the same body
    again; a partner's name is unique."""
    partner, api_key = onboarding.onboard(session, chain=chain, settings=settings, body=body)
    return PartnerCreated(**_public(partner).model_dump(), api_key=api_key)


@router.get(
    "/partners",
    response_model=list[PartnerPublic],
    summary="All partners",
    responses=problem_responses("unauthorized"),
)
def list_partners(_: OperatorDep, session: SessionDep) -> list[PartnerPublic]:
    """Every partner, with its rates, limit and status."""
    answer = [_public(p) for p in partner_admin.list_partners(session)]
    session.commit()  # releases the connection before the answer is serialized in another worker thread
    return answer


@router.get(
    "/partners/{partner_id}",
    response_model=PartnerAccount,
    summary="A partner with its money in Clearing (funds, free funds, headroom, exposure, pending credit), "
    "read from the chain now, and its held and failed purchases",
    responses=problem_responses("unauthorized", "not-found", "validation-error", "chain-unavailable"),
)
def get_partner(partner_id: PartnerId, _: OperatorDep, session: SessionDep, chain: ChainDep) -> PartnerAccount:
    """The figures are read from Clearing at one block (``block_number``); a ``headroom`` of 0
    means its new purchases are held until a deposit (POST .../deposits), a settlement or a
    higher issuance limit. 503 ``chain-unavailable`` when the chain cannot be read."""
    partner, figures = partner_account.figures(session, chain, partner_id)
    return PartnerAccount(**_public(partner).model_dump(), **asdict(figures))


@router.post(
    "/partners/{partner_id}/deposits",
    response_model=PartnerDeposit,
    summary="Fund a partner: local chains mint test stablecoins and deposit them now; any other chain "
    "answers the transactions its treasury must send",
    responses=problem_responses(*CHANGE_PROBLEMS, "content-too-large"),
)
def deposit_for_partner(
    partner_id: PartnerId,
    body: PartnerDepositCreate,
    _: OperatorDep,
    session: SessionDep,
    chain: ChainDep,
    settings: SettingsDep,
) -> PartnerDeposit:
    """Not idempotent: each call deposits again. Held purchases are minted within seconds once
    their value fits the new headroom."""
    return PartnerDeposit(**asdict(partner_account.deposit(session, chain, settings, partner_id, body.amount)))


@router.get(
    "/settlement-token",
    response_model=SettlementToken,
    summary="The token partners prefund and settle in: its address, symbol and decimals",
    responses=problem_responses("unauthorized", "chain-unavailable"),
)
def get_settlement_token(_: OperatorDep, session: SessionDep, chain: ChainDep) -> SettlementToken:
    """Read from the chain: issue prices, reimbursement rates, limits, funds and deposits are in
    its base units (10**decimals per whole token)."""
    with partner_admin.chain_errors(session):
        return SettlementToken(**asdict(partner_account.settlement_token(chain)))


@router.post(
    "/partners/{partner_id}/suspend",
    response_model=PartnerPublic,
    summary="Suspend a partner (on chain, then in the store): no more earns, reversals or redemptions",
    responses=problem_responses(*CHANGE_PROBLEMS),
)
def suspend_partner(partner_id: PartnerId, _: OperatorDep, session: SessionDep, chain: ChainDep) -> PartnerPublic:
    """On chain first, then in the store: the partner's purchases, refunds and redemptions are refused
    (409 ``partner-suspended``) until it is reactivated."""
    return _public(partner_admin.set_status(session, chain, partner_id, active=False))


@router.post(
    "/partners/{partner_id}/reactivate",
    response_model=PartnerPublic,
    summary="Reactivate a suspended partner",
    responses=problem_responses(*CHANGE_PROBLEMS),
)
def reactivate_partner(partner_id: PartnerId, _: OperatorDep, session: SessionDep, chain: ChainDep) -> PartnerPublic:
    """On chain first, then in the store: the partner issues and redeems points again."""
    return _public(partner_admin.set_status(session, chain, partner_id, active=True))


@router.patch(
    "/partners/{partner_id}",
    response_model=PartnerPublic,
    summary="Re-rate a partner: prices (scheduled on chain, in force after the notice period), issuance limit, "
    "earn rule",
    responses=problem_responses(*CHANGE_PROBLEMS),
)
def rerate_partner(
    partner_id: PartnerId, body: PartnerRerate, _: OperatorDep, session: SessionDep, chain: ChainDep
) -> PartnerPublic:
    """Fields left out keep their value. Prices are scheduled on chain and take effect after the
    registry's notice period (``scheduled_rerate``); the issuance limit and the earn rule change at once."""
    partner = partner_admin.rerate(session, chain, partner_id, **body.model_dump(exclude_unset=True))
    return _public(partner)


@router.delete(
    "/partners/{partner_id}/scheduled-changes",
    response_model=PartnerPublic,
    summary="Cancel the changes scheduled on chain for a partner (prices, treasury, minter key)",
    responses=problem_responses(*CHANGE_PROBLEMS),
)
def cancel_scheduled_changes(
    partner_id: PartnerId, _: OperatorDep, session: SessionDep, chain: ChainDep
) -> PartnerPublic:
    """Prices, treasury or minter key scheduled on chain and not yet in force are cancelled."""
    return _public(partner_admin.cancel_scheduled(session, chain, partner_id))
