"""The dashboard's tier page: the ladder in force, its members and recalculations (GET); a
proposed ladder dry-run (POST ``/dashboard/tiers/dry-run``: what it would do, nothing written)
and applied (POST ``/dashboard/tiers/apply``, the same fields and ``confirmed=yes``: a new version
in force at once, its recalculation started). The services are the operator API's
(gateway/services/dashboard_tiers.py); a refusal shows the form again with the problem's detail.

The session is checked before the form is read (credentials before the body).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from gateway import enqueue
from gateway.deps import ChainDep, SessionDep, SettingsDep
from gateway.errors import GatewayError
from gateway.pages import PageRoute
from gateway.problems import status_of
from gateway.routes.dashboard_common import CSRF_REFUSED, OperatorCookie, checked_form, page, signed_in, to_login
from gateway.services import dashboard_auth, dashboard_tiers, dashboard_tiers_view, tiers

router = APIRouter(include_in_schema=False, route_class=PageRoute)
ACTIVE = "/dashboard/tiers"
NOTICES = {"applied": "The ladder is in force; members are being recalculated (progress below)."}


def _page(
    settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: str | None, *,
    values: dict[str, str] | None = None, notice: str | None = None, error: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    overview = dashboard_tiers.overview(session)
    session.commit()
    content = dashboard_tiers_view.tiers_page(
        overview, csrf=dashboard_auth.csrf_token(settings, cookie),
        values=values or dashboard_tiers.form_of(overview.active), tz=settings.display_timezone, notice=notice,
        error=error,
    )  # fmt: skip
    return page(settings, chain.contracts.book.chain_id, cookie, title="Tiers", active=ACTIVE, content=content,
                status_code=status_code)  # fmt: skip


@router.get("/dashboard/tiers", response_class=Response)
def tiers_page(
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    if not signed_in(session, settings, cookie):
        return to_login()
    return _page(settings, session, chain, cookie, notice=NOTICES.get(done or ""))


@router.post("/dashboard/tiers/dry-run", response_class=Response)
async def dry_run(
    request: Request, settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None
) -> Response:
    if not await run_in_threadpool(signed_in, session, settings, cookie):
        return to_login()
    form = await checked_form(request, settings, cookie)
    if form is None:
        return await run_in_threadpool(_page, settings, session, chain, cookie, error=CSRF_REFUSED, status_code=403)
    try:
        seen = await run_in_threadpool(dashboard_tiers.dry_run, session, form, now=tiers.clock(settings))
    except GatewayError as exc:
        session.rollback()
        return await run_in_threadpool(_page, settings, session, chain, cookie, values=form, error=exc.detail,
                                       status_code=status_of(exc))  # fmt: skip
    session.commit()
    content = dashboard_tiers_view.dry_run_page(seen, csrf=dashboard_auth.csrf_token(settings, cookie), values=form)
    return page(settings, chain.contracts.book.chain_id, cookie, title="Tiers · dry-run", active=ACTIVE,
                content=content)  # fmt: skip


@router.post("/dashboard/tiers/apply", response_class=Response)
async def apply(
    request: Request, settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None
) -> Response:
    if not await run_in_threadpool(signed_in, session, settings, cookie):
        return to_login()
    form = await checked_form(request, settings, cookie)
    if form is None or form.get("confirmed") != "yes":
        return await run_in_threadpool(_page, settings, session, chain, cookie, error=CSRF_REFUSED, status_code=403)
    try:
        run = await run_in_threadpool(dashboard_tiers.apply, session, form, now=tiers.clock(settings))
        run_id, running = run.id, run.status == "running"
        session.commit()
    except GatewayError as exc:
        session.rollback()
        return await run_in_threadpool(_page, settings, session, chain, cookie, values=form, error=exc.detail,
                                       status_code=status_of(exc))  # fmt: skip
    if running:
        await run_in_threadpool(enqueue.recalculate_tiers, run_id)
    return RedirectResponse(f"{ACTIVE}?done=applied#run-{run_id}", status_code=303)
