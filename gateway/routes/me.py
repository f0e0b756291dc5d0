"""The customer page: ``/me`` (balance, history, what the points buy and are worth), its
sign-in with a wallet, and ``/me/link``, where a custodial customer opens a one-time sign-in
link their partner's app asked for (gateway/services/sign_in_links.py).

Browsers cannot send a Bearer header, so the page keeps the customer token in an HttpOnly,
SameSite=Strict cookie: a wallet's sign-in hands it the token of ``POST /v1/auth/session``
(``POST /me/session``), a link's page posts the link's token (``POST /me/link``). Both take
JSON only (a cross-site form cannot send it without a CORS preflight, which the gateway does not
allow). Signing out ends the session on the server. Errors a browser navigates to are pages
with a retry link (gateway/pages.py); the pages are left out of the OpenAPI schema.

The page also shows the member's tier (gateway/services/tiers.py, as GET /v1/me/tier), each
purchase's breakdown, and the customer's data: ``GET /me/data`` downloads the JSON of
``GET /v1/me/data``; ``POST /me/erasure`` (JSON ``{"confirm": "erase"}``, as ``POST /v1/me/erasure``,
refused to a link's read-only session as there) erases it with gdpr.py, which ends every session,
then the page shows what was erased and what stays (``/me/erased``); ``POST /me/enrolment``
(JSON, a wallet's session) joins the program as ``POST /v1/me/enrolment``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Cookie, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from gateway.chain import Chain, get_chain
from gateway.deps import SessionDep, SettingsDep, limit_client
from gateway.errors import ReadOnlySession, TierLadderNotSet, Unauthorized
from gateway.pages import SECURITY_HEADERS, PageRoute
from gateway.schemas_consents import ConsentCellsPut
from gateway.schemas_members import ErasureCreate, MeEnrolmentCreate
from gateway.services import (
    achievements,
    churn_views,
    consent_grid,
    consent_views,
    custody,
    customer_views,
    dashboard_auth,
    expiry_view,
    gdpr,
    history,
    members,
    membership_views,
    memberships,
    points_value,
    recommendations,
    referrals,
    rewards_view,
    sign_in_links,
    tiers,
    wallet_auth,
)
from gateway.services.wallet_promises import promised
from gateway.settings import GatewaySettings
from gateway.timeutil import as_utc
from network.store import utcnow

router = APIRouter(include_in_schema=False, route_class=PageRoute)
HISTORY_SHOWN = 100
RECOMMENDED_SHOWN = 3  # rewards you may like (GET /v1/me/recommendations gives more)
CustomerCookie = Annotated[str | None, Cookie(alias=dashboard_auth.CUSTOMER_COOKIE)]
SIGN_IN_LIMIT = Depends(limit_client("sign-in", "sign-in requests"))
Model = TypeVar("Model", bound=BaseModel)
ERASED_COOKIE = "coalition_erased"  # the id of the erasure just done, for /me/erased (counts only)
ERASED_COOKIE_TTL_S = 600


def lazy_chain(request: Request) -> Callable[[], Chain]:
    """The chain, connected only when a page needs it: the sign-in page shows during an outage."""
    return request.app.dependency_overrides.get(get_chain, get_chain)


LazyChain = Annotated[Callable[[], Chain], Depends(lazy_chain)]


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=100)


def _html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


def _page(settings: GatewaySettings, content: str, title: str = "My points") -> HTMLResponse:
    return _html(
        customer_views.layout(brand=settings.display_name, chain_id=settings.chain_id, title=title, content=content)
    )


def _set_cookie(response: Response, settings: GatewaySettings, token: str, max_age: int) -> None:
    response.set_cookie(
        dashboard_auth.CUSTOMER_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=dashboard_auth.cookie_secure(settings),
    )


async def _token_body(request: Request, what: str) -> str:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Unauthorized(f"send the {what} as application/json")
    try:
        return TokenBody.model_validate_json(await request.body()).token
    except ValidationError as exc:
        raise Unauthorized(f"send {{'token': <the {what}>}}") from exc


async def _json_body(request: Request, what: str) -> bytes:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Unauthorized(f"send the {what} as application/json")
    return await request.body()


def _tier(session: Session, settings: GatewaySettings, customer_id: int | None) -> tiers.MemberTier | None:
    """The member's tier and progress as GET /v1/me/tier answers them; None without a ladder."""
    try:
        return tiers.tier_of(session, customer_id=customer_id, now=tiers.clock(settings))
    except TierLadderNotSet:
        return None


