"""Request and response bodies, in families per resource (``PurchaseCreate``, ``PurchasePublic``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal

import sha3  # safe-pysha3: keccak-256 in C, ten times pycryptodome's through ctypes
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from gateway.failures import ADVICE
from gateway.problem_types import PROBLEM_HELP, PROBLEMS, problem_type
from gateway.timeutil import utc_instant


@lru_cache(maxsize=100_000)
def _is_checksum_address(value: str) -> bool:
    """EIP-55, as ``eth_utils.is_checksum_address`` (a test holds them equal) at a third of its
    cost: every purchase carries a wallet, and the same wallets come back (cached)."""
    if len(value) != 42 or value[:2] != "0x":
        return False
    body = value[2:]
    lower = body.lower()
    if lower.strip("0123456789abcdef"):
        return False
    digest = sha3.keccak_256(lower.encode()).hexdigest()
    return body == "".join(c.upper() if d in "89abcdef" else c for c, d in zip(lower, digest, strict=False))


def _checksummed(value: str) -> str:
    if not _is_checksum_address(value):
        raise ValueError("must be a checksummed (EIP-55) 20-byte hex address")
    if int(value, 16) == 0:
        raise ValueError("must not be the zero address")
    return value


EXAMPLE_WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
EXAMPLE_TX = "0x8f1c9a7de3b2c4a5f60718293a4b5c6d7e8f90123456789abcdef0123456789a"
Address = Annotated[str, Field(examples=[EXAMPLE_WALLET]), AfterValidator(_checksummed)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"], description="ISO 4217 code")]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
# Decimal inputs: a JSON number, or a string of the published pattern and nothing else (Python's
# Decimal would also take "1_000", " 1 ", "1e3", "+1", ".5" and non-ASCII digits)
AMOUNT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,4})?$"
POINTS_PER_UNIT_PATTERN = r"^[0-9]{1,4}(\.[0-9]{1,6})?$"
MULTIPLIER_PATTERN = r"^[0-9]{1,2}(\.[0-9]{1,3})?$"  # issue 21: a plan's earn multiplier
SHARE_PATTERN = r"^[01](\.[0-9]{1,4})?$"  # issue 21: the coalition's share of a fee


def _written_as(pattern: str) -> Callable[[Any], Any]:
    compiled = re.compile(pattern, re.ASCII)

    def check(value: Any) -> Any:
        if isinstance(value, str) and compiled.fullmatch(value) is None:
            raise ValueError(f"must be a decimal number written as {pattern} (or a JSON number)")
        return value

    return check


def _decimal_schema(pattern: str, number: dict[str, Any], example: str) -> WithJsonSchema:
    """The published schema of a decimal input: what ``_written_as`` and the Field enforce."""
    return WithJsonSchema(
        {"anyOf": [{"type": "number", **number}, {"type": "string", "pattern": pattern}], "examples": [example]}
    )


Amount = Annotated[
    Decimal,
    BeforeValidator(_written_as(AMOUNT_PATTERN)),
    Field(gt=0, max_digits=16, decimal_places=4),
    _decimal_schema(AMOUNT_PATTERN, {"exclusiveMinimum": 0}, "42.50"),
]
PointsPerUnit = Annotated[
    Decimal,
    BeforeValidator(_written_as(POINTS_PER_UNIT_PATTERN)),
    Field(gt=0, le=1000, decimal_places=6),
    _decimal_schema(POINTS_PER_UNIT_PATTERN, {"exclusiveMinimum": 0, "maximum": 1000}, "1.5"),
]
Multiplier = Annotated[  # 1 to 10, three decimals at most
    Decimal,
    BeforeValidator(_written_as(MULTIPLIER_PATTERN)),
    Field(ge=1, le=10, decimal_places=3),
    _decimal_schema(MULTIPLIER_PATTERN, {"minimum": 1, "maximum": 10}, "1.5"),
]
Share = Annotated[  # 0 to 1, four decimals at most
    Decimal,
    BeforeValidator(_written_as(SHARE_PATTERN)),
    Field(ge=0, le=1, decimal_places=4),
    _decimal_schema(SHARE_PATTERN, {"minimum": 0, "maximum": 1}, "0.1"),
]
Money = Annotated[  # a line's price or discount, a tender: an amount that may be 0
    Decimal,
    BeforeValidator(_written_as(AMOUNT_PATTERN)),
    Field(ge=0, max_digits=16, decimal_places=4),
    _decimal_schema(AMOUNT_PATTERN, {"minimum": 0}, "4.50"),
]
Quantity = Annotated[
    Decimal,
    BeforeValidator(_written_as(AMOUNT_PATTERN)),
    Field(gt=0, max_digits=16, decimal_places=4),
    _decimal_schema(AMOUNT_PATTERN, {"exclusiveMinimum": 0}, "2"),
]
Tag = Annotated[str, Field(min_length=1, max_length=64)]
MAX_LINES = 500
# an instant in UTC; one that UTC cannot hold (year 10000 once converted) is invalid, not a 500
Instant = Annotated[datetime, AfterValidator(utc_instant)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerRef(Strict):
    """The customer: either their wallet, or the partner's own reference linked to one (exactly one of the two)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"wallet": EXAMPLE_WALLET}, {"ref": "loyalty-0042"}]})

    wallet: Address | None = Field(default=None, description="The customer's wallet, EIP-55 checksummed")
    ref: Ident | None = Field(
        default=None,
        description="The partner's own reference of the customer, linked to a wallet before "
        "(PUT /v1/customers/{ref}/wallet or POST /v1/customers/{ref}/custodial-wallet)",
        examples=["loyalty-0042"],
    )

    @model_validator(mode="after")
    def _one(self) -> CustomerRef:
        if (self.wallet is None) == (self.ref is None):
            raise ValueError("give exactly one of wallet or ref")
        return self


