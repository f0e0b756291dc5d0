"""Bodies of the membership routes (gateway/routes/memberships.py). The rules: loyalty/memberships.py
and the README's "Paid memberships" section."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import Amount, Ident

Perk = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
Share = Annotated[Decimal, Field(ge=0, le=1, max_digits=5, decimal_places=4)]
PartnerIdIn = Annotated[int, Field(ge=1, lt=2**31)]


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Plus", "price": "9.99", "currency": "EUR", "period": "monthly", "trial_days": 14,
        "earn_multiplier": "1.5", "tier_protection": True, "perks": ["free_delivery", "priority_service"],
        "members_only_skus": ["LOUNGE-PASS"], "honoured_by": [2],
    }]})  # fmt: skip

    name: str = Field(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f]+$")
    price: Amount = Field(description="The fee per period, at most 2 decimals")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")
    period: Literal["monthly", "yearly"]
    trial_days: int = Field(default=0, ge=0, le=366, description="Free days, once per customer ever")
    earn_multiplier: Decimal = Field(default=Decimal(1), ge=1, le=10, max_digits=6, decimal_places=3)
    tier_protection: bool = Field(default=False, description="No tier downgrade while subscribed")
    perks: list[Perk] = Field(default=[], max_length=20, description="Named perks checkouts query")
    members_only_skus: list[Sku] = Field(default=[], max_length=200, description="Rewards only members may redeem")
    honoured_by: list[PartnerIdIn] = Field(default=[], max_length=200, description="Other partners honouring it")


class OperatorPlanCreate(PlanCreate):
    owner_partner_id: PartnerIdIn | None = Field(default=None, description="None: the coalition's own plan")
    coalition_share: Share = Field(default=Decimal("0.10"), description="The coalition's share of each fee")


class ShareSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    coalition_share: Share


class PlanPublic(BaseModel):
    id: int
    name: str
    owner_partner_id: int | None
    honoured_by: list[int]
    price: str
    currency: str
    period: str
    trial_days: int
    earn_multiplier: str
    tier_protection: bool
    perks: list[str]
    members_only_skus: list[str]
    coalition_share: str


class PlanList(BaseModel):
    plans: list[PlanPublic]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan_id: int = Field(ge=1, lt=2**31)
    provider_ref: Ident | None = Field(
        default=None, description="The first payment's reference at your provider: needed when no trial applies"
    )


class PaymentReport(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"provider_ref": "pi_3N9x", "outcome": "succeeded", "amount": "9.99", "currency": "EUR"},
    ]})  # fmt: skip
    provider_ref: Ident = Field(description="Your provider's reference of the charge: the idempotency key")
    outcome: Literal["succeeded", "failed"]
    amount: Amount
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class PlanChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan_id: int = Field(ge=1, lt=2**31)


class SubscriptionPublic(BaseModel):
    id: int
    customer_id: int
    plan_id: int
    seller_partner_id: int
    status: Literal["trialing", "active", "past_due", "lapsed"]
    started_at: datetime
    period_start: datetime
    period_end: datetime
    next_renewal: datetime | None = Field(description="When the next fee is due (None: cancelled or lapsed)")
    cancel_at_period_end: bool
    grace_until: datetime | None
    entitled_until: datetime | None
    credit: str
    amount_due: str | None = Field(default=None, description="What to charge now (a change of plan's proration)")


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionPublic]


class PaymentPublic(BaseModel):
    id: int
    subscription: SubscriptionPublic
    provider_ref: str
    outcome: str
    amount: str
    currency: str
    coalition_amount: str
    at: datetime


class PerksPublic(BaseModel):
    """The perk check's answer: the plans honoured here that hold now, and what they give."""

    customer_ref: str
    plans: list[int]
    perks: list[str]
    earn_multiplier: str
    tier_protection: bool
    members_only_skus: list[str]
