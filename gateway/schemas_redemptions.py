"""Request and response bodies of the rewards catalogue and of redemptions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import EXAMPLE_TX, EXAMPLE_WALLET, CustomerRef, FailurePublic, Ident, Strict

MAX_REWARD_POINTS = 10**9
MAX_QUANTITY = 100
MAX_STOCK = 10**9
UINT256_MAX = 2**256 - 1

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$", examples=["COFFEE-1"])]
RewardName = Annotated[str, Field(min_length=1, max_length=120, examples=["Free coffee"])]
RewardPoints = Annotated[int, Field(gt=0, le=MAX_REWARD_POINTS, description="points per unit of the reward")]
Stock = Annotated[int, Field(ge=0, le=MAX_STOCK, description="units left; null: unlimited")]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY, description="Units of the reward", examples=[1])]
Signature = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte EIP-712 signature, hex")]
Nonce = Annotated[int, Field(ge=0, le=UINT256_MAX, description="any unused uint256 of the customer's choosing")]
Deadline = Annotated[int, Field(gt=0, lt=2**40, description="unix time (s) after which the consent is void")]


REWARD_EXAMPLE = {"sku": "COFFEE-1", "name": "Free coffee", "points": 500, "stock": 100, "active": True}
EXAMPLE_CONSENT = {"nonce": 1234, "deadline": 1795428607, "signature": "0x" + "4f" * 64 + "1c"}


class RewardCreate(Strict):
    """A reward of the partner's catalogue."""

    model_config = ConfigDict(json_schema_extra={"examples": [REWARD_EXAMPLE]})

    sku: Sku = Field(description="The partner's own id of the reward, unique per partner")
    name: RewardName = Field(description="What the customer gets, as shown to them")
    points: RewardPoints
    stock: Stock | None = Field(default=None, description="Units left; null or absent: unlimited")
    active: bool = Field(default=True, description="Whether it can be redeemed now")


class RewardUpdate(Strict):
    """Only the fields sent change; ``stock`` sets the units left (null: unlimited)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Free large coffee", "stock": 50, "active": True}]}
    )

    name: RewardName | None = Field(default=None, description="A new name")
    stock: Stock | None = Field(default=None, description="The units left from now (null: unlimited)")
    active: bool | None = Field(default=None, description="false: no longer redeemable; true: redeemable again")


REWARD_PUBLIC_EXAMPLE = {
    **REWARD_EXAMPLE,
    "created_at": "2026-11-01T08:00:00Z",
    "updated_at": "2026-11-20T16:30:00Z",
}


class RewardPublic(BaseModel):
    """A reward of the partner's catalogue."""

    model_config = ConfigDict(json_schema_extra={"examples": [REWARD_PUBLIC_EXAMPLE]})

    sku: str = Field(description="The partner's own id of the reward")
    name: str = Field(description="What the customer gets")
    points: int = Field(description="Points per unit")
    stock: int | None = Field(description="Units left; null: unlimited")
    active: bool = Field(description="Whether it can be redeemed now")
    created_at: datetime = Field(description="When it was added (UTC)")
    updated_at: datetime = Field(description="When it last changed (UTC)")


class RewardList(BaseModel):
    """The partner's catalogue."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"rewards": [REWARD_PUBLIC_EXAMPLE]}]})

    rewards: list[RewardPublic] = Field(description="Every reward of the partner, active or not")


class Consent(Strict):
    """The customer's EIP-712 ``Redeem`` signature (see ``POST /v1/redemptions/consent``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_CONSENT]})

    nonce: Nonce
    deadline: Deadline
    signature: Signature


class RedemptionCreate(Strict):
    """A reward to redeem for a customer; a self-custody customer's signed consent comes with it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "redemption_id": "redeem-77",
                    "sku": "COFFEE-1",
                    "quantity": 1,
                    "customer": {"wallet": EXAMPLE_WALLET},
                    "consent": EXAMPLE_CONSENT,
                },
                {"redemption_id": "redeem-78", "sku": "COFFEE-1", "quantity": 1, "customer": {"ref": "loyalty-0042"}},
            ]
        }
    )

    redemption_id: Ident = Field(
        description="The partner's own id of the redemption; the idempotency key", examples=["redeem-77"]
    )
    sku: Sku = Field(description="The reward to redeem")
    quantity: Quantity = 1
    customer: CustomerRef = Field(description="Whose points: their wallet, or the partner's ref of them")
    consent: Consent | None = Field(
        default=None,
        description="The customer's signed consent. Omitted only for a custodial customer named by the ref of the "
        "partner that created its wallet (the gateway signs, within COALITION_CUSTODIAL_DAILY_POINTS_LIMIT a day)",
    )


class ConsentRequest(Strict):
    """The redemption the customer is to consent to, as it will be posted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"redemption_id": "redeem-77", "sku": "COFFEE-1", "quantity": 1, "customer": {"wallet": EXAMPLE_WALLET}}
            ]
        }
    )

    redemption_id: Ident = Field(description="The partner's own id of the redemption to come", examples=["redeem-77"])
    sku: Sku = Field(description="The reward")
    quantity: Quantity = 1
    customer: CustomerRef = Field(description="The customer: their wallet, or the partner's ref of them")


