"""What the operator dashboard and the customer page show, read from the store and the chain.

Points issued, redeemed and reversed come from the ledger the indexer derives from the chain's
events (so they lag by the indexer's beat, about a second); liabilities (``Clearing.exposureOf``:
issuance not yet settled, in settlement-token base units), deposited funds and the total supply
are read from the chain at the moment the page is rendered. An unreachable node does not take
the page down: the chain figures are left out and the page says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from web3.exceptions import Web3Exception

from gateway.chain import Chain
from gateway.models import OperatorAlert, Partner, ReconciliationReport, SettlementPeriod
from network.errors import TransientRpcError
from network.store import LedgerEntry

CHAIN_ERRORS = (requests.ConnectionError, requests.Timeout, TransientRpcError, Web3Exception, OSError)
BUCKETS_S = (60, 3_600, 86_400)  # the chart's step: a minute, an hour or a day, the finest that fits
MAX_BUCKETS = 90
SETTLEMENTS_SHOWN = 12
ALERTS_SHOWN = 5


@dataclass
class PartnerFigures:
    id: int
    name: str
    status: str
    currency: str
    issue_price: int
    reimbursement_rate: int
    points_issued: int = 0
    points_redeemed: int = 0
    points_reversed: int = 0
    exposure: int | None = None  # settlement-token base units; None: the chain could not be read
    funds: int | None = None
    free_funds: int | None = None


@dataclass
class Series:
    """Points issued and redeemed per bucket of ``step_s`` seconds (bucket starts, unix time)."""

    step_s: int
    starts: list[int] = field(default_factory=list)
    issued: list[int] = field(default_factory=list)
    redeemed: list[int] = field(default_factory=list)


@dataclass
class Overview:
    partners: list[PartnerFigures]
    points_issued: int
    points_redeemed: int
    points_reversed: int
    customers: int
    total_supply: int | None
    total_exposure: int | None
    token_symbol: str
    token_decimals: int
    series: Series
    settlements: list[SettlementPeriod]
    reconciliation: ReconciliationReport | None
    alerts: list[OperatorAlert]
    chain_error: str | None


def ledger_totals(session: Session, chain_id: int) -> dict[int | None, dict[str, int]]:
    """Per partner (None: movements between customers), the points of each ledger kind, as
    positive numbers."""
    totals: dict[int | None, dict[str, int]] = {}
    rows = session.execute(
        select(LedgerEntry.partner_id, LedgerEntry.kind, func.sum(LedgerEntry.points))
        .where(LedgerEntry.chain_id == chain_id)
        .group_by(LedgerEntry.partner_id, LedgerEntry.kind)
    )
    for partner_id, kind, points in rows:
        totals.setdefault(partner_id, {})[kind] = abs(int(points or 0))
    return totals


def choose_step(first: int, last: int) -> int:
    """The finest bucket that spans ``first..last`` in at most ``MAX_BUCKETS`` buckets."""
    span = max(0, last - first)
    return next((step for step in BUCKETS_S if span // step < MAX_BUCKETS), BUCKETS_S[-1])


def series(session: Session, chain_id: int) -> Series:
    """Points issued (earned) and redeemed per bucket, every bucket from the first to the last
    present (an empty one is a zero, so the chart's time axis is even)."""
    kinds = ("earned", "redeemed")
    where = (LedgerEntry.chain_id == chain_id, LedgerEntry.kind.in_(kinds))
    first, last = session.execute(
        select(func.min(LedgerEntry.block_time), func.max(LedgerEntry.block_time)).where(*where)
    ).one()
    if first is None:
        return Series(step_s=BUCKETS_S[-1])
    step = choose_step(int(first), int(last))
    bucket = (LedgerEntry.block_time // step).label("bucket")
    sums: dict[tuple[int, str], int] = {}
    for b, kind, points in session.execute(
        select(bucket, LedgerEntry.kind, func.sum(LedgerEntry.points)).where(*where).group_by(bucket, LedgerEntry.kind)
    ):
        sums[(int(b), kind)] = abs(int(points or 0))
    out = Series(step_s=step)
    for b in range(int(first) // step, int(last) // step + 1):
        out.starts.append(b * step)
        out.issued.append(sums.get((b, "earned"), 0))
        out.redeemed.append(sums.get((b, "redeemed"), 0))
    return out


def _read_chain(chain: Chain, partners: list[PartnerFigures]) -> tuple[int, str, int]:
    """Fills each partner's exposure and funds from ``Clearing``; returns the points' total supply,
    the settlement token's symbol and decimals."""
    c = chain.contracts
    for p in partners:
        p.exposure = int(c.clearing.functions.exposureOf(p.id).call())
        p.funds = int(c.clearing.functions.fundsOf(p.id).call())
        p.free_funds = int(c.clearing.functions.freeFundsOf(p.id).call())
    supply = int(c.points.functions.totalSupply().call())
    return supply, str(c.token.functions.symbol().call()), int(c.token.functions.decimals().call())


def overview(session: Session, chain: Chain) -> Overview:
    """Everything the operator dashboard shows."""
    chain_id = chain.contracts.book.chain_id
    totals = ledger_totals(session, chain_id)
    partners = [
        PartnerFigures(
            id=p.id,
            name=p.name,
            status=p.status,
            currency=p.currency,
            issue_price=p.issue_price,
            reimbursement_rate=p.reimbursement_rate,
            points_issued=totals.get(p.id, {}).get("earned", 0),
            points_redeemed=totals.get(p.id, {}).get("redeemed", 0),
            points_reversed=totals.get(p.id, {}).get("reversed", 0),
        )
        for p in session.scalars(select(Partner).order_by(Partner.id))
    ]
    customers = int(
        session.scalar(select(func.count(func.distinct(LedgerEntry.customer))).where(LedgerEntry.chain_id == chain_id))
        or 0
    )
    settlements = list(
        session.scalars(select(SettlementPeriod).order_by(SettlementPeriod.period_id.desc()).limit(SETTLEMENTS_SHOWN))
    )
    report = session.scalar(select(ReconciliationReport).order_by(ReconciliationReport.id.desc()).limit(1))
    alerts = list(session.scalars(select(OperatorAlert).order_by(OperatorAlert.id.desc()).limit(ALERTS_SHOWN)))
    chart = series(session, chain_id)
    session.commit()  # the store is read: release the connection before the chain calls
    supply: int | None = None
    symbol, decimals, chain_error = "cUSD", 6, None
    try:
        supply, symbol, decimals = _read_chain(chain, partners)
    except CHAIN_ERRORS as exc:
        chain_error = f"the chain cannot be read ({type(exc).__name__}): liabilities and supply are not shown"
        for p in partners:
            p.exposure = p.funds = p.free_funds = None
    exposures = [p.exposure for p in partners]
    return Overview(
        partners=partners,
        points_issued=sum(p.points_issued for p in partners),
        points_redeemed=sum(p.points_redeemed for p in partners),
        points_reversed=sum(p.points_reversed for p in partners),
        customers=customers,
        total_supply=supply,
        total_exposure=None if chain_error else sum(int(e or 0) for e in exposures),
        token_symbol=symbol,
        token_decimals=decimals,
        series=chart,
        settlements=settlements,
        reconciliation=report,
        alerts=alerts,
        chain_error=chain_error,
    )


def statement_lines(row: SettlementPeriod, names: dict[int, str]) -> list[dict[str, Any]]:
    """The statement's partner lines with the partners' names (empty before it is computed)."""
    lines = (row.statement or {}).get("partners", [])
    return [{**line, "name": names.get(int(line["partner_id"]), f"#{line['partner_id']}")} for line in lines]


@dataclass(frozen=True)
class TokenInfo:
    """What a wallet needs to watch the points token (EIP-747 ``wallet_watchAsset``)."""

    address: str
    symbol: str
    decimals: int
    chain_id: int


def points_token(chain: Chain) -> TokenInfo:
    """The points token's address, symbol and decimals; the symbol falls back to the deployed
    default when the node cannot be read."""
    c = chain.contracts.points
    try:
        symbol, decimals = str(c.functions.symbol().call()), int(c.functions.decimals().call())
    except CHAIN_ERRORS:
        symbol, decimals = "PTS", 0
    return TokenInfo(address=c.address, symbol=symbol, decimals=decimals, chain_id=chain.contracts.book.chain_id)
