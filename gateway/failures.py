"""Why a purchase, a refund or a redemption failed, or why a purchase waits: the raw reasons
the workers store mapped to problem types of the catalogue (gateway/problem_types.py), each with a
sentence a person understands and what to do next.

A raw reason is what the worker wrote: a contract's custom error decoded by network/revert.py
(``ClearingIssuanceOverFunds(partnerId=1, exposure=…, funds=…)``), possibly inside a longer text
(``burn refused: reverted in 0x…: EnforcedPause()``), or a reason of the sender, the outbox or
the relayer (``partner-funds-exhausted: …``, ``the purchase was not minted``). The status
answers show the mapped problem as ``failure`` beside the raw ``failure_reason`` (kept for
support). Every custom error in the contracts' ABIs has an entry in :data:`CONTRACT_ERRORS`
(a unit test enumerates them from build/contracts); a reason nothing here recognises is
``transaction-refused``, for the operator to look at.

Pure: no store, no chain, no HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gateway.problem_types import PROBLEMS, problem_type

Operation = Literal["purchase", "refund", "redemption"]
FUNDS_EXHAUSTED = "partner-funds-exhausted"  # network/headroom.py writes it first in a held purchase's reason
REFUSED = "transaction-refused"  # the fallback: the chain said no for a reason only the operator can fix


@dataclass(frozen=True, slots=True)
class Failure:
    """A problem (RFC 9457 members) telling why an operation failed or waits."""

    slug: str
    title: str
    detail: str

    @property
    def type(self) -> str:
        return problem_type(self.slug)

    def public(self) -> dict[str, str]:
        return {"type": self.type, "title": self.title, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Rule:
    slug: str
    why: str  # what the chain (or the worker) said, as a sentence


def _refused(why: str) -> Rule:
    return Rule(REFUSED, why)


# Every custom error of the contracts (their ABIs, inherited ones included) -> its problem.
CONTRACT_ERRORS: dict[str, Rule] = {
    # --- the partner's funds and standing
    "ClearingIssuanceOverFunds": Rule(
        FUNDS_EXHAUSTED,
        "The partner's deposit does not cover the value of these points on top of its unsettled issuance.",
    ),
    "ClearingIssuanceOverLimit": Rule(
        FUNDS_EXHAUSTED, "These points would take the partner's unsettled issuance over its issuance limit."
    ),
    "PartnerRegistryNotActive": Rule("partner-suspended", "The coalition's operator has suspended the partner."),
    "PartnerRegistryUnknownMinter": Rule(
        "partner-minter-unknown",
        "The key the gateway signs with for the partner is no longer the partner's minter on chain "
        "(its treasury set another one).",
    ),
    "PartnerRegistryUnknownPartner": _refused("The partner is not registered on chain."),
    # --- refunds (reversals)
    "CoalitionPointsRefundWindowClosed": Rule(
        "refund-window-closed", "The refund window of the batch that minted the purchase has closed on chain."
    ),
    "CoalitionPointsReversalExceedsPurchase": Rule(
        "refund-exceeds-purchase", "The purchase has fewer points left on chain than this refund would claw back."
    ),
    "CoalitionPointsUnknownPurchase": Rule(
        "purchase-not-confirmed", "The chain knows no batch of the partner holding this purchase."
    ),
    "CoalitionPointsZeroPoints": _refused("The chain refused to move zero points."),
    # --- refunds of purchases paid with points (restores of till captures)
    "CoalitionPointsNotRestorable": _refused(
        "The chain knows no till capture of this partner, customer and ref to give points back for."
    ),
    "CoalitionPointsRestoreExceedsCapture": _refused(
        "The till capture has fewer points left to give back on chain than this refund would restore."
    ),
    "CoalitionPointsCaptureRefUsed": _refused("The chain has captured a payment with this ref already."),
    "CoalitionPointsCaptureTooLarge": _refused("The till capture moves more points than the chain can record."),
    # --- redemptions (the customer's consent)
    "CoalitionPointsExpiredSignature": Rule(
        "signature-expired", "The customer's consent expired before the points could be burned."
    ),
    "ERC2612ExpiredSignature": Rule("signature-expired", "The customer's signed permit has expired."),
    "CoalitionPointsInvalidSigner": Rule("invalid-signature", "The consent is not signed by the customer's wallet."),
    "ECDSAInvalidSignature": Rule("invalid-signature", "The consent's signature is not a valid signature."),
    "ECDSAInvalidSignatureLength": Rule("invalid-signature", "The consent's signature has the wrong length."),
    "ECDSAInvalidSignatureS": Rule("invalid-signature", "The consent's signature is malformed (its s value)."),
    "ERC2612InvalidSigner": Rule("invalid-signature", "The permit is not signed by the wallet that owns the points."),
    "CoalitionPointsNonceUsed": Rule("nonce-used", "The customer's consent was used already, by another transaction."),
    "InvalidAccountNonce": Rule("nonce-used", "The signed permit's nonce was used already."),
    "ERC20InsufficientBalance": _refused(
        "The wallet holds fewer points than the transaction moves (points that expired cannot be spent)."
    ),
    # --- the whole network
    "EnforcedPause": Rule("network-paused", "The coalition's operator has paused the points token."),
    "ExpectedPause": _refused("The operation needs the points token paused, and it is not."),
    # --- the gateway's or the operator's own transactions (not the partner's to fix)
    "CoalitionPointsEmptyBatch": _refused("The gateway sent a batch without purchases or consents."),
    "CoalitionPointsEmptyCancel": _refused("A cancellation of consents named no nonce to cancel."),
    "CoalitionPointsInvalidPurchase": _refused("A purchase of the batch names no wallet or no points."),
    "CoalitionPointsRefundWindowOutOfBounds": _refused("The refund window asked for is outside the allowed bounds."),
    "CoalitionPointsExpiryWindowOutOfBounds": _refused("The expiry window asked for is outside the allowed bounds."),
    "CoalitionPointsNoExpiryWindowScheduled": _refused("No expiry window is scheduled to apply or cancel."),
    "CoalitionPointsExpiryNoticeNotOver": _refused("The scheduled expiry window's notice is not over yet."),
    "CoalitionPointsSupplyOverflow": _refused("The points minted would take the supply past what an account holds."),
    "AccessControlBadConfirmation": _refused("A role was renounced for another account."),
    "AccessControlUnauthorizedAccount": _refused("The account that signed lacks the role the operation needs."),
    "OwnableInvalidOwner": _refused("The settlement token's owner would be invalid."),
    "OwnableUnauthorizedAccount": _refused("Only the settlement token's owner may do this."),
    "ERC20InsufficientAllowance": _refused("The spender is allowed fewer tokens than it moves."),
    "ERC20InvalidApprover": _refused("A token approval came from the zero address."),
    "ERC20InvalidReceiver": _refused("Tokens were sent to an invalid receiver (the zero address)."),
    "ERC20InvalidSender": _refused("Tokens were sent from an invalid sender (the zero address)."),
    "ERC20InvalidSpender": _refused("A token approval named an invalid spender (the zero address)."),
    "InvalidShortString": _refused("A token name or symbol is invalid."),
    "StringTooLong": _refused("A token name or symbol is too long."),
    "ClearingInsufficientFreeFunds": _refused("The partner's free funds do not cover the withdrawal."),
    "ClearingInsufficientOperatorFunds": _refused("The operator's funds do not cover the reimbursements due."),
    "ClearingNotTreasury": _refused("Only the partner's treasury may withdraw its funds."),
    "ClearingOnlyPoints": _refused("Only the points contract may reserve issuance or record reversals."),
    "ClearingPointsAlreadyBound": _refused("The clearing contract is bound to a points contract already."),
    "ClearingZeroAmount": _refused("The amount of settlement tokens is zero."),
    "ClearingWrongPeriod": _refused("The settlement names another period than the next one."),
    "ClearingBadBlockRange": _refused("The settlement's block range does not follow the last settled one."),
    "ClearingBadStatement": _refused("The settlement statement's lines are not in partner order."),
    "ClearingIssuedAboveExposure": _refused("The settlement bills a partner more issuance than it has unsettled."),
    "ClearingReversedAbovePending": _refused("The settlement credits a partner more reversals than are pending."),
    "ReentrancyGuardReentrantCall": _refused("The clearing contract refused a re-entrant call."),
    "SafeCastOverflowedUintDowncast": _refused("An amount is too large for the clearing contract."),
    "SafeCastOverflowedUintToInt": _refused("An amount is too large for the clearing contract."),
    "SafeERC20FailedOperation": _refused("A settlement-token transfer failed."),
    "PartnerRegistryMinterTaken": _refused("The minter address belongs to another partner already."),
    "PartnerRegistryNotSuspended": _refused("The partner is not suspended."),
    "PartnerRegistryNotTreasury": _refused("Only the partner's treasury may change this."),
    "PartnerRegistryNothingScheduled": _refused("No change is scheduled for the partner."),
    "PartnerRegistryNoticeNotOver": _refused("The scheduled change's notice period is not over."),
    "PartnerRegistryNoticeOutOfBounds": _refused("The notice period asked for is outside the allowed bounds."),
    "PartnerRegistryZeroAddress": _refused("An address is the zero address."),
    "PartnerRegistryZeroIssuePrice": _refused("The issue price is zero."),
}

# The same error means another thing for another operation.
OPERATION_ERRORS: dict[tuple[Operation, str], Rule] = {
    ("refund", "ERC20InsufficientBalance"): Rule(
        "points-already-spent", "The customer has already spent (or moved) the points this refund would claw back."
    ),
    ("redemption", "ERC20InsufficientBalance"): Rule(
        "insufficient-points",
        "The customer's wallet held fewer points than the redemption when they were to be burned.",
    ),
}

# Reasons the workers write in words (network/reversals.py, gateway/services/burns.py).
WORKER_REASONS: tuple[tuple[str, Rule], ...] = (
    ("the purchase was not minted", Rule("purchase-not-confirmed", "The purchase's points were never minted.")),
    ("not indexed yet", Rule("purchase-not-confirmed", "The batch that minted the purchase was not indexed yet.")),
    ("Earned event was not found", Rule("purchase-not-confirmed", "The purchase is not in its batch's event.")),
    ("consent's nonce was used", CONTRACT_ERRORS["CoalitionPointsNonceUsed"]),
)

NOTHING_DONE: dict[Operation, str] = {
    "purchase": "No points were minted.",
    "refund": "No points were clawed back.",
    "redemption": "No points were burned, and the reward's stock was released.",
}
AGAIN: dict[Operation, str] = {
    "purchase": "post the purchase again under a new purchase_id",
    "refund": "post the refund again under a new refund_id",
    "redemption": "redeem again under a new redemption_id",
}


# What to do next, per problem type; ``{again}`` is how to try once more (AGAIN).
ADVICE: dict[str, str] = {
    FUNDS_EXHAUSTED: "It waited longer than the gateway holds purchases for lack of headroom "
    "(COALITION_HELD_PURCHASE_TIMEOUT_S): deposit funds or ask the operator for a higher issuance limit, then {again}.",
    "partner-suspended": "Once the operator reactivates the partner, {again}.",
    "partner-minter-unknown": "Ask the coalition's operator to install the partner's current minter key, then {again}.",
    "points-already-spent": "The chain cannot take back points the customer no longer holds: settle the refund "
    "with the customer another way.",
    "refund-window-closed": "Its points can no longer be clawed back: settle the refund with the customer another way.",
    "refund-exceeds-purchase": "Other refunds took its points already: list the purchase's refunds.",
    "purchase-not-confirmed": "Wait until GET /v1/purchases/<purchase_id> says confirmed, then {again}.",
    "insufficient-points": "Check the customer's balance, then {again} if it covers the reward.",
    "signature-expired": "Ask the customer to sign a new consent (POST /v1/redemptions/consent), then {again}.",
    "invalid-signature": "Ask the customer to sign a new consent with the wallet that holds the points, then {again}.",
    "nonce-used": "Ask the customer to sign a new consent (POST /v1/redemptions/consent), then {again}.",
    "network-paused": "Nothing moves until the operator resumes it; then {again}.",
    REFUSED: "This is for the coalition's operator to look at: give them the id and the failure_reason.",
}


ERROR_NAME = re.compile(r"\b([A-Z][A-Za-z0-9]*)\(")


def rule_for(operation: Operation, reason: str) -> Rule:
    """The rule of a raw reason: the first custom error it names, else a worker's words, else
    ``transaction-refused``."""
    for name in ERROR_NAME.findall(reason):
        rule = OPERATION_ERRORS.get((operation, name)) or CONTRACT_ERRORS.get(name)
        if rule is not None:
            return rule
    if reason.startswith(FUNDS_EXHAUSTED):
        return Rule(FUNDS_EXHAUSTED, "The partner's issuance headroom was used up.")
    for words, rule in WORKER_REASONS:
        if words in reason:
            return rule
    return _refused("The chain refused the transaction.")


def failure_of(operation: Operation, reason: str | None, *, held: bool = False) -> Failure | None:
    """The problem behind a stored reason (None without one). ``held``: the purchase waits for
    the partner's issuance headroom, it has not failed."""
    if reason is None:
        return None
    if held:
        detail = (
            "The partner's issuance headroom is used up: its deposit (or its issuance limit) does not cover these "
            "points yet. The purchase waits and is minted as soon as a deposit, a settlement or a higher limit makes "
            "room; it fails if it waits longer than COALITION_HELD_PURCHASE_TIMEOUT_S."
        )
        return Failure(FUNDS_EXHAUSTED, PROBLEMS[FUNDS_EXHAUSTED][1], detail)
    rule = rule_for(operation, reason)
    advice = ADVICE[rule.slug].format(again=AGAIN[operation])
    detail = f"{rule.why} {NOTHING_DONE[operation]} {advice}"
    return Failure(rule.slug, PROBLEMS[rule.slug][1], detail)