PURCHASE_EXAMPLE = {
    "purchase_id": "order-1042",
    "customer": {"wallet": EXAMPLE_WALLET},
    "amount": "42.50",
    "currency": "EUR",
    "purchased_at": "2026-11-23T10:00:00Z",
}


class LineCreate(Strict):
    """One line of the receipt: its net is quantity × unit price − discount, rounded half-up to the
    currency's minor unit; the nets of a purchase's lines add up to its amount."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sku": "WINE-0231",
                    "category": "wine",
                    "labels": ["organic"],
                    "quantity": "2",
                    "unit_price": "12.50",
                    "discount": "0",
                }
            ]
        }
    )

    sku: Tag = Field(description="The partner's product code", examples=["WINE-0231"])
    category: Tag | None = Field(default=None, description="The product's category in the partner's catalogue")
    labels: list[Tag] = Field(
        default_factory=list, max_length=20, description="Free tags of the product (organic, own-brand...)"
    )
    quantity: Quantity = Field(default=Decimal(1), description="Units or weight, up to 4 decimals")
    unit_price: Money = Field(description="Price of one unit, in units of the currency")
    discount: Money = Field(default=Decimal(0), description="Money off the whole line (not per unit)")


class PaidWith(Strict):
    """The part of the amount paid otherwise than with money: it earns no points."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"points": "5.00", "gift_cards": "0"}]})

    points: Money = Field(default=Decimal(0), description="Money paid with points, in units of the currency")
    gift_cards: Money = Field(default=Decimal(0), description="Money paid with gift cards, in units of the currency")


