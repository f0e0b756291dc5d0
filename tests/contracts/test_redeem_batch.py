"""CoalitionPoints: a batch of signed redemptions (``redeemBatchWithSignatures``), each consent
redeemed exactly as ``redeemWithSignature`` / ``captureWithSignature`` would, or skipped with a
``RedemptionSkipped`` event and its reason, and cancelled consents (``cancelRedeemNonces``,
``cancelRedeemWithSignature``)."""

from __future__ import annotations

import pytest
from brownie import accounts, chain
from eth_account import Account
from eth_utils import keccak

from network.relayer import SKIP_REASONS, batch_calldata, batch_results
from network.signatures import (
    SEQUENTIAL_NONCE_BASE,
    RedeemConsent,
    compact_signature,
    sign_cancel_redeem,
    sign_redeem,
)

RATE = 8_000  # conftest's default reimbursement rate
EXPIRED, NONCE_USED, BAD_SIGNATURE, PARTNER_NOT_ACTIVE, INVALID_POINTS, REF_USED, INSUFFICIENT = range(1, 8)


def ref(tag: str) -> bytes:
    return keccak(tag.encode())


@pytest.fixture
def holders(points, pid_a, partner_a, purchase):
    """Three customers with keys of their own, holding 1,000 points of partner A each."""
    keys = [Account.from_key(keccak(b"batch-holder" + bytes([i]))) for i in range(3)]
    points.earnBatch([purchase(k.address, 1_000) for k in keys], {"from": partner_a})
    return keys


@pytest.fixture
def item(points):
    """item(key, partner, points, tag, nonce, capture=False, deadline=None, signer=None, **consent changes)
    -> a SignedRedeem tuple, signed by ``signer`` (default: the customer's key)."""

    def make(key, partner, amount, tag, nonce, capture=False, deadline=None, signer=None, customer=None):
        deadline = chain[-1].timestamp + 3600 if deadline is None else deadline
        consent = RedeemConsent(customer or key.address, partner, amount, ref(tag), nonce, deadline)
        signature = sign_redeem((signer or key).key, consent, chain_id=chain.id, points_address=points.address)
        r, vs = compact_signature(signature)
        return (consent.customer, partner, capture, amount, consent.ref, nonce, deadline, r, vs)

    return make


def skips(tx) -> list[tuple[str, int]]:
    return (
        [("0x" + bytes(e["ref"]).hex(), e["reason"]) for e in tx.events["RedemptionSkipped"]]
        if ("RedemptionSkipped" in tx.events)
        else []
    )


def test_a_batch_redeems_each_consent_as_the_single_call_would(points, pid_a, holders, item, stranger):
    n = SEQUENTIAL_NONCE_BASE
    batch = [item(k, pid_a, 100 + i, f"r{i}", n) for i, k in enumerate(holders)]
    supply = points.totalSupply()
    tx = points.redeemBatchWithSignatures(batch, {"from": stranger})
    assert tx.return_value == 3
    assert [dict(e) for e in tx.events["Redeemed"]] == [
        {"partnerId": pid_a, "customer": k.address, "ref": "0x" + ref(f"r{i}").hex(), "points": 100 + i,
         "reimbursementRate": RATE}
        for i, k in enumerate(holders)
    ]  # fmt: skip
    burns = [e for e in tx.events["Transfer"]]
    assert [(e["from"], e["to"], e["value"]) for e in burns] == [
        (k.address, "0x0000000000000000000000000000000000000000", 100 + i) for i, k in enumerate(holders)
    ]
    assert [points.balanceOf(k.address) for k in holders] == [900, 899, 898]
    assert points.totalSupply() == supply - 303
    assert all(points.redeemNonceUsed(k.address, n) for k in holders)
    assert not points.redeemNonceUsed(holders[0].address, n + 1)
    assert "RedemptionSkipped" not in tx.events


