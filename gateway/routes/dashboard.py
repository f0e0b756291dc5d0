"""The web pages: the operator dashboard (``/dashboard``, behind the operator token), plus the
static files of every page (the customer page, ``/me``, is gateway/routes/me.py).

Browsers cannot send a Bearer header, so the operator signs in once with the token in a form and
the browser keeps an HttpOnly, SameSite=Strict cookie (gateway/services/dashboard_auth.py).
Signing out ends the session on the server, not only in the browser. The login form is
rate-limited per client address. Errors a browser navigates to are pages with a retry link
(gateway/pages.py). The pages are left out of the OpenAPI schema: they are HTML for people, not API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.chain import Chain
from gateway.deps import ChainDep, ClientLimiterDep, SessionDep, SettingsDep, client_address, client_refused
from gateway.errors import NotFound, RateLimited
from gateway.pages import PageRoute
from gateway.problems import headers_of
from gateway.routes import (
    dashboard_actions,
    dashboard_analytics,
    dashboard_campaigns,
    dashboard_members,
    dashboard_messages,
    dashboard_pages,
    dashboard_rules,
    dashboard_tiers,
)
from gateway.routes.dashboard_common import (
    OperatorCookie,
    html,
    page,
    read_form,
    require_operator,
    signed_in,
)
from gateway.services import (
    dashboard,
    dashboard_auth,
    dashboard_chart,
    dashboard_views,
    date_range,
    settlement_periods,
)
from gateway.settings import GatewaySettings
from loyalty.statement import canonical_bytes
from network.store import SettlementPeriod

router = APIRouter(include_in_schema=False, route_class=PageRoute)
STATIC = dashboard_views.TEMPLATES.parent / "static"
STATIC_FILES = {  # name -> media type: only these are served
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
    "analytics.js": "text/javascript",
    "wallet.js": "text/javascript",
    "customer.css": "text/css",
    "points-logo.svg": "image/svg+xml",
    "vendor/chart-4.6.1.umd.min.js": "text/javascript",
}
HISTORY_SHOWN = 100
CHART_SCRIPTS = (
    '<script src="/static/vendor/chart-4.6.1.umd.min.js"></script><script src="/static/dashboard.js"></script>'
)
CustomerCookie = Annotated[str | None, Cookie(alias=dashboard_auth.CUSTOMER_COOKIE)]


class CustomerSessionCookie(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=100, description="the token of POST /v1/auth/session")


def _html(body: str, status_code: int = 200) -> HTMLResponse:
    return html(body, status_code)


def _set_cookie(response: Response, settings: GatewaySettings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=dashboard_auth.cookie_secure(settings),
    )


def _operator_page(settings: GatewaySettings, chain_id: int, content: str, *, title: str, nav: str, js: str) -> str:
    return dashboard_views.page(
        title=title,
        brand=settings.display_name,
        area="Operator",
        home="/dashboard",
        nav=nav,
        content=content,
        chain_id=chain_id,
        scripts=js,
    )


@router.get("/static/{name:path}")
def static_file(name: str) -> FileResponse:
    if name not in STATIC_FILES:
        raise NotFound(f"no static file {name!r}")
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name], headers=headers)


# --- the operator


def _login_page(settings: GatewaySettings, chain: Chain, error: str | None, status_code: int) -> HTMLResponse:
    content = dashboard_views.login_page(dashboard_auth.OPERATOR_SESSION_S // 3_600, error)
    page = _operator_page(settings, chain.contracts.book.chain_id, content, title="Sign in", nav="", js="")
    return _html(page, status_code=status_code)


@router.get("/dashboard/login", response_class=HTMLResponse)
def login_form(settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None) -> Response:
    if signed_in(session, settings, cookie):
        return RedirectResponse("/dashboard", status_code=303)
    return _login_page(settings, chain, None, 200)


def _open_operator_session(session: Session, settings: GatewaySettings) -> str:
    value = dashboard_auth.open_operator_session(session, settings)
    session.commit()
    return value


@router.post("/dashboard/login", response_class=HTMLResponse)
async def login(
    request: Request, settings: SettingsDep, session: SessionDep, chain: ChainDep, limiter: ClientLimiterDep
) -> Response:
    """The form's token, checked in constant time; a wrong one answers 401 with the form again.
    Every attempt takes one of the client address's ``operator`` tokens (shared with wrong
    operator tokens on the API): past them, 429 with the form and Retry-After."""
    decision = await run_in_threadpool(limiter.take, f"operator:{client_address(request)}")
    if not decision.allowed:
        refused: RateLimited = client_refused(limiter, decision, "sign-in attempts")
        response = _login_page(settings, chain, "Too many attempts from this address; try again later.", 429)
        response.headers.update(headers_of(refused))
        return response
    token = (await read_form(request)).get("token", "")
    if token and dashboard_auth.token_is_operator(settings, token):
        value = await run_in_threadpool(_open_operator_session, session, settings)
        response = RedirectResponse("/dashboard", status_code=303)
        _set_cookie(response, settings, dashboard_auth.OPERATOR_COOKIE, value, dashboard_auth.OPERATOR_SESSION_S)
        return response
    return _login_page(settings, chain, "That is not the operator token.", 401)


@router.post("/dashboard/logout")
async def logout(
    request: Request, settings: SettingsDep, session: SessionDep, cookie: OperatorCookie = None
) -> Response:
    """Ends the session on the server (a copy of the cookie no longer works), then in the browser.
    The form carries the session's CSRF token: another site cannot sign the operator out."""
    if not dashboard_auth.csrf_valid(settings, cookie, (await read_form(request)).get("csrf")):
        return RedirectResponse("/dashboard", status_code=303)
    await run_in_threadpool(_close, session, cookie)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(dashboard_auth.OPERATOR_COOKIE, path="/")
    return response


