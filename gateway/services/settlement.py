"""Settlement of a period: plan its block range, compute its statement from the store's indexed
events, and settle it on chain through ``Clearing.settle`` with the operator's key, once.

Crash safety and idempotency:

- A period's id is ``Clearing.nextPeriodId`` when it is planned; the contract settles periods in
  order, each once (it refuses any other id), so the chain itself makes a second settlement
  impossible. Every run first reads the chain: a period it already has is only recorded (and
  its statement hash compared with ours), never sent again.
- The settle transaction is signed once and stored (hash, nonce, raw bytes) before it is
  broadcast; a rerun resends the same bytes or finds their receipt. If its nonce went to
  another operator transaction (a re-rate, an onboarding), it is signed again: harmless, since
  the contract accepts the period once.
- Only one settlement runs at a time: the tasks hold a lease in Redis (gateway/tasks/settlement.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Numeric, case, cast, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType
from web3.exceptions import TransactionNotFound, Web3RPCError

from gateway.chain import Chain
from gateway.errors import NothingToSettle
from gateway.models import OperatorAlert, SettlementPeriod
from gateway.operator_key import operator_key
from network.indexer import CHECKPOINT
from network.revert import decode_revert
from network.store import ChainEvent, IndexerCheckpoint, utcnow
from partners.settlement import (
    KindTotal,
    PartnerLine,
    PointsEvent,
    lines_from_totals,
    operator_net,
    partner_lines,
)
from partners.statement import build_statement, statement_csv, statement_hash

log = logging.getLogger(__name__)
SETTLEMENT_EVENTS = {
    "Earned": ("earned", "issuePrice"),
    "Redeemed": ("redeemed", "reimbursementRate"),
    "Reversed": ("reversed", "issuePrice"),
}
OPEN = ("computing", "submitted")
RECEIPT_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class ChainPeriods:
    next_period_id: int
    settled_through: int
    head: int
    indexed_through: int


def chain_periods(session: Session, chain: Chain) -> ChainPeriods:
    clearing = chain.contracts.clearing.functions
    cp = session.get(IndexerCheckpoint, (chain.contracts.book.chain_id, CHECKPOINT))
    return ChainPeriods(
        next_period_id=int(clearing.nextPeriodId().call()),
        settled_through=int(clearing.settledThroughBlock().call()),
        head=int(chain.w3.eth.block_number),
        indexed_through=cp.block_number if cp else -1,
    )


def period_end_time(timestamp: int, period_s: int) -> int:
    """End (exclusive) of the period, aligned to the Unix epoch in UTC, that contains ``timestamp``."""
    return (timestamp // period_s + 1) * period_s


def last_block_before(timestamp_of: Callable[[int], int], lo: int, hi: int, end_time: int) -> int:
    """The last block of ``lo..hi`` whose timestamp is before ``end_time`` (``lo - 1`` if none);
    block timestamps never decrease, so a binary search."""
    while lo <= hi:
        mid = (lo + hi) // 2
        if timestamp_of(mid) < end_time:
            lo = mid + 1
        else:
            hi = mid - 1
    return hi


def _period_filter(chain_id: int, from_block: int, to_block: int) -> tuple[ColumnElement[bool], ...]:
    return (
        ChainEvent.chain_id == chain_id,
        ChainEvent.contract == "CoalitionPoints",
        ChainEvent.name.in_(SETTLEMENT_EVENTS),
        ChainEvent.block_number >= from_block,
        ChainEvent.block_number <= to_block,
    )


def period_events(session: Session, chain_id: int, from_block: int, to_block: int) -> Iterator[PointsEvent]:
    """The period's settlement-relevant events from the store, one by one, as plain records."""
    rows = session.execute(
        select(ChainEvent.name, ChainEvent.args)
        .where(*_period_filter(chain_id, from_block, to_block))
        .order_by(ChainEvent.block_number, ChainEvent.log_index)
        .execution_options(yield_per=10_000)
    )
    for name, a in rows:
        kind, rate = SETTLEMENT_EVENTS[name]
        yield PointsEvent(kind, int(a["partnerId"]), int(a["points"]), int(a[rate]))  # type: ignore[arg-type]


