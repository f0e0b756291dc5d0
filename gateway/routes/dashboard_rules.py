"""The dashboard's earning rules: every partner's version in force (GET ``/dashboard/rules``), a
partner's versions and the draft form (GET ``/dashboard/rules/{id}``), a draft written (POST
``.../drafts``: the operator API's JSON, a refusal shown inline), a draft simulated over the last
days' purchases (GET ``.../simulate?version=V&days=N``: nothing is written) and activated (POST
``.../activate`` with ``confirmed=yes``). The services are the operator API's
(gateway/services/dashboard_rules.py on rule_sets.py).

The session is checked before the form is read (credentials before the body). The draft's form
may be larger than the dashboard's other forms (its JSON): up to ``DRAFT_FORM_BYTES``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from gateway.deps import ChainDep, SessionDep, SettingsDep
from gateway.errors import GatewayError, NotFound, RulesInvalid
from gateway.pages import PageRoute
from gateway.problems import status_of
from gateway.routes.dashboard_common import CSRF_REFUSED, OperatorCookie, checked_form, page, signed_in, to_login
from gateway.services import dashboard, dashboard_auth, dashboard_rules, dashboard_rules_view
from gateway.settings import GatewaySettings

router = APIRouter(include_in_schema=False, route_class=PageRoute)
ACTIVE = "/dashboard/rules"
PartnerId = Annotated[int, Path(ge=1, lt=2**32)]
DRAFT_FORM_BYTES = 3 * dashboard_rules.MAX_DRAFT_CHARS  # urlencoded JSON: up to three bytes a character
NOTICES = {
    "drafted": "The draft is saved: simulate it below, then activate it.",
    "activated": "The version is in force: purchases accepted from now on earn by it.",
}


def _page(
    settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: str | None, partner_id: int, *,
    text: str | None = None, notice: str | None = None, error: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    pg = dashboard_rules.rules_page(session, partner_id=partner_id)
    session.commit()
    content = dashboard_rules_view.rules_page(
        pg, csrf=dashboard_auth.csrf_token(settings, cookie), text=text or dashboard_rules.form_text(pg.active),
        tz=settings.display_timezone, notice=notice, error=error,
    )  # fmt: skip
    return page(settings, chain.contracts.book.chain_id, cookie, title=f"Rules · {pg.partner.name}", active=ACTIVE,
                content=content, status_code=status_code)  # fmt: skip


@router.get("/dashboard/rules", response_class=Response)
def rules_overview(
    settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None
) -> Response:
    if not signed_in(session, settings, cookie):
        return to_login()
    partners = dashboard_rules.overview(session)
    session.commit()
    return page(settings, chain.contracts.book.chain_id, cookie, title="Rules", active=ACTIVE,
                content=dashboard_rules_view.overview_page(partners))  # fmt: skip


@router.get("/dashboard/rules/{partner_id}", response_class=Response)
def partner_rules(
    partner_id: PartnerId,
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    if not signed_in(session, settings, cookie):
        return to_login()
    return _page(settings, session, chain, cookie, partner_id, notice=NOTICES.get(done or ""))


async def _draft_form(request: Request, settings: GatewaySettings, cookie: str | None) -> dict[str, str] | None:
    """The draft's urlencoded form (larger than the others), None when its CSRF token is not this
    session's; :class:`RulesInvalid` past ``DRAFT_FORM_BYTES``."""
    raw = await request.body()
    if len(raw) > DRAFT_FORM_BYTES:
        raise RulesInvalid(f"the form is over {DRAFT_FORM_BYTES} bytes: write fewer rules")
    form = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace"), keep_blank_values=True).items()}
    return form if dashboard_auth.csrf_valid(settings, cookie, form.get("csrf")) else None


@router.post("/dashboard/rules/{partner_id}/drafts", response_class=Response)
async def write_draft(
    partner_id: PartnerId,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
) -> Response:
    if not await run_in_threadpool(signed_in, session, settings, cookie):
        return to_login()
    try:
        form = await _draft_form(request, settings, cookie)
    except RulesInvalid as exc:
        return await run_in_threadpool(_page, settings, session, chain, cookie, partner_id, error=exc.detail,
                                       status_code=status_of(exc))  # fmt: skip
    if form is None:
        return await run_in_threadpool(_page, settings, session, chain, cookie, partner_id, error=CSRF_REFUSED,
                                       status_code=403)  # fmt: skip
    text = form.get("rules", "")
    try:
        version = await run_in_threadpool(dashboard_rules.write_draft, session, partner_id=partner_id, text=text)
        number = version.version
        session.commit()
    except GatewayError as exc:
        session.rollback()
        return await run_in_threadpool(_page, settings, session, chain, cookie, partner_id, text=text,
                                       error=exc.detail, status_code=status_of(exc))  # fmt: skip
    return RedirectResponse(f"{ACTIVE}/{partner_id}?done=drafted#draft-{number}", status_code=303)


@router.get("/dashboard/rules/{partner_id}/simulate", response_class=Response)
def simulate(
    partner_id: PartnerId,
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    version: Annotated[int, Query(ge=1, lt=2**31)],
    cookie: OperatorCookie = None,
    days: Annotated[int, Query(ge=1, le=366)] = dashboard_rules_view.DEFAULT_DAYS,
) -> Response:
    """What the version would have issued over the last ``days`` days (the API's simulation); nothing is written."""
    if not signed_in(session, settings, cookie):
        return to_login()
    try:
        seen = dashboard_rules.simulate(session, partner_id=partner_id, version=version, days=days)
    except GatewayError as exc:
        session.rollback()
        return _page(settings, session, chain, cookie, partner_id, error=exc.detail, status_code=status_of(exc))
    session.commit()
    symbol, _ = dashboard.token_of(chain)
    content = dashboard_rules_view.simulation_page(
        seen, csrf=dashboard_auth.csrf_token(settings, cookie), symbol=symbol
    )
    return page(settings, chain.contracts.book.chain_id, cookie, title="Rules · simulation", active=ACTIVE,
                content=content)  # fmt: skip


@router.post("/dashboard/rules/{partner_id}/activate", response_class=Response)
async def activate(
    partner_id: PartnerId,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
) -> Response:
    if not await run_in_threadpool(signed_in, session, settings, cookie):
        return to_login()
    form = await checked_form(request, settings, cookie)
    if form is None or form.get("confirmed") != "yes":
        return await run_in_threadpool(_page, settings, session, chain, cookie, partner_id, error=CSRF_REFUSED,
                                       status_code=403)  # fmt: skip
    try:
        version = form.get("version", "")
        if not version.isdigit():
            raise NotFound(f"no version {version!r} to activate")
        await run_in_threadpool(dashboard_rules.activate, session, partner_id=partner_id, version=int(version))
        session.commit()
    except GatewayError as exc:
        session.rollback()
        return await run_in_threadpool(_page, settings, session, chain, cookie, partner_id, error=exc.detail,
                                       status_code=status_of(exc))  # fmt: skip
    return RedirectResponse(f"{ACTIVE}/{partner_id}?done=activated", status_code=303)
