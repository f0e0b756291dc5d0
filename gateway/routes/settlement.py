"""Operator API: settlement periods and their statements, reconciliation reports.
Authenticated by the operator token."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

import requests
from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from gateway.deps import ChainDep, OperatorDep, SessionDep, SettingsDep
from gateway.errors import ChainUnavailable, NotFound, problem_responses
from gateway.models import ReconciliationReport, SettlementPeriod
from gateway.routes.dashboard_common import SECURITY_HEADERS
from gateway.services import dashboard_statement, dashboard_views, reconciliation, settlement
from gateway.services import dashboard_statement_view as statement_view
from gateway.services.dashboard_statement import HumanStatement
from network.errors import TransientRpcError
from partners.statement import canonical_bytes

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/operator", tags=["settlement"])
PeriodId = Annotated[int, Path(ge=1, lt=2**63)]
TRANSIENT = (requests.ConnectionError, requests.Timeout, TransientRpcError)


class SettlementSummary(BaseModel):
    period_id: int
    status: str = Field(description="computing | submitted | settled | failed")
    trigger: str = Field(description="schedule | operator")
    from_block: int
    to_block: int
    statement_hash: str | None
    operator_net: str | None = Field(description="token base units, a decimal string (negative: the operator pays)")
    tx_hash: str | None
    settled_block: int | None
    error: str | None
    created_at: datetime
    settled_at: datetime | None
    status_url: str
    statement_url: str
    csv_url: str


class SettlementPublic(SettlementSummary):
    statement: dict[str, Any] | None = Field(description="keccak256 of its canonical JSON is the on-chain hash")


class ReconciliationPublic(BaseModel):
    id: int
    block_number: int
    ok: bool
    customers_checked: int
    partners_checked: int
    total_supply: str
    differences: list[dict[str, Any]]
    created_at: datetime


def _summary(row: SettlementPeriod, base: str) -> dict[str, Any]:
    url = f"{base}/v1/operator/settlements/{row.period_id}"
    return {
        "period_id": row.period_id,
        "status": row.status,
        "trigger": row.trigger,
        "from_block": row.from_block,
        "to_block": row.to_block,
        "statement_hash": row.statement_hash,
        "operator_net": row.operator_net,
        "tx_hash": row.tx_hash,
        "settled_block": row.settled_block,
        "error": row.error,
        "created_at": row.created_at,
        "settled_at": row.settled_at,
        "status_url": url,
        "statement_url": f"{url}/statement.json",
        "csv_url": f"{url}/statement.csv",
    }


def _period(session: SessionDep, period_id: int) -> SettlementPeriod:
    row = session.get(SettlementPeriod, period_id)
    if row is None:
        raise NotFound(f"no settlement period {period_id}")
    return row


@router.post(
    "/settlements",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SettlementSummary,
    summary="Close the period now: settle everything indexed since the last settled period",
    responses=problem_responses("unauthorized", "nothing-to-settle", "chain-unavailable"),
)
def start_settlement(_: OperatorDep, session: SessionDep, chain: ChainDep, settings: SettingsDep) -> SettlementSummary:
    row = settlement.start_now(session, chain)
    return SettlementSummary(**_summary(row, settings.public_url))


@router.get(
    "/settlements",
    response_model=list[SettlementSummary],
    summary="Settlement periods, newest first",
    responses=problem_responses("unauthorized", "validation-error"),
)
def list_settlements(
    _: OperatorDep,
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, lt=2**63, description="period ids below this one")] = None,
) -> list[SettlementSummary]:
    query = select(SettlementPeriod).order_by(SettlementPeriod.period_id.desc()).limit(limit)
    if before is not None:
        query = query.where(SettlementPeriod.period_id < before)
    answer = [SettlementSummary(**_summary(row, settings.public_url)) for row in session.scalars(query)]
    session.commit()
    return answer


@router.get(
    "/settlements/{period_id}",
    response_model=SettlementPublic,
    summary="A settlement period with its statement",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def get_settlement(period_id: PeriodId, _: OperatorDep, session: SessionDep, settings: SettingsDep) -> SettlementPublic:
    row = _period(session, period_id)
    answer = SettlementPublic(**_summary(row, settings.public_url), statement=row.statement)
    session.commit()
    return answer


@router.get(
    "/settlements/{period_id}/statement.json",
    summary="The statement's canonical JSON bytes: their keccak256 is the hash recorded on chain",
    responses={
        200: {"content": {"application/json": {}}},
        **problem_responses("unauthorized", "not-found", "validation-error"),
    },
)
def get_statement_json(period_id: PeriodId, _: OperatorDep, session: SessionDep) -> Response:
    row = _period(session, period_id)
    session.commit()
    if row.statement is None:
        raise NotFound(f"period {period_id} has no statement yet (status {row.status})")
    return Response(canonical_bytes(row.statement), media_type="application/json")


@router.get(
    "/settlements/{period_id}/statement.csv",
    summary="The statement as CSV",
    responses={
        200: {"content": {"text/csv": {}}},
        **problem_responses("unauthorized", "not-found", "validation-error"),
    },
)
def get_statement_csv(period_id: PeriodId, _: OperatorDep, session: SessionDep) -> Response:
    row = _period(session, period_id)
    session.commit()
    if row.statement_csv is None:
        raise NotFound(f"period {period_id} has no statement yet (status {row.status})")
    headers = {"Content-Disposition": f'attachment; filename="settlement-{period_id}.csv"'}
    return Response(row.statement_csv, media_type="text/csv", headers=headers)


def _human(session: SessionDep, chain: ChainDep, settings: SettingsDep, period_id: int) -> HumanStatement:
    return dashboard_statement.human_statement(session, chain, period_id, settings.display_timezone)


def _printable(settings: SettingsDep, chain: ChainDep, title: str, content: str) -> HTMLResponse:
    body = dashboard_views.page(
        title=title, brand=settings.display_name, area="Statement", home="/dashboard", nav="", content=content,
        chain_id=chain.contracts.book.chain_id, scripts="",
    )  # fmt: skip
    return HTMLResponse(body, headers=SECURITY_HEADERS)


@router.get(
    "/settlements/{period_id}/statement.html",
    response_class=HTMLResponse,
    summary="The statement for people: dates, partners by name, who pays whom (printable HTML)",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def get_statement_html(
    period_id: PeriodId, _: OperatorDep, session: SessionDep, chain: ChainDep, settings: SettingsDep
) -> HTMLResponse:
    h = _human(session, chain, settings, period_id)
    return _printable(settings, chain, f"Statement · period {period_id}", statement_view.period_page(h, links=False))


@router.get(
    "/settlements/{period_id}/partners/{partner_id}/statement.html",
    response_class=HTMLResponse,
    summary="One partner's statement of the period for people (printable HTML)",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def get_partner_statement_html(
    period_id: PeriodId,
    partner_id: Annotated[int, Path(ge=1, lt=2**32)],
    _: OperatorDep,
    session: SessionDep,
    chain: ChainDep,
    settings: SettingsDep,
) -> HTMLResponse:
    h = _human(session, chain, settings, period_id)
    content = statement_view.partner_page(h, partner_id, links=False)
    return _printable(settings, chain, f"{h.name(partner_id)} · period {period_id}", content)


@router.get(
    "/settlements/{period_id}/statement-named.csv",
    summary="The statement as CSV for people: partners by name, the period's dates, who pays whom",
    responses={
        200: {"content": {"text/csv": {}}},
        **problem_responses("unauthorized", "not-found", "validation-error"),
    },
)
def get_statement_named_csv(
    period_id: PeriodId,
    _: OperatorDep,
    session: SessionDep,
    chain: ChainDep,
    settings: SettingsDep,
    partner_id: Annotated[int | None, Query(ge=1, lt=2**32, description="only this partner's line")] = None,
) -> Response:
    h = _human(session, chain, settings, period_id)
    if partner_id is not None:
        h.view_of(partner_id)  # NotFound when the partner has no line
    suffix = f"-partner-{partner_id}" if partner_id else ""
    headers = {"Content-Disposition": f'attachment; filename="statement-{period_id}{suffix}.csv"'}
    return Response(h.csv(partner_id), media_type="text/csv", headers=headers)


def _report(r: ReconciliationReport) -> ReconciliationPublic:
    return ReconciliationPublic(
        id=r.id,
        block_number=r.block_number,
        ok=r.ok,
        customers_checked=r.customers_checked,
        partners_checked=r.partners_checked,
        total_supply=r.total_supply,
        differences=r.differences,
        created_at=r.created_at,
    )


@router.get(
    "/reconciliations",
    response_model=list[ReconciliationPublic],
    summary="Reconciliation reports, newest first",
    responses=problem_responses("unauthorized", "validation-error"),
)
def list_reconciliations(
    _: OperatorDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    only_differences: bool = False,
) -> list[ReconciliationPublic]:
    query = select(ReconciliationReport).order_by(ReconciliationReport.id.desc()).limit(limit)
    if only_differences:
        query = query.where(ReconciliationReport.ok.is_(False))
    answer = [_report(r) for r in session.scalars(query)]
    session.commit()
    return answer


@router.get(
    "/reconciliations/latest",
    response_model=ReconciliationPublic,
    summary="The latest reconciliation report",
    responses=problem_responses("unauthorized", "not-found"),
)
def latest_reconciliation(_: OperatorDep, session: SessionDep) -> ReconciliationPublic:
    r = session.scalar(select(ReconciliationReport).order_by(ReconciliationReport.id.desc()).limit(1))
    if r is None:
        raise NotFound("no reconciliation has run yet")
    answer = _report(r)
    session.commit()
    return answer


@router.post(
    "/reconciliations",
    status_code=status.HTTP_201_CREATED,
    response_model=ReconciliationPublic,
    summary="Reconcile the store with the chain now (at the indexer's checkpoint)",
    responses=problem_responses("unauthorized", "not-found", "chain-unavailable"),
)
def run_reconciliation(_: OperatorDep, session: SessionDep, chain: ChainDep) -> ReconciliationPublic:
    try:
        r = reconciliation.reconcile(session, chain)
    except TRANSIENT as exc:
        session.rollback()
        raise ChainUnavailable(f"the chain cannot be reached ({type(exc).__name__})") from exc
    if r is None:
        raise NotFound("nothing is indexed yet: no block to reconcile at")
    answer = _report(r)
    session.commit()
    return answer
