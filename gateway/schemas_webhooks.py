"""The bodies of the webhook events the gateway POSTs to a partner's endpoints, one model per
event type (gateway/services/webhooks.py ``EventType``): an envelope (``id``, ``type``,
``created_at``, ``partner_id``) around the event's ``data``, as built by the payload builders
(network/outcomes.py for purchases and refunds, completed by gateway/services/webhooks.py
``webhook_data``; gateway/services/redemptions.py ``event_data``, gateway/tasks/earn.py,
gateway/services/custody.py, gateway/services/webhooks.py ``emit_test``).
Documentation: the OpenAPI ``webhooks`` section (gateway/routes/webhook_events.py); a test holds
real payloads to these models.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model

from gateway.failures import Operation, failure_of
from gateway.schemas import FailurePublic

WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TX = "0x8f1c9a7de3b2c4a5f60718293a4b5c6d7e8f90123456789abcdef0123456789a"


class PurchaseEventData(BaseModel):
    """A purchase that reached its final status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "purchase_id": "order-1042",
                    "status": "confirmed",
                    "customer_wallet": WALLET,
                    "points": 63,
                    "seq": 17,
                    "tx_hash": TX,
                    "batch_id": 5,
                    "failure_reason": None,
                    "failure": None,
                    "qualifying_points": 53,
                }
            ]
        }
    )

    purchase_id: str = Field(description="The partner's own id of the purchase")
    status: Literal["confirmed", "failed"] = Field(description="confirmed: minted on chain; failed: never will be")
    customer_wallet: str = Field(description="The wallet the points were minted to (EIP-55)")
    points: int = Field(description="Points of the purchase")
    seq: int = Field(description="The partner's sequence number of the purchase (its order of acceptance)")
    tx_hash: str | None = Field(description="The minting transaction; null if it failed before one was sent")
    batch_id: int | None = Field(description="The on-chain batch the purchase was minted in; null when it failed")
    failure_reason: str | None = Field(description="Why it failed (a problem type or the chain's reason); else null")
    failure: FailurePublic | None = Field(
        description="Why it failed, as a problem of the catalogue (type, title, detail: what to do); else null"
    )
    qualifying_points: int | None = Field(
        description="When the partner's earning rules gave the points: the part that counts towards the member's "
        "tier (bonuses only where a rule says so); null: all of them (earned by the partner's rate alone)",
    )


class RefundEventData(BaseModel):
    """A refund that reached its final status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "refund_id": "refund-1042-1",
                    "purchase_id": "order-1042",
                    "status": "confirmed",
                    "amount": "10.00",
                    "points": 15,
                    "reason": "one item returned",
                    "customer_wallet": WALLET,
                    "tx_hash": TX,
                    "failure_reason": None,
                    "failure": None,
                    "created_at": "2026-11-24T09:15:00+00:00",
                }
            ]
        }
    )

    refund_id: str = Field(description="The partner's own id of the refund")
    purchase_id: str = Field(description="The refunded purchase")
    status: Literal["confirmed", "failed"] = Field(description="confirmed: clawed back on chain; failed: not at all")
    amount: str | None = Field(description="The amount refunded, a decimal string; null: the whole purchase")
    points: int = Field(description="Points clawed back")
    reason: str | None = Field(description="The reason the partner gave, if any")
    customer_wallet: str = Field(description="The wallet the points were taken back from")
    tx_hash: str | None = Field(description="The clawback transaction, once sent")
    failure_reason: str | None = Field(description="Why it failed (e.g. the customer spent the points); else null")
    failure: FailurePublic | None = Field(
        description="Why it failed, as a problem of the catalogue (type, title, detail: what to do); else null"
    )
    created_at: str = Field(description="When the refund was accepted (ISO 8601, UTC)")


class RedemptionEventData(BaseModel):
    """A redemption that reached its final status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "redemption_id": "redeem-77",
                    "status": "fulfilled",
                    "sku": "COFFEE-1",
                    "quantity": 1,
                    "points": 500,
                    "customer_wallet": WALLET,
                    "ref": "loyalty-0042",
                    "tx_hash": TX,
                    "voucher_code": "CFE-7Q2M-K9XD",
                    "failure_reason": None,
                    "failure": None,
                }
            ]
        }
    )

    redemption_id: str = Field(description="The partner's own id of the redemption")
    status: Literal["fulfilled", "failed"] = Field(description="fulfilled: burned and voucher issued; failed: not")
    sku: str = Field(description="The reward redeemed")
    quantity: int = Field(description="Units of the reward")
    points: int = Field(description="Points burned (points per unit × quantity)")
    customer_wallet: str = Field(description="The wallet the points were burned from")
    ref: str = Field(description="The partner's reference of the customer")
    tx_hash: str | None = Field(description="The burn transaction, once sent")
    voucher_code: str | None = Field(description="The voucher to hand to the customer, once fulfilled")
    failure_reason: str | None = Field(description="Why it failed (the chain's or the worker's reason); else null")
    failure: FailurePublic | None = Field(
        description="Why it failed, as a problem of the catalogue (type, title, detail: what to do); else null"
    )


