"""The operator's actions from the dashboard: suspend, reactivate, fund, re-rate a partner, and
settle now. Each is a page that says what will happen (GET) and a form that does it (POST) with
the session's CSRF token and ``confirmed=yes``; a deposit and a re-rate are reviewed first. They
call the same services as the operator API (gateway/services/partner_admin.py,
partner_account.py, settlement.py), with the same rules (the bodies are the API's
``PartnerDepositCreate`` and ``PartnerRerate``); a refusal shows the page again with the
problem's detail and its status. A deposit outside local mode sends nothing: the answer is the
page of the transactions the partner's treasury must send.

The session is checked before the form is read (credentials before the body).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.chain import Chain
from gateway.deps import ChainDep, SessionDep, SettingsDep
from gateway.errors import GatewayError, NotFound
from gateway.pages import PageRoute
from gateway.problems import status_of
from gateway.routes.dashboard_common import CSRF_REFUSED, OperatorCookie, checked_form, page, signed_in, to_login
from gateway.routes.operator import PartnerRerate
from gateway.schemas import PartnerDepositCreate
from gateway.services import account, dashboard, dashboard_auth, partner_account, partner_admin, settlement
from gateway.services import dashboard_format as fmt
from gateway.services.dashboard_lists_view import confirm_page, rerate_form
from gateway.services.dashboard_partner_view import fund_consequences, fund_form, treasury_calls
from gateway.settings import GatewaySettings
from network.store import Partner

router = APIRouter(include_in_schema=False, route_class=PageRoute)
PartnerId = Annotated[int, Path(ge=1, lt=2**32)]
STATUS_ACTIONS = {
    "suspend": (False, "Suspend", "suspended", [
        "The partner's purchases are no longer minted; its customers cannot redeem or be refunded there.",
        "Its funds stay in Clearing; settlements go on.",
        "Reactivating it later resumes everything.",
    ]),
    "reactivate": (True, "Reactivate", "reactivated", [
        "The partner may issue points again (within its headroom), refund and redeem.",
    ]),
}  # fmt: skip


def _partner(session: Session, partner_id: int) -> Partner:
    try:
        return partner_admin.get_partner(session, partner_id)
    finally:
        session.commit()


# --- suspend, reactivate


def _status_page(
    settings: GatewaySettings, chain: Chain, cookie: str | None, p: Partner, action: str,
    error: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    _, verb, _, consequences = STATUS_ACTIONS[action]
    content = confirm_page(
        title=f"{verb} {p.name}?", what=f"{verb} partner #{p.id} {p.name} (now {p.status}), on chain then here.",
        consequences=consequences, action=f"/dashboard/partners/{p.id}/{action}",
        csrf=dashboard_auth.csrf_token(settings, cookie), button=f"Confirm: {verb.lower()} {p.name}",
        cancel=f"/dashboard/partners/{p.id}", danger=action == "suspend", error=error,
    )  # fmt: skip
    return page(settings, chain.contracts.book.chain_id, cookie, title=verb, active="/dashboard/partners",
                content=content, status_code=status_code)  # fmt: skip


@router.get("/dashboard/partners/{partner_id}/{action}", response_class=HTMLResponse)
def confirm_status(
    partner_id: PartnerId, action: str, settings: SettingsDep, session: SessionDep, chain: ChainDep,
    cookie: OperatorCookie = None,
) -> Response:  # fmt: skip
    if not signed_in(session, settings, cookie):
        return to_login()
    if action == "rerate":
        return _rerate_form(settings, chain, cookie, _partner(session, partner_id), None, 200)
    if action == "fund":
        return _fund_form(settings, chain, cookie, _partner(session, partner_id), None, 200)
    if action not in STATUS_ACTIONS:
        raise NotFound(f"no action {action!r}")
    return _status_page(settings, chain, cookie, _partner(session, partner_id), action)


@router.post("/dashboard/partners/{partner_id}/{action}", response_class=HTMLResponse)
async def do_status(
    request: Request, partner_id: PartnerId, action: str, settings: SettingsDep, session: SessionDep,
    chain: ChainDep, cookie: OperatorCookie = None,
) -> Response:  # fmt: skip
    if not await run_in_threadpool(signed_in, session, settings, cookie):
        return to_login()
    if action == "rerate":
        return await _do_rerate(request, partner_id, settings, session, chain, cookie)
    if action == "fund":
        return await _do_fund(request, partner_id, settings, session, chain, cookie)
    if action not in STATUS_ACTIONS:
        raise NotFound(f"no action {action!r}")
    p = await run_in_threadpool(_partner, session, partner_id)
    form = await checked_form(request, settings, cookie)
    if form is None or form.get("confirmed") != "yes":
        return _status_page(settings, chain, cookie, p, action, CSRF_REFUSED, 403)
    active, _, done, _ = STATUS_ACTIONS[action]
    try:
        await run_in_threadpool(partner_admin.set_status, session, chain, partner_id, active=active)
    except GatewayError as exc:
        return _status_page(settings, chain, cookie, p, action, exc.detail, status_of(exc))
    return RedirectResponse(f"/dashboard/partners/{partner_id}?done={done}", status_code=303)


# --- fund


def _fund_form(
    settings: GatewaySettings, chain: Chain, cookie: str | None, p: Partner, error: str | None, status_code: int,
    value: str = "",
) -> Response:  # fmt: skip
    symbol, decimals = dashboard.token_of(chain)
    content = fund_form(
        p=p, action=f"/dashboard/partners/{p.id}/fund", csrf=dashboard_auth.csrf_token(settings, cookie),
        cancel=f"/dashboard/partners/{p.id}", money=account.money_or_none(chain, p.id), symbol=symbol,
        decimals=decimals, direct=partner_account.deposits_directly(settings, chain), value=value, error=error,
    )  # fmt: skip
    return page(settings, chain.contracts.book.chain_id, cookie, title=f"Fund {p.name}",
                active="/dashboard/partners", content=content, status_code=status_code)  # fmt: skip


async def _do_fund(
    request: Request, partner_id: int, settings: GatewaySettings, session: Session, chain: Chain, cookie: str | None
) -> Response:
    p = await run_in_threadpool(_partner, session, partner_id)
    form = await checked_form(request, settings, cookie)
    if form is None:
        return await run_in_threadpool(_fund_form, settings, chain, cookie, p, CSRF_REFUSED, 403)
    symbol, decimals = await run_in_threadpool(dashboard.token_of, chain)
    text = form.get("amount", "").strip()
    try:
        body = PartnerDepositCreate.model_validate({"amount": fmt.parse_units(text, decimals)})
    except ValidationError as exc:
        errors = "; ".join(f"amount: {err['msg']}" for err in exc.errors())
        return await run_in_threadpool(_fund_form, settings, chain, cookie, p, errors, 422, text)
    except ValueError as exc:
        return await run_in_threadpool(_fund_form, settings, chain, cookie, p, f"amount: {exc}", 422, text)
    direct = partner_account.deposits_directly(settings, chain)
    if form.get("confirmed") != "yes":
        content = confirm_page(
            title=f"Fund {p.name} with {fmt.units(body.amount, decimals, symbol)}?",
            what=f"Deposit {fmt.units(body.amount, decimals, symbol)} in Clearing for partner #{p.id} {p.name}.",
            consequences=fund_consequences(p, body.amount, decimals, symbol, direct),
            action=f"/dashboard/partners/{p.id}/fund", csrf=dashboard_auth.csrf_token(settings, cookie),
            button=f"Confirm: fund {p.name}", cancel=f"/dashboard/partners/{p.id}/fund", hidden={"amount": text},
        )  # fmt: skip
        return page(settings, chain.contracts.book.chain_id, cookie, title="Fund", active="/dashboard/partners",
                    content=content)  # fmt: skip
    try:
        done = await run_in_threadpool(partner_account.deposit, session, chain, settings, partner_id, body.amount)
    except GatewayError as exc:
        return await run_in_threadpool(_fund_form, settings, chain, cookie, p, exc.detail, status_of(exc), text)
    if done.status == "deposited":
        return RedirectResponse(f"/dashboard/partners/{partner_id}?done=funded", status_code=303)
    return page(settings, chain.contracts.book.chain_id, cookie, title=f"Fund {p.name}", active="/dashboard/partners",
                content=treasury_calls(p, done, decimals, symbol))  # fmt: skip


# --- re-rate

RERATE_FIELDS = ("issue_price", "reimbursement_rate", "issuance_limit", "points_per_unit")


def _rerate_form(
    settings: GatewaySettings, chain: Chain, cookie: str | None, p: Partner, error: str | None, status_code: int,
    values: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    symbol, decimals = dashboard.token_of(chain)
    shown = values or {
        "issue_price": fmt.units(p.issue_price, decimals).replace(",", ""),
        "reimbursement_rate": fmt.units(p.reimbursement_rate, decimals).replace(",", ""),
        "issuance_limit": fmt.units(p.issuance_limit, decimals).replace(",", ""),
        "points_per_unit": str(p.points_per_unit.normalize()),
    }
    content = rerate_form(action=f"/dashboard/partners/{p.id}/rerate", csrf=dashboard_auth.csrf_token(settings, cookie),
                          cancel=f"/dashboard/partners/{p.id}", values=shown, symbol=symbol, error=error)  # fmt: skip
    return page(settings, chain.contracts.book.chain_id, cookie, title=f"Re-rate {p.name}",
                active="/dashboard/partners", content=content, status_code=status_code)  # fmt: skip


def _changes(p: Partner, form: dict[str, str], decimals: int) -> dict[str, object]:
    """The fields that differ from the partner's, in the API's units (ValueError for a bad amount)."""
    current: dict[str, object] = {
        "issue_price": p.issue_price, "reimbursement_rate": p.reimbursement_rate,
        "issuance_limit": p.issuance_limit, "points_per_unit": p.points_per_unit,
    }  # fmt: skip
    out: dict[str, object] = {}
    for name in RERATE_FIELDS:
        text = form.get(name, "").strip()
        if not text:
            continue
        if name == "points_per_unit":
            if not _decimal(text):
                raise ValueError(f"points per unit: {text!r} is not a number")
            if Decimal(text) != current[name]:
                out[name] = text  # the API's own pattern checks it
        else:
            value = fmt.parse_units(text, decimals)
            if value != current[name]:
                out[name] = value
    return out


def _decimal(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


async def _do_rerate(
    request: Request, partner_id: int, settings: GatewaySettings, session: Session, chain: Chain, cookie: str | None
) -> Response:
    p = await run_in_threadpool(_partner, session, partner_id)
    form = await checked_form(request, settings, cookie)
    if form is None:
        return _rerate_form(settings, chain, cookie, p, CSRF_REFUSED, 403)
    symbol, decimals = await run_in_threadpool(dashboard.token_of, chain)
    values = {k: form.get(k, "") for k in RERATE_FIELDS}
    try:
        changes = _changes(p, form, decimals)
        body = PartnerRerate.model_validate(changes)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(str(x) for x in err['loc']) or 'form'}: {err['msg']}" for err in exc.errors())
        return _rerate_form(settings, chain, cookie, p, errors, 422, values)
    except ValueError as exc:
        return _rerate_form(settings, chain, cookie, p, str(exc), 422, values)
    if form.get("confirmed") != "yes":
        return _review(settings, chain, cookie, p, body, decimals, symbol, values)
    try:
        await run_in_threadpool(
            lambda: partner_admin.rerate(session, chain, partner_id, **body.model_dump(exclude_unset=True))
        )
    except GatewayError as exc:
        return _rerate_form(settings, chain, cookie, p, exc.detail, status_of(exc), values)
    return RedirectResponse(f"/dashboard/partners/{partner_id}?done=rerated", status_code=303)


def _review(
    settings: GatewaySettings, chain: Chain, cookie: str | None, p: Partner, body: PartnerRerate, decimals: int,
    symbol: str, values: dict[str, str],
) -> Response:  # fmt: skip
    """The confirmation step of a re-rate: each change, old → new, and when it takes effect."""
    lines = []
    if body.issue_price is not None:
        lines.append(f"Issue price {fmt.units(p.issue_price, decimals, symbol)} → "
                     f"{fmt.units(body.issue_price, decimals, symbol)} a point, after the notice period")  # fmt: skip
    if body.reimbursement_rate is not None:
        new = fmt.units(body.reimbursement_rate, decimals, symbol)
        old = fmt.units(p.reimbursement_rate, decimals, symbol)
        lines.append(f"Reimbursement {old} → {new} a point, after the notice period")
    if body.issuance_limit is not None:
        lines.append(f"Issuance limit {fmt.units(p.issuance_limit, decimals, symbol)} → "
                     f"{fmt.units(body.issuance_limit, decimals, symbol)}, at once")  # fmt: skip
    if body.points_per_unit is not None:
        lines.append(f"Earn rule {p.points_per_unit.normalize()} → {body.points_per_unit.normalize()} points per "
                     f"{p.currency}, at once")  # fmt: skip
    content = confirm_page(
        title=f"Re-rate {p.name}?", what="These changes are sent on chain with the operator's key:",
        consequences=lines, action=f"/dashboard/partners/{p.id}/rerate",
        csrf=dashboard_auth.csrf_token(settings, cookie), button=f"Confirm: re-rate {p.name}",
        cancel=f"/dashboard/partners/{p.id}/rerate", hidden={k: v for k, v in values.items() if v},
    )  # fmt: skip
    return page(settings, chain.contracts.book.chain_id, cookie, title="Re-rate", active="/dashboard/partners",
                content=content)  # fmt: skip


# --- settle now

SETTLE_CONSEQUENCES = [
    "A period is closed at the last indexed block: everything issued, reversed and redeemed since the last "
    "settled period.",
    "Its statement is hashed on chain; each partner is credited or debited its net, the operator the opposite.",
    "Refused if nothing happened since the last period.",
]


def _settle_page(
    settings: GatewaySettings, chain: Chain, cookie: str | None, error: str | None = None, status_code: int = 200
) -> Response:
    content = confirm_page(
        title="Settle now?", what="Close the current settlement period now, before its schedule.",
        consequences=SETTLE_CONSEQUENCES, action="/dashboard/settlements/new",
        csrf=dashboard_auth.csrf_token(settings, cookie), button="Confirm: settle now", cancel="/dashboard/settlements",
        error=error,
    )  # fmt: skip
    return page(settings, chain.contracts.book.chain_id, cookie, title="Settle now", active="/dashboard/settlements",
                content=content, status_code=status_code)  # fmt: skip


@router.get("/dashboard/settlements/new", response_class=HTMLResponse)
def confirm_settle(
    settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None
) -> Response:
    if not signed_in(session, settings, cookie):
        return to_login()
    return _settle_page(settings, chain, cookie)


@router.post("/dashboard/settlements/new", response_class=HTMLResponse)
async def do_settle(
    request: Request, settings: SettingsDep, session: SessionDep, chain: ChainDep, cookie: OperatorCookie = None
) -> Response:
    if not await run_in_threadpool(signed_in, session, settings, cookie):
        return to_login()
    form = await checked_form(request, settings, cookie)
    if form is None or form.get("confirmed") != "yes":
        return _settle_page(settings, chain, cookie, CSRF_REFUSED, 403)
    try:
        row = await run_in_threadpool(settlement.start_now, session, chain)
    except GatewayError as exc:
        return _settle_page(settings, chain, cookie, exc.detail, status_of(exc))
    return RedirectResponse(f"/dashboard/settlements?done=settling#period-{row.period_id}", status_code=303)