class PurchaseCreate(Strict):
    """A purchase at the partner: the customer earns points on its amount at the partner's rate."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                PURCHASE_EXAMPLE,
                {  # purchased_at left out: the gateway stamps the time it first accepts the purchase
                    "purchase_id": "order-1043",
                    "customer": {"ref": "loyalty-0042"},
                    "amount": "18.00",
                    "currency": "EUR",
                },
                {  # with the receipt's lines, 5.00 of it paid with points: the earning rules look at them
                    "purchase_id": "order-1044",
                    "customer": {"ref": "loyalty-0042"},
                    "amount": "30.00",
                    "currency": "EUR",
                    "lines": [
                        {
                            "sku": "WINE-0231",
                            "category": "wine",
                            "labels": ["organic"],
                            "quantity": "2",
                            "unit_price": "12.50",
                            "discount": "0",
                        },
                        {"sku": "BREAD-01", "category": "bakery", "unit_price": "5.00"},
                    ],
                    "paid_with": {"points": "5.00", "gift_cards": "0"},
                },
            ]
        }
    )

    purchase_id: Ident = Field(
        description="The partner's own id of the purchase; the idempotency key", examples=["order-1042"]
    )
    customer: CustomerRef = Field(description="Who earns the points: their wallet, or the partner's ref of them")
    amount: Amount = Field(
        description="The amount paid, in units of the currency (not cents): a JSON number or a decimal string, "
        "up to 4 decimals"
    )
    currency: Currency = Field(description="ISO 4217 code of the amount's currency; the partner's earn rule's")
    purchased_at: Instant | None = Field(
        default=None,
        description="When the customer bought, as the POS recorded it; absent: when the gateway first accepts "
        "it. Part of the idempotency key only when given: a retry must send what the first attempt sent",
    )
    lines: list[LineCreate] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_LINES,
        description="The receipt's lines (optional): their nets must add up to the amount (else 422 "
        "lines-mismatch, naming the difference); the partner's earning rules look at SKUs, categories and labels",
    )
    paid_with: PaidWith | None = Field(
        default=None,
        description="What of the amount was paid with points or gift cards (money amounts): it earns nothing",
    )

    @model_validator(mode="after")
    def _tenders_within_amount(self) -> PurchaseCreate:
        if self.paid_with is not None and self.paid_with.points + self.paid_with.gift_cards > self.amount:
            raise ValueError("paid_with: points and gift cards pay more than the amount")
        return self


# every problem type a failure can be (gateway/failures.py gives advice for each one it maps to)
FAILURE_TYPES = [problem_type(slug) for slug in ADVICE]


class FailurePublic(BaseModel):
    """Why an accepted purchase, refund or redemption failed (or why a purchase is held): a problem
    of the catalogue, as ``/problems/<slug>`` documents it; ``failure_reason`` beside it keeps the
    raw reason (a decoded contract error) for support."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/partner-funds-exhausted",
                    "title": PROBLEMS["partner-funds-exhausted"][1],
                    "detail": PROBLEM_HELP["partner-funds-exhausted"][0],
                }
            ]
        }
    )

    type: str = Field(
        description="stable: /problems/<slug>, e.g. /problems/partner-funds-exhausted; branch on it",
        json_schema_extra={"enum": FAILURE_TYPES},
    )
    title: str = Field(description="The problem type's title, the same for every failure of this type")
    detail: str = Field(description="what happened and what to do, in a sentence or three")


PurchaseStatusName = Literal["accepted", "held", "submitted", "confirmed", "failed"]


