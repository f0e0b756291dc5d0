"""Partner API: the partner's own account. Authenticated by the partner's API key; everything in
the answer is the key's partner's (its statements' lines and webhook deliveries included)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import ChainDep, CurrentPartner, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.routes.webhooks import DeliveryPublic, _delivery
from gateway.schemas import EXAMPLE_TX, EXAMPLE_WALLET, HELD_REASON, PurchaseStatusName, ScheduledRerate
from gateway.services import account as service
from gateway.services.account import headroom_low
from gateway.timeutil import as_utc

router = APIRouter(prefix="/v1", tags=["account"])
UNITS = "settlement-token base units, a decimal string"


MONEY_EXAMPLE = {
    "token_symbol": "cUSD",
    "token_decimals": 6,
    "funds": "10000000000",
    "free_funds": "8500000000",
    "issuance_headroom": "8500000000",
    "exposure": "1500000000",
    "pending_credit": "20000000",
    "issuance_limit": "1000000000000",
    "headroom_low": False,
    "headroom_warning_ratio": 0.1,
}


class AccountMoney(BaseModel):
    """The partner's position in ``Clearing``, read from the chain now."""

    model_config = ConfigDict(json_schema_extra={"examples": [MONEY_EXAMPLE]})

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


ACCOUNT_PURCHASE_EXAMPLE = {
    "purchase_id": "order-1042",
    "status": "confirmed",
    "points": 63,
    "amount": "42.50",
    "currency": "EUR",
    "customer_wallet": EXAMPLE_WALLET,
    "customer_ref": None,
    "purchased_at": "2026-11-23T10:00:00Z",
    "created_at": "2026-11-23T10:00:01.204000Z",
    "tx_hash": EXAMPLE_TX,
    "reason": None,
}


class AccountPurchase(BaseModel):
    """One of the partner's latest purchases and where it stands."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                ACCOUNT_PURCHASE_EXAMPLE,
                {
                    **ACCOUNT_PURCHASE_EXAMPLE,
                    "purchase_id": "order-1043",
                    "status": "held",
                    "customer_ref": "loyalty-0042",
                    "tx_hash": None,
                    "reason": HELD_REASON,
                },
            ]
        }
    )

    purchase_id: str = Field(description="The partner's own id of the purchase")
    status: PurchaseStatusName = Field(
        description="As GET /v1/purchases/{purchase_id} names it: accepted, held, submitted, confirmed, failed"
    )
    points: int = Field(description="Points the customer earns")
    amount: Decimal = Field(description="The amount paid, a decimal string")
    currency: str = Field(description="ISO 4217 code of the amount")
    customer_wallet: str = Field(description="The wallet the points are minted to")
    customer_ref: str | None = Field(description="The partner's ref of the customer, when it was posted by ref")
    purchased_at: datetime = Field(description="When the customer bought (UTC)")
    created_at: datetime = Field(description="When the gateway accepted it (UTC)")
    tx_hash: str | None = Field(description="The minting transaction, once submitted")
    reason: str | None = Field(description="why it is held or failed")


STATEMENT_EXAMPLE = {
    "period_id": 4,
    "status": "settled",
    "from_block": 1201,
    "to_block": 1250,
    "statement_hash": "0x1b7e3f0c9d2a5b8e4f6a1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e1f",
    "settled_at": "2026-11-30T00:00:09Z",
    "token": {"symbol": "cUSD", "decimals": 6},
    "line": {
        "partner_id": 3,
        "points_issued": 1500,
        "points_reversed": 15,
        "points_redeemed": 500,
        "issued_value": 15000000,
        "reversed_value": 150000,
        "redeemed_value": 4000000,
        "points_restored": 0,
        "restored_value": 0,
        "net": -10850000,
        "net_formatted": "-10.850000",
    },
    "bilateral": [
        {"redeemed_at": 3, "issued_by": 3, "points": 300},
        {"redeemed_at": 3, "issued_by": 5, "points": 200},
    ],
    "membership_fees": [
        {
            "currency": "EUR",
            "partner_id": 3,
            "plan_id": 1,
            "payments": 2,
            "fees": "19.98",
            "coalition_share": "2.00",
            "partner_net": "17.98",
        },
    ],
}


class AccountStatement(BaseModel):
    """The partner's part of a settlement statement: its own line and the bilateral cells it is in
    (never another partner's line). Values are settlement-token base units."""

    model_config = ConfigDict(json_schema_extra={"examples": [STATEMENT_EXAMPLE]})

    period_id: int = Field(description="The settlement period")
    status: Literal["computing", "submitted", "settled", "failed"] = Field(
        description="computing | submitted | settled | failed"
    )
    from_block: int = Field(description="The first block of the period")
    to_block: int = Field(description="The last block of the period")
    statement_hash: str | None = Field(description="keccak256 of the whole statement's canonical JSON, on chain")
    settled_at: datetime | None = Field(description="When it settled on chain (UTC); null until then")
    token: dict[str, Any] = Field(description="The settlement token the values are in: its symbol and decimals")
    line: dict[str, Any] = Field(
        description="this partner's line of the statement: points issued, reversed, redeemed and restored (given "
        "back after refunds of till captures), their values and net = redeemed_value + reversed_value − "
        "issued_value − restored_value (net > 0: it is paid; net < 0: it pays)"
    )
    bilateral: list[dict[str, Any]] = Field(
        description="points redeemed at it or issued by it, by counterparty id (redeemed_at, issued_by, points)"
    )
    membership_fees: list[dict[str, Any]] = Field(
        default_factory=list,
        description="the membership fees it reported in the period (statement version 5), per plan and currency: "
        "payments, fees, the coalition's share and its net, as decimal strings in the plan's currency (not "
        "settled in the token)",
    )


class AccountPublic(BaseModel):
    """The partner's own account: its rates, its money in Clearing, its latest purchases, its lines
    of the latest settlement statements and its latest webhook deliveries."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "name": "Corner Bakery",
                    "status": "active",
                    "currency": "EUR",
                    "points_per_unit": "1.5",
                    "issue_price": 10000,
                    "reimbursement_rate": 8000,
                    "scheduled_rerate": None,
                    "money": MONEY_EXAMPLE,
                    "recent_purchases": [ACCOUNT_PURCHASE_EXAMPLE],
                    "statements": [STATEMENT_EXAMPLE],
                    "webhook_deliveries": [],
                }
            ]
        }
    )

    id: int = Field(description="The partner's id, on chain and in this API")
    name: str = Field(description="The partner's name")
    status: Literal["active", "suspended", "none", "unknown"] = Field(
        description="As the registry on chain says: active, or suspended (purchases, refunds and redemptions are "
        "refused)"
    )
    currency: str = Field(description="ISO 4217 code of its earn rule")
    points_per_unit: Decimal = Field(description="Points a customer earns per unit of the currency")
    issue_price: int = Field(description="Settlement-token base units it pays per point issued")
    reimbursement_rate: int = Field(description="Settlement-token base units it is paid per point redeemed")
    scheduled_rerate: ScheduledRerate | None = Field(
        description="new prices scheduled on chain, in force from effective_at (the registry's notice); else null"
    )
    money: AccountMoney = Field(description="Its money in Clearing, read from the chain now")
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
    """Funds, free funds and issuance headroom are read from the chain now (503 ``chain-unavailable``
    when it cannot be read); the rest from the gateway's store. Watch ``money.headroom_low``: once
    the headroom is used up, new purchases are held (``partner-funds-exhausted``) until a deposit,
    a settlement or a higher issuance limit."""
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
