"""The relayer key's transactions: customers' signed redemptions (``redeemWithSignature``)
sent, followed to their receipt and, after a crash, found again on chain.

One key, many worker processes: the caller holds the key's Redis lease while it signs, sends
and waits, so two workers never race on its nonce. Under one hold the caller may sign several
burns on consecutive nonces (``next_nonce`` once, then ``sign(..., nonce=n + i, fees=...)``) and
have them in flight together. This module does the chain side only; what is stored when is the
burn protocol's business (gateway/services/burns.py). Broadcasts go through
``network.transactions.send_raw``, the one reader of the node's refusals; an unreachable node is
a TransientRpcError (the chain handle's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic, function_signature_to_4byte_selector
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound

from network.contracts import CoalitionContracts
from network.errors import ChainError
from network.revert import decode_error_data, decode_revert
from network.store import Redemption
from network.transactions import Sent, send_raw, sign_transaction

GWEI = 10**9
REDEEM_ARGS = ["address", "uint32", "uint256", "bytes32", "uint256", "uint256", "bytes"]
REDEEM_SELECTOR = function_signature_to_4byte_selector(f"redeemWithSignature({','.join(REDEEM_ARGS)})")


class BurnRefused(ChainError):
    """The burn would revert (or did): the reason is final, nothing was burned."""


@dataclass(frozen=True, slots=True)
class SignedBurn:
    tx_hash: str
    raw_tx: bytes
    nonce: int


@dataclass(frozen=True, slots=True)
class Fees:
    max_fee: int
    tip: int


@dataclass(frozen=True, slots=True)
class BurnReceipt:
    tx_hash: str
    block_number: int
    succeeded: bool


class Relayer:
    def __init__(self, w3: Web3, contracts: CoalitionContracts, account: LocalAccount, chain_id: int) -> None:
        self.w3 = w3
        self.points = contracts.points
        self.account = account
        self.address = account.address
        self.chain_id = chain_id
        self.from_block = contracts.book.deployed_at_block
        redeemed = next(i for i in self.points.abi if i.get("type") == "event" and i.get("name") == "Redeemed")
        self._redeemed_topic = "0x" + event_abi_to_log_topic(redeemed).hex()

    def _fn(self, r: Redemption) -> Any:
        return self.points.functions.redeemWithSignature(
            r.customer_wallet, r.partner_id, r.points, HexBytes(r.ref), int(r.nonce), r.deadline, bytes(r.signature)
        )

    def calldata(self, r: Redemption) -> bytes:
        """``redeemWithSignature(...)`` encoded here (the selector once): web3's contract
        function would look the ABI up and hash the signature again for every burn."""
        args = [
            r.customer_wallet,
            r.partner_id,
            r.points,
            HexBytes(r.ref),
            int(r.nonce),
            r.deadline,
            bytes(r.signature),
        ]
        return REDEEM_SELECTOR + abi_encode(REDEEM_ARGS, args)

    def estimate_gas(self, r: Redemption) -> int:
        """Gas of the burn, or BurnRefused with the decoded reason if it would revert now. A bare
        ``eth_estimateGas`` request: through web3 each would cost two ``eth_chainId`` more."""
        tx = {"from": self.address, "to": self.points.address, "data": "0x" + self.calldata(r).hex()}
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

    def next_nonce(self) -> int:
        """The key's next nonce as the node counts it, pending transactions included."""
        return int(self.w3.eth.get_transaction_count(self.address, "pending"))

    def fees(self) -> Fees:
        """EIP-1559 fees from the latest block: twice its base fee plus the tip, as cap."""
        block = self.w3.eth.get_block("latest")
        base_fee = int(block.get("baseFeePerGas", 0) or 0)
        return Fees(max_fee=2 * base_fee + GWEI, tip=GWEI)

    def sign(self, r: Redemption, gas: int, *, nonce: int | None = None, fees: Fees | None = None) -> SignedBurn:
        """Signs the burn on ``nonce`` (default: the key's next, as the node counts it) with
        ``fees`` (default: from the latest block)."""
        nonce = self.next_nonce() if nonce is None else nonce
        fees = fees or self.fees()
        data = self.calldata(r)
        signed = sign_transaction(
            self.account,
            chain_id=self.chain_id,
            nonce=nonce,
            to=self.points.address,
            data=data,
            gas=gas * 5 // 4 + 10_000,
            max_fee=fees.max_fee,
            priority=fees.tip,
        )
        return SignedBurn(signed.tx_hash, signed.raw_tx, nonce)

    def broadcast(self, raw_tx: bytes) -> None:
        """Sends the stored bytes; a node that has them already, or whose chain has their nonce
        taken (the receipt, or the chain nonce having passed it, tells by whom), is no error."""
        if send_raw(self.w3, raw_tx) is Sent.UNDERPRICED:
            raise ChainError("node refused the burn: replacement transaction underpriced")

    def receipt(self, tx_hash: str) -> BurnReceipt | None:
        reply = self.w3.provider.make_request("eth_getTransactionReceipt", [tx_hash])
        if "error" in reply:
            raise ChainError(f"eth_getTransactionReceipt({tx_hash}) failed: {reply['error']}")
        raw = reply.get("result")
        if not raw:
            return None
        return BurnReceipt(raw["transactionHash"], int(raw["blockNumber"], 16), int(raw["status"], 16) == 1)

    def wait_receipt(self, tx_hash: str, timeout_s: float, keep_alive: Any) -> BurnReceipt | None:
        """Polls for the receipt, calling ``keep_alive()`` (the lease's refresh) as it waits."""
        deadline = time.monotonic() + timeout_s
        delay = 0.005
        while True:
            found = self.receipt(tx_hash)
            if found is not None or time.monotonic() > deadline:
                return found
            keep_alive()
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        return True

    def mined_nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.address, "latest"))

    def consent_used(self, r: Redemption) -> bool:
        return bool(self.points.functions.redeemNonceUsed(r.customer_wallet, int(r.nonce)).call())

    def find_redeemed(self, r: Redemption) -> BurnReceipt | None:
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
        return BurnReceipt("0x" + bytes(log["transactionHash"]).hex(), int(log["blockNumber"]), True)

    def revert_reason(self, r: Redemption, block_number: int) -> str:
        """Why the mined burn reverted: its call replayed on the block before its own."""
        try:
            self._fn(r).call({"from": self.address}, block_identifier=max(block_number - 1, 0))
        except Exception as exc:
            return decode_revert(exc)
        return "reverted (no reason when replayed)"
