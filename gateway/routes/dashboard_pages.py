"""The operator dashboard's pages beyond the overview: partners and a page per partner, search,
everything failed or held, settlements and their statements for people, and the chart's data.

To add a page: a route here (``page(..., active=<its path>)``) and a line in
``gateway/services/dashboard_html.NAV``. Every route checks the operator's session first; pages
send a browser without one to the sign-in, downloads and data answer 401 problem+json.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.deps import ChainDep, SessionDep, SettingsDep
from gateway.errors import NotFound
from gateway.pages import PageRoute
from gateway.routes.dashboard_common import OperatorCookie, page, require_operator, signed_in, to_login
from gateway.services import (
    account,
    dashboard,
    dashboard_chart,
    dashboard_data,
    dashboard_lists_view,
    dashboard_partner_view,
    dashboard_statement,
    dashboard_statement_view,
    date_range,
    partner_admin,
    settlement_periods,
)

router = APIRouter(include_in_schema=False, route_class=PageRoute)
PartnerId = Annotated[int, Path(ge=1, lt=2**32)]
PeriodId = Annotated[int, Path(ge=1, lt=2**63)]
DateText = Annotated[str | None, Query(max_length=10)]
CHART_SCRIPTS = (
    '<script src="/static/vendor/chart-4.6.1.umd.min.js"></script><script src="/static/dashboard.js"></script>'
)
NOTICES = {
    "suspended": "The partner is suspended: no more earns, reversals or redemptions.",
    "reactivated": "The partner is active again.",
    "funded": "The deposit is on chain: funds and headroom below include it; held purchases are minted once they fit.",
    "rerated": "The re-rate is recorded: new prices are scheduled on chain, the limit and earn rule apply now.",
    "settling": "The period is planned and being settled; its status changes here once the chain has it.",
}


@router.get("/dashboard/partners", response_class=HTMLResponse)
def partners(settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None) -> Response:
    if not signed_in(session, settings, cookie):
        return to_login()
    ov = dashboard.overview(session, chain)
    content = dashboard_partner_view.partners_list(ov.partners, ov.token_decimals, ov.token_symbol)
    return page(settings, chain.contracts.book.chain_id, cookie, title="Partners", active="/dashboard/partners",
                content=content)  # fmt: skip


@router.get("/dashboard/partners/{partner_id}", response_class=HTMLResponse)
def partner(
    partner_id: PartnerId,
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """A partner's page: its money, rates, business over time, purchases, redemptions, webhooks,
    statements, flags and the operator's actions."""
    if not signed_in(session, settings, cookie):
        return to_login()
    try:
        row = partner_admin.get_partner(session, partner_id)
    except NotFound:
        session.commit()
        raise
    chain_id, tz = chain.contracts.book.chain_id, settings.display_timezone
    try:
        chart = dashboard_chart.requested(
            session, chain_id=chain_id, tz=tz, start=start, end=end, partner_id=partner_id
        )
    except date_range.RangeError:
        chart = dashboard_chart.requested(
            session, chain_id=chain_id, tz=tz, start=None, end=None, partner_id=partner_id
        )
    held, failed = dashboard_data.held_and_failed(session, partner_id)
    pg = dashboard_partner_view.PartnerPage(
        account=account.account(session, chain, row, strict=False, limit=25),
        redemptions=dashboard_data.redemptions_of(session, partner_id),
        endpoints=dashboard_data.endpoints_of(session, partner_id),
        held=held,
        failed=failed,
        chart=chart,
        names=dashboard_data.partner_names(session),
        warning_ratio=settings.headroom_warning_ratio,
    )
    session.commit()
    if pg.account.money is not None:
        pg.token_symbol, pg.token_decimals = pg.account.money.token_symbol, pg.account.money.token_decimals
    content = dashboard_partner_view.partner_page(pg, tz, NOTICES.get(done or ""))
    return page(settings, chain_id, cookie, title=row.name, active="/dashboard/partners", content=content,
                scripts=CHART_SCRIPTS)  # fmt: skip


