"""Holders' expiry times read from the store's indexed events (never by scanning the chain).

Derived, not kept: a holder's expiry time is folded from its ledger entries and the indexed
``ExpiryWindowChanged`` events (loyalty/expiry_schedule.py) when it is asked for. The indexer
already writes, and rewinds after a reorg, exactly those rows, so there is no second copy to keep
in step with them. One ``GROUP BY`` over the ledger finds the candidates: a holder whose last
movement plus the shortest window ever in force is not before ``before``; with one window (the usual
case) that is already its expiry time, otherwise the candidates' entries are folded.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session
from web3 import Web3

from loyalty.expiry_schedule import HolderExpiry, Movement, Windows, holder_expiry
from network.indexer import CHECKPOINT
from network.store import ChainEvent, IndexerCheckpoint, LedgerEntry

FOLD_CHUNK = 500  # holders whose entries are read in one query when windows changed


def windows(session: Session, chain_id: int) -> Windows | None:
    """The expiry windows in force over the chain, from the indexed ``ExpiryWindowChanged`` events
    (None before the deployment's block is indexed: then no movement is indexed either)."""
    rows = session.execute(
        select(ChainEvent.block_number, ChainEvent.log_index, ChainEvent.args).where(
            ChainEvent.chain_id == chain_id, ChainEvent.name == "ExpiryWindowChanged"
        )
    )
    changes = [((b, i), int(args["window"])) for b, i, args in rows]
    return Windows(changes) if changes else None


def indexed_time(session: Session, w3: Web3, chain_id: int) -> int | None:
    """The time of the last block the indexer has read (None: none yet): the moment the store's
    view of every holder is complete, so the time to plan sweeps and reminders at."""
    cp = session.get(IndexerCheckpoint, (chain_id, CHECKPOINT))
    if cp is None:
        return None
    return int(w3.eth.get_block(cp.block_number)["timestamp"])


def expiries(
    session: Session, chain_id: int, *, before: int, holders: list[str] | None = None
) -> dict[str, HolderExpiry]:
    """Every holder with points whose expiry time is before ``before`` (or, with ``holders``,
    those holders whatever their expiry time), by address."""
    w = windows(session, chain_id)
    if w is None:
        return {}
    moved = and_(LedgerEntry.kind != "expired", LedgerEntry.points != 0)  # a transfer of 0 is no activity
    last_moved = func.max(case((moved, LedgerEntry.block_time), else_=None))
    balance = func.sum(LedgerEntry.points)
    query = (
        select(LedgerEntry.customer, balance, last_moved)
        .where(LedgerEntry.chain_id == chain_id)
        .group_by(LedgerEntry.customer)
        .having(balance > 0)
    )
    if holders is not None:
        query = query.where(LedgerEntry.customer.in_(holders))
    else:
        query = query.having(last_moved + w.shortest < before)
    found = {c: (int(b), int(t)) for c, b, t in session.execute(query)}
    if w.single:
        window = w.at((0, 0))
        result = {c: HolderExpiry(b, t + window) for c, (b, t) in found.items()}
    else:
        result = _folded(session, chain_id, list(found), w)
    if holders is not None:
        return result
    return {c: e for c, e in result.items() if e.expires_at < before and e.balance > 0}


def _folded(session: Session, chain_id: int, holders: list[str], w: Windows) -> dict[str, HolderExpiry]:
    result: dict[str, HolderExpiry] = {}
    for i in range(0, len(holders), FOLD_CHUNK):
        chunk = holders[i : i + FOLD_CHUNK]
        moves: dict[str, list[Movement]] = defaultdict(list)
        rows = session.execute(
            select(
                LedgerEntry.customer,
                LedgerEntry.block_number,
                LedgerEntry.log_index,
                LedgerEntry.block_time,
                LedgerEntry.kind,
                LedgerEntry.points,
            ).where(LedgerEntry.chain_id == chain_id, LedgerEntry.customer.in_(chunk))
        )
        for customer, block, log_index, block_time, kind, points in rows:
            moves[customer].append(Movement((block, log_index), block_time, kind, points))
        for customer, ms in moves.items():
            result[customer] = holder_expiry(ms, w)
    return result


def due_holders(session: Session, chain_id: int, *, now: int) -> list[str]:
    """The holders whose points a sweep at ``now`` (the chain's time) would burn, in a fixed order."""
    return sorted(c for c, e in expiries(session, chain_id, before=now).items() if e.due(now))


def holder_expiry_of(session: Session, chain_id: int, holder: str) -> HolderExpiry:
    """One holder's balance and expiry time (zeroes: nothing held)."""
    return expiries(session, chain_id, before=0, holders=[holder]).get(holder, HolderExpiry(0, 0))