class FundsExhaustedData(BaseModel):
    """The partner's purchases are held: its issuance headroom is used up."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"held_purchases": 12, "held_since": "2026-11-23T10:00:00+00:00", "reason": "partner-funds-exhausted"}
            ]
        }
    )

    held_purchases: int = Field(description="Purchases accepted and waiting to be minted")
    held_since: str = Field(description="When the oldest of them was first held (ISO 8601, UTC)")
    reason: Literal["partner-funds-exhausted"] = Field(
        description="The problem type: the funds in Clearing or the issuance limit are used up; they are minted "
        "once the partner deposits or a settlement frees its funds"
    )


class FundsRestoredData(BaseModel):
    """No purchase of the partner is held any more."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"held_purchases": 0}]})

    held_purchases: Literal[0] = Field(description="Always 0: every held purchase went on to be minted")


class CustodialReleaseRequestedData(BaseModel):
    """A release of a custodial wallet's key was asked for (cancel it if you did not)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ref": "loyalty-0042",
                    "wallet": WALLET,
                    "requested_at": "2026-01-01T09:30:00Z",
                    "available_at": "2026-01-04T09:30:00Z",
                }
            ]
        }
    )

    ref: str = Field(description="The partner's reference of the customer")
    wallet: str = Field(description="The custodial wallet")
    requested_at: str = Field(description="When the release was asked for (ISO 8601, UTC)")
    available_at: str = Field(description="From when its key can be collected, unless the release is cancelled")


class CustodialWalletReleasedData(BaseModel):
    """A custodial wallet's key was handed to its customer: the gateway never signs for it again."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"ref": "loyalty-0042", "wallet": WALLET, "released_at": "2026-01-04T10:02:00Z"}]
        }
    )

    ref: str = Field(description="The partner's reference of the customer")
    wallet: str = Field(description="The wallet, now the customer's own")
    released_at: str = Field(description="When the key was handed over (ISO 8601, UTC)")


class HeadroomLowData(BaseModel):
    """The partner's issuance headroom fell below the warning ratio: purchases will soon be held."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "issuance_headroom": "800000000",
                    "funds": "10000000000",
                    "issuance_limit": "1000000000000",
                    "exposure": "9200000000",
                    "warning_ratio": "0.1",
                    "token_symbol": "cUSD",
                    "token_decimals": "6",
                }
            ]
        }
    )

    issuance_headroom: str = Field(
        description="Value of points it may still issue: min(funds, issuance_limit) − exposure (settlement-token "
        "base units, a decimal string); at 0 new purchases are held"
    )
    funds: str = Field(description="Its funds in Clearing (settlement-token base units, a decimal string)")
    issuance_limit: str = Field(description="The cap on its unsettled issuance (base units, a decimal string)")
    exposure: str = Field(description="Value of its issuance not settled yet (base units, a decimal string)")
    warning_ratio: str = Field(
        description="The share of min(funds, issuance_limit) below which this is sent "
        "(COALITION_HEADROOM_WARNING_RATIO), a decimal string"
    )
    token_symbol: str = Field(description="The settlement token's symbol")
    token_decimals: str = Field(description="The settlement token's decimals, a decimal string")


class WebhookTestData(BaseModel):
    """A test event the partner asked for (POST /v1/webhooks/{endpoint_id}/test)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "endpoint_id": 1,
                    "url": "https://pos.example.com/coalition/webhooks",
                    "message": "A test event, sent on request: verify its Coalition-Signature with the endpoint's "
                    "secret",
                }
            ]
        }
    )

    endpoint_id: int = Field(description="The endpoint it was sent to (only that one)")
    url: str = Field(description="The endpoint's URL")
    message: str = Field(description="What the event is for, in a sentence")