TYPED_DATA_EXAMPLE = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Redeem": [
            {"name": "customer", "type": "address"},
            {"name": "partnerId", "type": "uint32"},
            {"name": "points", "type": "uint256"},
            {"name": "ref", "type": "bytes32"},
            {"name": "nonce", "type": "uint256"},
            {"name": "deadline", "type": "uint256"},
        ],
    },
    "primaryType": "Redeem",
    "domain": {
        "name": "Coalition Points",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    },
    "message": {
        "customer": EXAMPLE_WALLET,
        "partnerId": 3,
        "points": "500",
        "ref": "0x72656465656d2d37370000000000000000000000000000000000000000000000",
        "nonce": "1234",
        "deadline": "1795428607",
    },
}


class TypedData(BaseModel):
    """EIP-712 typed data as ``eth_signTypedData_v4`` takes it (uint256 values as decimal strings)."""

    model_config = ConfigDict(json_schema_extra={"examples": [TYPED_DATA_EXAMPLE]})

    types: dict[str, list[dict[str, str]]] = Field(description="The EIP-712 types: EIP712Domain and Redeem")
    primaryType: Literal["Redeem"] = Field(default="Redeem", description="Always Redeem")
    domain: dict[str, Any] = Field(description="The points contract's EIP-712 domain (name, version, chain, address)")
    message: dict[str, Any] = Field(description="The Redeem to sign: customer, partner, points, ref, nonce, deadline")


class ConsentPublic(BaseModel):
    """What the customer's wallet signs to consent to the redemption."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "redemption_id": "redeem-77",
                    "customer_wallet": EXAMPLE_WALLET,
                    "points": 500,
                    "ref": "redeem-77",
                    "nonce": "1234",
                    "deadline": 1795428607,
                    "typed_data": TYPED_DATA_EXAMPLE,
                }
            ]
        }
    )

    redemption_id: str = Field(description="The redemption to come")
    customer_wallet: str = Field(description="The wallet that must sign")
    points: int = Field(description="Points the redemption burns")
    ref: str = Field(description="The reference recorded on chain with the burn")
    nonce: str = Field(description="uint256, decimal")
    deadline: int = Field(description="Unix time (s) after which the consent is void")
    typed_data: TypedData = Field(description="Give it to eth_signTypedData_v4 in the customer's wallet")


RedemptionStatusName = Literal["accepted", "burning", "burned", "fulfilled", "failed"]


class RedemptionPublic(BaseModel):
    """A redemption and where it stands."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "redemption_id": "redeem-77",
                    "status": "fulfilled",
                    "sku": "COFFEE-1",
                    "quantity": 1,
                    "points": 500,
                    "customer_wallet": EXAMPLE_WALLET,
                    "custodial": False,
                    "ref": "redeem-77",
                    "nonce": "1234",
                    "deadline": 1795428607,
                    "tx_hash": EXAMPLE_TX,
                    "block_number": 1240,
                    "voucher_code": "CFE-7Q2M-K9XD",
                    "failure_reason": None,
                    "failure": None,
                    "accepted_at": "2026-11-23T10:05:00Z",
                    "burned_at": "2026-11-23T10:05:03Z",
                    "finished_at": "2026-11-23T10:05:04Z",
                    "status_url": "https://gateway.example.com/v1/redemptions/redeem-77",
                }
            ]
        }
    )

    redemption_id: str = Field(description="The partner's own id of the redemption")
    status: RedemptionStatusName = Field(
        description="accepted (checked, stock reserved), burning (the burn is sent), burned (on chain), fulfilled "
        "(the voucher is issued), failed (see failure; nothing was burned)"
    )
    sku: str = Field(description="The reward")
    quantity: int = Field(description="Units of the reward")
    points: int = Field(description="Points burned")
    customer_wallet: str = Field(description="The wallet the points are burned from")
    custodial: bool = Field(description="Whether the gateway signed for a custodial wallet (no consent was sent)")
    ref: str = Field(description="The reference recorded on chain with the burn")
    nonce: str = Field(description="The consent's nonce, uint256 as a decimal string")
    deadline: int = Field(description="The consent's deadline, Unix seconds")
    tx_hash: str | None = Field(default=None, description="The burn transaction, once burned")
    block_number: int | None = Field(default=None, description="The block of the burn")
    voucher_code: str | None = Field(default=None, description="The voucher to hand to the customer, once fulfilled")
    failure_reason: str | None = Field(default=None, description="Why it failed; else null")
    failure: FailurePublic | None = Field(
        default=None,
        description="Why it failed, as a problem of the catalogue (type, title, detail); else null",
    )
    accepted_at: datetime = Field(description="When it was accepted (UTC)")
    burned_at: datetime | None = Field(default=None, description="When the burn was confirmed (UTC)")
    finished_at: datetime | None = Field(default=None, description="When it was fulfilled or failed (UTC)")
    status_url: str = Field(description="Where to GET the redemption's state")
