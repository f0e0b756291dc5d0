"""Bodies of the membership routes (gateway/routes/memberships.py). The rules: loyalty/memberships.py
and the README's "Paid memberships" section."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import Amount, Ident, Multiplier, Share

Perk = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
PartnerIdIn = Annotated[int, Field(ge=1, lt=2**31)]
AT = "2027-01-19T10:00:00Z"
PLAN_IN: dict[str, Any] = {
    "name": "Plus", "price": "9.99", "currency": "EUR", "period": "monthly", "trial_days": 14,
    "earn_multiplier": "1.5", "tier_protection": True, "perks": ["free_delivery", "priority_service"],
    "members_only_skus": ["LOUNGE-PASS"], "honoured_by": [2],
}  # fmt: skip
PLAN_OUT: dict[str, Any] = {**PLAN_IN, "id": 3, "owner_partner_id": 1, "coalition_share": "0.1"}
SUBSCRIPTION: dict[str, Any] = {
    "id": 7, "customer_id": 42, "plan_id": 3, "seller_partner_id": 1, "status": "active", "started_at": AT,
    "period_start": AT, "period_end": "2027-02-19T10:00:00Z", "next_renewal": "2027-02-19T10:00:00Z",
    "cancel_at_period_end": False, "grace_until": None, "entitled_until": "2027-02-26T10:00:00Z", "credit": "0.00",
    "amount_due": None,
}  # fmt: skip


class PlanCreate(BaseModel):
    """A plan: its price and period, its trial and its benefits."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [PLAN_IN]})

    name: str = Field(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f]+$", description="The plan's name")
    price: Amount = Field(description="The fee per period, at most 2 decimals")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")
    period: Literal["monthly", "yearly"] = Field(description="The billing period (calendar months)")
    trial_days: int = Field(default=0, ge=0, le=366, description="Free days, once per customer ever")
    earn_multiplier: Multiplier = Field(
        default=Decimal(1),
        description="Multiplies the points earned at an honouring partner (the highest of a customer's plans)",
    )  # fmt: skip
    tier_protection: bool = Field(default=False, description="No tier downgrade while subscribed")
    perks: list[Perk] = Field(default=[], max_length=20, description="Named perks checkouts query")
    members_only_skus: list[Sku] = Field(default=[], max_length=200, description="Rewards only members may redeem")
    honoured_by: list[PartnerIdIn] = Field(default=[], max_length=200, description="Other partners honouring it")


class OperatorPlanCreate(PlanCreate):
    """A plan of the coalition (no owner) or of a partner, with the coalition's share of its fees."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{**PLAN_IN, "owner_partner_id": None, "coalition_share": "0.1"}]},
    )

    owner_partner_id: PartnerIdIn | None = Field(default=None, description="None: the coalition's own plan")
    coalition_share: Share = Field(default=Decimal("0.10"), description="The coalition's share of each fee, 0..1")


class ShareSet(BaseModel):
    """The coalition's share of a plan's fees reported from now on."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"coalition_share": "0.15"}]})
    coalition_share: Share = Field(description="The coalition's share of each fee, 0..1")


class PlanPublic(BaseModel):
    """A plan as stored."""

    model_config = ConfigDict(json_schema_extra={"examples": [PLAN_OUT]})

    id: int = Field(description="The plan's id")
    name: str = Field(description="The plan's name")
    owner_partner_id: int | None = Field(description="The partner that owns it; null: the coalition's")
    honoured_by: list[int] = Field(description="The other partners that honour it")
    price: str = Field(description="The fee per period, a decimal string")
    currency: str = Field(description="ISO 4217")
    period: Literal["monthly", "yearly"] = Field(description="The billing period")
    trial_days: int = Field(description="Free days, once per customer ever")
    earn_multiplier: str = Field(description="The earn multiplier at honouring partners, a decimal string")
    tier_protection: bool = Field(description="No tier downgrade while subscribed")
    perks: list[str] = Field(description="Named perks")
    members_only_skus: list[str] = Field(description="Rewards only members may redeem")
    coalition_share: str = Field(description="The coalition's share of each fee, a decimal string")


