"""Partner API: the partner's own account. Authenticated by the partner's API key; everything in
the answer is the key's partner's (its statements' lines and webhook deliveries included)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateway.deps import ChainDep, CurrentPartner, SessionDep, SettingsDep
from gateway.errors import problem_responses
from gateway.routes.webhooks import DeliveryPublic, _delivery
from gateway.services import account as service
from gateway.services.account import headroom_low
from gateway.timeutil import as_utc

router = APIRouter(prefix="/v1", tags=["account"])
UNITS = "settlement-token base units, a decimal string"


class AccountMoney(BaseModel):
    """The partner's position in ``Clearing``, read from the chain now."""

    token_symbol: str = Field(description="the settlement token's symbol", examples=["cUSD"])
    token_decimals: int = Field(description="the settlement token's decimals", examples=[6])
    funds: str = Field(description=f"deposits + settled nets − withdrawals ({UNITS})", examples=["10000000000"])
    free_funds: str = Field(description=f"what the treasury may withdraw: funds not backing issuance ({UNITS})")
    issuance_headroom: str = Field(
        description=f"value of points it may still issue: min(funds, issuance limit) − exposure ({UNITS}); "
        "purchases beyond it are held until a deposit or a settlement"
    )
    exposure: str = Field(description=f"value of its issuance not yet settled ({UNITS})")
    pending_credit: str = Field(
        description=f"value of its refunds not yet settled: the next settlement pays it ({UNITS})"
    )
    issuance_limit: str = Field(description=f"cap on unsettled issuance set by the operator ({UNITS})")
    headroom_low: bool = Field(
        description="the headroom is below the warning ratio of min(funds, limit) (webhook partner.headroom_low)"
    )
    headroom_warning_ratio: float = Field(description="the share of min(funds, limit) below which headroom is low")


class AccountPurchase(BaseModel):
    purchase_id: str
    status: str = Field(description="accepted | held | submitted | confirmed | failed")
    points: int
    amount: Decimal
    currency: str
    customer_wallet: str
    customer_ref: str | None
    purchased_at: datetime
    created_at: datetime
    tx_hash: str | None
    reason: str | None = Field(description="why it is held or failed")


class AccountStatement(BaseModel):
    period_id: int
    status: str = Field(description="computing | submitted | settled | failed")
    from_block: int
    to_block: int
    statement_hash: str | None = Field(description="keccak256 of the whole statement's canonical JSON, on chain")
    settled_at: datetime | None
    token: dict[str, Any]
    line: dict[str, Any] = Field(description="this partner's line of the statement (net > 0: it is paid)")
    bilateral: list[dict[str, Any]] = Field(description="points redeemed at it or issued by it, by counterparty id")


class AccountPublic(BaseModel):
    id: int
    name: str
    status: str
    currency: str
    points_per_unit: Decimal
    issue_price: int
    reimbursement_rate: int
    scheduled_rerate: dict[str, Any] | None
    money: AccountMoney
    recent_purchases: list[AccountPurchase] = Field(description="newest first")
    statements: list[AccountStatement] = Field(description="its lines of the latest statements, newest first")
    webhook_deliveries: list[DeliveryPublic] = Field(description="newest first, every endpoint of the partner")


@router.get(
    "/account",
    response_model=AccountPublic,
    summary="The partner's own account: funds, headroom, recent purchases, statements, webhook deliveries",
    responses=problem_responses("unauthorized", "rate-limited", "validation-error", "chain-unavailable"),
)
def get_account(
    partner: CurrentPartner,
    session: SessionDep,
    chain: ChainDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=100, description="how many purchases and deliveries")] = 20,
) -> AccountPublic:
    found = service.account(session, chain, partner, strict=True, limit=limit)
    m = found.money
    assert m is not None  # strict: ChainUnavailable otherwise
    ratio = settings.headroom_warning_ratio
    return AccountPublic(
        id=partner.id,
        name=partner.name,
        status=partner.status,
        currency=partner.currency,
        points_per_unit=partner.points_per_unit,
        issue_price=partner.issue_price,
        reimbursement_rate=partner.reimbursement_rate,
        scheduled_rerate=partner.scheduled_rerate,
        money=AccountMoney(
            token_symbol=m.token_symbol,
            token_decimals=m.token_decimals,
            funds=str(m.funds),
            free_funds=str(m.free_funds),
            issuance_headroom=str(m.headroom),
            exposure=str(m.exposure),
            pending_credit=str(m.pending_credit),
            issuance_limit=str(m.issuance_limit),
            headroom_low=headroom_low(m.headroom, m.bound, ratio),
            headroom_warning_ratio=ratio,
        ),
        recent_purchases=[
            AccountPurchase(
                **{**p.__dict__, "purchased_at": as_utc(p.purchased_at), "created_at": as_utc(p.created_at)}
            )
            for p in found.purchases
        ],
        statements=[AccountStatement(**s) for s in found.statements],
        webhook_deliveries=[_delivery(d) for d in found.deliveries],
    )