def test_each_invalid_consent_is_skipped_with_its_reason_and_changes_nothing(
    points, registry, operator, pid_a, pid_b, holders, item, stranger, advance
):
    a, b, c = holders
    n = SEQUENTIAL_NONCE_BASE
    points.redeemBatchWithSignatures([item(a, pid_a, 10, "used", n)], {"from": stranger})
    registry.suspend(pid_b, {"from": operator})
    now = chain[-1].timestamp
    batch = [
        item(a, pid_a, 10, "expired", n + 1, deadline=now - 1),
        item(a, pid_a, 10, "replayed", n),  # the nonce of an earlier transaction
        item(a, pid_a, 10, "forged", n + 2, signer=b),  # someone else's signature
        item(b, pid_b, 10, "suspended", n),
        item(b, 999, 10, "unknown partner", n),
        item(b, pid_a, 0, "zero", n),
        item(c, pid_a, 1_001, "too much", n),
        item(c, pid_a, 600, "fits", n + 1),
        item(c, pid_a, 600, "no longer fits", n + 2),  # the batch's earlier burn left 400
        item(c, pid_a, 10, "same nonce in the batch", n + 1),
    ]
    balances = [points.balanceOf(k.address) for k in holders]
    tx = points.redeemBatchWithSignatures(batch, {"from": stranger})
    assert tx.return_value == 1
    assert skips(tx) == [
        ("0x" + ref(tag).hex(), reason)
        for tag, reason in [
            ("expired", EXPIRED),
            ("replayed", NONCE_USED),
            ("forged", BAD_SIGNATURE),
            ("suspended", PARTNER_NOT_ACTIVE),
            ("unknown partner", PARTNER_NOT_ACTIVE),
            ("zero", INVALID_POINTS),
            ("too much", INSUFFICIENT),
            ("no longer fits", INSUFFICIENT),
            ("same nonce in the batch", NONCE_USED),
        ]
    ]
    assert [e["nonce"] for e in tx.events["RedemptionSkipped"]][:3] == [n + 1, n, n + 2]
    assert [points.balanceOf(k.address) for k in holders] == [balances[0], balances[1], balances[2] - 600]
    # a skipped consent's nonce stays free: the expired, forged and insufficient ones are unused
    assert not points.redeemNonceUsed(a.address, n + 1) and not points.redeemNonceUsed(a.address, n + 2)
    assert not points.redeemNonceUsed(b.address, n) and not points.redeemNonceUsed(c.address, n)
    assert points.redeemNonceUsed(c.address, n + 1)


def test_expired_points_do_not_count_and_are_not_burned_by_a_skip(points, pid_a, holders, item, stranger, advance):
    advance(points.expiryWindow() + 1)
    tx = points.redeemBatchWithSignatures([item(holders[0], pid_a, 10, "late", 5)], {"from": stranger})
    assert skips(tx) == [("0x" + ref("late").hex(), INSUFFICIENT)]
    assert "Expired" not in tx.events and points.balanceOf(holders[0].address) == 1_000


def test_each_consent_gets_its_own_partners_rate(
    points, registry, operator, make_partner, partner_c, treasury_c, pid_a, holders, item, stranger
):
    pid_c = make_partner(partner_c, treasury_c, reimbursement_rate=5_000)
    registry.suspend(pid_c, {"from": operator})
    registry.reactivate(pid_c, {"from": operator})
    a, b, _ = holders
    tx = points.redeemBatchWithSignatures(
        [item(a, pid_a, 1, "a1", 1), item(a, pid_c, 1, "c", 2), item(b, 999, 1, "x", 1), item(b, pid_a, 1, "a2", 2)],
        {"from": stranger},
    )
    assert [(e["partnerId"], e["reimbursementRate"]) for e in tx.events["Redeemed"]] == [
        (pid_a, RATE),
        (pid_c, 5_000),
        (pid_a, RATE),  # an unknown partner between them does not leave its rate behind
    ]


def test_captures_in_a_batch_are_restorable_and_capture_a_ref_once(points, pid_a, partner_a, holders, item, stranger):
    a, b, _ = holders
    tx = points.redeemBatchWithSignatures(
        [item(a, pid_a, 300, "till", 1, capture=True), item(a, pid_a, 10, "till", 2, capture=True),
         item(b, pid_a, 10, "till", 1, capture=False)],
        {"from": stranger},
    )  # fmt: skip
    assert tx.return_value == 2
    assert skips(tx) == [("0x" + ref("till").hex(), REF_USED)]
    assert [int(v) for v in points.restorableOf(pid_a, a.address, ref("till"))] == [300, RATE]
    # a plain redemption stores nothing
    assert [int(v) for v in points.restorableOf(pid_a, b.address, ref("till"))] == [0, 0]
    restored = points.restore(ref("till"), a.address, 100, ref("refund"), {"from": partner_a})
    assert restored.events["Restored"]["points"] == 100


def test_the_single_calls_refuse_what_a_batch_redeemed(points, pid_a, holders, item, stranger, reverts_with):
    a = holders[0]
    deadline = chain[-1].timestamp + 3600
    consent = RedeemConsent(a.address, pid_a, 10, ref("once"), 7, deadline)
    signature = sign_redeem(a.key, consent, chain_id=chain.id, points_address=points.address)
    r, vs = compact_signature(signature)
    signed = (a.address, pid_a, False, 10, ref("once"), 7, deadline, r, vs)
    points.redeemBatchWithSignatures([signed], {"from": stranger})
    with reverts_with("CoalitionPointsNonceUsed", a.address, 7):
        points.redeemWithSignature(a.address, pid_a, 10, ref("once"), 7, deadline, signature, {"from": stranger})


def test_an_empty_batch_or_a_paused_token_reverts(points, operator, pid_a, holders, item, stranger, reverts_with):
    with reverts_with("CoalitionPointsEmptyBatch"):
        points.redeemBatchWithSignatures([], {"from": stranger})
    batch = [item(holders[0], pid_a, 1, "p", 1)]
    points.pause({"from": operator})
    with reverts_with("EnforcedPause"):
        points.redeemBatchWithSignatures(batch, {"from": stranger})