def has_period_events(session: Session, chain_id: int, from_block: int, to_block: int) -> bool:
    return (
        session.scalar(select(ChainEvent.id).where(*_period_filter(chain_id, from_block, to_block)).limit(1))
        is not None
    )


def period_totals(session: Session, chain_id: int, from_block: int, to_block: int) -> list[KindTotal] | None:
    """The period's events summed per (kind, partner) by the database (GROUP BY), exactly:
    the amounts are read from the events' JSON args as integers (SQLite) or NUMERIC (PostgreSQL).
    None when the database could not add them up exactly (SQLite past 64-bit integers): the
    caller then adds them up event by event (:func:`period_events`)."""
    dialect = session.get_bind().dialect.name

    def arg(key: str) -> ColumnElement[Any]:
        if dialect == "sqlite":
            return func.json_extract(ChainEvent.args, f"$.{key}", type_=NullType())
        return cast(ChainEvent.args[key].as_string(), Numeric(78, 0))

    points = arg("points")
    rate = case((ChainEvent.name == "Redeemed", arg("reimbursementRate")), else_=arg("issuePrice"))
    query = (
        select(
            ChainEvent.name,
            ChainEvent.partner_id,  # the indexer's copy of args.partnerId, an indexed column
            func.sum(points, type_=NullType()),
            func.sum(points * rate, type_=NullType()),
            func.min(points, type_=NullType()),
            func.min(rate, type_=NullType()),
        )
        .where(*_period_filter(chain_id, from_block, to_block))
        .group_by(ChainEvent.name, ChainEvent.partner_id)
    )
    try:
        rows = session.execute(query).all()
    except OperationalError as exc:  # SQLite: "integer overflow" in sum(); the transaction goes on
        log.info("the database could not sum the period exactly (%s); summing event by event", exc.orig)
        return None
    totals = []
    for name, partner_id, points_sum, value_sum, min_points, min_rate in rows:
        numbers = [_exact(v) for v in (partner_id, points_sum, value_sum, min_points, min_rate)]
        if None in numbers:
            log.info("the database summed period %s..%s inexactly; summing event by event", from_block, to_block)
            return None
        pid, points_total, value_total, lowest_points, lowest_rate = numbers
        if lowest_points < 0 or lowest_rate < 0:  # type: ignore[operator]
            raise ValueError(f"negative points or rate in the {name} events of partner {pid}")
        totals.append(KindTotal(SETTLEMENT_EVENTS[name][0], pid, points_total, value_total))  # type: ignore[arg-type]
    return totals


def _exact(value: object) -> int | None:
    """An integer from the database, or None if it is not one exactly (a float: SQLite's REAL)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return None


def period_lines(session: Session, chain_id: int, from_block: int, to_block: int) -> list[PartnerLine]:
    """The period's partner lines: summed by the database, or event by event when it cannot be exact."""
    totals = period_totals(session, chain_id, from_block, to_block)
    if totals is None:
        return partner_lines(period_events(session, chain_id, from_block, to_block))
    return lines_from_totals(totals)


# ---------------------------------------------------------------------- planning


def plan_scheduled(session: Session, chain: Chain, period_s: int, now: float | None = None) -> SettlementPeriod | None:
    """The oldest ended period not yet settled (None if the current one has not ended, or the
    indexer has not reached its end): it starts after the last settled block and ends with the
    last block before the end of the epoch-aligned period that contains its first block."""
    state = chain_periods(session, chain)
    start = state.settled_through + 1
    if start > state.head:
        return None
    w3 = chain.w3
    cache: dict[int, int] = {}

    def timestamp_of(n: int) -> int:
        if n not in cache:
            cache[n] = int(w3.eth.get_block(n)["timestamp"])
        return cache[n]

    end_time = period_end_time(timestamp_of(start), period_s)
    clock = time.time() if now is None else now
    if timestamp_of(state.head) < end_time and clock < end_time + 30:  # 30 s: the node's clock may lag
        return None  # the period has not ended: blocks may still come into it
    to_block = last_block_before(timestamp_of, start, state.head, end_time)
    if to_block > state.indexed_through:
        return None  # not indexed yet: the next tick
    return _plan(session, chain, state, to_block, trigger="schedule")


