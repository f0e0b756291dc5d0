"""What the relayer key's burns read and write on chain, apart from sending them: the calldata
of a customer's signed redemption (``redeemWithSignature``; a till capture's, ``CAPTURE_SKU``,
through ``captureWithSignature``, the same consent and event, so that a refund can restore it),
or of many in one transaction (``batch_calldata`` of ``signed_redeem``s: ``redeemBatchWithSignatures``,
which skips a consent it cannot redeem with a ``RedemptionSkipped`` event instead of reverting;
``batch_results`` reads which were redeemed and why the others were skipped from the receipt),
its gas estimate (a burn that
would revert is refused at once, with the decoded reason), and the chain's own record of a
redemption's burn (the ``Redeemed`` event of its ref, whoever relayed it; the consent's nonce
used). Signing, storing, sending and following the burns is the one transaction driver's
(network/transactions.py, kind ``burn``); what a burn's fate does to its redemption is the burn
protocol's (gateway/services/burns.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic, function_signature_to_4byte_selector, keccak
from hexbytes import HexBytes
from web3 import Web3

from network.contracts import CoalitionContracts
from network.errors import ChainError
from network.revert import decode_error_data
from network.signatures import compact_signature
from network.store import Redemption

REDEEM_ARGS = ["address", "uint32", "uint256", "bytes32", "uint256", "uint256", "bytes"]
REDEEM_SELECTOR = function_signature_to_4byte_selector(f"redeemWithSignature({','.join(REDEEM_ARGS)})")
CAPTURE_SELECTOR = function_signature_to_4byte_selector(f"captureWithSignature({','.join(REDEEM_ARGS)})")
CAPTURE_SKU = "points-payment"  # the sku of a till capture's redemption (it has no reward)
# CoalitionPoints.SignedRedeem: customer, partnerId, capture, points, ref, nonce, deadline, r, vs
SIGNED_REDEEM = "(address,uint32,bool,uint256,bytes32,uint256,uint256,bytes32,bytes32)"
BATCH_SELECTOR = function_signature_to_4byte_selector(f"redeemBatchWithSignatures({SIGNED_REDEEM}[])")
# RedemptionSkipped's reason codes (CoalitionPoints.SKIP_*), as the gateway names them
SKIP_REASONS = {
    1: "expired",  # the consent's deadline passed
    2: "nonce-used",  # redeemed before (by this batch, another transaction, anyone's relay) or cancelled
    3: "bad-signature",  # not the customer's signature of exactly these fields
    4: "partner-not-active",  # unknown or suspended partner
    5: "invalid-points",  # zero points, or a capture too large for its slot
    6: "ref-used",  # a till capture of the same (partner, customer, ref) before
    7: "insufficient-balance",  # the customer's points not expired are fewer
}


class BurnRefused(ChainError):
    """The burn would revert (or did): the reason is final, nothing was burned."""


def is_capture(r: Redemption) -> bool:
    """A till capture's redemption (burned by ``captureWithSignature``, restorable) rather than a reward's."""
    return r.reward_id is None and r.sku == CAPTURE_SKU


def signed_redeem(r: Redemption) -> tuple[Any, ...]:
    """The redemption as one ``SignedRedeem`` of a batch. BurnRefused for a signature the contract
    refuses in any form (not 65 bytes, or not canonical): nothing could ever burn it."""
    try:
        rs, vs = compact_signature(bytes(r.signature))
    except ValueError as exc:
        raise BurnRefused(f"the consent's signature cannot be relayed: {exc}") from None
    return (r.customer_wallet, r.partner_id, is_capture(r), r.points, HexBytes(r.ref), int(r.nonce), r.deadline, rs, vs)


def batch_calldata(items: Sequence[tuple[Any, ...]]) -> bytes:
    """``redeemBatchWithSignatures(items)``: ``items`` are ``signed_redeem`` tuples, in the order the
    contract redeems them (a later one sees the balance the earlier ones left)."""
    return BATCH_SELECTOR + abi_encode([f"{SIGNED_REDEEM}[]"], [list(items)])


REDEEMED_TOPIC = "0x" + keccak(b"Redeemed(uint32,address,bytes32,uint256,uint96)").hex()
SKIPPED_TOPIC = "0x" + keccak(b"RedemptionSkipped(uint32,address,bytes32,uint256,uint8)").hex()


class BatchResults(NamedTuple):
    """What a mined batch did with each consent, by its ref (``0x``-hex, lower case): redeemed, or
    skipped with the reason's name (``SKIP_REASONS``)."""

    redeemed: set[str]
    skipped: dict[str, str]


