"""Reconciliation of the store against the chain, both read at the same block (the indexer's
checkpoint): every customer's ledger sum against ``balanceOf``, the sum of those balances
against ``totalSupply`` (a holder the ledger does not know shows there), and each partner's
value issued (earned, and restored after refunds of till captures) and value reversed since the
last settled block, from the store's events, against ``Clearing.exposureOf`` and
``Clearing.pendingCreditOf``. A difference is stored in the report,
logged as an ERROR, and raised as an operator alert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.chain import Chain
from network.indexer import CHECKPOINT
from network.store import ChainEvent, IndexerCheckpoint, LedgerEntry, OperatorAlert, ReconciliationReport

log = logging.getLogger(__name__)
BATCH = 200


def _call_batch(chain: Chain, calls: Sequence[tuple[Any, str, list[Any]]], block: int) -> list[int]:
    """``eth_call``s at ``block`` in JSON-RPC batches of ``BATCH``; each returns one uint/int."""
    w3 = chain.w3
    out: list[int] = []
    for i in range(0, len(calls), BATCH):
        chunk = calls[i : i + BATCH]
        with w3.batch_requests() as batch:
            for contract, fn, args in chunk:
                batch.add(w3.eth.call({"to": contract.address, "data": contract.encode_abi(fn, args)}, block))
            answers = batch.execute()
        for (contract, fn, _args), raw in zip(chunk, answers, strict=True):
            out.append(_decode_int(contract, fn, raw))
    return out


def _decode_int(contract: Any, fn: str, raw: bytes) -> int:
    abi = next(i for i in contract.abi if i.get("type") == "function" and i["name"] == fn)
    output = abi["outputs"][0]["type"]
    return int.from_bytes(bytes(raw)[-32:], "big", signed=output.startswith("int"))


def unsettled_values(
    session: Session, chain_id: int, after_block: int, to_block: int
) -> tuple[dict[int, int], dict[int, int]]:
    """Per partner, from the store: the value issued (``Earned`` at its issue price, and
    ``Restored`` at the capture's reimbursement rate it carries: both reserved against the
    partner's funds) and the value reversed (at its issue price) in ``(after_block, to_block]``."""
    issued: dict[int, int] = {}
    reversed_: dict[int, int] = {}
    rows = session.execute(
        select(ChainEvent.partner_id, ChainEvent.name, ChainEvent.args).where(
            ChainEvent.chain_id == chain_id,
            ChainEvent.contract == "CoalitionPoints",
            ChainEvent.name.in_(("Earned", "Reversed", "Restored")),
            ChainEvent.block_number > after_block,
            ChainEvent.block_number <= to_block,
        )
    )
    for partner_id, name, args in rows:
        out = reversed_ if name == "Reversed" else issued
        rate = args["reimbursementRate"] if name == "Restored" else args["issuePrice"]
        out[partner_id] = out.get(partner_id, 0) + int(args["points"]) * int(rate)
    return issued, reversed_


def reconcile(session: Session, chain: Chain) -> ReconciliationReport | None:
    """Compares store and chain at the indexer's checkpoint; stores and returns the report
    (None when nothing is indexed yet)."""
    chain_id = chain.contracts.book.chain_id
    cp = session.get(IndexerCheckpoint, (chain_id, CHECKPOINT))
    if cp is None:
        return None
    block = cp.block_number
    c = chain.contracts
    ledger = dict(
        session.execute(
            select(LedgerEntry.customer, func.sum(LedgerEntry.points))
            .where(LedgerEntry.chain_id == chain_id, LedgerEntry.block_number <= block)
            .group_by(LedgerEntry.customer)
            .order_by(LedgerEntry.customer)
        ).all()
    )
    customers = sorted(ledger)
    balances = _call_batch(chain, [(c.points, "balanceOf", [w]) for w in customers], block)
    differences: list[dict[str, Any]] = []
    for wallet, on_chain in zip(customers, balances, strict=True):
        if int(ledger[wallet]) != on_chain:
            differences.append({"kind": "balance", "customer": wallet, "store": int(ledger[wallet]), "chain": on_chain})
    total_supply, settled_through, partner_count = _call_batch(
        chain,
        [(c.points, "totalSupply", []), (c.clearing, "settledThroughBlock", []), (c.registry, "partnerCount", [])],
        block,
    )
    if sum(balances) != total_supply or sum(int(v) for v in ledger.values()) != total_supply:
        differences.append(
            {
                "kind": "total-supply",
                "store": sum(int(v) for v in ledger.values()),
                "chain": total_supply,
                "chain_balances_of_known_holders": sum(balances),
            }
        )
    partners = list(range(1, partner_count + 1))
    calls = [(c.clearing, fn, [p]) for p in partners for fn in ("exposureOf", "pendingCreditOf")]
    answers = _call_batch(chain, calls, block)
    issued, reversed_ = unsettled_values(session, chain_id, settled_through, block)
    for i, partner_id in enumerate(partners):
        for kind, store, on_chain in (
            ("exposure", issued.get(partner_id, 0), answers[2 * i]),
            ("pending-credit", reversed_.get(partner_id, 0), answers[2 * i + 1]),
        ):
            if store != on_chain:
                differences.append({"kind": kind, "partner_id": partner_id, "store": store, "chain": on_chain})
    report = ReconciliationReport(
        chain_id=chain_id,
        block_number=block,
        ok=not differences,
        customers_checked=len(customers),
        partners_checked=len(partners),
        total_supply=str(total_supply),
        differences=_jsonable(differences),
    )
    session.add(report)
    if differences:
        message = f"reconciliation at block {block}: {len(differences)} difference(s) between the store and the chain"
        log.error("%s: %s", message, differences[:10])
        session.add(OperatorAlert(kind="reconciliation-difference", message=message, details={"block": block}))
    session.commit()
    return report


def _jsonable(differences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Amounts as decimal strings when they do not fit 53 bits (JSON readers lose them)."""
    return [{k: (str(v) if isinstance(v, int) and abs(v) >= 2**53 else v) for k, v in d.items()} for d in differences]


def list_reports(session: Session, *, limit: int, only_differences: bool = False) -> list[ReconciliationReport]:
    """Up to ``limit`` reports, newest first; only those that found a difference when asked."""
    query = select(ReconciliationReport).order_by(ReconciliationReport.id.desc()).limit(limit)
    if only_differences:
        query = query.where(ReconciliationReport.ok.is_(False))
    return list(session.scalars(query))


def latest_report(session: Session) -> ReconciliationReport | None:
    return session.scalar(select(ReconciliationReport).order_by(ReconciliationReport.id.desc()).limit(1))
