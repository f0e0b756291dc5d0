"""What became of each purchase of a mined earn batch, from its receipt, written in bulk.

The sender's receipt side: the receipt's ``Earned`` and ``PurchaseSkipped`` logs (read raw:
a batch's receipt also holds a Transfer per purchase) say which seqs were minted, in which
batch, and which were skipped; the outbox items of the transaction follow, in one UPDATE in
the usual case (every item minted in one batch), plain Core statements otherwise.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from network.errors import ChainError
from network.outbox import OUTBOX
from network.outcomes import purchases_settled, refunds_settled
from network.purchases import MAX_SEQ
from network.store import ChainTransaction, OutboxPurchase, OutboxReversal, PurchaseStatus, ReversalStatus
from network.transactions import decode_raw_transaction

SKIPPED_ERROR = "seq already minted on chain before this transaction"


def earned_seqs(data: str) -> list[int]:
    """The seqs of the purchase words of an ``Earned`` log's data (``uint96 issuePrice,
    bytes32 root, uint256 points, bytes32[] purchases``), read without an ABI decoder."""
    raw = bytes.fromhex(data[2:] if data.startswith("0x") else data)
    start = int.from_bytes(raw[96:128], "big")
    count = int.from_bytes(raw[start : start + 32], "big")
    end = start + 32 + 32 * count
    if len(raw) < end:
        raise ChainError(f"Earned log data too short for {count} purchases")
    return [(int.from_bytes(raw[i : i + 32], "big") >> 48) & MAX_SEQ for i in range(start + 32, end, 32)]


def receipt_results(
    logs: Sequence[dict[str, Any]], *, points_address: str, earned_topic: str, skipped_topic: str
) -> tuple[dict[int, int], set[int]]:
    """From a batch's raw receipt logs: the seqs it minted (with their batch id) and those it
    skipped. Only the points contract's logs count."""
    minted: dict[int, int] = {}
    skipped: set[int] = set()
    points = points_address.lower()
    for raw in logs:
        topics = raw["topics"]
        if not topics or str(raw["address"]).lower() != points:
            continue
        if topics[0] == earned_topic:
            batch_id = int(topics[2], 16)
            for seq in earned_seqs(raw["data"]):
                minted[seq] = batch_id
        elif topics[0] == skipped_topic:
            skipped.add(int(topics[2], 16))
    return minted, skipped


def settle_items(
    session: Session,
    *,
    tx_ids: list[int],
    mined_id: int,
    mined_hash: str,
    minted: dict[int, int],
    skipped: set[int],
) -> Counter[PurchaseStatus]:
    """Marks every item of the transactions ``tx_ids`` (a nonce's group) minted, skipped or
    failed, as the receipt of ``mined_id`` says, and moves them to it. Returns the counts."""
    c = OUTBOX.c
    items = session.execute(select(c.id, c.seq).where(c.tx_id.in_(tx_ids))).all()
    by_batch: dict[int, list[int]] = defaultdict(list)
    skipped_ids: list[int] = []
    failed_ids: list[int] = []
    for item_id, seq in items:
        batch_id = minted.get(seq)
        if batch_id is not None:
            by_batch[batch_id].append(item_id)
        elif seq in skipped:
            skipped_ids.append(item_id)
        else:
            failed_ids.append(item_id)
    as_minted = {"status": PurchaseStatus.MINTED, "tx_id": mined_id, "error": None}
    if len(by_batch) == 1 and not skipped_ids and not failed_ids:  # the usual case: one UPDATE
        ((batch_id, _ids),) = by_batch.items()
        session.execute(update(OUTBOX).where(c.tx_id.in_(tx_ids)).values(batch_id=batch_id, **as_minted))
    else:
        for batch_id, ids in by_batch.items():
            session.execute(update(OUTBOX).where(c.id.in_(ids)).values(batch_id=batch_id, **as_minted))
        if skipped_ids:
            session.execute(
                update(OUTBOX)
                .where(c.id.in_(skipped_ids))
                .values(status=PurchaseStatus.SKIPPED, tx_id=mined_id, error=SKIPPED_ERROR)
            )
        if failed_ids:
            session.execute(
                update(OUTBOX)
                .where(c.id.in_(failed_ids))
                .values(status=PurchaseStatus.FAILED, tx_id=mined_id, error=f"not in the receipt of {mined_hash}")
            )
    purchases_settled(session, tx_ids=tx_ids)  # their events, in this transaction
    return Counter(
        {
            PurchaseStatus.MINTED: sum(len(ids) for ids in by_batch.values()),
            PurchaseStatus.SKIPPED: len(skipped_ids),
            PurchaseStatus.FAILED: len(failed_ids),
        }
    )


