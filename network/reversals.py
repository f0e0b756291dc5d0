"""The reversal outbox: refunds whose points the issuing partner's minter claws back on chain.

A reversal is written by the gateway in the refund's database transaction (so an accepted
refund is never lost) and sent by the partner's sender after its earn batches
(network/sender.py): one ``CoalitionPoints.reverse`` transaction per reversal, signed and
stored before it is broadcast like every transaction of the key. The contract caps what is
reversed per purchase (``reversedPoints`` ≤ minted), so a resend after a crash can only
revert, never claw back twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from sqlalchemy import select
from sqlalchemy.orm import Session

from network.contracts import DecodedLog
from network.outbox_flow import OutboxFlow
from network.outcomes import refunds_settled
from network.purchases import encode_purchase, merkle_proof
from network.store import (
    ChainEvent,
    ChainTransaction,
    LedgerEntry,
    OutboxPurchase,
    OutboxReversal,
    PurchaseStatus,
    ReversalStatus,
)

KIND = "reverse"
REVERSE_SELECTOR = function_signature_to_4byte_selector("reverse(uint256,bytes32,uint96,bytes32[],uint256)")


def enqueue_reversal(
    session: Session, *, partner_id: int, purchase_outbox_id: int, seq: int, customer: str, points: int
) -> OutboxReversal:
    """Adds a reversal to the caller's transaction (the caller commits)."""
    if points <= 0:
        raise ValueError("a reversal claws back at least one point")
    item = OutboxReversal(
        partner_id=partner_id,
        purchase_outbox_id=purchase_outbox_id,
        seq=seq,
        customer=customer,
        points=points,
        status=ReversalStatus.QUEUED,
    )
    session.add(item)
    session.flush()
    return item


@dataclass(frozen=True, slots=True)
class EarnedBatch:
    """What a batch's ``Earned`` event says: enough to prove one of its purchases."""

    batch_id: int
    issue_price: int
    words: list[bytes]


class ReversalNotReady(Exception):
    """The purchase's batch cannot be proven (not minted by us, or its event is not found)."""


def encode_reverse(batch_id: int, word: bytes, issue_price: int, proof: list[bytes], points: int) -> bytes:
    """Calldata of ``reverse(batchId, purchase, issuePrice, proof, points)``."""
    args = abi_encode(
        ["uint256", "bytes32", "uint96", "bytes32[]", "uint256"], [batch_id, word, issue_price, proof, points]
    )
    return REVERSE_SELECTOR + args


def earned_in(decoded: Iterable[DecodedLog | None], batch_id: int) -> EarnedBatch | None:
    for event in decoded:
        if event is not None and event.name == "Earned" and int(event.args["batchId"]) == batch_id:
            return _batch(event.args)
    return None


def _batch(args: dict[str, Any]) -> EarnedBatch:
    words = [bytes.fromhex(w[2:]) if isinstance(w, str) else bytes(w) for w in args["purchases"]]
    return EarnedBatch(batch_id=int(args["batchId"]), issue_price=int(args["issuePrice"]), words=words)


def reversal_calldata(
    session: Session,
    item: OutboxReversal,
    receipt_events: Callable[[str], list[DecodedLog | None]],
) -> bytes:
    """The ``reverse`` call of a reversal: the purchase's word, its batch's issue price and a
    Merkle proof over the batch's minted words, read from the batch's ``Earned`` event (the
    minting transaction's receipt, else the indexed event). Raises ReversalNotReady."""
    purchase = session.get(OutboxPurchase, item.purchase_outbox_id)
    if purchase is None or purchase.status not in (PurchaseStatus.MINTED, PurchaseStatus.SKIPPED):
        raise ReversalNotReady("the purchase was not minted")
    word = encode_purchase(purchase.customer, purchase.seq, purchase.points)
    batch: EarnedBatch | None = None
    batch_id = purchase.batch_id if purchase.status == PurchaseStatus.MINTED else _ledger_batch(session, purchase)
    if batch_id is None:
        raise ReversalNotReady("the batch that minted the purchase is not indexed yet")
    tx = session.get(ChainTransaction, purchase.tx_id) if purchase.tx_id is not None else None
    if tx is not None and purchase.status == PurchaseStatus.MINTED:
        batch = earned_in(receipt_events(tx.tx_hash), batch_id)
    if batch is None:
        batch = _indexed_batch(session, purchase.partner_id, batch_id)
    if batch is None or word not in batch.words:
        raise ReversalNotReady(f"batch {batch_id}'s Earned event was not found or lacks the purchase")
    proof = merkle_proof(batch.words, batch.words.index(word))
    return encode_reverse(batch.batch_id, word, batch.issue_price, proof, item.points)


def _indexed_batch(session: Session, partner_id: int, batch_id: int) -> EarnedBatch | None:
    events = session.scalars(select(ChainEvent).where(ChainEvent.name == "Earned", ChainEvent.partner_id == partner_id))
    for event in events:
        if int(event.args.get("batchId", -1)) == batch_id:
            return _batch(event.args)
    return None


def _ledger_batch(session: Session, purchase: OutboxPurchase) -> int | None:
    """The batch of a purchase minted by an earlier transaction (skipped by its own), from the
    indexed ledger."""
    ref = session.scalar(
        select(LedgerEntry.ref).where(
            LedgerEntry.partner_id == purchase.partner_id, LedgerEntry.seq == purchase.seq, LedgerEntry.kind == "earned"
        )
    )
    return int(ref) if ref is not None else None


class ReversalFlow(OutboxFlow):
    """The hooks of the ``reverse`` transactions of one partner's minter key: each reversal
    follows its transaction, and a mined one settles its refunds' events."""

    def __init__(self) -> None:
        super().__init__(OutboxReversal)

    def after_settle(self, session: Session, mined: ChainTransaction) -> None:
        refunds_settled(session, tx_ids=[mined.id])  # their events, in this transaction
