"""Request and response bodies of the rewards catalogue and of redemptions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from gateway.schemas import CustomerRef, FailurePublic, Ident, Strict

MAX_REWARD_POINTS = 10**9
MAX_QUANTITY = 100
MAX_STOCK = 10**9
UINT256_MAX = 2**256 - 1

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$", examples=["COFFEE-1"])]
RewardName = Annotated[str, Field(min_length=1, max_length=120)]
RewardPoints = Annotated[int, Field(gt=0, le=MAX_REWARD_POINTS, description="points per unit of the reward")]
Stock = Annotated[int, Field(ge=0, le=MAX_STOCK, description="units left; null: unlimited")]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Signature = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte EIP-712 signature, hex")]
Nonce = Annotated[int, Field(ge=0, le=UINT256_MAX, description="any unused uint256 of the customer's choosing")]
Deadline = Annotated[int, Field(gt=0, lt=2**40, description="unix time (s) after which the consent is void")]


class RewardCreate(Strict):
    sku: Sku = Field(description="The partner's own id of the reward, unique per partner")
    name: RewardName
    points: RewardPoints
    stock: Stock | None = None
    active: bool = True


class RewardUpdate(Strict):
    """Only the fields sent change; ``stock`` sets the units left (null: unlimited)."""

    name: RewardName | None = None
    stock: Stock | None = None
    active: bool | None = None


class RewardPublic(BaseModel):
    sku: str
    name: str
    points: int
    stock: int | None
    active: bool
    created_at: datetime
    updated_at: datetime


class RewardList(BaseModel):
    rewards: list[RewardPublic]


class Consent(Strict):
    """The customer's EIP-712 ``Redeem`` signature (see ``POST /v1/redemptions/consent``)."""

    nonce: Nonce
    deadline: Deadline
    signature: Signature


class RedemptionCreate(Strict):
    redemption_id: Ident = Field(description="The partner's own id of the redemption; the idempotency key")
    sku: Sku
    quantity: Quantity = 1
    customer: CustomerRef
    consent: Consent | None = Field(
        default=None,
        description="The customer's signed consent. Omitted only for a custodial customer named by the ref of the "
        "partner that created its wallet (the gateway signs, within COALITION_CUSTODIAL_DAILY_POINTS_LIMIT a day)",
    )


class ConsentRequest(Strict):
    redemption_id: Ident
    sku: Sku
    quantity: Quantity = 1
    customer: CustomerRef


class TypedData(BaseModel):
    """EIP-712 typed data as ``eth_signTypedData_v4`` takes it (uint256 values as decimal strings)."""

    types: dict[str, list[dict[str, str]]]
    primaryType: Literal["Redeem"] = "Redeem"
    domain: dict[str, Any]
    message: dict[str, Any]


class ConsentPublic(BaseModel):
    redemption_id: str
    customer_wallet: str
    points: int
    ref: str
    nonce: str = Field(description="uint256, decimal")
    deadline: int
    typed_data: TypedData


RedemptionStatusName = Literal["accepted", "burning", "burned", "fulfilled", "failed"]


class RedemptionPublic(BaseModel):
    redemption_id: str
    status: RedemptionStatusName
    sku: str
    quantity: int
    points: int
    customer_wallet: str
    custodial: bool
    ref: str
    nonce: str
    deadline: int
    tx_hash: str | None = None
    block_number: int | None = None
    voucher_code: str | None = None
    failure_reason: str | None = None
    failure: FailurePublic | None = None
    accepted_at: datetime
    burned_at: datetime | None = None
    finished_at: datetime | None = None
    status_url: str
