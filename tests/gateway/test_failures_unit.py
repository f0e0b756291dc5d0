"""Unit tests of gateway/failures.py: every custom error the contracts can revert with, and every
reason the workers write, maps to a documented problem type with a sentence a person reads.

The errors are enumerated from the compiled contracts (build/contracts, every artifact of a
source under contracts/, their inherited errors included), so a new error cannot be forgotten;
each is encoded as the chain would revert with it and decoded by network/revert.py, the very
path that writes ``failure_reason``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector

from gateway.failures import ADVICE, CONTRACT_ERRORS, OPERATION_ERRORS, Operation, failure_of
from gateway.problem_types import PROBLEMS
from network.contracts import abi_type
from network.headroom import held_reason
from network.revert import decode_error_data

BUILD = Path(__file__).resolve().parents[2] / "build" / "contracts"
OPERATIONS: tuple[Operation, ...] = get_args(Operation)


def contract_errors() -> dict[str, dict[str, Any]]:
    """Every custom error in the ABIs of our contracts (name -> ABI entry)."""
    errors: dict[str, dict[str, Any]] = {}
    for path in sorted(BUILD.glob("*.json")):
        artifact = json.loads(path.read_text())
        if not str(artifact.get("sourcePath", "")).startswith("contracts/"):
            continue  # a library of OpenZeppelin's: its errors count where our contracts inherit them
        for item in artifact["abi"]:
            if item["type"] == "error":
                errors[item["name"]] = item
    return errors


ERRORS = contract_errors()


def sample(kind: str) -> Any:
    if kind == "address":
        return "0x" + "11" * 20
    if kind.startswith(("uint", "int")):
        return 7
    if kind.startswith("bytes"):
        return b"\x01" * (int(kind[5:]) if kind[5:] else 3)
    if kind == "string":
        return "x"
    raise AssertionError(f"no sample for {kind}")


def reverted_with(item: dict[str, Any]) -> str:
    """The ``failure_reason`` a worker stores when the chain reverts with this error."""
    types = [abi_type(i) for i in item["inputs"]]
    selector = function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})")
    return decode_error_data(selector + abi_encode(types, [sample(t) for t in types]))


def test_unit_the_contracts_have_custom_errors_to_map() -> None:
    assert len(ERRORS) > 40 and "ClearingIssuanceOverFunds" in ERRORS and "EnforcedPause" in ERRORS


def test_unit_every_custom_error_of_the_contracts_has_a_rule_and_no_rule_is_stale() -> None:
    assert sorted(set(ERRORS) - set(CONTRACT_ERRORS)) == [], "map these errors in gateway/failures.py"
    assert sorted(set(CONTRACT_ERRORS) - set(ERRORS)) == [], "these errors are in no contract any more"
    assert {name for _, name in OPERATION_ERRORS} <= set(ERRORS)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("name", sorted(ERRORS))
def test_unit_every_custom_error_maps_to_a_documented_problem_with_a_sentence(operation: Operation, name: str) -> None:
    reason = reverted_with(ERRORS[name])
    assert reason.startswith(f"{name}(")  # as network/revert.py writes it
    for stored in (reason, f"burn refused: reverted in 0x{'ab' * 32}: {reason}"):  # as the relayer wraps it
        failure = failure_of(operation, stored)
        assert failure is not None
        assert failure.slug in PROBLEMS and failure.type == f"/problems/{failure.slug}"
        assert failure.title == PROBLEMS[failure.slug][1]
        assert name not in failure.detail, "the detail is for a person: the raw error stays in failure_reason"
        assert re.fullmatch(r"[A-Z].*\.", failure.detail) and len(failure.detail.split()) >= 8
        assert failure.public() == {"type": failure.type, "title": failure.title, "detail": failure.detail}


def test_unit_every_problem_type_of_a_failure_has_its_advice_and_is_in_the_catalogue() -> None:
    slugs = {rule.slug for rule in CONTRACT_ERRORS.values()} | {rule.slug for rule in OPERATION_ERRORS.values()}
    assert slugs <= set(ADVICE) and set(ADVICE) <= set(PROBLEMS)


def reason_of(name: str) -> str:
    return reverted_with(ERRORS[name])


@pytest.mark.parametrize(
    ("operation", "reason", "slug"),
    [
        ("purchase", reason_of("ClearingIssuanceOverFunds"), "partner-funds-exhausted"),
        ("purchase", reason_of("ClearingIssuanceOverLimit"), "partner-funds-exhausted"),
        ("purchase", reason_of("PartnerRegistryNotActive"), "partner-suspended"),
        ("purchase", reason_of("PartnerRegistryUnknownMinter"), "partner-minter-unknown"),
        ("purchase", reason_of("EnforcedPause"), "network-paused"),
        ("purchase", reason_of("ERC20InsufficientBalance"), "transaction-refused"),
        ("refund", reason_of("ERC20InsufficientBalance"), "points-already-spent"),
        ("refund", reason_of("CoalitionPointsRefundWindowClosed"), "refund-window-closed"),
        ("refund", reason_of("CoalitionPointsReversalExceedsPurchase"), "refund-exceeds-purchase"),
        ("redemption", reason_of("ERC20InsufficientBalance"), "insufficient-points"),
        ("redemption", reason_of("CoalitionPointsExpiredSignature"), "signature-expired"),
        ("redemption", reason_of("CoalitionPointsInvalidSigner"), "invalid-signature"),
        ("redemption", reason_of("CoalitionPointsNonceUsed"), "nonce-used"),
        ("redemption", reason_of("PartnerRegistryNotActive"), "partner-suspended"),
        # what the workers write in words
        (
            "purchase",
            "partner-funds-exhausted: held since 2026-11-23T10:00:00+00:00 or before for lack of the partner's "
            "issuance headroom; not minted",  # network/outbox.py fail_held_since
            "partner-funds-exhausted",
        ),
        ("refund", "the purchase was not minted", "purchase-not-confirmed"),  # network/reversals.py
        ("refund", "the batch that minted the purchase is not indexed yet", "purchase-not-confirmed"),
        ("refund", "batch 3's Earned event was not found or lacks the purchase", "purchase-not-confirmed"),
        ("redemption", "burn refused: the consent's nonce was used by another transaction", "nonce-used"),
        ("purchase", "not a purchase word: customer is not an address", "transaction-refused"),
        ("purchase", "not in the receipt of 0xabc", "transaction-refused"),
        ("purchase", "reverted with unknown data 0x12345678", "transaction-refused"),
        ("redemption", "burn refused: execution reverted", "transaction-refused"),
    ],
)
def test_unit_a_reason_maps_to_its_problem(operation: Operation, reason: str, slug: str) -> None:
    failure = failure_of(operation, reason)
    assert failure is not None and failure.slug == slug, failure


def test_unit_a_held_purchase_says_it_waits_for_headroom() -> None:
    failure = failure_of("purchase", held_reason(1234), held=True)
    assert failure is not None and failure.slug == "partner-funds-exhausted"
    assert "waits" in failure.detail and "minted as soon as" in failure.detail


def test_unit_no_reason_is_no_failure() -> None:
    assert failure_of("purchase", None) is None
    assert failure_of("refund", None) is None