def _rewards(session: Session, settings: GatewaySettings, customer_id: int) -> str:
    """The member's referral code and badges with progress (issue 20)."""
    mine = referrals.mine(session, customer_id=customer_id, public_url=settings.public_url)
    badges = achievements.mine(session, customer_id=customer_id, now=utcnow())
    return rewards_view.referral_section(mine) + rewards_view.achievements_section(badges)


def _view(session: Session, settings: GatewaySettings, chain: Chain, wallet: str, via: str) -> str:
    """Reads the store (the promised points first: wallet_promises.py), then the chain (the
    balance, the tokens), and writes the page."""
    in_flight, held = promised(session, wallet, now=utcnow())
    page = history.history(session, wallet, limit=HISTORY_SHOWN)
    details = history.details(session, [entry for entry, _ in page.entries])
    cards = points_value.cards(history.ledger_sums(session, wallet))
    catalogue = history.catalogue(session)
    rates = history.redeem_rates(session)
    names = history.active_partner_names(session)
    custodian = custody.custodian_name(session, wallet) if via == "link" else None
    customer_id = tiers.customer_by_wallet(session, wallet=wallet)
    tier = _tier(session, settings, customer_id)
    member = customer_id is not None and members.is_member(session, customer_id=customer_id)
    grid = consent_grid.grid(session, customer_id=customer_id) if member and customer_id is not None else None
    recommended = recommendations.for_wallet(session, wallet=wallet, k=RECOMMENDED_SHOWN)
    rewards_html = _rewards(session, settings, customer_id) if member and customer_id is not None else ""
    plans = membership_views.membership_section(
        *memberships.subscriptions_and_plans(session, customer_id=customer_id), writable=via == "wallet"
    )
    session.commit()  # the store is read: release the connection before the chain calls
    balance = history.balance_of(chain, wallet)
    expiry = expiry_view.expiry_of(chain, wallet, reminder_days=settings.expiry_reminder_days)
    token, settlement = history.points_token(chain), history.settlement_token(chain)
    free = max(0, balance - in_flight - held)
    offers = points_value.affordable(free, catalogue)
    dearer = [o for o in catalogue if o.points > free and (o.stock is None or o.stock > 0)]
    rpc_url = settings.wallet_rpc_url or (settings.rpc_url if settings.mode == "local" else None)
    view = customer_views.CustomerView(
        wallet=wallet,
        via=via,
        custodian=custodian,
        balance=balance,
        cards=cards,
        token=customer_views.TokenView(address=token.address, symbol=token.symbol, decimals=token.decimals),
        settlement_symbol=settlement.symbol,
        settlement_decimals=settlement.decimals,
        worth=points_value.worth(balance, rates),
        worth_rates=rates,
        offers=offers,
        cheapest_other=min(dearer, key=lambda o: o.points) if dearer else None,
        entries=page.entries,
        details=details,
        partners=names,
        chain_id=settings.chain_id,
        wallet_rpc_url=rpc_url,
        logo_url=settings.public_url.rstrip("/") + customer_views.LOGO_PATH,
        tier=tier,
        promised=in_flight + held,
        known=customer_id is not None,
        member=member,
        expiry=expiry,
        consents_html="" if grid is None else consent_views.consent_section(grid, writable=via == "wallet"),
        recommended_html=churn_views.recommended_section(recommended, token.symbol),
        rewards_html=rewards_html,
        memberships_html=plans,
    )
    return customer_views.customer_page(view)