class EarnRule(BaseModel):
    """The partner's earn rule the purchase's points were computed with."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"currency": "EUR", "points_per_unit": "1.5", "rounding": "down"},
                {"currency": "EUR", "points_per_unit": "1.5", "rounding": "down", "ruleset_version": 3},
            ]
        }
    )

    currency: str = Field(description="ISO 4217 code the rule applies to")
    points_per_unit: Decimal = Field(description="Points per unit of the currency")
    rounding: Literal["down", "half_up", "half_even"] = Field(
        default="down",
        description="Without a rule set, points are amount × points_per_unit, rounded down; under a rule set, its "
        "rounding of the purchase's exact total",
    )
    ruleset_version: int | None = Field(
        default=None,
        description="The version of the partner's rule set the points were computed with (0: the partner's rate "
        "as a rule set, for a purchase with lines or tenders at a partner without one); absent: by the rate alone",
    )


PURCHASE_PUBLIC_EXAMPLE = {
    "purchase_id": "order-1042",
    "status": "accepted",
    "customer_wallet": EXAMPLE_WALLET,
    "amount": "42.50",
    "currency": "EUR",
    "points": 63,
    "rule": {"currency": "EUR", "points_per_unit": "1.5", "rounding": "down"},
    "seq": 17,
    "purchased_at": "2026-11-23T10:00:00Z",
    "accepted_at": "2026-11-23T10:00:01.204000Z",
    "tx_hash": None,
    "batch_id": None,
    "failure_reason": None,
    "failure": None,
    "status_url": "https://gateway.example.com/v1/purchases/order-1042",
}
HELD_REASON = (
    "partner-funds-exhausted: the partner may issue points worth only 120000 more (settlement-token units) until a "
    "deposit or a settlement; the purchase is minted as soon as its value fits"
)


RuleKind = Literal["base", "multiplier", "bonus_window", "tier", "first_purchase", "cap"]  # a rule that gives points


class BreakdownEntry(BaseModel):
    """One rule's points in a purchase: a bonus gives, a cap takes (negative)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"rule": "wine-x2", "version": 1, "kind": "multiplier", "points": 25}]}
    )

    rule: str = Field(description="The rule's id in the partner's rule set")
    version: int = Field(description="The rule's own version")
    kind: RuleKind = Field(description="What kind of rule it is")
    points: int = Field(description="Its points (negative for a cap)")


class PurchasePublic(BaseModel):
    """A purchase and where it stands."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                PURCHASE_PUBLIC_EXAMPLE,
                {**PURCHASE_PUBLIC_EXAMPLE, "status": "confirmed", "tx_hash": EXAMPLE_TX, "batch_id": 5},
                {
                    **PURCHASE_PUBLIC_EXAMPLE,
                    "points": 88,
                    "rule": {"currency": "EUR", "points_per_unit": "1.5", "rounding": "down", "ruleset_version": 3},
                    "breakdown": [
                        {"rule": "base", "version": 1, "kind": "base", "points": 63},
                        {"rule": "wine-x2", "version": 1, "kind": "multiplier", "points": 25},
                    ],
                },
                {
                    **PURCHASE_PUBLIC_EXAMPLE,
                    "status": "held",
                    "failure_reason": HELD_REASON,
                    "failure": {
                        "type": "/problems/partner-funds-exhausted",
                        "title": PROBLEMS["partner-funds-exhausted"][1],
                        "detail": PROBLEM_HELP["partner-funds-exhausted"][0],
                    },
                },
            ]
        }
    )

    purchase_id: str = Field(description="The partner's own id of the purchase")
    status: PurchaseStatusName = Field(
        description="accepted (stored, to be minted), held (waits for the partner's issuance headroom: a deposit or "
        "a settlement), submitted (its transaction is sent), confirmed (minted on chain), failed (see failure)"
    )
    customer_wallet: str = Field(description="The wallet the points are minted to")
    amount: Decimal = Field(description="The amount paid, a decimal string")
    currency: str = Field(description="ISO 4217 code of the amount")
    points: int = Field(description="Points the customer earns: amount × the rule's points per unit, rounded down")
    rule: EarnRule = Field(description="The earn rule in force when the purchase was accepted")
    seq: int = Field(description="The partner's sequence number of the purchase (its order of acceptance)")
    purchased_at: datetime = Field(description="When the purchase happened (UTC)")
    accepted_at: datetime = Field(description="When the gateway stored it (UTC)")
    tx_hash: str | None = Field(default=None, description="The minting transaction, once submitted")
    batch_id: int | None = Field(default=None, description="The on-chain batch it was minted in, once confirmed")
    failure_reason: str | None = Field(
        default=None, description="Why it failed, or why it is held (a problem type and a sentence); else null"
    )
    failure: FailurePublic | None = Field(
        default=None,
        description="Why it failed or why it is held, as a problem of the catalogue (type, title, detail); else null",
    )
    breakdown: list[BreakdownEntry] | None = Field(
        default=None,
        description="Which rule gave (or a cap took) how many points; they add up to points. Absent for a "
        "purchase earned by the partner's rate alone (without rule set, lines or tenders)",
    )
    status_url: str = Field(description="Where to GET the purchase's state")


MAX_BATCH = 1000


class PurchaseBatchCreate(Strict):
    """Up to 1,000 purchases at once (end-of-day files, e-shops)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "purchases": [
                        PURCHASE_EXAMPLE,
                        {**PURCHASE_EXAMPLE, "purchase_id": "order-1044", "amount": "9.90"},
                    ]
                }
            ]
        }
    )

    purchases: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} purchases, each as the body of POST /v1/purchases; each is "
        "validated on its own (an invalid one is rejected in its result, not the whole request)",
        json_schema_extra={"items": {"$ref": "#/components/schemas/PurchaseCreate"}},
    )


