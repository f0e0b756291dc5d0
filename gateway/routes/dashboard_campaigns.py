"""The dashboard's campaigns (issue 20): GET ``/dashboard/campaigns`` (the list), GET
``/dashboard/campaigns/<id>`` (its results), GET ``/dashboard/campaigns/<id>/<block>.csv`` (one
results block as CSV), and start/pause/stop: GET ``/dashboard/campaigns/<id>/<action>`` says what
will happen, POST with the session's CSRF token and ``confirmed=yes`` does it. The data is
gateway/services/dashboard_campaigns.py's (the operator API's services), the HTML its view's.

The session is checked before the form is read (credentials before the body).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.chain import Chain
from gateway.deps import ChainDep, SessionDep, SettingsDep
from gateway.errors import GatewayError, NotFound
from gateway.pages import PageRoute
from gateway.problems import status_of
from gateway.routes.dashboard_common import (
    CSRF_REFUSED,
    OperatorCookie,
    checked_form,
    page,
    require_operator,
    signed_in,
    to_login,
)
from gateway.services import dashboard, dashboard_auth, dashboard_campaigns, dashboard_campaigns_view
from gateway.services.dashboard_lists_view import confirm_page
from gateway.settings import GatewaySettings

router = APIRouter(include_in_schema=False, route_class=PageRoute)
ACTIVE = "/dashboard/campaigns"
CampaignId = Annotated[int, Path(ge=1, lt=2**31)]
DONE = {"start": "started", "pause": "paused", "stop": "stopped"}


@router.get("/dashboard/campaigns", response_class=Response)
def campaigns_page(
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
    campaign: Annotated[int | None, Query(ge=1, lt=2**31)] = None,
) -> Response:
    if not signed_in(session, settings, cookie):
        return to_login()
    lines = dashboard_campaigns.overview(session)
    session.commit()
    notice = f"Campaign {campaign} {done}." if campaign and done in DONE.values() else None
    content = dashboard_campaigns_view.campaigns_page(lines, notice=notice)
    return page(settings, chain.contracts.book.chain_id, cookie, title="Campaigns", active=ACTIVE, content=content)


@router.get("/dashboard/campaigns/{campaign_id}", response_class=Response)
def results_page(
    campaign_id: CampaignId, settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None
) -> Response:
    if not signed_in(session, settings, cookie):
        return to_login()
    _, decimals = dashboard.token_of(chain)
    seen = dashboard_campaigns.results(
        session, campaign_id=campaign_id, window_days=settings.campaign_window_days, token_decimals=decimals
    )
    session.commit()
    content = dashboard_campaigns_view.results_page(seen, tz=settings.display_timezone)
    return page(settings, chain.contracts.book.chain_id, cookie, title=seen.line.campaign.name, active=ACTIVE,
                content=content)  # fmt: skip


@router.get("/dashboard/campaigns/{campaign_id}/{name}.csv")
def block_csv(
    campaign_id: CampaignId,
    name: Annotated[str, Path(max_length=20)],
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
) -> Response:
    """One block of the results page as CSV."""
    require_operator(session, settings, cookie)
    if name not in dashboard_campaigns.BLOCKS:
        raise NotFound(f"no campaign results block {name!r}; there are {', '.join(dashboard_campaigns.BLOCKS)}")
    _, decimals = dashboard.token_of(chain)
    seen = dashboard_campaigns.results(
        session, campaign_id=campaign_id, window_days=settings.campaign_window_days, token_decimals=decimals
    )
    session.commit()
    filename = f"campaign-{campaign_id}-{name}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
    return Response(dashboard_campaigns.csv_text(name, seen.result), media_type="text/csv", headers=headers)


def _confirm(
    settings: GatewaySettings, session: Session, chain: Chain, cookie: str | None, campaign_id: int, action: str,
    error: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    if action not in dashboard_campaigns.ACTIONS:
        raise NotFound(f"no campaign action {action!r}; there are {', '.join(dashboard_campaigns.ACTIONS)}")
    line = dashboard_campaigns.line(session, campaign_id=campaign_id)
    session.commit()
    verb, consequence = dashboard_campaigns.ACTIONS[action]
    c = line.campaign
    content = confirm_page(
        title=f"{verb} {c.name}?", what=f"{verb} campaign #{c.id} {c.name} (now {c.status}), funded by {line.funder}.",
        consequences=[consequence], action=f"{ACTIVE}/{c.id}/{action}",
        csrf=dashboard_auth.csrf_token(settings, cookie), button=f"Confirm: {verb.lower()} {c.name}",
        cancel=ACTIVE, danger=action == "stop", error=error,
    )  # fmt: skip
    return page(settings, chain.contracts.book.chain_id, cookie, title=verb, active=ACTIVE, content=content,
                status_code=status_code)  # fmt: skip


@router.get("/dashboard/campaigns/{campaign_id}/{action}", response_class=Response)
def confirm_action(
    campaign_id: CampaignId, action: Annotated[str, Path(max_length=10)], settings: SettingsDep,
    session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None,
) -> Response:  # fmt: skip
    if not signed_in(session, settings, cookie):
        return to_login()
    return _confirm(settings, session, chain, cookie, campaign_id, action)


@router.post("/dashboard/campaigns/{campaign_id}/{action}", response_class=Response)
async def do_action(
    request: Request, campaign_id: CampaignId, action: Annotated[str, Path(max_length=10)], settings: SettingsDep,
    session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None,
) -> Response:  # fmt: skip
    if not await run_in_threadpool(signed_in, session, settings, cookie):
        return to_login()
    form = await checked_form(request, settings, cookie)
    if form is None or form.get("confirmed") != "yes":
        return await run_in_threadpool(_confirm, settings, session, chain, cookie, campaign_id, action, CSRF_REFUSED,
                                       403)  # fmt: skip
    try:
        await run_in_threadpool(dashboard_campaigns.transition, session, campaign_id=campaign_id, action=action)
        session.commit()
    except GatewayError as exc:
        session.rollback()
        if isinstance(exc, NotFound):
            raise
        return await run_in_threadpool(_confirm, settings, session, chain, cookie, campaign_id, action, exc.detail,
                                       status_of(exc))  # fmt: skip
    return RedirectResponse(f"{ACTIVE}?done={DONE[action]}&campaign={campaign_id}", status_code=303)
