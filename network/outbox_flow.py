"""The hooks (``network.transactions.TxFlow``) of an outbox whose rows each ride one transaction of
a partner's minter key (reversals, restores): a row follows its transaction through confirmation,
revert, fee-bump replacement, a lost block and a dropped nonce. The outbox table needs ``tx_id``,
``status`` (:class:`ReversalStatus`) and ``error`` columns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from network.receipts import Receipt
from network.store import ChainTransaction, ReversalStatus


class OutboxFlow:
    """The flow of ``table``'s rows; :meth:`after_settle` is the subclass's hook on a mined transaction."""

    table: Any  # the outbox's mapped class

    def __init__(self, table: Any) -> None:
        self.table = table

    def on_confirmed(
        self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction, receipt: Receipt
    ) -> None:
        self._settle(session, carried, mined, ReversalStatus.CONFIRMED, None)

    def on_reverted(self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction) -> None:
        self._settle(session, carried, mined, ReversalStatus.FAILED, mined.error)

    def on_replaced(self, session: Session, old: ChainTransaction, new: ChainTransaction) -> None:
        """A stuck transaction was replaced by a fee bump: its rows ride the replacement."""
        session.execute(update(self.table).where(self.table.tx_id == old.id).values(tx_id=new.id))

    def on_lost(self, session: Session, group: list[ChainTransaction]) -> None:
        """The node lost the block that mined it: sent again, with the group's newest."""
        newest = max(group, key=lambda t: t.id)
        session.execute(
            update(self.table)
            .where(self.table.tx_id.in_([t.id for t in group]))
            .values(status=ReversalStatus.SENT, error=None, tx_id=newest.id)
        )

    def on_dropped(self, session: Session, group: list[ChainTransaction], why: str) -> None:
        """Its nonce went to another transaction: the rows go back to the queue."""
        session.execute(
            update(self.table)
            .where(self.table.tx_id.in_([t.id for t in group]))
            .values(status=ReversalStatus.QUEUED, tx_id=None, error=why)
        )

    def after_settle(self, session: Session, mined: ChainTransaction) -> None:
        """What else a mined transaction settles, in the same database transaction (nothing here)."""

    def _settle(
        self,
        session: Session,
        carried: list[ChainTransaction],
        mined: ChainTransaction,
        status: ReversalStatus,
        error: str | None,
    ) -> None:
        session.execute(
            update(self.table)
            .where(self.table.tx_id.in_([t.id for t in carried]))
            .values(tx_id=mined.id, status=status, error=error)
        )
        self.after_settle(session, mined)