@router.get("/me", response_class=HTMLResponse)
def customer_home(
    settings: SettingsDep, session: SessionDep, chain: LazyChain, cookie: CustomerCookie = None
) -> Response:
    """The signed-in customer's points; without a session, the sign-in (which needs no chain)."""
    try:
        row = wallet_auth.customer_session(session, cookie or "")
    except Unauthorized:
        session.commit()
        page_url = settings.public_url.rstrip("/") + "/me"
        return _page(settings, customer_views.signin_page(page_url), title="Sign in")
    wallet, via = row.wallet, row.via
    return _page(settings, _view(session, settings, chain(), wallet, via))


@router.post("/me/session", status_code=204)
async def customer_session(request: Request, settings: SettingsDep, session: SessionDep) -> Response:
    """Stores a customer token (of a wallet's sign-in) in the page's cookie."""
    token = await _token_body(request, "token of POST /v1/auth/session")
    wallet_auth.session_wallet(session, token)  # Unauthorized if unknown or expired
    session.commit()
    response = Response(status_code=204)
    _set_cookie(response, settings, token, settings.customer_session_ttl_s)
    return response


@router.get("/me/link", response_class=HTMLResponse)
def link_page(settings: SettingsDep) -> Response:
    """The page a sign-in link opens: its token is in the URL's fragment, which only the page's
    script reads; it is posted (used up) when the customer presses the button, so that a link
    preview or a scanner fetching the URL cannot use it."""
    return _page(settings, customer_views.link_page(settings.sign_in_link_session_ttl_s // 60), title="Sign in")


@router.post("/me/link", status_code=204, dependencies=[SIGN_IN_LIMIT])
async def open_link(request: Request, settings: SettingsDep, session: SessionDep) -> Response:
    """Uses up a sign-in link and keeps the read-only session it opens in the page's cookie.
    Rate-limited per client address with the wallet sign-in (COALITION_AUTH_RATE_LIMIT_*)."""
    token = await _token_body(request, "token of the sign-in link")
    session_token, _ = sign_in_links.redeem(session, settings, token)
    max_age = settings.sign_in_link_session_ttl_s
    session.commit()
    response = Response(status_code=204)
    _set_cookie(response, settings, session_token, max_age)
    return response


@router.post("/me/logout")
def customer_logout(session: SessionDep, cookie: CustomerCookie = None) -> Response:
    """Ends the customer session on the server (the token stops working on the API too), then
    in the browser."""
    if cookie:
        wallet_auth.close_session(session, cookie)
        session.commit()
    response = RedirectResponse("/me", status_code=303)
    response.delete_cookie(dashboard_auth.CUSTOMER_COOKIE, path="/")
    return response


def _signed_in(session: Session, cookie: str | None) -> tuple[str, str]:
    """The page's session: (wallet, via); Unauthorized without one."""
    row = wallet_auth.customer_session(session, cookie or "")
    return row.wallet, row.via


@router.post("/me/memberships/{subscription_id}/cancel")
def cancel_my_membership(
    subscription_id: int, session: SessionDep, settings: SettingsDep, cookie: CustomerCookie = None
) -> Response:
    """The "My plans" cancel button (a wallet's session): as POST /v1/me/memberships/{id}/cancel,
    then back to the page."""
    wallet, via = _signed_in(session, cookie)
    if via != "wallet":
        raise ReadOnlySession("this session was opened by a sign-in link and is read-only")
    memberships.cancel_mine(session, wallet=wallet, subscription_id=subscription_id, now=tiers.clock(settings),
                            grace_days=settings.membership_grace_days)  # fmt: skip
    session.commit()
    return RedirectResponse("/me", status_code=303)


@router.get("/me/data")
def my_data(session: SessionDep, cookie: CustomerCookie = None) -> Response:
    """Everything held about the signed-in customer, the JSON of GET /v1/me/data, as a download
    (a link's read-only session too, as there)."""
    wallet, _ = _signed_in(session, cookie)
    data = gdpr.data_of(session, customer_id=members.customer_id_of_wallet(session, wallet=wallet))
    session.commit()
    return JSONResponse(data, headers={"Content-Disposition": 'attachment; filename="my-data.json"'})


@router.post("/me/erasure")
async def erase_me(
    request: Request, settings: SettingsDep, session: SessionDep, cookie: CustomerCookie = None
) -> Response:
    """Erases the signed-in customer's personal data as POST /v1/me/erasure does (JSON
    ``{"confirm": "erase"}``; refused to a link's read-only session), which ends every session
    of theirs; answers the erasure (what and how many, never the data) and signs the page out."""
    wallet, via = _signed_in(session, cookie)
    body = await _json_body(request, 'confirmation {"confirm": "erase"}')
    if via != "wallet":
        raise ReadOnlySession("this session was opened by a sign-in link and is read-only")
    _checked(ErasureCreate, body)
    customer_id = members.customer_id_of_wallet(session, wallet=wallet)
    row = gdpr.erase(session, customer_id=customer_id, requested_by="customer")
    answer: dict[str, Any] = {
        "customer_id": row.customer_id,
        "requested_by": row.requested_by,
        "erased_at": as_utc(row.erased_at).isoformat().replace("+00:00", "Z"),
        "erased": row.erased,
        "page": "/me/erased",
    }
    session.commit()
    response = JSONResponse(answer)
    response.delete_cookie(dashboard_auth.CUSTOMER_COOKIE, path="/")
    response.set_cookie(
        ERASED_COOKIE,
        str(row.id),
        max_age=ERASED_COOKIE_TTL_S,
        path="/me/erased",
        httponly=True,
        samesite="strict",
        secure=dashboard_auth.cookie_secure(settings),
    )
    return response


@router.get("/me/erased", response_class=HTMLResponse)
def erased(
    settings: SettingsDep, session: SessionDep, done: Annotated[str | None, Cookie(alias=ERASED_COOKIE)] = None
) -> Response:
    """What an erasure erased and what stays: the counts of the erasure this browser just did."""
    row = gdpr.erasure(session, erasure_id=int(done)) if done and done.isdigit() and len(done) < 19 else None
    page = customer_views.erased_page(row.erased if row else None, as_utc(row.erased_at) if row else None)
    session.commit()
    return _page(settings, page, title="Personal data erased")


@router.post("/me/enrolment")
async def enrol_me(
    request: Request, session: SessionDep, settings: SettingsDep, cookie: CustomerCookie = None
) -> Response:
    """Joins the program with the wallet signed in, as POST /v1/me/enrolment (JSON; a wallet's
    session only: a link's is read-only)."""
    wallet, via = _signed_in(session, cookie)
    body = await _json_body(request, "enrolment")
    if via != "wallet":
        raise ReadOnlySession("this session was opened by a sign-in link and is read-only")
    enrolment = _checked(MeEnrolmentCreate, body)
    view, replayed = members.enrol_me(
        session,
        settings,
        wallet=wallet,
        profile={k: v for k, v in enrolment.given().items() if k not in ("consents", "referral_code")},
        consents=[],
        referral_code=enrolment.referral_code,
    )
    session.commit()
    return JSONResponse({"customer_id": view.customer_id, "replayed": replayed}, status_code=200 if replayed else 201)


@router.post("/me/consents")
async def change_consent(
    request: Request, session: SessionDep, settings: SettingsDep, cookie: CustomerCookie = None
) -> Response:
    """Sets cells of the consents' grid as PUT /v1/me/consents (JSON ``{"cells": [...]}``; a
    wallet's session only: a link's is read-only); answers the grid."""
    wallet, via = _signed_in(session, cookie)
    body = await _json_body(request, "consents")
    if via != "wallet":
        raise ReadOnlySession("this session was opened by a sign-in link and is read-only")
    cells = _checked(ConsentCellsPut, body)
    customer_id = members.customer_of_me(session, wallet=wallet)
    changes = [consent_grid.CellChange(c.channel, c.partner_id, c.granted) for c in cells.cells]
    recorded = consent_grid.set_cells(session, settings, customer_id=customer_id, changes=changes)
    session.commit()
    return JSONResponse({"recorded": recorded})


def _checked(model: type[Model], body: bytes) -> Model:
    """The body as the API's model; a 422 ``validation-error`` as the API answers otherwise."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
