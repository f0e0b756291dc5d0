"""What became of each purchase of a mined earn batch, from its receipt, written in bulk.

The sender's receipt side: the receipt's ``Earned`` and ``PurchaseSkipped`` logs (read raw:
a batch's receipt also holds a Transfer per purchase) say which seqs were minted, in which
batch, and which were skipped; the outbox items of the transaction follow, in one UPDATE in
the usual case (every item minted in one batch), plain Core statements otherwise. The earn
batches' hooks of the transaction driver (``EarnBatchFlow``) apply them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from network.errors import ChainError
from network.headroom import is_over_bound
from network.outbox import OUTBOX
from network.outcomes import purchases_settled
from network.purchases import MAX_SEQ
from network.receipts import Receipt
from network.store import ChainTransaction, OutboxPurchase, PurchaseStatus

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


# ---------------------------------------------------------------------- the earn batches' hooks


class EarnBatchFlow:
    """The hooks (``network.transactions.TxFlow``) of the earn batches of one partner's minter
    key: a batch's purchases follow its transaction. ``results`` counts what became of them
    (the sender reads and clears it each step)."""

    def __init__(self, *, points_address: str, earned_topic: str, skipped_topic: str) -> None:
        self.points_address = points_address
        self.earned_topic = earned_topic
        self.skipped_topic = skipped_topic
        self.results: Counter[PurchaseStatus] = Counter()

    def on_confirmed(
        self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction, receipt: Receipt
    ) -> None:
        """Each purchase minted, skipped (minted before) or failed, as the receipt's logs say."""
        minted, skipped = receipt_results(
            receipt.logs,
            points_address=self.points_address,
            earned_topic=self.earned_topic,
            skipped_topic=self.skipped_topic,
        )
        self.results.update(
            settle_items(
                session,
                tx_ids=[t.id for t in carried],
                mined_id=mined.id,
                mined_hash=mined.tx_hash,
                minted=minted,
                skipped=skipped,
            )
        )

    def on_reverted(self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction) -> None:
        """The purchases fail with the reason, unless the batch only hit the issuance bound (the
        headroom shrank after it was read: not the purchases' fault): then they are queued again."""
        reason = mined.error or "reverted"
        if is_over_bound(reason):
            self.on_dropped(session, carried, f"sent again after {reason}")
        else:
            self.results[PurchaseStatus.FAILED] += fail_items(session, tx_ids=[t.id for t in carried], reason=reason)

    def on_replaced(self, session: Session, old: ChainTransaction, new: ChainTransaction) -> None:
        """A stuck batch was replaced by a fee bump: its purchases ride the replacement."""
        session.execute(update(OutboxPurchase).where(OutboxPurchase.tx_id == old.id).values(tx_id=new.id))

    def on_lost(self, session: Session, group: list[ChainTransaction]) -> None:
        """The node lost the block that mined the batch: its purchases are sent again, with the
        group's newest transaction."""
        newest = max(group, key=lambda t: t.id)
        session.execute(
            update(OutboxPurchase)
            .where(OutboxPurchase.tx_id.in_([t.id for t in group]))
            .values(status=PurchaseStatus.SENT, batch_id=None, error=None, tx_id=newest.id)
        )

    def on_dropped(self, session: Session, group: list[ChainTransaction], why: str) -> None:
        """The batch will never carry its purchases (its nonce went to another transaction, or
        it hit the issuance bound): they go back to the queue."""
        session.execute(
            update(OutboxPurchase)
            .where(OutboxPurchase.tx_id.in_([t.id for t in group]))
            .values(status=PurchaseStatus.QUEUED, tx_id=None, batch_id=None, error=why)
        )
