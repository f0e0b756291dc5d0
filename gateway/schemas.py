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


Address = Annotated[str, Field(examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"]), AfterValidator(_checksummed)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"], description="ISO 4217 code")]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
# Decimal inputs: a JSON number, or a string of the published pattern and nothing else (Python's
# Decimal would also take "1_000", " 1 ", "1e3", "+1", ".5" and non-ASCII digits)
AMOUNT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,4})?$"
POINTS_PER_UNIT_PATTERN = r"^[0-9]{1,4}(\.[0-9]{1,6})?$"


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
# an instant in UTC; one that UTC cannot hold (year 10000 once converted) is invalid, not a 500
Instant = Annotated[datetime, AfterValidator(utc_instant)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerRef(Strict):
    """Either the customer's wallet, or the partner's own reference linked to one."""

    wallet: Address | None = None
    ref: Ident | None = None

    @model_validator(mode="after")
    def _one(self) -> CustomerRef:
        if (self.wallet is None) == (self.ref is None):
            raise ValueError("give exactly one of wallet or ref")
        return self


class PurchaseCreate(Strict):
    purchase_id: Ident = Field(description="The partner's own id of the purchase; the idempotency key")
    customer: CustomerRef
    amount: Amount
    currency: Currency
    purchased_at: Instant | None = Field(
        default=None,
        description="When the customer bought, as the POS recorded it; absent: when the gateway first accepts "
        "it. Part of the idempotency key only when given: a retry must send what the first attempt sent",
    )


class FailurePublic(BaseModel):
    """Why an accepted purchase, refund or redemption failed (or why a purchase is held): a problem
    of the catalogue, as ``/problems/<slug>`` documents it; ``failure_reason`` beside it keeps the
    raw reason (a decoded contract error) for support."""

    type: str = Field(description="stable: /problems/<slug>, e.g. /problems/partner-funds-exhausted")
    title: str
    detail: str = Field(description="what happened and what to do, in a sentence or three")


PurchaseStatusName = Literal["accepted", "held", "submitted", "confirmed", "failed"]


class EarnRule(BaseModel):
    currency: str
    points_per_unit: Decimal
    rounding: Literal["down"] = "down"


class PurchasePublic(BaseModel):
    purchase_id: str
    status: PurchaseStatusName
    customer_wallet: str
    amount: Decimal
    currency: str
    points: int
    rule: EarnRule
    seq: int
    purchased_at: datetime
    accepted_at: datetime
    tx_hash: str | None = None
    batch_id: int | None = None
    failure_reason: str | None = None
    failure: FailurePublic | None = None
    status_url: str


MAX_BATCH = 1000


class PurchaseBatchCreate(Strict):
    purchases: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} purchases, each as the body of POST /v1/purchases; each is "
        "validated on its own (an invalid one is rejected in its result, not the whole request)",
        json_schema_extra={"items": {"$ref": "#/components/schemas/PurchaseCreate"}},
    )


class BatchProblem(BaseModel):
    type: str = Field(description="stable: /problems/<slug>")
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = Field(default=None, description="validation-error only")


class PurchaseBatchResult(BaseModel):
    index: int = Field(description="position of the purchase in the request")
    purchase_id: str | None
    outcome: Literal["accepted", "duplicate", "rejected"]
    purchase: PurchasePublic | None = None
    problem: BatchProblem | None = None


class PurchaseBatchOutcome(BaseModel):
    accepted: int = Field(description="new purchases stored: their points are minted in the next batches")
    duplicates: int = Field(description="purchases posted before with the same id and body: their first answer")
    rejected: int
    results: list[PurchaseBatchResult]


class PartnerCreate(Strict):
    name: str = Field(min_length=1, max_length=120)
    treasury: Address
    currency: Currency
    points_per_unit: PointsPerUnit
    issue_price: int = Field(gt=0, lt=2**63, description="settlement-token units (6 decimals) per point issued")
    reimbursement_rate: int = Field(ge=0, lt=2**63, description="settlement-token units per point redeemed")
    issuance_limit: int = Field(gt=0, lt=2**63, description="cap on unsettled issuance, settlement-token units")
    deposit: int = Field(default=0, ge=0, lt=2**127, description="local chains: test funds deposited for it")


class ScheduledRerate(BaseModel):
    """Prices scheduled on chain: the registry puts them in force only after its notice period."""

    issue_price: int
    reimbursement_rate: int
    effective_at: datetime


class PartnerPublic(BaseModel):
    id: int
    name: str
    minter: str
    treasury: str
    currency: str
    points_per_unit: Decimal
    issue_price: int
    reimbursement_rate: int
    issuance_limit: int
    status: str
    scheduled_rerate: ScheduledRerate | None = Field(
        default=None, description="new prices scheduled on chain, in force from effective_at (the registry's notice)"
    )


class PartnerCreated(PartnerPublic):
    api_key: str = Field(description="Shown once: store it now; only its hash is kept")


class SettlementToken(BaseModel):
    """The token partners prefund and settle in (cUSD locally); amounts are in its base units."""

    address: str
    symbol: str = Field(examples=["cUSD"])
    decimals: int = Field(examples=[6], description="base units per whole token: 10**decimals")


class PartnerAccount(PartnerPublic):
    """A partner with its money in Clearing, read from the chain at ``block_number``, and its
    purchases that wait for headroom or failed. Amounts are settlement-token base units."""

    settlement_token: SettlementToken
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
    amount: int = Field(gt=0, lt=2**96, description="settlement-token base units (cUSD: 6 decimals) to deposit")


class UnsignedCall(BaseModel):
    """A transaction to sign and send from the paying account (the partner's treasury)."""

    to: str = Field(description="contract address")
    data: str = Field(description="ABI-encoded call, 0x-hex")
    function: str = Field(examples=["approve(address,uint256)"])
    description: str


class PartnerDeposit(BaseModel):
    """A deposit for a partner. Local chains: test stablecoins minted and deposited now
    (``deposited``). Any other chain: the gateway holds no money, so the answer is what the
    partner's treasury (or anyone paying for it) must send, in order (``treasury-must-send``)."""

    partner_id: int
    amount: int = Field(description="settlement-token base units")
    status: Literal["deposited", "treasury-must-send"]
    tx_hash: str | None = Field(default=None, description="the deposit's transaction (deposited only)")
    funds: int | None = Field(default=None, description="the partner's funds after the deposit (deposited only)")
    headroom: int | None = Field(default=None, description="the partner's headroom after it (deposited only)")
    transactions: list[UnsignedCall] = Field(default=[], description="treasury-must-send only: approve, then deposit")
