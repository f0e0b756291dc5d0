"""Settlement of a period: plan its block range, compute its statement from the store's indexed
events, and settle it on chain through ``Clearing.settle`` with the operator's key, once.

Crash safety and idempotency:

- A period's id is ``Clearing.nextPeriodId`` when it is planned; the contract settles periods in
  order, each once (it refuses any other id), so the chain itself makes a second settlement
  impossible. Every run first reads the chain: a period it already has is only recorded (and
  its statement hash compared with ours), never sent again.
- The settle transaction goes through the operator key's transaction driver
  (network/transactions.py, kind "settle", hooks ``SettleFlow``): signed once and stored (in
  the driver's table and on the period: hash, nonce, raw bytes) before it is broadcast; a rerun
  resends the same bytes or finds their receipt, and a stuck one is replaced with higher fees.
  If its nonce went to another operator transaction (a re-rate, an onboarding), it is signed
  again: harmless, since the contract accepts the period once.
- Only one settlement runs at a time: the tasks hold a lease in Redis (gateway/tasks/settlement.py).
- A period that failed (e.g. the operator's account cannot pay the period's net reimbursements)
  is planned again by the schedule after a backoff (1 minute, doubling up to an hour), not on
  every tick; the operator is alerted on its first failure and whenever the reason changes. The
  operator's "close now" retries at once. No partner can make a period fail: ``Clearing``
  keeps every partner's funds above what it can be debited (see contracts/Clearing.sol).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from web3.exceptions import TransactionNotFound

from gateway import enqueue
from gateway.chain import Chain
from gateway.errors import ChainUnavailable, NothingToSettle
from gateway.operator_key import operator_key
from gateway.services.period_lines import has_period_events, period_fees, period_lines, period_points_expired
from gateway.settings import get_settings
from loyalty.settlement import PartnerLine, operator_net
from loyalty.statement import build_statement, statement_csv, statement_hash
from network.errors import TransientRpcError, failure_name
from network.indexer import CHECKPOINT
from network.receipts import Receipt
from network.revert import decode_revert
from network.store import ChainTransaction, IndexerCheckpoint, OperatorAlert, SettlementPeriod, TxStatus, utcnow
from network.store.events import record
from network.transactions import KeyTransactions, decode_raw_transaction

log = logging.getLogger(__name__)
OPEN = ("computing", "submitted")
RECEIPT_TIMEOUT_S = 60.0
SETTLE_KIND = "settle"
RETRY_FIRST_S, RETRY_MAX_S = 60, 3_600  # a failed period is planned again after this, doubling


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
    failed = session.get(SettlementPeriod, state.next_period_id)
    waiting = failed is not None and failed.status == "failed" and failed.next_attempt_at is not None
    if waiting and utcnow() < failed.next_attempt_at:  # type: ignore[union-attr,operator]
        return None  # backing off: planned again at next_attempt_at
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
            f"no Earned, Redeemed, Reversed, Restored or Expired event in blocks {start}..{to_block} (indexed through "
            f"{state.indexed_through}); period {state.next_period_id - 1} is the last settled"
        )
    return _plan(session, chain, state, to_block, trigger="operator")


def start_now(session: Session, chain: Chain) -> SettlementPeriod:
    """:func:`plan_now`, committed, and its settlement started at once on a worker (the operator
    API's and the dashboard's "settle now"). An unreachable node is ChainUnavailable; if the
    task cannot be enqueued, beat's ``settle_due`` resumes the open period."""
    try:
        row = plan_now(session, chain)
    except TransientRpcError as exc:
        session.rollback()
        raise ChainUnavailable(f"the chain cannot be reached ({failure_name(exc)}); nothing was started") from exc
    session.commit()
    enqueue.settle_period(row.period_id)  # only the fast path: beat's settle_due resumes open periods
    return row


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
    row.tx_hash = row.raw_tx = row.tx_nonce = row.settled_block = None  # error: the last failure's, until settled
    try:
        session.commit()
    except IntegrityError:  # another planner inserted this period first
        session.rollback()
        row = session.get(SettlementPeriod, state.next_period_id)
        assert row is not None
    return row


