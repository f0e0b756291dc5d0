"""A settlement statement for people: the period's dates (its first and last blocks' times),
the partners by name, and who pays whom; the HTML page and the CSV with names and dates are
drawn from it (gateway/services/dashboard_statement_view.py, loyalty/statement.py's
``named_csv``). The statement itself (JSON, hashed on chain) is not changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.chain import Chain
from gateway.errors import NotFound
from gateway.services.account import CHAIN_ERRORS
from gateway.services.dashboard_data import partner_names
from gateway.services.dashboard_format import when
from loyalty.statement import named_csv, partner_view
from network.store import ChainEvent, SettlementPeriod


@dataclass
class HumanStatement:
    row: SettlementPeriod
    statement: dict[str, Any]
    names: dict[int, str]
    start: datetime | None  # the time of the period's first block
    end: datetime | None  # the time of its last block
    tz: str

    @property
    def decimals(self) -> int:
        return int(self.statement["token"]["decimals"])

    @property
    def symbol(self) -> str:
        return str(self.statement["token"]["symbol"])

    def name(self, partner_id: int) -> str:
        return "before the period" if partner_id == 0 else self.names.get(partner_id, f"partner #{partner_id}")

    def csv(self, partner_id: int | None = None) -> str:
        return named_csv(
            self.statement,
            self.names,
            period_start=when(self.start, self.tz, seconds=True),
            period_end=when(self.end, self.tz, seconds=True),
            settled_at=when(self.row.settled_at, self.tz, seconds=True),
            partner_id=partner_id,
        )

    def view_of(self, partner_id: int) -> dict[str, Any]:
        view = partner_view(self.statement, partner_id)
        if view is None:
            raise NotFound(f"partner {partner_id} has no line in the statement of period {self.row.period_id}")
        return view


def _block_times(session: Session, chain: Chain | None, row: SettlementPeriod) -> tuple[datetime | None, ...]:
    """The times of the period's first and last blocks: from the chain, else from the indexed
    events of the range (the first and last that have one)."""
    if chain is not None:
        try:
            first = int(chain.w3.eth.get_block(row.from_block)["timestamp"])
            last = int(chain.w3.eth.get_block(row.to_block)["timestamp"])
            return datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)
        except CHAIN_ERRORS:
            pass
    lo, hi = session.execute(
        select(func.min(ChainEvent.block_time), func.max(ChainEvent.block_time)).where(
            ChainEvent.chain_id == row.chain_id,
            ChainEvent.block_number >= row.from_block,
            ChainEvent.block_number <= row.to_block,
        )
    ).one()
    return tuple(None if t is None else datetime.fromtimestamp(int(t), UTC) for t in (lo, hi))


def human_statement(session: Session, chain: Chain | None, period_id: int, tz: str) -> HumanStatement:
    """The statement of a period with its dates and names; NotFound before it is computed."""
    row = session.get(SettlementPeriod, period_id) if 1 <= period_id < 2**63 else None
    if row is None or row.statement is None:
        session.commit()
        raise NotFound(f"no statement for period {period_id}")
    names = partner_names(session)
    start, end = _block_times(session, chain, row)
    session.commit()
    return HumanStatement(row=row, statement=row.statement, names=names, start=start, end=end, tz=tz)