class TierChangedData(BaseModel):
    """A member's tier in force changed (coalition-wide: told to every partner with a ref of them)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": 42,
                    "customer_ref": "loyalty-0042",
                    "from_tier": "Silver",
                    "to_tier": "Gold",
                    "reason": "qualified",
                    "at": "2026-11-23T10:00:07.250000Z",
                    "multiplier": "1.5",
                    "ladder_version": 3,
                }
            ]
        }
    )

    customer_id: int = Field(description="The coalition's id of the member")
    customer_ref: str = Field(description="Your own ref of the member")
    from_tier: str = Field(description="The tier in force before")
    to_tier: str = Field(description="The tier in force now")
    reason: Literal["qualified", "review", "manual", "manual_ended", "ladder"] = Field(
        description="qualified: qualifying points crossed a threshold (up at once); review: the review's verdict "
        "after the grace period (down one tier); manual / manual_ended: a tier set by hand, or its end; ladder: "
        "the operator changed the ladder"
    )
    at: str = Field(description="When the change took effect (ISO 8601, UTC)")
    multiplier: str = Field(description="The earn multiplier of the new tier, a decimal string")
    ladder_version: int = Field(description="The version of the tier ladder in force")


class MembershipEventData(BaseModel):
    """A membership subscription you sold, after the change the event tells."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subscription_id": 7,
                    "customer_id": 42,
                    "plan_id": 3,
                    "seller_partner_id": 1,
                    "status": "active",
                    "period_start": "2027-01-19T10:00:00Z",
                    "period_end": "2027-02-19T10:00:00Z",
                    "cancel_at_period_end": False,
                    "grace_until": None,
                    "entitled_until": "2027-02-26T10:00:00Z",
                    "credit": "0.00",
                    "amount_due": "9.99",
                }
            ]
        }
    )

    subscription_id: int = Field(description="The subscription (GET /v1/memberships/subscriptions/{id})")
    customer_id: int = Field(description="The coalition's id of the customer")
    plan_id: int = Field(description="The plan, after the change")
    seller_partner_id: int = Field(description="The partner that sold it (you)")
    status: Literal["trialing", "active", "past_due", "lapsed"] = Field(description="Where it stands now")
    period_start: str = Field(description="The current period's start (ISO 8601, UTC)")
    period_end: str = Field(description="The current period's end (ISO 8601, UTC)")
    cancel_at_period_end: bool = Field(description="Cancelled: lapses at the period's end")
    grace_until: str | None = Field(description="While past due: the end of the grace (ISO 8601, UTC)")
    entitled_until: str | None = Field(description="Until when its benefits hold if nothing is reported")
    credit: str = Field(description="A downgrade's credit carried to the next renewals")
    amount_due: str = Field(description="What the change charges (the first period, a renewal, a proration)")