# ---------------------------------------------------------------------- settling


def _statement(session: Session, chain: Chain, row: SettlementPeriod, from_block: int, to_block: int) -> dict[str, Any]:
    token = chain.contracts.token.functions

    def block_time(n: int) -> datetime:
        return datetime.fromtimestamp(int(chain.w3.eth.get_block(n)["timestamp"]), UTC)

    return period_statement(
        session,
        chain_id=chain.contracts.book.chain_id,
        period_id=row.period_id,
        from_block=from_block,
        to_block=to_block,
        token_symbol=str(token.symbol().call()),
        token_decimals=int(token.decimals().call()),
        fees_after=block_time(from_block - 1) if from_block >= 1 else None,
        fees_through=block_time(to_block),
    )


def period_statement(
    session: Session,
    *,
    chain_id: int,
    period_id: int,
    from_block: int,
    to_block: int,
    token_symbol: str,
    token_decimals: int,
    fees_after: datetime | None,
    fees_through: datetime,
) -> dict[str, Any]:
    """The statement of blocks ``from_block..to_block`` from the store: the partners' lines and
    expired points of the indexed events, and the membership fees reported after ``fees_after``
    (the timestamp of the block before the period; None for the first) and at most
    ``fees_through`` (the timestamp of its last block), so consecutive periods split the fees
    without a gap or an overlap."""
    return build_statement(
        chain_id=chain_id,
        period_id=period_id,
        from_block=from_block,
        to_block=to_block,
        lines=period_lines(session, chain_id, from_block, to_block),
        token_symbol=token_symbol,
        token_decimals=token_decimals,
        points_expired=period_points_expired(session, chain_id, from_block, to_block),
        membership_fees=period_fees(session, after=fees_after, through=fees_through),
        fees_after=fees_after,
        fees_through=fees_through,
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
            p["reversed_value"],
            p["redeemed_value"],
            p.get("points_restored", 0),  # statements before version 3 have none
            p.get("restored_value", 0),
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
    if row.status == "submitted" and row.tx_hash is not None:
        session.commit()
        with operator_key(chain):  # the driver of the operator key: one user at a time
            driver = _driver(session, chain, row)  # resends the stored bytes, or finds their nonce taken
            outcome = _wait(session, chain, driver, row)
        refresh()
        if outcome == "mined":
            return _record_settled(session, chain, row)
        if outcome == "reverted":
            return _fail(session, row, f"settle transaction {row.tx_hash} reverted")
        if outcome == "pending":
            raise RuntimeError(f"period {period_id}: transaction {row.tx_hash} not mined yet; the next run follows it")
        log.warning("period %s: the nonce of %s went to another transaction; signing again", period_id, row.tx_hash)
    if row.to_block > state.indexed_through:
        raise RuntimeError(f"period {period_id} ends at block {row.to_block}, indexed only to {state.indexed_through}")
    lines = _fill(row, _statement(session, chain, row, row.from_block, row.to_block))
    fn = chain.contracts.clearing.functions.settle(
        period_id,
        row.from_block,
        row.to_block,
        bytes.fromhex(row.statement_hash[2:]),  # type: ignore[index]
        [line.settle_args for line in lines],
    )
    operator = chain.operator
    # gas is estimated against the pending block: the one the transaction goes into, whose
    # number is above to_block (the contract wants to_block < block.number)
    tx = fn.build_transaction({"from": operator.address, "chainId": chain.contracts.book.chain_id, "gas": 1})
    data = HexBytes(tx["data"])
    try:
        estimate = chain.w3.eth.estimate_gas({"from": operator.address, "to": tx["to"], "data": data}, "pending")
    except Exception as exc:  # the node ran the call: it would revert
        session.rollback()
        return _fail(session, row, f"settle would revert: {decode_revert(exc)}")
    session.commit()
    with operator_key(chain):  # no onboarding or re-rate takes the same nonce meanwhile
        driver = _driver(session, chain, row)
        block = chain.w3.eth.get_block("latest")
        signed = driver.sign_next(
            session, data=bytes(data), gas=estimate * 6 // 5, base_fee=int(block.get("baseFeePerGas") or 0)
        )
        row.raw_tx, row.tx_hash, row.tx_nonce = bytes(signed.raw_tx), signed.tx_hash, signed.nonce
        row.status, row.submitted_at = "submitted", utcnow()
        session.commit()  # stored before it is broadcast
        driver.advance_nonce()
        driver.broadcast(signed)
        session.commit()
        outcome = _wait(session, chain, driver, row)
    refresh()
    if outcome == "mined":
        return _record_settled(session, chain, row)
    if outcome == "reverted":
        return _fail(session, row, f"settle transaction {row.tx_hash} reverted")
    if outcome == "pending":
        raise RuntimeError(f"period {period_id}: transaction {row.tx_hash} not mined yet; the next run follows it")
    raise RuntimeError(f"period {period_id}: transaction {row.tx_hash} lost its nonce; the next run signs again")


# ---------------------------------------------------------------------- the settle transaction's driver


class SettleFlow:
    """The hooks (``network.transactions.TxFlow``) of the operator key's settle transactions:
    the period keeps the hash and bytes of its newest transaction (the mined one once mined).
    What a settle transaction's fate means for its period is read after the driver's step
    (``_outcome``): the hooks only keep the period pointing at the right transaction."""

    def on_confirmed(
        self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction, receipt: Receipt
    ) -> None:
        self._point_at(session, carried, mined)

    def on_reverted(self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction) -> None:
        self._point_at(session, carried, mined)

    def on_replaced(self, session: Session, old: ChainTransaction, new: ChainTransaction) -> None:
        self._point_at(session, [old], new)

    def on_lost(self, session: Session, group: list[ChainTransaction]) -> None:
        """Nothing to undo: the driver resends it, and the chain settles a period once."""

    def on_dropped(self, session: Session, group: list[ChainTransaction], why: str) -> None:
        """Nothing to move: the period's next run sees its transaction dropped and signs again."""

    @staticmethod
    def _point_at(session: Session, txs: list[ChainTransaction], to: ChainTransaction) -> None:
        session.execute(
            update(SettlementPeriod)
            .where(SettlementPeriod.tx_hash.in_([t.tx_hash for t in txs]))
            .values(tx_hash=to.tx_hash, raw_tx=bytes(to.raw_tx), tx_nonce=to.nonce)
            .execution_options(synchronize_session=False)
        )


def _driver(session: Session, chain: Chain, row: SettlementPeriod) -> KeyTransactions:
    """The operator key's transaction driver (network/transactions.py), recovered: a stored
    settle transaction not mined is sent again as the same bytes, or marked dropped if its
    nonce went to another transaction (an onboarding, a re-rate). The caller holds the
    operator key's lease and has committed ``session``."""
    settings = get_settings()
    driver = KeyTransactions(
        w3=chain.w3,
        account=chain.operator,
        to=str(chain.contracts.clearing.address),
        kind=SETTLE_KIND,
        sessions=sessionmaker(bind=session.get_bind(), expire_on_commit=False),
        settings=settings.model_copy(update={"chain_id": chain.contracts.book.chain_id}),
        flows={SETTLE_KIND: SettleFlow()},
    )
    _adopt(session, driver, row)
    driver.refresh_priority_fee()
    driver.recover()
    return driver


def _adopt(session: Session, driver: KeyTransactions, row: SettlementPeriod) -> None:
    """A period submitted before settle transactions went through the driver has its bytes on
    its own row only: they are stored for the driver too (once), so that it follows them."""
    if row.status != "submitted" or row.raw_tx is None or row.tx_nonce is None:
        return
    if session.scalar(select(ChainTransaction.id).where(ChainTransaction.tx_hash == row.tx_hash)) is not None:
        return
    fields = decode_raw_transaction(bytes(row.raw_tx))
    session.add(
        ChainTransaction(
            chain_id=driver.chain_id,
            sender=driver.address,
            nonce=row.tx_nonce,
            kind=SETTLE_KIND,
            tx_hash=row.tx_hash,
            raw_tx=bytes(row.raw_tx),
            max_fee_per_gas=int(fields["maxFeePerGas"]),
            max_priority_fee_per_gas=int(fields["maxPriorityFeePerGas"]),
            status=TxStatus.PENDING,
        )
    )
    session.commit()


def _wait(session: Session, chain: Chain, driver: KeyTransactions, row: SettlementPeriod) -> str:
    """Steps the driver (receipts, stuck fees) until the period's transaction is final or
    ``RECEIPT_TIMEOUT_S`` passed: ``mined``, ``reverted``, ``dropped`` (its nonce was taken by
    another transaction) or ``pending``."""
    deadline = time.monotonic() + RECEIPT_TIMEOUT_S
    delay = 0.01
    while True:
        outcome = _outcome(session, row)
        if outcome != "pending" or time.monotonic() > deadline:
            return outcome
        block = chain.w3.eth.get_block("latest")
        driver.follow_receipts(session, int(block["number"]))
        if _outcome(session, row) == "pending":
            driver.handle_stuck(session, int(block.get("baseFeePerGas") or 0))
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


def _outcome(session: Session, row: SettlementPeriod) -> str:
    session.refresh(row)
    status = session.scalar(select(ChainTransaction.status).where(ChainTransaction.tx_hash == row.tx_hash))
    return {
        TxStatus.CONFIRMED: "mined",
        TxStatus.REVERTED: "reverted",
        TxStatus.DROPPED: "dropped",
    }.get(status, "pending")  # type: ignore[arg-type]


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
    if row.status != "settled":  # its event, once, with the change
        payload = {
            "period_id": row.period_id,
            "from_block": row.from_block,
            "to_block": row.to_block,
            "statement_hash": row.statement_hash,
            "tx_hash": row.tx_hash,
            "settled_block": row.settled_block,
        }
        record(session, "settlement.done", payload=payload)
    row.status, row.settled_at, row.error, row.next_attempt_at = "settled", utcnow(), None, None
    session.commit()
    log.info("period %s settled: blocks %s..%s, hash %s", row.period_id, row.from_block, row.to_block, onchain)
    return row


def _fail(session: Session, row: SettlementPeriod, error: str) -> SettlementPeriod:
    """Marks the attempt failed and when the schedule tries again; alerts the operator on the
    first failure and when the reason changes (not on every retry)."""
    attempts = (row.attempts or 0) + 1
    retry_at = utcnow() + timedelta(seconds=min(RETRY_FIRST_S * 2 ** (attempts - 1), RETRY_MAX_S))
    tell = attempts == 1 or row.error != error
    log.error("settlement period %s failed (attempt %s, next at %s): %s", row.period_id, attempts, retry_at, error)
    row.status, row.error, row.attempts, row.next_attempt_at = "failed", error, attempts, retry_at
    if tell:
        message = (
            f"settlement of period {row.period_id} (blocks {row.from_block}-{row.to_block}) failed: {error}. "
            f"The schedule tries again at {retry_at:%Y-%m-%d %H:%M:%S} UTC, then with a backoff of up to an hour; "
            "closing the period from the operator API retries at once"
        )
        details = {"period_id": row.period_id, "attempts": attempts, "next_attempt_at": retry_at.isoformat()}
        session.add(OperatorAlert(kind="settlement-failed", message=message, details=details))
    session.commit()
    return row