def plan_now(session: Session, chain: Chain) -> SettlementPeriod:
    """The operator's "close the period now": from the last settled block to the last indexed
    one. Refused (NothingToSettle) when there is no points activity in that range; a period
    being settled already is returned as it is."""
    state = chain_periods(session, chain)
    existing = session.get(SettlementPeriod, state.next_period_id)
    if existing is not None and existing.status in OPEN:
        return existing
    start, to_block = state.settled_through + 1, min(state.indexed_through, state.head)
    if to_block < start or not has_period_events(session, chain.contracts.book.chain_id, start, to_block):
        raise NothingToSettle(
            f"no Earned, Redeemed or Reversed event in blocks {start}..{to_block} (indexed through "
            f"{state.indexed_through}); period {state.next_period_id - 1} is the last settled"
        )
    return _plan(session, chain, state, to_block, trigger="operator")


def _plan(session: Session, chain: Chain, state: ChainPeriods, to_block: int, *, trigger: str) -> SettlementPeriod:
    row = session.get(SettlementPeriod, state.next_period_id)
    if row is not None and row.status in OPEN:
        return row
    if row is None:
        row = SettlementPeriod(
            period_id=state.next_period_id, chain_id=chain.contracts.book.chain_id, status="computing"
        )
        session.add(row)
    row.from_block, row.to_block, row.trigger, row.status = state.settled_through + 1, to_block, trigger, "computing"
    row.statement = row.statement_csv = row.statement_hash = row.operator_net = None
    row.tx_hash = row.raw_tx = row.tx_nonce = row.error = row.settled_block = None
    try:
        session.commit()
    except IntegrityError:  # another planner inserted this period first
        session.rollback()
        row = session.get(SettlementPeriod, state.next_period_id)
        assert row is not None
    return row


# ---------------------------------------------------------------------- settling


def _statement(session: Session, chain: Chain, row: SettlementPeriod, from_block: int, to_block: int) -> dict[str, Any]:
    chain_id = chain.contracts.book.chain_id
    lines = period_lines(session, chain_id, from_block, to_block)
    token = chain.contracts.token.functions
    return build_statement(
        chain_id=chain_id,
        period_id=row.period_id,
        from_block=from_block,
        to_block=to_block,
        lines=lines,
        token_symbol=str(token.symbol().call()),
        token_decimals=int(token.decimals().call()),
    )


def _fill(row: SettlementPeriod, statement: dict[str, Any]) -> list[PartnerLine]:
    row.statement = statement
    row.statement_csv = statement_csv(statement)
    row.statement_hash = "0x" + statement_hash(statement).hex()
    lines = [
        PartnerLine(
            p["partner_id"],
            p["points_issued"],
            p["points_reversed"],
            p["points_redeemed"],
            p["issued_value"],
            p["redeemed_value"],
        )
        for p in statement["partners"]
    ]
    row.operator_net = str(operator_net(lines))
    return lines