class BatchProblem(BaseModel):
    """Why one purchase of a batch was rejected: a problem, as the single POST would have answered it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/currency-not-accepted",
                    "title": "The partner's earn rule does not cover this currency",
                    "status": 422,
                    "detail": "partner earns points on EUR purchases, not USD",
                    "errors": None,
                }
            ]
        }
    )

    type: str = Field(
        description="Stable: /problems/<slug>, a page that says what it means and how to fix it",
        json_schema_extra={"enum": [problem_type(slug) for slug in PROBLEMS]},
    )
    title: str = Field(description="The problem type's title")
    status: int = Field(description="The HTTP status the purchase alone would have been answered")
    detail: str = Field(description="What was wrong with this purchase")
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="validation-error only: every invalid field (field, message, kind)"
    )


class PurchaseBatchResult(BaseModel):
    """What became of one purchase of a batch."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "index": 0,
                    "purchase_id": "order-1042",
                    "outcome": "accepted",
                    "purchase": PURCHASE_PUBLIC_EXAMPLE,
                    "problem": None,
                }
            ]
        }
    )

    index: int = Field(description="Position of the purchase in the request, from 0")
    purchase_id: str | None = Field(description="Its purchase_id, when it had a valid one")
    outcome: Literal["accepted", "duplicate", "rejected"] = Field(
        description="accepted: new, stored; duplicate: posted before with the same body (its first answer); "
        "rejected: see problem"
    )
    purchase: PurchasePublic | None = Field(default=None, description="The purchase, unless rejected")
    problem: BatchProblem | None = Field(default=None, description="Why it was rejected; else null")


class PurchaseBatchOutcome(BaseModel):
    """The batch's counts, and a result per purchase in the order given."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": 1,
                    "duplicates": 0,
                    "rejected": 0,
                    "results": [
                        {
                            "index": 0,
                            "purchase_id": "order-1042",
                            "outcome": "accepted",
                            "purchase": PURCHASE_PUBLIC_EXAMPLE,
                            "problem": None,
                        }
                    ],
                }
            ]
        }
    )

    accepted: int = Field(description="new purchases stored: their points are minted in the next batches")
    duplicates: int = Field(description="purchases posted before with the same id and body: their first answer")
    rejected: int = Field(description="purchases refused, each with its problem")
    results: list[PurchaseBatchResult] = Field(description="One per purchase, in the order of the request")


class PartnerCreate(Strict):
    """A partner to onboard: its registration on chain, its earn rule and prices."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Corner Bakery",
                    "treasury": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
                    "currency": "EUR",
                    "points_per_unit": "1.5",
                    "issue_price": 10000,
                    "reimbursement_rate": 8000,
                    "issuance_limit": 1000000000000,
                    "deposit": 0,
                }
            ]
        }
    )

    name: str = Field(min_length=1, max_length=120, description="The partner's name, unique in the network")
    treasury: Address = Field(description="The partner's address that pays and receives at settlement")
    currency: Currency
    points_per_unit: PointsPerUnit = Field(description="Points a customer earns per unit of the currency")
    issue_price: int = Field(gt=0, lt=2**63, description="settlement-token units (6 decimals) per point issued")
    reimbursement_rate: int = Field(ge=0, lt=2**63, description="settlement-token units per point redeemed")
    issuance_limit: int = Field(gt=0, lt=2**63, description="cap on unsettled issuance, settlement-token units")
    deposit: int = Field(default=0, ge=0, lt=2**127, description="local chains: test funds deposited for it")


