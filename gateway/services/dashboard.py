"""What the operator dashboard and the customer page show, read from the store and the chain.

Points issued, redeemed and reversed come from the ledger the indexer derives from the chain's
events (so they lag by the indexer's beat, about a second); liabilities (``Clearing.exposureOf``:
issuance not yet settled, in settlement-token base units), deposited funds and the total supply
are read from the chain at the moment the page is rendered. An unreachable node does not take
the page down: the chain figures are left out and the page says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from web3.exceptions import Web3Exception

from gateway.chain import Chain
from gateway.services.dashboard_chart import Chart
from network.errors import TransientRpcError, failure_name
from network.store import (
    LedgerEntry,
    OperatorAlert,
    OutboxPurchase,
    Partner,
    PurchaseStatus,
    ReconciliationReport,
    SettlementPeriod,
)

CHAIN_ERRORS = (TransientRpcError, Web3Exception)
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
    headroom: int | None = None
    pending_credit: int | None = None
    issuance_limit: int = 0
    held: int = 0  # purchases waiting for headroom
    failed: int = 0  # purchases that will not be minted

    @property
    def flags(self) -> list[str]:
        """What the operator must look at: no headroom left (nothing more can be issued), purchases
        held or failed."""
        out = []
        if self.headroom == 0 and self.status == "active":
            out.append("no headroom")
        if self.held:
            out.append(f"{self.held} held")
        if self.failed:
            out.append(f"{self.failed} failed")
        return out


@dataclass
class Overview:
    partners: list[PartnerFigures]
    points_issued: int
    points_redeemed: int
    points_reversed: int
    points_expired: int  # breakage: every Expired event's points (nobody's partner's)
    customers: int
    total_supply: int | None
    total_exposure: int | None
    token_symbol: str
    token_decimals: int
    chart: Chart | None
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


def _read_chain(chain: Chain, partners: list[PartnerFigures]) -> tuple[int, str, int]:
    """Fills each partner's exposure and funds from ``Clearing``; returns the points' total supply,
    the settlement token's symbol and decimals."""
    c = chain.contracts
    for p in partners:
        p.exposure = int(c.clearing.functions.exposureOf(p.id).call())
        p.funds = int(c.clearing.functions.fundsOf(p.id).call())
        p.free_funds = int(c.clearing.functions.freeFundsOf(p.id).call())
        p.headroom = int(c.clearing.functions.headroomOf(p.id).call())
        p.pending_credit = int(c.clearing.functions.pendingCreditOf(p.id).call())
    supply = int(c.points.functions.totalSupply().call())
    return supply, str(c.token.functions.symbol().call()), int(c.token.functions.decimals().call())


def purchase_problems(session: Session) -> dict[int, dict[str, int]]:
    """Per partner, how many of its purchases are held (waiting for headroom) and failed."""
    out: dict[int, dict[str, int]] = {}
    rows = session.execute(
        select(OutboxPurchase.partner_id, OutboxPurchase.status, func.count())
        .where(OutboxPurchase.status.in_((PurchaseStatus.HELD, PurchaseStatus.FAILED)))
        .group_by(OutboxPurchase.partner_id, OutboxPurchase.status)
    )
    for pid, status, n in rows:
        out.setdefault(int(pid), {})[str(status)] = int(n)
    return out


def overview(session: Session, chain: Chain, chart: Chart | None = None) -> Overview:
    """Everything the operator dashboard shows (``chart``: the business-time chart, drawn by the caller)."""
    chain_id = chain.contracts.book.chain_id
    totals = ledger_totals(session, chain_id)
    problems = purchase_problems(session)
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
            issuance_limit=p.issuance_limit,
            held=problems.get(p.id, {}).get(PurchaseStatus.HELD.value, 0),
            failed=problems.get(p.id, {}).get(PurchaseStatus.FAILED.value, 0),
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
    session.commit()  # the store is read: release the connection before the chain calls
    supply: int | None = None
    symbol, decimals, chain_error = "cUSD", 6, None
    try:
        supply, symbol, decimals = _read_chain(chain, partners)
    except CHAIN_ERRORS as exc:
        chain_error = f"the chain cannot be read ({failure_name(exc)}): liabilities and supply are not shown"
        for p in partners:
            p.exposure = p.funds = p.free_funds = p.headroom = p.pending_credit = None
    exposures = [p.exposure for p in partners]
    return Overview(
        partners=partners,
        points_issued=sum(p.points_issued for p in partners),
        points_redeemed=sum(p.points_redeemed for p in partners),
        points_reversed=sum(p.points_reversed for p in partners),
        points_expired=totals.get(None, {}).get("expired", 0),
        customers=customers,
        total_supply=supply,
        total_exposure=None if chain_error else sum(int(e or 0) for e in exposures),
        token_symbol=symbol,
        token_decimals=decimals,
        chart=chart,
        settlements=settlements,
        reconciliation=report,
        alerts=alerts,
        chain_error=chain_error,
    )


def token_of(chain: Chain) -> tuple[str, int]:
    """The settlement token's symbol and decimals (the deployed default when the node cannot be read)."""
    try:
        t = chain.contracts.token.functions
        return str(t.symbol().call()), int(t.decimals().call())
    except CHAIN_ERRORS:
        return "cUSD", 6


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
