"""Operator API: settlement periods and their statements, reconciliation reports.
Authenticated by the operator token."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import ChainDep, OperatorDep, SessionDep, SettingsDep
from gateway.errors import ChainUnavailable, NotFound
from gateway.problems import problem_responses
from gateway.routes.dashboard_common import SECURITY_HEADERS
from gateway.services import dashboard_statement, dashboard_views, reconciliation, settlement, settlement_periods
from gateway.services import dashboard_statement_view as statement_view
from gateway.services.dashboard_statement import HumanStatement
from loyalty.settlement import PartnerLine
from loyalty.statement import build_statement, canonical_bytes, named_csv, statement_csv
from network.errors import TransientRpcError, failure_name
from network.store import ReconciliationReport, SettlementPeriod

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/operator", tags=["settlement"])
# a two-partner period made by the same pure functions that make real statements, so it stays true
EXAMPLE_STATEMENT = build_statement(
    chain_id=31337,
    period_id=4,
    from_block=1201,
    to_block=1840,
    lines=[
        PartnerLine(1, 12_000, 300, 2_000, 120_000_000, 3_000_000, 16_000_000),
        PartnerLine(2, 1_500, 0, 9_000, 18_000_000, 0, 81_000_000),
    ],
)
EXAMPLE_NAMED_CSV = named_csv(
    EXAMPLE_STATEMENT,
    {1: "Grocery", 2: "Fuel"},
    period_start="2026-03-01 00:00 UTC",
    period_end="2026-03-08 00:00 UTC",
    settled_at="2026-03-08 00:02 UTC",
)
PeriodId = Annotated[int, Path(ge=1, lt=2**63)]


BASE = "https://gateway.example.com/v1/operator/settlements/4"
SETTLEMENT_EXAMPLE = {
    "period_id": 4,
    "status": "settled",
    "trigger": "schedule",
    "from_block": 1201,
    "to_block": 1250,
    "statement_hash": "0x1b7e3f0c9d2a5b8e4f6a1c3d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e1f",
    "operator_net": "-1250000",
    "tx_hash": "0x8f1c9a7de3b2c4a5f60718293a4b5c6d7e8f90123456789abcdef0123456789a",
    "settled_block": 1252,
    "error": None,
    "created_at": "2026-11-30T00:00:00Z",
    "settled_at": "2026-11-30T00:00:09Z",
    "status_url": BASE,
    "statement_url": f"{BASE}/statement.json",
    "csv_url": f"{BASE}/statement.csv",
}


class SettlementSummary(BaseModel):
    """A settlement period: the net amounts of the points issued and redeemed between two blocks."""

    model_config = ConfigDict(json_schema_extra={"examples": [SETTLEMENT_EXAMPLE]})

    period_id: int = Field(description="The period's id")
    status: Literal["computing", "submitted", "settled", "failed"] = Field(
        description="computing (the statement is built), submitted (its transaction is sent), settled (on chain), "
        "failed (see error)"
    )
    trigger: Literal["schedule", "operator"] = Field(
        description="schedule (beat closed it) or operator (POST /v1/operator/settlements)"
    )
    from_block: int = Field(description="The first block of the period")
    to_block: int = Field(description="The last block of the period")
    statement_hash: str | None = Field(description="keccak256 of the statement's canonical JSON, recorded on chain")
    operator_net: str | None = Field(description="token base units, a decimal string (negative: the operator pays)")
    tx_hash: str | None = Field(description="The settlement transaction, once sent")
    settled_block: int | None = Field(description="The block it settled in")
    error: str | None = Field(description="Why it failed; else null")
    created_at: datetime = Field(description="When the period was closed (UTC)")
    settled_at: datetime | None = Field(description="When it settled on chain (UTC)")
    status_url: str = Field(description="Where to GET the period")
    statement_url: str = Field(description="The statement's canonical JSON bytes")
    csv_url: str = Field(description="The statement as CSV")


class SettlementPublic(SettlementSummary):
    """A settlement period with its statement."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **SETTLEMENT_EXAMPLE,
                    "statement": {"period_id": 4, "from_block": 1201, "to_block": 1250, "partners": []},
                }
            ]
        }
    )

    statement: dict[str, Any] | None = Field(description="keccak256 of its canonical JSON is the on-chain hash")