class PointsExpiringData(BaseModel):
    """A holder's points expire soon unless it earns, spends or moves points before (coalition-wide:
    told to every partner with a ref of the customer)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": 42,
                    "customer_ref": "loyalty-0042",
                    "wallet": WALLET,
                    "points": 1250,
                    "expires_at": "2028-12-04T09:12:33Z",
                    "days_before": 30,
                }
            ]
        }
    )

    customer_id: int | None = Field(description="The coalition's id of the customer")
    customer_ref: str = Field(description="Your own ref of the customer")
    wallet: str = Field(description="The wallet whose points expire")
    points: int = Field(description="The points that expire: the wallet's whole balance (inactivity expiry)")
    expires_at: str = Field(description="When they expire, unless the wallet has activity before (ISO 8601, UTC)")
    days_before: int = Field(description="Which reminder this is: days before the expiry (30, then 7, by default)")


FAILED_REASONS: dict[str, tuple[Operation, str]] = {
    "purchase.failed": ("purchase", "ClearingIssuanceOverFunds(3, 640000, 500000)"),
    "refund.failed": ("refund", f"ERC20InsufficientBalance({WALLET}, 40, 63)"),
    "redemption.failed": ("redemption", f"burn refused: ERC20InsufficientBalance({WALLET}, 120, 500)"),
}


def _data_example(event_type: str, example: dict[str, Any]) -> dict[str, Any]:
    """A data model's example as the event ``event_type`` carries it (a failure has its reason,
    and its problem as gateway/failures.py maps it)."""
    if event_type in FAILED_REASONS:
        operation, reason = FAILED_REASONS[event_type]
        failure = failure_of(operation, reason)
        assert failure is not None
        failed = {
            "status": "failed",
            "failure_reason": reason,
            "failure": failure.public(),
            "voucher_code": None,
            "batch_id": None,
        }
        return {**example, **{k: v for k, v in failed.items() if k in example}}
    return example


def _envelope_example(schema: dict[str, Any], cls: type[BaseModel]) -> None:
    """An event's example: the envelope around its data model's example."""
    (event_type,) = get_args(cls.model_fields["type"].annotation)
    data_model = cls.model_fields["data"].annotation
    assert isinstance(data_model, type) and issubclass(data_model, BaseModel)
    data_examples = data_model.model_config.get("json_schema_extra", {})
    assert isinstance(data_examples, dict)
    envelope = {
        "id": "evt_5f0c3b2a9d8e4f6a8b7c6d5e4f3a2b1c",
        "type": event_type,
        "created_at": "2026-11-23T10:00:07.250000Z",
        "partner_id": 3,
        "data": _data_example(event_type, data_examples["examples"][0]),
    }
    schema["examples"] = [envelope]


class _Event(BaseModel):
    model_config = ConfigDict(json_schema_extra=_envelope_example)

    id: str = Field(description="The event's id, the same on every retry: dedupe on it (delivery is at least once)")
    created_at: str = Field(description="When the event was recorded (ISO 8601, UTC)")
    partner_id: int = Field(description="The partner the event is about (yours)")


TYPE = "The event type, also in the Coalition-Event-Type header"


class PurchaseConfirmed(_Event):
    """A purchase's points were minted to the customer on chain."""

    type: Literal["purchase.confirmed"] = Field(description=TYPE)
    data: PurchaseEventData = Field(description="The purchase")


class PurchaseFailed(_Event):
    """A purchase will never be minted (see its failure)."""

    type: Literal["purchase.failed"] = Field(description=TYPE)
    data: PurchaseEventData = Field(description="The purchase")


class RefundConfirmed(_Event):
    """A refund's points were clawed back on chain."""

    type: Literal["refund.confirmed"] = Field(description=TYPE)
    data: RefundEventData = Field(description="The refund")


class RefundFailed(_Event):
    """A refund could not claw its points back (e.g. the customer spent them)."""

    type: Literal["refund.failed"] = Field(description=TYPE)
    data: RefundEventData = Field(description="The refund")


class RedemptionFulfilled(_Event):
    """A redemption's points were burned and its voucher issued: hand the voucher to the customer."""

    type: Literal["redemption.fulfilled"] = Field(description=TYPE)
    data: RedemptionEventData = Field(description="The redemption")


class RedemptionFailed(_Event):
    """A redemption failed: no points were burned, the reserved stock is released."""

    type: Literal["redemption.failed"] = Field(description=TYPE)
    data: RedemptionEventData = Field(description="The redemption")