def batch_results(logs: Sequence[dict[str, Any]], *, points_address: str) -> BatchResults:
    """From a mined batch's raw receipt logs (``Receipt.logs``): the refs it redeemed and those it
    skipped, with why. Only the points contract's logs count."""
    redeemed: set[str] = set()
    skipped: dict[str, str] = {}
    points = points_address.lower()
    for raw in logs:
        topics = [t if isinstance(t, str) else "0x" + bytes(t).hex() for t in raw["topics"]]
        if len(topics) != 4 or str(raw["address"]).lower() != points:
            continue
        if topics[0] == REDEEMED_TOPIC:
            redeemed.add(topics[3].lower())
        elif topics[0] == SKIPPED_TOPIC:
            data = raw["data"] if isinstance(raw["data"], str) else "0x" + bytes(raw["data"]).hex()
            code = int(data[66:130], 16)
            skipped[topics[3].lower()] = SKIP_REASONS.get(code, f"reason {code}")
    return BatchResults(redeemed, skipped)


class Redeemed(NamedTuple):
    """Where a redemption's ``Redeemed`` event is: the transaction that burned its points."""

    tx_hash: str
    block_number: int


class Relayer:
    """The points contract as the relayer key calls it for customers' signed redemptions."""

    def __init__(self, w3: Web3, contracts: CoalitionContracts, account: LocalAccount) -> None:
        self.w3 = w3
        self.points = contracts.points
        self.points_address = str(contracts.points.address)
        self.account = account
        self.address = account.address
        self.from_block = contracts.book.deployed_at_block
        redeemed = next(i for i in self.points.abi if i.get("type") == "event" and i.get("name") == "Redeemed")
        self._redeemed_topic = "0x" + event_abi_to_log_topic(redeemed).hex()

    def calldata(self, r: Redemption) -> bytes:
        """``redeemWithSignature(...)`` (``captureWithSignature(...)`` for a till capture) encoded
        here (the selector once): web3's contract function would look the ABI up and hash the
        signature again for every burn."""
        args = [
            r.customer_wallet,
            r.partner_id,
            r.points,
            HexBytes(r.ref),
            int(r.nonce),
            r.deadline,
            bytes(r.signature),
        ]
        selector = CAPTURE_SELECTOR if is_capture(r) else REDEEM_SELECTOR
        return selector + abi_encode(REDEEM_ARGS, args)

    def estimate_gas(self, r: Redemption) -> int:
        """Gas of the burn, or BurnRefused with the decoded reason if it would revert now. A bare
        ``eth_estimateGas`` request: the node's error comes back as it is, its revert data decoded here."""
        return self.estimate_data_gas(self.calldata(r))

    def estimate_data_gas(self, data: bytes) -> int:
        """``estimate_gas`` of any calldata of the points contract (a batch's: ``batch_calldata``)."""
        tx = {"from": self.address, "to": self.points_address, "data": "0x" + data.hex()}
        reply = self.w3.provider.make_request("eth_estimateGas", [tx])  # type: ignore[arg-type]
        error = reply.get("error")
        if error is None:
            return int(reply["result"], 16)
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        data = error.get("data") if isinstance(error, dict) else None
        if isinstance(data, str) and data.startswith("0x"):
            raise BurnRefused(decode_error_data(bytes.fromhex(data[2:])))
        if "revert" in message.lower():
            raise BurnRefused(message)
        raise ChainError(f"estimate failed: {message}")

    def consent_used(self, r: Redemption) -> bool:
        """The consent's nonce is used on chain (by a burn of it, or of another of its wallet's)."""
        return bool(self.points.functions.redeemNonceUsed(r.customer_wallet, int(r.nonce)).call())

    def find_redeemed(self, r: Redemption) -> Redeemed | None:
        """The ``Redeemed`` event of this redemption's ref, by whichever transaction burned it."""
        topics = [
            self._redeemed_topic,
            "0x" + r.partner_id.to_bytes(32, "big").hex(),
            "0x" + bytes(12).hex() + r.customer_wallet[2:].lower(),
            r.ref,
        ]
        logs = self.w3.eth.get_logs(
            {"address": self.points.address, "fromBlock": self.from_block, "toBlock": "latest", "topics": topics}
        )
        if not logs:
            return None
        log = logs[0]
        return Redeemed("0x" + bytes(log["transactionHash"]).hex(), int(log["blockNumber"]))
