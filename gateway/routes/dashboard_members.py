"""The dashboard's member pages: the members and the search (GET ``/dashboard/members``), a
customer's page (GET ``/dashboard/members/{id}``), their data as JSON and every member as CSV
(downloads), the erasure (GET: its confirmation; POST with ``confirmed=yes``: done), and a
partner's CSV import (POST ``/dashboard/members/imports/customers``, multipart: the path ends as
the API's import does, so the gateway's body cap is the import's). The services are the operator
API's (gateway/routes/operator_members.py); a refusal shows the page again with its detail.

The session is checked before the form is read (credentials before the body).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

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
from gateway.routes.members import SessionsDep, _import
from gateway.services import (
    customer_records,
    dashboard_auth,
    dashboard_members,
    dashboard_members_view,
    gdpr,
    member_import,
    tiers,
)
from gateway.settings import GatewaySettings

router = APIRouter(include_in_schema=False, route_class=PageRoute)
ACTIVE = "/dashboard/members"
CustomerId = Annotated[int, Path(ge=1, lt=2**62)]
NOTICES = {"erased": "Erased: the personal data is gone; the ledger and settlement are untouched."}


def _list(
    settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: str | None, *, q: str = "",
    partner: int | None = None, after: int | None = None, error: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    found = dashboard_members.member_list(session, query=q, partner_id=partner, after=after)
    session.commit()
    content = dashboard_members_view.members_page(found, csrf=dashboard_auth.csrf_token(settings, cookie),
                                                  tz=settings.display_timezone, error=error)  # fmt: skip
    return page(settings, chain.contracts.book.chain_id, cookie, title="Members", active=ACTIVE, content=content,
                status_code=status_code)  # fmt: skip


@router.get("/dashboard/members", response_class=Response)
def members_page(
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    q: Annotated[str, Query(max_length=200)] = "",
    partner: Annotated[str, Query(max_length=12)] = "",
    after: Annotated[int | None, Query(ge=0, lt=2**62)] = None,
) -> Response:
    """A page of members, or the customers a search finds (a partner's ref, an email, a wallet)."""
    if not signed_in(session, settings, cookie):
        return to_login()
    partner_id = int(partner) if partner.isdigit() else None
    return _list(settings, session, chain, cookie, q=q, partner=partner_id, after=after)


@router.get("/dashboard/members/export.csv")
def export_members(settings: SettingsDep, session: SessionDep, sessions: SessionsDep,
                   cookie: OperatorCookie = None) -> StreamingResponse:  # fmt: skip
    """Every member as CSV: the operator API's export (GET /v1/operator/exports/customers.csv)."""
    require_operator(session, settings, cookie)
    return StreamingResponse(
        member_import.export_csv(sessions, partner_id=None),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="members.csv"'},
    )


async def _upload(request: Request, settings: GatewaySettings, cookie: str | None) -> dict[str, str] | None:
    """The multipart form, once the session is known good; None when its CSRF token is not this session's."""
    fields = dashboard_members.read_upload(request.headers.get("content-type", ""), await request.body())
    return fields if dashboard_auth.csrf_valid(settings, cookie, fields.get("csrf")) else None


@router.post("/dashboard/members/imports/customers", response_class=Response)
async def import_customers(
    request: Request, settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None
) -> Response:
    """A partner's customers from an uploaded CSV (the operator API's import), then its report."""
    if not await run_in_threadpool(signed_in, session, settings, cookie):
        return to_login()
    form = await _upload(request, settings, cookie)
    if form is None:
        return await run_in_threadpool(_list, settings, session, chain, cookie, error=CSRF_REFUSED, status_code=403)
    partner_text = form.get("partner_id", "")
    try:
        if not partner_text.isdigit():
            raise NotFound("choose the partner whose customers these are")
        partner_id = int(partner_text)
        await run_in_threadpool(member_import.check_partner, session, partner_id=partner_id)
        report = await run_in_threadpool(
            _import, session, settings, partner_id=partner_id, text=form.get("file", ""),
            dry_run=form.get("dry_run") == "yes", requested_by="operator",
        )  # fmt: skip
    except GatewayError as exc:
        session.rollback()
        return await run_in_threadpool(_list, settings, session, chain, cookie, error=exc.detail,
                                       status_code=status_of(exc))  # fmt: skip
    name = dashboard_members.partner_names(session).get(partner_id, f"partner {partner_id}")
    session.commit()
    return page(settings, chain.contracts.book.chain_id, cookie, title="Members · import", active=ACTIVE,
                content=dashboard_members_view.import_page(report, partner=name))  # fmt: skip


@router.get("/dashboard/members/{customer_id}", response_class=Response)
def member_page(
    customer_id: CustomerId,
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The customer: profile, consents with their history, wallets, tier, recent purchases."""
    if not signed_in(session, settings, cookie):
        return to_login()
    seen = dashboard_members.member_page(session, customer_id=customer_id, now=tiers.clock(settings))
    session.commit()
    content = dashboard_members_view.member_page(seen, tz=settings.display_timezone, notice=NOTICES.get(done or ""))
    return page(settings, chain.contracts.book.chain_id, cookie, title=f"Customer {customer_id}", active=ACTIVE,
                content=content)  # fmt: skip


@router.get("/dashboard/members/{customer_id}/data.json")
def member_data(customer_id: CustomerId, settings: SettingsDep, session: SessionDep,
                cookie: OperatorCookie = None) -> JSONResponse:  # fmt: skip
    """Everything held about the customer (the operator API's GET .../customers/{id}/data), as a download."""
    require_operator(session, settings, cookie)
    try:
        data = gdpr.data_of(session, customer_id=customer_id)
    except customer_records.CustomerNotFound as exc:
        raise NotFound(str(exc)) from exc
    session.commit()
    disposition = f'attachment; filename="customer-{customer_id}.json"'
    return JSONResponse(data, headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})


@router.get("/dashboard/members/{customer_id}/erase", response_class=Response)
def erase_confirm(
    customer_id: CustomerId, settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None
) -> Response:
    if not signed_in(session, settings, cookie):
        return to_login()
    seen = dashboard_members.member_page(session, customer_id=customer_id, now=tiers.clock(settings))
    session.commit()
    content = dashboard_members_view.erase_confirm(seen, csrf=dashboard_auth.csrf_token(settings, cookie))
    return page(settings, chain.contracts.book.chain_id, cookie, title=f"Erase customer {customer_id}", active=ACTIVE,
                content=content)  # fmt: skip


@router.post("/dashboard/members/{customer_id}/erase", response_class=Response)
async def erase(
    customer_id: CustomerId,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    cookie: OperatorCookie = None,
) -> Response:
    """The operator's erasure (gateway/services/gdpr.py): irreversible, recorded."""
    if not await run_in_threadpool(signed_in, session, settings, cookie):
        return to_login()
    form = await checked_form(request, settings, cookie)
    if form is None or form.get("confirmed") != "yes":
        return await run_in_threadpool(_list, settings, session, chain, cookie, error=CSRF_REFUSED, status_code=403)
    try:
        await run_in_threadpool(gdpr.erase, session, customer_id=customer_id, requested_by="operator")
        session.commit()
    except customer_records.CustomerNotFound as exc:
        session.rollback()
        raise NotFound(str(exc)) from exc
    return RedirectResponse(f"{ACTIVE}/{customer_id}?done=erased", status_code=303)