class PartnerFundsExhausted(_Event):
    """The partner's purchases are held: its issuance headroom is used up (deposit, or wait for a settlement)."""

    type: Literal["partner.funds_exhausted"] = Field(description=TYPE)
    data: FundsExhaustedData = Field(description="What is held")


class PartnerFundsRestored(_Event):
    """The partner's held purchases are being minted again."""

    type: Literal["partner.funds_restored"] = Field(description=TYPE)
    data: FundsRestoredData = Field(description="What is held: nothing")


class PartnerHeadroomLow(_Event):
    """The partner's issuance headroom is low: deposit before its purchases start to be held."""

    type: Literal["partner.headroom_low"] = Field(description=TYPE)
    data: HeadroomLowData = Field(description="The partner's money, read from the chain")


class CustodialReleaseRequested(_Event):
    """A release of a custodial wallet's key was asked for; cancel it (DELETE) if you did not ask."""

    type: Literal["customer.custodial_release_requested"] = Field(description=TYPE)
    data: CustodialReleaseRequestedData = Field(description="The request")


class CustodialWalletReleased(_Event):
    """A custodial wallet's key was handed over to its customer."""

    type: Literal["customer.custodial_wallet_released"] = Field(description=TYPE)
    data: CustodialWalletReleasedData = Field(description="The release")


class TierChanged(_Event):
    """A member's tier in force changed: up as soon as a threshold is crossed, down only at a review."""

    type: Literal["tier.changed"] = Field(description=TYPE)
    data: TierChangedData = Field(description="The change")


class PointsExpiring(_Event):
    """A customer's points expire soon: remind them that any earn, spend or transfer keeps them."""

    type: Literal["points.expiring"] = Field(description=TYPE)
    data: PointsExpiringData = Field(description="How many points, and when")


class WebhookTest(_Event):
    """A test event, sent on request to one endpoint: check that the receiver gets and verifies it."""

    type: Literal["webhook.test"] = Field(description=TYPE)
    data: WebhookTestData = Field(description="The endpoint it was sent to")


MEMBERSHIP_EVENTS: dict[str, str] = {
    "membership.trial_started": "A customer's free trial of a plan you sold started.",
    "membership.started": "A paid subscription started (its first payment reported with it).",
    "membership.converted": "A trial converted: its first payment succeeded.",
    "membership.renewed": "A renewal's payment succeeded: the next period.",
    "membership.payment_failed": "A payment failed: past due, the benefits hold through the grace.",
    "membership.past_due": "No renewal was reported by the period's end: past due, in its grace.",
    "membership.cancelled": "The subscription was cancelled: it lapses at the period's end.",
    "membership.resumed": "A cancellation was undone before the period's end.",
    "membership.plan_changed": "The subscription moved to another plan (amount_due: the proration to charge).",
    "membership.lapsed": "The subscription ended: its benefits stopped.",
}


def _membership_event(event_type: str, doc: str) -> type[_Event]:
    name = "Membership" + "".join(w.capitalize() for w in event_type.split(".")[1].split("_"))
    model: type[_Event] = create_model(  # type: ignore[call-overload]
        name,
        __base__=_Event,
        __doc__=doc,
        type=(Literal[event_type], Field(description=TYPE)),  # type: ignore[valid-type]
        data=(MembershipEventData, Field(description="The subscription after the change")),
    )
    return model


MEMBERSHIP_MODELS = [_membership_event(t, doc) for t, doc in MEMBERSHIP_EVENTS.items()]


EVENT_MODELS: dict[str, type[_Event]] = {
    get_args(model.model_fields["type"].annotation)[0]: model
    for model in (
        PurchaseConfirmed,
        PurchaseFailed,
        RefundConfirmed,
        RefundFailed,
        RedemptionFulfilled,
        RedemptionFailed,
        PartnerFundsExhausted,
        PartnerFundsRestored,
        PartnerHeadroomLow,
        CustodialReleaseRequested,
        CustodialWalletReleased,
        TierChanged,
        PointsExpiring,
        WebhookTest,
        *MEMBERSHIP_MODELS,
    )
}
