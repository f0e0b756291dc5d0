"""Request and response bodies of paying with points at the till: a hold of the customer's points
(authorise), its capture for a purchase, its release."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.schemas import EXAMPLE_TX, EXAMPLE_WALLET, Amount, CustomerRef, Ident, Strict
from gateway.schemas_redemptions import EXAMPLE_CONSENT, TYPED_DATA_EXAMPLE, Consent, TypedData

MAX_HOLD_POINTS = 10**12
HOLD_ID_MAX = 58  # its burn is the redemption "hold:<hold_id>", an id of at most 64 characters

HoldId = Annotated[
    str,
    Field(min_length=1, max_length=HOLD_ID_MAX, pattern=r"^[A-Za-z0-9._:\-]+$", examples=["till-7-0042"]),
]
HoldPoints = Annotated[int, Field(gt=0, le=MAX_HOLD_POINTS, description="A number of points")]


class _AmountOrPoints(Strict):
    amount: Amount | None = Field(
        default=None,
        description="The money to take off, in the settlement token (cUSD): the most points not worth more than it "
        "at the partner's point value (its reimbursement rate). Exactly one of amount and points",
    )
    points: HoldPoints | None = Field(default=None, description="Or the points to hold. Exactly one of the two")

    @model_validator(mode="after")
    def _one(self) -> _AmountOrPoints:
        if (self.amount is None) == (self.points is None):
            raise ValueError("give exactly one of amount or points")
        return self


class HoldConsentRequest(_AmountOrPoints):
    """The hold the customer is to consent to, as it will be posted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"hold_id": "till-7-0042", "customer": {"wallet": EXAMPLE_WALLET}, "amount": "5.00"},
                {"hold_id": "till-7-0043", "customer": {"wallet": EXAMPLE_WALLET}, "points": 250},
            ]
        }
    )

    hold_id: HoldId = Field(description="The partner's own id of the hold to come")
    customer: CustomerRef = Field(description="Whose points: their wallet, or the partner's ref of them")


class HoldCreate(_AmountOrPoints):
    """Hold a customer's points at the till, as a card authorisation holds money."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hold_id": "till-7-0042",
                    "customer": {"wallet": EXAMPLE_WALLET},
                    "amount": "5.00",
                    "consent": EXAMPLE_CONSENT,
                },
                {"hold_id": "till-7-0043", "customer": {"ref": "loyalty-0042"}, "points": 250},
            ]
        }
    )

    hold_id: HoldId = Field(description="The partner's own id of the hold; the idempotency key")
    customer: CustomerRef = Field(description="Whose points: their wallet, or the partner's ref of them")
    consent: Consent | None = Field(
        default=None,
        description="The customer's signed consent to burn the held points (POST /v1/points-holds/consent gives the "
        "typed data). Omitted only for a custodial customer named by its custodian partner's own ref",
    )


class HoldCapture(Strict):
    """Take the held points for a purchase: all of them, or a part."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"purchase_id": "order-1042"},
                {"purchase_id": "order-1043", "points": 200},
                {"purchase_id": "order-1044", "amount": "1.60", "consent": EXAMPLE_CONSENT},
            ]
        }
    )

    purchase_id: Ident = Field(description="The partner's purchase the points pay for (POST /v1/purchases)")
    amount: Amount | None = Field(default=None, description="Capture this much money's worth (cUSD) instead of all")
    points: HoldPoints | None = Field(default=None, description="Capture this many points instead of all")
    consent: Consent | None = Field(
        default=None,
        description="A partial capture of a signed hold only: the customer's consent for the captured points "
        "(same ref; the hold's own signature is for all of its points)",
    )

    @model_validator(mode="after")
    def _at_most_one(self) -> HoldCapture:
        if self.amount is not None and self.points is not None:
            raise ValueError("give at most one of amount or points")
        return self


class HoldConsentPublic(BaseModel):
    """What the customer's wallet signs to consent to the hold's burn."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "hold_id": "till-7-0042",
                    "customer_wallet": EXAMPLE_WALLET,
                    "points": 625,
                    "money_value": "5.000000",
                    "ref": "0x3f1c9a7de3b2c4a5f60718293a4b5c6d7e8f90123456789abcdef0123456789a",
                    "nonce": "1234",
                    "deadline": 1795428607,
                    "typed_data": TYPED_DATA_EXAMPLE,
                }
            ]
        }
    )

    hold_id: str = Field(description="The hold to come")
    customer_wallet: str = Field(description="The wallet that must sign")
    points: int = Field(description="Points the hold takes")
    money_value: Decimal = Field(description="What they are worth at this partner, cUSD")
    ref: str = Field(description="The reference recorded on chain with the burn")
    nonce: str = Field(description="uint256, decimal")
    deadline: int = Field(description="Unix time (s) after which the consent is void")
    typed_data: TypedData = Field(description="Give it to eth_signTypedData_v4 in the customer's wallet")


HoldStatusName = Literal["authorised", "captured", "released"]

HOLD_PUBLIC_EXAMPLE = {
    "hold_id": "till-7-0042",
    "status": "captured",
    "customer_wallet": EXAMPLE_WALLET,
    "custodial": False,
    "points": 500,
    "point_value": "0.010000",
    "money_value": "5.000000",
    "expires_at": "2026-11-23T10:20:00Z",
    "purchase_id": "order-1042",
    "captured_points": 500,
    "captured_value": "5.000000",
    "redemption_id": "hold:till-7-0042",
    "redemption_status": "burned",
    "tx_hash": EXAMPLE_TX,
    "given_back_points": 0,
    "release_reason": None,
    "authorised_at": "2026-11-23T10:05:00.120Z",
    "status_url": "https://gateway.example.com/v1/points-holds/till-7-0042",
}


class HoldPublic(BaseModel):
    """A points hold and where it stands."""

    model_config = ConfigDict(json_schema_extra={"examples": [HOLD_PUBLIC_EXAMPLE]})

    hold_id: str = Field(description="The partner's own id of the hold")
    status: HoldStatusName = Field(
        description="authorised (the points are held until expires_at), captured (their burn is a redemption at this "
        "partner: redemption_status), released (by the partner, or at its expiry: release_reason)"
    )
    customer_wallet: str = Field(description="Whose points")
    custodial: bool = Field(description="Whether the gateway signs the burn for a custodial wallet")
    points: int = Field(description="Points held")
    point_value: Decimal = Field(description="The partner's point value at authorisation, cUSD per point")
    money_value: Decimal = Field(description="What the held points are worth, cUSD: take this off the purchase")
    expires_at: datetime = Field(description="An authorised hold not captured by then is released (UTC)")
    purchase_id: str | None = Field(default=None, description="The purchase it was captured for")
    captured_points: int | None = Field(default=None, description="Points captured (burned)")
    captured_value: Decimal | None = Field(default=None, description="What the captured points are worth, cUSD")
    redemption_id: str | None = Field(default=None, description="The redemption that burns the captured points")
    redemption_status: str | None = Field(
        default=None, description="accepted, burning, burned, fulfilled or failed (GET /v1/redemptions/{id})"
    )
    tx_hash: str | None = Field(default=None, description="The burn transaction, once burned")
    given_back_points: int = Field(
        default=0,
        description="Points given back so far by refunds of the purchase it paid for (restored on chain by the "
        "partner at the capture's rate: a Restored event naming the refund)",
    )
    release_reason: Literal["partner", "expired"] | None = Field(default=None, description="Why it was released")
    authorised_at: datetime = Field(description="When it was authorised (UTC)")
    status_url: str = Field(description="Where to GET the hold")
