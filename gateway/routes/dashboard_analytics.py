"""The dashboard's analytics section (issue 19): GET ``/dashboard/analytics`` (the KPIs, the charts and
the matrices of a period, coalition-wide or for a partner: ``from``, ``to``, ``partner``, ``grain``)
and GET ``/dashboard/analytics/<block>.csv`` with the same query (one block as CSV, computed by the
service call its panel's figures come from: gateway/services/dashboard_analytics.py).

A page whose filters are not read shows the error and the default period (the 30 days ending
yesterday, coalition-wide); a CSV whose filters are not read is a 422 problem.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.exceptions import RequestValidationError

from gateway.deps import ChainDep, SessionDep, SettingsDep
from gateway.errors import NotFound
from gateway.pages import PageRoute
from gateway.routes.dashboard_common import OperatorCookie, page, require_operator, signed_in, to_login
from gateway.services import dashboard, dashboard_analytics, dashboard_analytics_view
from gateway.services.analytics import PeriodError

router = APIRouter(include_in_schema=False, route_class=PageRoute)
ACTIVE = "/dashboard/analytics"
SCRIPTS = '<script src="/static/vendor/chart-4.6.1.umd.min.js"></script><script src="/static/analytics.js"></script>'
Day = Annotated[str | None, Query(max_length=10)]
PartnerQ = Annotated[str | None, Query(max_length=10)]
GrainQ = Annotated[str | None, Query(max_length=5)]


def _today() -> datetime:
    return datetime.now(UTC)


@router.get("/dashboard/analytics", response_class=Response)
def analytics_page(
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    partner: PartnerQ = None,
    grain: GrainQ = None,
) -> Response:
    """The analytics of a period for the coalition or a partner."""
    if not signed_in(session, settings, cookie):
        return to_login()
    today = _today().date()
    error = None
    try:
        filters = dashboard_analytics.Filters.read(start=start, end=end, partner=partner, grain=grain, today=today)
    except PeriodError as exc:
        error = f"The filters were not read: {exc}"
        filters = dashboard_analytics.Filters.read(start=None, end=None, partner=None, grain=None, today=today)
    seen = dashboard_analytics.overview(
        session, filters=filters, chain_id=settings.chain_id, churn_days=settings.churn_days
    )
    session.commit()
    symbol, decimals = dashboard.token_of(chain)
    content = dashboard_analytics_view.analytics_page(seen, decimals=decimals, symbol=symbol, error=error)
    return page(settings, chain.contracts.book.chain_id, cookie, title="Analytics", active=ACTIVE, content=content,
                scripts=SCRIPTS)  # fmt: skip


@router.get("/dashboard/analytics/{name}.csv")
def block_csv(
    name: Annotated[str, Path(max_length=20)],
    settings: SettingsDep,
    session: SessionDep,
    cookie: OperatorCookie = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    partner: PartnerQ = None,
    grain: GrainQ = None,
) -> Response:
    """One block of the page as CSV, for the same filters."""
    require_operator(session, settings, cookie)
    if name not in dashboard_analytics.BLOCKS:
        raise NotFound(f"no analytics block {name!r}; there are {', '.join(dashboard_analytics.BLOCKS)}")
    try:
        filters = dashboard_analytics.Filters.read(
            start=start, end=end, partner=partner, grain=grain, today=_today().date()
        )
    except PeriodError as exc:
        raise RequestValidationError([{"loc": ("query", "from"), "msg": str(exc), "type": "value_error"}]) from exc
    data = dashboard_analytics.block(
        session, name, filters=filters, chain_id=settings.chain_id, churn_days=settings.churn_days
    )
    names = dashboard_analytics.partners(session)
    session.commit()
    scope = "coalition" if filters.partner_id is None else f"partner-{filters.partner_id}"
    filename = f"analytics-{name}-{scope}-{filters.start}-{filters.end}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
    return Response(dashboard_analytics.csv_text(name, data, names), media_type="text/csv", headers=headers)