def fail_items(session: Session, *, tx_ids: list[int], reason: str) -> int:
    """Fails every item of the transactions ``tx_ids`` with ``reason``; returns how many."""
    result = session.execute(
        update(OUTBOX).where(OUTBOX.c.tx_id.in_(tx_ids)).values(status=PurchaseStatus.FAILED, error=reason)
    )
    purchases_settled(session, tx_ids=tx_ids)
    return int(result.rowcount)  # type: ignore[attr-defined]


def same_calldata(
    group: list[ChainTransaction], mined: ChainTransaction
) -> tuple[list[ChainTransaction], list[ChainTransaction]]:
    """The transactions of one nonce that carry what the mined one carries (itself and its fee
    replacements: the receipt says what became of their items), and the others (signed on the
    same nonce by a second driver of the key: their items never reached the chain)."""
    if len(group) == 1:
        return group, []
    data = _calldata(mined)
    carried = [t for t in group if t is mined or _calldata(t) == data]
    return carried, [t for t in group if all(t is not c for c in carried)]


def _calldata(tx: ChainTransaction) -> bytes:
    return bytes(decode_raw_transaction(bytes(tx.raw_tx))["data"])


# ---------------------------------------------------------------------- items follow their transaction


def settle_reversals(session: Session, group: list[ChainTransaction], mined: ChainTransaction, succeeded: bool) -> None:
    """The reversals of a nonce's group end confirmed or failed with the mined transaction."""
    session.execute(
        update(OutboxReversal)
        .where(OutboxReversal.tx_id.in_([t.id for t in group]))
        .values(
            tx_id=mined.id,
            status=ReversalStatus.CONFIRMED if succeeded else ReversalStatus.FAILED,
            error=None if succeeded else mined.error,
        )
    )
    refunds_settled(session, tx_ids=[mined.id])  # their events, in this transaction


def follow_replacement(session: Session, old: ChainTransaction, new: ChainTransaction) -> None:
    """A stuck transaction was replaced by a fee bump: its items ride the replacement."""
    session.execute(update(OutboxPurchase).where(OutboxPurchase.tx_id == old.id).values(tx_id=new.id))
    session.execute(update(OutboxReversal).where(OutboxReversal.tx_id == old.id).values(tx_id=new.id))


def reopen_items(session: Session, group: list[ChainTransaction]) -> None:
    """The node lost the block that mined the group's transaction: its items are sent again."""
    session.execute(
        update(OutboxPurchase)
        .where(OutboxPurchase.tx_id.in_([t.id for t in group]))
        .values(status=PurchaseStatus.SENT, batch_id=None, error=None)
    )
    newest = max(group, key=lambda t: t.id)
    session.execute(
        update(OutboxPurchase).where(OutboxPurchase.tx_id.in_([t.id for t in group])).values(tx_id=newest.id)
    )
    session.execute(
        update(OutboxReversal)
        .where(OutboxReversal.tx_id.in_([t.id for t in group]))
        .values(status=ReversalStatus.SENT, error=None, tx_id=newest.id)
    )


def requeue_items(session: Session, group: list[ChainTransaction], why: str) -> None:
    """The group's transactions will never carry their items (the nonce went to another, or the
    batch hit the issuance bound): the items go back to the queue."""
    session.execute(
        update(OutboxPurchase)
        .where(OutboxPurchase.tx_id.in_([t.id for t in group]))
        .values(status=PurchaseStatus.QUEUED, tx_id=None, batch_id=None, error=why)
    )
    session.execute(
        update(OutboxReversal)
        .where(OutboxReversal.tx_id.in_([t.id for t in group]))
        .values(status=ReversalStatus.QUEUED, tx_id=None, error=why)
    )