class ScheduledRerate(BaseModel):
    """Prices scheduled on chain: the registry puts them in force only after its notice period."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"issue_price": 12000, "reimbursement_rate": 9000, "effective_at": "2026-12-01T00:00:00Z"}]
        }
    )

    issue_price: int = Field(description="The new settlement-token units (6 decimals) per point issued")
    reimbursement_rate: int = Field(description="The new settlement-token units per point redeemed")
    effective_at: datetime = Field(description="When they take effect (UTC)")


PARTNER_EXAMPLE = {
    "id": 3,
    "name": "Corner Bakery",
    "minter": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "treasury": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "currency": "EUR",
    "points_per_unit": "1.5",
    "issue_price": 10000,
    "reimbursement_rate": 8000,
    "issuance_limit": 1000000000000,
    "status": "active",
    "scheduled_rerate": None,
}


class PartnerPublic(BaseModel):
    """A partner as the operator sees it."""

    model_config = ConfigDict(json_schema_extra={"examples": [PARTNER_EXAMPLE]})

    id: int = Field(description="The partner's id, on chain and in this API")
    name: str = Field(description="The partner's name")
    minter: str = Field(description="The address the gateway mints the partner's points with (its key is held here)")
    treasury: str = Field(description="The partner's address that pays and receives at settlement")
    currency: str = Field(description="ISO 4217 code of its earn rule")
    points_per_unit: Decimal = Field(description="Points per unit of the currency")
    issue_price: int = Field(description="Settlement-token units (6 decimals) the partner pays per point issued")
    reimbursement_rate: int = Field(description="Settlement-token units the partner is paid per point redeemed")
    issuance_limit: int = Field(description="Cap on its unsettled issuance, settlement-token units")
    status: Literal["active", "suspended", "none", "unknown"] = Field(
        description="As the registry on chain says: active, suspended (no earns, refunds or redemptions), or none / "
        "unknown for a registration the chain does not know"
    )
    scheduled_rerate: ScheduledRerate | None = Field(
        default=None, description="new prices scheduled on chain, in force from effective_at (the registry's notice)"
    )


class PartnerCreated(PartnerPublic):
    """The partner onboarded, with its API key (shown this once)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {**PARTNER_EXAMPLE, "api_key": "ck_3f9a1c2b7d4e8a60_Zx8Qp2Lm7Tn4Vr6Wk1Hs9Jd3Fb5Gc0aE5c7YuI2oP"}
            ]
        }
    )

    api_key: str = Field(description="Shown once: store it now; only its hash is kept")