def settle(
    session: Session, chain: Chain, period_id: int, refresh: Callable[[], None] = lambda: None
) -> SettlementPeriod:
    """Takes the period one step at a time to ``settled`` (or ``failed``); safe to run again at
    any point, after any crash. The caller holds the settlement lease; ``refresh`` renews it."""
    row = session.get(SettlementPeriod, period_id)
    if row is None:
        raise LookupError(f"no settlement period {period_id}")
    if row.status == "settled":
        return row
    state = chain_periods(session, chain)
    if period_id < state.next_period_id:
        return _record_settled(session, chain, row)
    if period_id > state.next_period_id or row.from_block != state.settled_through + 1:
        return _fail(
            session,
            row,
            f"stale plan: the chain expects period {state.next_period_id} from block {state.settled_through + 1}",
        )
    if row.status == "submitted" and row.raw_tx is not None:
        outcome = _resend_and_wait(chain, row)
        refresh()
        if outcome == "mined":
            return _record_settled(session, chain, row)
        if outcome == "reverted":
            return _fail(session, row, f"settle transaction {row.tx_hash} reverted")
        log.warning("period %s: the nonce of %s went to another transaction; signing again", period_id, row.tx_hash)
    if row.to_block > state.indexed_through:
        raise RuntimeError(f"period {period_id} ends at block {row.to_block}, indexed only to {state.indexed_through}")
    lines = _fill(row, _statement(session, chain, row, row.from_block, row.to_block))
    fn = chain.contracts.clearing.functions.settle(
        period_id,
        row.from_block,
        row.to_block,
        bytes.fromhex(row.statement_hash[2:]),  # type: ignore[index]
        [(line.partner_id, line.issued_value, line.redeemed_value) for line in lines],
    )
    operator = chain.operator
    # gas is estimated against the pending block: the one the transaction goes into, whose
    # number is above to_block (the contract wants to_block < block.number)
    tx = fn.build_transaction({"from": operator.address, "chainId": chain.contracts.book.chain_id, "gas": 1})
    try:
        estimate = chain.w3.eth.estimate_gas({"from": operator.address, "to": tx["to"], "data": tx["data"]}, "pending")
    except Exception as exc:  # the node ran the call: it would revert
        session.rollback()
        return _fail(session, row, f"settle would revert: {decode_revert(exc)}")
    tx["gas"] = estimate * 6 // 5
    with operator_key(chain):  # no onboarding or re-rate takes the same nonce meanwhile
        tx["nonce"] = chain.w3.eth.get_transaction_count(operator.address, "pending")
        signed = operator.sign_transaction(tx)
        row.raw_tx, row.tx_hash, row.tx_nonce = bytes(signed.raw_transaction), signed.hash.to_0x_hex(), tx["nonce"]
        row.status, row.submitted_at = "submitted", utcnow()
        session.commit()  # stored before it is broadcast
        outcome = _resend_and_wait(chain, row)
    refresh()
    if outcome == "mined":
        return _record_settled(session, chain, row)
    if outcome == "reverted":
        return _fail(session, row, f"settle transaction {row.tx_hash} reverted")
    raise RuntimeError(f"period {period_id}: transaction {row.tx_hash} lost its nonce; the next run signs again")


def _resend_and_wait(chain: Chain, row: SettlementPeriod) -> str:
    """Broadcasts the stored bytes (again) and waits: ``mined``, ``reverted`` or ``dropped``
    (its nonce was taken by another transaction)."""
    w3 = chain.w3
    try:
        w3.eth.send_raw_transaction(row.raw_tx)  # type: ignore[arg-type]
    except Web3RPCError as exc:
        text = str(exc).lower()
        if "nonce too low" in text or "nonce is too low" in text:
            receipt = _receipt(chain, row.tx_hash)  # type: ignore[arg-type]
            if receipt is None:
                return "dropped"
            return "mined" if receipt["status"] == 1 else "reverted"
        if "already known" not in text and "already imported" not in text:
            raise
    receipt = w3.eth.wait_for_transaction_receipt(row.tx_hash, RECEIPT_TIMEOUT_S)  # type: ignore[arg-type]
    return "mined" if receipt["status"] == 1 else "reverted"


def _receipt(chain: Chain, tx_hash: str) -> Any:
    try:
        return chain.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    except TransactionNotFound:
        return None


def _record_settled(session: Session, chain: Chain, row: SettlementPeriod) -> SettlementPeriod:
    """The chain has the period: record it, with our statement if its hash is the chain's."""
    from_block, to_block, onchain_hash, _net = chain.contracts.clearing.functions.period(row.period_id).call()
    onchain = "0x" + bytes(onchain_hash).hex()
    if row.statement is None or (row.from_block, row.to_block) != (from_block, to_block):
        row.from_block, row.to_block = int(from_block), int(to_block)
        _fill(row, _statement(session, chain, row, row.from_block, row.to_block))
    receipt = _receipt(chain, row.tx_hash) if row.tx_hash else None
    if receipt is not None and receipt["status"] == 1:
        row.settled_block = int(receipt["blockNumber"])
    if row.statement_hash != onchain:
        return _fail(session, row, f"settled on chain with statement hash {onchain}, ours is {row.statement_hash}")
    row.status, row.settled_at, row.error = "settled", utcnow(), None
    session.commit()
    log.info("period %s settled: blocks %s..%s, hash %s", row.period_id, row.from_block, row.to_block, onchain)
    return row


def _fail(session: Session, row: SettlementPeriod, error: str) -> SettlementPeriod:
    log.error("settlement period %s failed: %s", row.period_id, error)
    row.status, row.error = "failed", error
    session.add(OperatorAlert(kind="settlement-failed", message=error, details={"period_id": row.period_id}))
    session.commit()
    return row