class ReconciliationPublic(BaseModel):
    """A comparison of the store's balances and totals with the chain's, at one block."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 12,
                    "block_number": 1250,
                    "ok": True,
                    "customers_checked": 1834,
                    "partners_checked": 3,
                    "total_supply": "912340",
                    "differences": [],
                    "created_at": "2026-11-30T01:00:00Z",
                }
            ]
        }
    )

    id: int = Field(description="The report's id")
    block_number: int = Field(description="The block the store and the chain were compared at")
    ok: bool = Field(description="true: no difference")
    customers_checked: int = Field(description="Customer balances compared")
    partners_checked: int = Field(description="Partners' issued and redeemed totals compared")
    total_supply: str = Field(description="The token's total supply at that block, a decimal string")
    differences: list[dict[str, Any]] = Field(description="What differs: what, the store's value, the chain's")
    created_at: datetime = Field(description="When it ran (UTC)")


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


@router.post(
    "/settlements",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SettlementSummary,
    summary="Close the period now: settle everything indexed since the last settled period",
    responses=problem_responses("unauthorized", "nothing-to-settle", "chain-unavailable"),
)
def start_settlement(_: OperatorDep, session: SessionDep, chain: ChainDep, settings: SettingsDep) -> SettlementSummary:
    """Plans a period from the block after the last settled one to the indexed head, then a worker
    builds its statement and settles it on chain: follow ``status_url``. 409 ``nothing-to-settle``
    when no points moved since."""
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
    """Newest first, a page at a time (``before``)."""
    rows = settlement_periods.list_periods(session, limit=limit, before=before)
    answer = [SettlementSummary(**_summary(row, settings.public_url)) for row in rows]
    session.commit()
    return answer


@router.get(
    "/settlements/{period_id}",
    response_model=SettlementPublic,
    summary="A settlement period with its statement",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def get_settlement(period_id: PeriodId, _: OperatorDep, session: SessionDep, settings: SettingsDep) -> SettlementPublic:
    """The period, its status and its statement (who pays whom)."""
    row = settlement_periods.get_period(session, period_id=period_id)
    answer = SettlementPublic(**_summary(row, settings.public_url), statement=row.statement)
    session.commit()
    return answer


@router.get(
    "/settlements/{period_id}/statement.json",
    summary="The statement's canonical JSON bytes: their keccak256 is the hash recorded on chain",
    responses={
        200: {"content": {"application/json": {"example": EXAMPLE_STATEMENT}}},
        **problem_responses("unauthorized", "not-found", "validation-error"),
    },
)
def get_statement_json(period_id: PeriodId, _: OperatorDep, session: SessionDep) -> Response:
    """Exactly the bytes whose keccak256 the settlement recorded on chain: verify them yourself."""
    row = settlement_periods.get_period(session, period_id=period_id)
    session.commit()
    if row.statement is None:
        raise NotFound(f"period {period_id} has no statement yet (status {row.status})")
    return Response(canonical_bytes(row.statement), media_type="application/json")


@router.get(
    "/settlements/{period_id}/statement.csv",
    summary="The statement as CSV",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}, "example": statement_csv(EXAMPLE_STATEMENT)}}},
        **problem_responses("unauthorized", "not-found", "validation-error"),
    },
)
def get_statement_csv(period_id: PeriodId, _: OperatorDep, session: SessionDep) -> Response:
    """One line per partner: issued and redeemed points, what it pays and is paid, its net."""
    row = settlement_periods.get_period(session, period_id=period_id)
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
    responses={
        200: {"content": {"text/html": {"example": "<!doctype html><title>Statement · period 4</title>…"}}},
        **problem_responses("unauthorized", "not-found", "validation-error"),
    },
)
def get_statement_html(
    period_id: PeriodId, _: OperatorDep, session: SessionDep, chain: ChainDep, settings: SettingsDep
) -> HTMLResponse:
    """The period's dates in the display time zone, each partner by name with its issued,
    reversed and redeemed points and money, and who pays whom; a page to print or save as PDF.
    The machine statement (statement.json) is what is hashed on chain."""
    h = _human(session, chain, settings, period_id)
    return _printable(settings, chain, f"Statement · period {period_id}", statement_view.period_page(h, links=False))


@router.get(
    "/settlements/{period_id}/partners/{partner_id}/statement.html",
    response_class=HTMLResponse,
    summary="One partner's statement of the period for people (printable HTML)",
    responses={
        200: {"content": {"text/html": {"example": "<!doctype html><title>Grocery · period 4</title>…"}}},
        **problem_responses("unauthorized", "not-found", "validation-error"),
    },
)
def get_partner_statement_html(
    period_id: PeriodId,
    partner_id: Annotated[int, Path(ge=1, lt=2**32)],
    _: OperatorDep,
    session: SessionDep,
    chain: ChainDep,
    settings: SettingsDep,
) -> HTMLResponse:
    """One partner's line of the period, by name, with what it pays or is paid and the points
    redeemed between it and each other partner: the page to send to that partner. 404 when the
    partner has no line in the period."""
    h = _human(session, chain, settings, period_id)
    content = statement_view.partner_page(h, partner_id, links=False)
    return _printable(settings, chain, f"{h.name(partner_id)} · period {period_id}", content)


@router.get(
    "/settlements/{period_id}/statement-named.csv",
    summary="The statement as CSV for people: partners by name, the period's dates, who pays whom",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}, "example": EXAMPLE_NAMED_CSV}}},
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
    """For a spreadsheet: the period's dates, partners by name, amounts in the token with its
    symbol, who pays whom, then the bilateral matrix by name; with ``partner_id``, that
    partner's line and cells only (404 when it has none)."""
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
    """Newest first; ``only_differences`` to see only the reports that found one."""
    answer = [_report(r) for r in reconciliation.list_reports(session, limit=limit, only_differences=only_differences)]
    session.commit()
    return answer


@router.get(
    "/reconciliations/latest",
    response_model=ReconciliationPublic,
    summary="The latest reconciliation report",
    responses=problem_responses("unauthorized", "not-found"),
)
def latest_reconciliation(_: OperatorDep, session: SessionDep) -> ReconciliationPublic:
    """The most recent comparison of the store with the chain (404 before the first)."""
    r = reconciliation.latest_report(session)
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
    """Compares every customer's balance and every partner's totals in the store with the chain,
    at the indexer's checkpoint, and stores the report."""
    try:
        r = reconciliation.reconcile(session, chain)
    except TransientRpcError as exc:
        session.rollback()
        raise ChainUnavailable(f"the chain cannot be reached ({failure_name(exc)})") from exc
    if r is None:
        raise NotFound("nothing is indexed yet: no block to reconcile at")
    answer = _report(r)
    session.commit()
    return answer
