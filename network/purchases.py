"""Purchase words and batch Merkle trees, exactly as `contracts/PurchaseBatches.sol` builds them.

A purchase is one 32-byte word: ``customer (160 bits) | seq (48 bits) | points (48 bits)``.
A batch commits to the Merkle root of its minted purchases; a refund proves its purchase
with :func:`merkle_proof`.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_canonical_address

from network.addresses import checksum

MAX_SEQ = (1 << 48) - 1
MAX_POINTS = (1 << 48) - 1


@dataclass(frozen=True, slots=True)
class Purchase:
    """One purchase as the contract sees it."""

    customer: str
    seq: int
    points: int

    def word(self) -> bytes:
        return encode_purchase(self.customer, self.seq, self.points)


def encode_purchase(customer: str, seq: int, points: int) -> bytes:
    """Packs a purchase into its 32-byte word. Raises ValueError for values that do not fit."""
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"seq must be in [0, {MAX_SEQ}], got {seq}")
    if not 0 < points <= MAX_POINTS:
        raise ValueError(f"points must be in [1, {MAX_POINTS}], got {points}")
    address = int.from_bytes(to_canonical_address(customer), "big")
    if address == 0:
        raise ValueError("customer must not be the zero address")
    return ((address << 96) | (seq << 48) | points).to_bytes(32, "big")


def decode_purchase(word: bytes) -> Purchase:
    """Splits a 32-byte purchase word."""
    w = int.from_bytes(bytes(word), "big")
    customer = checksum("0x" + (w >> 96).to_bytes(20, "big").hex())
    return Purchase(customer=customer, seq=(w >> 48) & MAX_SEQ, points=w & MAX_POINTS)


def leaf(word: bytes) -> bytes:
    """The Merkle leaf of a purchase word."""
    return keccak(bytes(word))


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    if not leaves:
        raise ValueError("a batch has at least one purchase")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        levels.append(
            [_hash_pair(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
        )
    return levels


def merkle_root(words: list[bytes]) -> bytes:
    """Root over the words of a batch, in mint order."""
    return _levels([leaf(w) for w in words])[-1][0]


def merkle_proof(words: list[bytes], index: int) -> list[bytes]:
    """Proof that ``words[index]`` is in the batch (empty for a batch of one)."""
    proof = []
    for level in _levels([leaf(w) for w in words])[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


def commitment(partner_id: int, issue_price: int, root: bytes) -> bytes:
    """keccak256(partnerId, issuePrice, root): ``PurchaseBatches.commitment``."""
    return keccak(abi_encode(["uint32", "uint96", "bytes32"], [partner_id, issue_price, root]))


def stored_commitment(partner_id: int, issue_price: int, root: bytes, refund_deadline: int) -> bytes:
    """What the contract stores per batch (``batchCommitment``): the high 192 bits of
    :func:`commitment`, the batch's refund deadline (a Unix time) in the low 64 bits."""
    high = int.from_bytes(commitment(partner_id, issue_price, root), "big") >> 64 << 64
    return (high | refund_deadline).to_bytes(32, "big")