class PlanList(BaseModel):
    """Plans, oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"plans": [PLAN_OUT]}]})
    plans: list[PlanPublic] = Field(description="The plans")


class SubscriptionCreate(BaseModel):
    """A subscription to sell: the plan, and the first payment's reference when no trial applies."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"plan_id": 3, "provider_ref": None}]})
    plan_id: int = Field(ge=1, lt=2**31, description="The plan (one you own or honour)")
    provider_ref: Ident | None = Field(
        default=None, description="The first payment's reference at your provider: needed when no trial applies"
    )


class PaymentReport(BaseModel):
    """What your payment provider answered for a charge of the subscription."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"provider_ref": "pi_3N9x", "outcome": "succeeded", "amount": "9.99", "currency": "EUR"},
    ]})  # fmt: skip
    provider_ref: Ident = Field(description="Your provider's reference of the charge: the idempotency key")
    outcome: Literal["succeeded", "failed"] = Field(description="Whether the provider took the money")
    amount: Amount = Field(description="The amount charged")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, the plan's")


class PlanChange(BaseModel):
    """The plan to move to (an upgrade or a downgrade, prorated)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"plan_id": 4}]})
    plan_id: int = Field(ge=1, lt=2**31, description="The new plan, in the same currency")


class SubscriptionPublic(BaseModel):
    """A customer's subscription."""

    model_config = ConfigDict(json_schema_extra={"examples": [SUBSCRIPTION]})

    id: int = Field(description="The subscription's id")
    customer_id: int = Field(description="The coalition's id of the customer")
    plan_id: int = Field(description="The plan")
    seller_partner_id: int = Field(description="The partner that sold it (and reports its payments)")
    status: Literal["trialing", "active", "past_due", "lapsed"] = Field(description="Where it stands")
    started_at: datetime = Field(description="When it started")
    period_start: datetime = Field(description="The start of the current trial or paid period")
    period_end: datetime = Field(description="The end of the current trial or paid period")
    next_renewal: datetime | None = Field(description="When the next fee is due (None: cancelled or lapsed)")
    cancel_at_period_end: bool = Field(description="Cancelled: lapses at the period's end")
    grace_until: datetime | None = Field(description="While past due: the end of the grace")
    entitled_until: datetime | None = Field(description="Until when its benefits hold if nothing is reported")
    credit: str = Field(description="A downgrade's credit carried to the next renewals")
    amount_due: str | None = Field(default=None, description="What to charge now (a change of plan's proration)")


class SubscriptionList(BaseModel):
    """Subscriptions, newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"subscriptions": [SUBSCRIPTION]}]})
    subscriptions: list[SubscriptionPublic] = Field(description="The subscriptions")


class PaymentPublic(BaseModel):
    """A payment as reported, and the subscription after it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 11, "subscription": SUBSCRIPTION, "provider_ref": "pi_3N9x", "outcome": "succeeded", "amount": "9.99",
        "currency": "EUR", "coalition_amount": "1.00", "at": AT,
    }]})  # fmt: skip

    id: int = Field(description="The payment's id")
    subscription: SubscriptionPublic = Field(description="The subscription after the payment")
    provider_ref: str = Field(description="Your provider's reference")
    outcome: Literal["succeeded", "failed"] = Field(description="Whether the provider took the money")
    amount: str = Field(description="The amount charged")
    currency: str = Field(description="ISO 4217")
    coalition_amount: str = Field(description="The coalition's share of a fee taken (0 for a failure)")
    at: datetime = Field(description="When it was reported")


class PerksPublic(BaseModel):
    """The perk check's answer: the plans honoured here that hold now, and what they give."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "customer_ref": "loyalty-0042", "plans": [3], "perks": ["free_delivery"], "earn_multiplier": "1.5",
        "tier_protection": True, "members_only_skus": ["LOUNGE-PASS"],
    }]})  # fmt: skip

    customer_ref: str = Field(description="Your ref of the customer")
    plans: list[int] = Field(description="The plans honoured here that hold now")
    perks: list[str] = Field(description="Their named perks")
    earn_multiplier: str = Field(description="The multiplier your purchases get (1: none)")
    tier_protection: bool = Field(description="Whether a plan protects the customer's tier")
    members_only_skus: list[str] = Field(description="Rewards only members may redeem")