@router.get("/dashboard/search", response_class=HTMLResponse)
def search(
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Customers (wallet or customer ref), purchases and redemptions (ids, voucher codes)."""
    if not signed_in(session, settings, cookie):
        return to_login()
    found = dashboard_data.search(session, q)
    names = dashboard_data.partner_names(session)
    session.commit()
    content = dashboard_lists_view.search_page(found, names, settings.display_timezone)
    return page(settings, chain.contracts.book.chain_id, cookie, title="Search", active="/dashboard/search",
                content=content)  # fmt: skip


@router.get("/dashboard/issues", response_class=HTMLResponse)
def issues(settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None) -> Response:
    """Everything failed or held, with its reason, and the partners flagged."""
    if not signed_in(session, settings, cookie):
        return to_login()
    found = dashboard_data.issues(session)
    ov = dashboard.overview(session, chain)
    flagged = [(p.id, dashboard_data.why_flagged(p.flags), p.flags) for p in ov.partners if p.flags]
    names = {p.id: p.name for p in ov.partners}
    content = dashboard_lists_view.issues_page(found, flagged, names, settings.display_timezone)
    return page(settings, chain.contracts.book.chain_id, cookie, title="Issues", active="/dashboard/issues",
                content=content)  # fmt: skip


@router.get("/dashboard/chart.json")
def chart_data(
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    partner: Annotated[int | None, Query(ge=1, lt=2**32)] = None,
) -> JSONResponse:
    """The chart's series as JSON (``from``/``to``: YYYY-MM-DD, days of the display zone)."""
    require_operator(session, settings, cookie)
    try:
        found = dashboard_chart.requested(
            session, chain_id=chain.contracts.book.chain_id, tz=settings.display_timezone, start=start, end=end,
            partner_id=partner,
        )  # fmt: skip
    except date_range.RangeError as exc:
        session.commit()
        raise RequestValidationError([{"loc": ("query", "from"), "msg": str(exc), "type": "value_error"}]) from exc
    return JSONResponse(found.as_json(), headers={"Cache-Control": "no-store"})


@router.get("/dashboard/settlements", response_class=HTMLResponse)
def settlements(
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    if not signed_in(session, settings, cookie):
        return to_login()
    rows = settlement_periods.list_periods(session, limit=100)
    session.commit()
    symbol, decimals = dashboard.token_of(chain)
    content = dashboard_lists_view.settlements_page(rows, decimals, symbol, settings.display_timezone,
                                                    NOTICES.get(done or ""))  # fmt: skip
    return page(settings, chain.contracts.book.chain_id, cookie, title="Settlements", active="/dashboard/settlements",
                content=content)  # fmt: skip


@router.get("/dashboard/settlements/{period_id}", response_class=HTMLResponse)
def settlement(
    period_id: PeriodId, settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None
) -> Response:
    """The period's statement for people: dates, names, who pays whom."""
    if not signed_in(session, settings, cookie):
        return to_login()
    h = dashboard_statement.human_statement(session, chain, period_id, settings.display_timezone)
    return page(settings, chain.contracts.book.chain_id, cookie, title=f"Statement · period {period_id}",
                active="/dashboard/settlements", content=dashboard_statement_view.period_page(h))  # fmt: skip


@router.get("/dashboard/settlements/{period_id}/partners/{partner_id}", response_class=HTMLResponse)
def partner_statement(
    period_id: PeriodId,
    partner_id: PartnerId,
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
) -> Response:
    """One partner's printable statement of the period."""
    if not signed_in(session, settings, cookie):
        return to_login()
    h = dashboard_statement.human_statement(session, chain, period_id, settings.display_timezone)
    content = dashboard_statement_view.partner_page(h, partner_id)
    return page(settings, chain.contracts.book.chain_id, cookie, title=f"{h.name(partner_id)} · period {period_id}",
                active="/dashboard/settlements", content=content)  # fmt: skip


@router.get("/dashboard/settlements/{period_id}/statement-named.csv")
def statement_named_csv(
    period_id: PeriodId,
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    partner: Annotated[int | None, Query(ge=1, lt=2**32)] = None,
) -> Response:
    """The statement as a CSV with names and dates (of one partner with ``partner``)."""
    require_operator(session, settings, cookie)
    h = dashboard_statement.human_statement(session, chain, period_id, settings.display_timezone)
    if partner is not None:
        h.view_of(partner)  # NotFound for a partner without a line
    suffix = f"-partner-{partner}" if partner else ""
    headers = {"Content-Disposition": f'attachment; filename="statement-{period_id}{suffix}.csv"'}
    return Response(h.csv(partner), media_type="text/csv", headers=headers)