def test_a_customer_cancels_consents_of_its_own(points, pid_a, holders, item, stranger, reverts_with):
    customer = accounts.add()
    accounts[0].transfer(customer, 10**17)
    word = SEQUENTIAL_NONCE_BASE >> 8
    tx = points.cancelRedeemNonces(word, 0b110, {"from": customer})
    assert dict(tx.events["RedeemNoncesCancelled"]) == {"customer": customer.address, "word": word, "mask": 6}
    assert [points.redeemNonceUsed(customer.address, SEQUENTIAL_NONCE_BASE + i) for i in range(4)] == [
        False,
        True,
        True,
        False,
    ]
    with reverts_with("CoalitionPointsEmptyCancel"):
        points.cancelRedeemNonces(word, 0, {"from": customer})


def test_a_signed_cancel_voids_one_consent(points, pid_a, holders, item, stranger, reverts_with):
    a = holders[0]
    n = SEQUENTIAL_NONCE_BASE + 3
    deadline = chain[-1].timestamp + 3600

    def cancel(signer=a, nonce=n, until=deadline):
        sig = sign_cancel_redeem(signer.key, a.address, nonce, until, chain_id=chain.id, points_address=points.address)
        return points.cancelRedeemWithSignature(a.address, nonce, until, sig, {"from": stranger})

    with reverts_with("CoalitionPointsInvalidSigner", holders[1].address, a.address):
        cancel(signer=holders[1])
    with reverts_with("CoalitionPointsExpiredSignature", chain[-1].timestamp - 1):
        cancel(until=chain[-1].timestamp - 1)
    tx = cancel()
    assert dict(tx.events["RedeemNoncesCancelled"]) == {"customer": a.address, "word": n >> 8, "mask": 1 << (n & 255)}
    batch = points.redeemBatchWithSignatures([item(a, pid_a, 10, "cancelled", n)], {"from": stranger})
    assert skips(batch) == [("0x" + ref("cancelled").hex(), NONCE_USED)]
    with reverts_with("CoalitionPointsNonceUsed", a.address, n):
        cancel()  # once is enough: a second cancel says it is used


def test_the_relayers_calldata_and_receipt_reading(points, pid_a, holders, item, stranger):
    """network/relayer.py builds the batch as raw calldata and reads the receipt's logs back."""
    a, b, _ = holders
    batch = [item(a, pid_a, 10, "ok", 1), item(b, pid_a, 5_000, "short", 1)]
    tx = stranger.transfer(points.address, 0, data="0x" + batch_calldata(batch).hex(), gas_limit=2_000_000)
    logs = [
        {"address": log["address"], "topics": [t.hex() if isinstance(t, str) else "0x" + bytes(t).hex() for t in
                                               log["topics"]], "data": "0x" + bytes(log["data"]).hex()}
        for log in chain.get_transaction(tx.txid).logs
    ]  # fmt: skip
    results = batch_results(logs, points_address=points.address)
    assert results.redeemed == {"0x" + ref("ok").hex()}
    assert results.skipped == {"0x" + ref("short").hex(): SKIP_REASONS[INSUFFICIENT]}
    assert batch_results(logs, points_address=stranger.address) == (set(), {})


def test_a_non_canonical_signature_cannot_be_compacted():
    with pytest.raises(ValueError):
        compact_signature(b"\x01" * 64)
    with pytest.raises(ValueError):
        compact_signature(b"\x01" * 32 + b"\xff" * 32 + b"\x1b")  # s in the upper half


@pytest.mark.parametrize("capture", [False, True])
def test_a_batch_leaves_the_same_logs_and_state_as_the_single_call(points, pid_a, holders, stranger, capture):
    """What settlement, the indexer and the chain-only recomputation read of a redemption (its
    Transfer and Redeemed logs, topics and data) and what it leaves (balance, nonce, a capture's
    restorable slot) are the same whether it was relayed alone or in a batch."""
    a = holders[0]
    consent = RedeemConsent(a.address, pid_a, 123, ref("same"), SEQUENTIAL_NONCE_BASE, chain[-1].timestamp + 3600)
    signature = sign_redeem(a.key, consent, chain_id=chain.id, points_address=points.address)
    args = (a.address, pid_a, 123, consent.ref, consent.nonce, consent.deadline)

    def outcome(tx) -> tuple:
        logs = [(log["address"], [bytes(t) for t in log["topics"]], bytes(log["data"])) for log in tx.logs]
        state = (
            points.balanceOf(a.address),
            points.totalSupply(),
            points.redeemNonceUsed(a.address, consent.nonce),
            tuple(points.restorableOf(pid_a, a.address, consent.ref)),
        )
        return logs, state

    chain.snapshot()
    single = points.captureWithSignature if capture else points.redeemWithSignature
    alone = outcome(chain.get_transaction(single(*args, signature, {"from": stranger}).txid))
    chain.revert()
    r, vs = compact_signature(signature)
    batch = [(a.address, pid_a, capture, 123, consent.ref, consent.nonce, consent.deadline, r, vs)]
    batched = outcome(chain.get_transaction(points.redeemBatchWithSignatures(batch, {"from": stranger}).txid))
    assert batched == alone