TOKEN_EXAMPLE = {"address": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", "symbol": "cUSD", "decimals": 6}


class SettlementToken(BaseModel):
    """The token partners prefund and settle in (cUSD locally); amounts are in its base units."""

    model_config = ConfigDict(json_schema_extra={"examples": [TOKEN_EXAMPLE]})

    address: str = Field(description="The token contract's address, EIP-55 checksummed")
    symbol: str = Field(description="The token's symbol", examples=["cUSD"])
    decimals: int = Field(examples=[6], description="base units per whole token: 10**decimals")


class PartnerAccount(PartnerPublic):
    """A partner with its money in Clearing, read from the chain at ``block_number``, and its
    purchases that wait for headroom or failed. Amounts are settlement-token base units."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **PARTNER_EXAMPLE,
                    "settlement_token": TOKEN_EXAMPLE,
                    "block_number": 1250,
                    "funds": 10000000000,
                    "free_funds": 8500000000,
                    "headroom": 8500000000,
                    "exposure": 1500000000,
                    "pending_credit": 20000000,
                    "held_purchases": 0,
                    "failed_purchases": 1,
                }
            ]
        }
    )

    settlement_token: SettlementToken = Field(description="The token the amounts are in")
    block_number: int = Field(description="the block the figures were read at")
    funds: int = Field(description="held for the partner in Clearing: deposits + settled nets - withdrawals")
    free_funds: int = Field(description="funds not backing unsettled issuance: what its treasury may withdraw")
    headroom: int = Field(
        description="value of new issuance it may still reserve: min(funds, issuance_limit) - exposure; "
        "0 means every new purchase is held (partner-funds-exhausted) until a deposit, a settlement or a higher limit"
    )
    exposure: int = Field(description="value of its issuance not settled yet (points x issue price)")
    pending_credit: int = Field(
        description="value of its reversals (refunds) not settled yet: the next settlement pays it"
    )
    held_purchases: int = Field(description="purchases waiting for headroom (status held)")
    failed_purchases: int = Field(description="purchases that will not be minted (status failed)")


class PartnerDepositCreate(Strict):
    """Settlement tokens to deposit in Clearing for the partner: its funds, which back its issuance."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": 5000000000}]})

    amount: int = Field(gt=0, lt=2**96, description="settlement-token base units (cUSD: 6 decimals) to deposit")


APPROVE_EXAMPLE = {
    "to": TOKEN_EXAMPLE["address"],
    "data": "0x095ea7b30000000000000000000000009fe46736679d2d9a65f0992f2272de9f3c7fa6e0"
    "000000000000000000000000000000000000000000000000000000012a05f200",
    "function": "approve(address,uint256)",
    "description": "from the payer (the partner's treasury 0x90F79bf6EB2c4f870365E785982E1f101E93b906): let "
    "Clearing take 5000000000 base units of the settlement token",
}


class UnsignedCall(BaseModel):
    """A transaction to sign and send from the paying account (the partner's treasury)."""

    model_config = ConfigDict(json_schema_extra={"examples": [APPROVE_EXAMPLE]})

    to: str = Field(description="contract address")
    data: str = Field(description="ABI-encoded call, 0x-hex")
    function: str = Field(
        description="The function the data calls, its signature", examples=["approve(address,uint256)"]
    )
    description: str = Field(description="Who sends it and what it does, for a person")


class PartnerDeposit(BaseModel):
    """A deposit for a partner. Local chains: test stablecoins minted and deposited now
    (``deposited``). Any other chain: the gateway holds no money, so the answer is what the
    partner's treasury (or anyone paying for it) must send, in order (``treasury-must-send``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "partner_id": 3,
                    "amount": 5000000000,
                    "status": "deposited",
                    "tx_hash": EXAMPLE_TX,
                    "funds": 15000000000,
                    "headroom": 13500000000,
                    "transactions": [],
                },
                {
                    "partner_id": 3,
                    "amount": 5000000000,
                    "status": "treasury-must-send",
                    "tx_hash": None,
                    "funds": None,
                    "headroom": None,
                    "transactions": [
                        APPROVE_EXAMPLE,
                        {
                            "to": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
                            "data": "0xaaf103980000000000000000000000000000000000000000000000000000000000000003"
                            "000000000000000000000000000000000000000000000000000000012a05f200",
                            "function": "deposit(uint32,uint256)",
                            "description": "then, from the same account: deposit them for partner 3",
                        },
                    ],
                },
            ]
        }
    )

    partner_id: int = Field(description="The partner the deposit is for")
    amount: int = Field(description="settlement-token base units")
    status: Literal["deposited", "treasury-must-send"] = Field(
        description="deposited (local chains: done, see tx_hash) or treasury-must-send (sign and send `transactions`)"
    )
    tx_hash: str | None = Field(default=None, description="the deposit's transaction (deposited only)")
    funds: int | None = Field(default=None, description="the partner's funds after the deposit (deposited only)")
    headroom: int | None = Field(default=None, description="the partner's headroom after it (deposited only)")
    transactions: list[UnsignedCall] = Field(default=[], description="treasury-must-send only: approve, then deposit")