def _close(session: Session, cookie: str | None) -> None:
    dashboard_auth.close_operator_session(session, cookie)
    session.commit()


@router.get("/dashboard", response_class=HTMLResponse)
def operator_dashboard(
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> Response:
    """The overview; ``from``/``to`` (YYYY-MM-DD, days of the display zone) set the chart's range."""
    if not signed_in(session, settings, cookie):
        return RedirectResponse("/dashboard/login", status_code=303)
    chain_id = chain.contracts.book.chain_id
    tz = settings.display_timezone
    range_error = None
    try:
        chart = dashboard_chart.requested(session, chain_id=chain_id, tz=tz, start=start, end=end)
    except date_range.RangeError as exc:
        range_error = f"The chart's range was not drawn: {exc}"
        chart = dashboard_chart.requested(session, chain_id=chain_id, tz=tz, start=None, end=None)
    overview = dashboard.overview(session, chain, chart)
    content = dashboard_views.dashboard_page(overview, tz, range_error)
    return page(
        settings, chain_id, cookie, title="Overview", active="/dashboard", content=content, scripts=CHART_SCRIPTS
    )


def _statement_of(session: SessionDep, period_id: int) -> SettlementPeriod:
    try:
        return settlement_periods.period_with_statement(session, period_id=period_id)
    finally:
        session.commit()


@router.get("/dashboard/settlements/{period_id}/statement.json")
def statement_json(
    period_id: int, settings: SettingsDep, session: SessionDep, cookie: OperatorCookie = None
) -> Response:
    """The same canonical bytes as the operator API (their keccak256 is on chain)."""
    require_operator(session, settings, cookie)
    row = _statement_of(session, period_id)
    return Response(canonical_bytes(row.statement or {}), media_type="application/json")


@router.get("/dashboard/settlements/{period_id}/statement.csv")
def statement_csv(
    period_id: int, settings: SettingsDep, session: SessionDep, cookie: OperatorCookie = None
) -> Response:
    require_operator(session, settings, cookie)
    row = _statement_of(session, period_id)
    headers = {"Content-Disposition": f'attachment; filename="settlement-{period_id}.csv"'}
    return Response(row.statement_csv or "", media_type="text/csv", headers=headers)


# the operator's other pages and actions (a new page: a route there, a line in dashboard_html.NAV)
router.include_router(dashboard_actions.router)  # first: /dashboard/settlements/new before .../{period_id}
router.include_router(dashboard_pages.router)
router.include_router(dashboard_tiers.router)
router.include_router(dashboard_members.router)
router.include_router(dashboard_rules.router)
router.include_router(dashboard_messages.router)  # issue 18: the log, the mailbox, delivery rates
router.include_router(dashboard_analytics.router)  # issue 19: KPIs, charts, matrices, CSV per block
router.include_router(dashboard_campaigns.router)  # issue 20: the list, results with intervals, start/pause/stop
