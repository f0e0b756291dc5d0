"""The links of messages, without signing in (the signed token in the path is the authority):
the confirmation of an email consent (double opt-in) and one-click unsubscribe (RFC 8058).

- ``GET /v1/consents/confirm/{token}`` shows what is confirmed and a button; ``POST`` (the
  button, or any POST) records the confirmation. A link scanner that fetches the page confirms
  nothing.
- ``POST /v1/unsubscribe/{token}`` is the ``List-Unsubscribe`` URL: a mail program's plain POST
  with the body ``List-Unsubscribe=One-Click`` (form-encoded; no cookie, no CSRF token) withdraws
  the consent at once and answers 200; ``scope=coalition`` in the form withdraws the channel at
  the coalition's scope (every partner). ``GET`` shows the page with both buttons.

A browser (``Accept: text/html``) is answered with pages, errors included; anything else with
JSON and problem+json (gateway/pages.py). The rules: gateway/services/consents.py.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from gateway.deps import SessionDep, SettingsDep
from gateway.pages import SECURITY_HEADERS, PageRoute, wants_html
from gateway.problems import problem_responses
from gateway.schemas_consents import ConfirmationPublic, UnsubscriptionPublic
from gateway.services import consent_views, consents, customer_views
from gateway.settings import GatewaySettings

router = APIRouter(tags=["messages"], route_class=PageRoute)
Token = Annotated[
    str,
    Path(
        min_length=10,
        max_length=600,
        description="The signed token of the message's link (what it does, to whom, and its MAC)",
        examples=["eyJhIjoidW5zdWJzY3JpYmUiLCJjIjo0MiwiY2giOiJlbWFpbCIsIm0iOjcsInAiOjF9.q3JkV0bXh1b2c5bWZpbm9wcQ"],
    ),
]
MAX_FORM_BYTES = 4_096
LINK_PROBLEMS = ("link-invalid", "not-found")
EXAMPLE_PAGE = '<!doctype html><html lang="en">…<form method="post">…</form>…</html>'


def _page(settings: GatewaySettings, content: str, title: str) -> HTMLResponse:
    html = customer_views.layout(brand=settings.display_name, chain_id=settings.chain_id, title=title, content=content)
    return HTMLResponse(html, headers=SECURITY_HEADERS)


def _html_doc(description: str) -> dict[int | str, dict[str, object]]:
    return {200: {"description": description, "content": {"text/html": {"example": EXAMPLE_PAGE}}}}


@router.get(
    "/v1/consents/confirm/{token}",
    response_class=HTMLResponse,
    summary="The page of an email confirmation link (double opt-in): what is confirmed, and a button",
    responses={**_html_doc("The page"), **problem_responses("link-expired", "consent-already-confirmed",
                                                           "consent-withdrawn", *LINK_PROBLEMS)},
)  # fmt: skip
def confirm_page(token: Token, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Confirms nothing (a link scanner may fetch it): the button POSTs to the same URL."""
    pending = consents.pending_confirmation(session, settings, token=token)
    session.commit()
    return _page(settings, consent_views.confirm_page(pending, request.url.path), "Confirm your email address")


@router.post(
    "/v1/consents/confirm/{token}",
    response_model=ConfirmationPublic,
    summary="Confirm an email consent (double opt-in): no sign-in, the signed link is the authority",
    responses={
        200: {"content": {"text/html": {"example": EXAMPLE_PAGE}}, "description": "Confirmed (a page to a browser)"},
        **problem_responses("link-expired", "consent-already-confirmed", "consent-withdrawn", *LINK_PROBLEMS),
    },
)
def confirm(token: Token, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Records a confirmation (granted, source ``double-opt-in``, ``confirmed_at`` now) for each
    email grant of the customer still waiting. Again: 409 ``consent-already-confirmed``; after a
    withdrawal: 409 ``consent-withdrawn``; past 7 days: 410 ``link-expired``."""
    pending = consents.confirm(session, settings, token=token)
    session.commit()
    if wants_html(request):
        return _page(settings, consent_views.confirmed_page(pending), "Address confirmed")
    answer = ConfirmationPublic(confirmed=True, partner_id=pending.partner_id, partner_name=pending.partner_name)
    return JSONResponse(answer.model_dump(mode="json"))


@router.get(
    "/v1/unsubscribe/{token}",
    response_class=HTMLResponse,
    summary="The page of an unsubscribe link: what stops, a button, and the whole channel's",
    responses={**_html_doc("The page"), **problem_responses(*LINK_PROBLEMS)},
)
def unsubscribe_page(token: Token, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Withdraws nothing (a link scanner may fetch it): the buttons POST to the same URL."""
    state = consents.unsubscription(session, settings, token=token)
    session.commit()
    return _page(settings, consent_views.unsubscribe_page(state, request.url.path), "Unsubscribe")


UNSUBSCRIBE_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "List-Unsubscribe": {"type": "string", "enum": ["One-Click"]},
                        "scope": {"type": "string", "enum": ["partner", "coalition"]},
                    },
                },
                "example": "List-Unsubscribe=One-Click",
            }
        },
    }
}


@router.post(
    "/v1/unsubscribe/{token}",
    response_model=UnsubscriptionPublic,
    summary="One-click unsubscribe (RFC 8058): a plain POST, no sign-in, no CSRF token",
    responses={
        200: {"content": {"text/html": {"example": EXAMPLE_PAGE}}, "description": "Unsubscribed (a page to a browser)"},
        **problem_responses(*LINK_PROBLEMS),
    },
    openapi_extra=UNSUBSCRIBE_BODY,
)
async def unsubscribe(token: Token, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Withdraws the consent the link names (source ``one-click-unsubscribe``); with
    ``scope=coalition``, the channel at the coalition's scope, which stops it for every partner.
    Idempotent: what is withdrawn already records nothing and answers the same."""
    raw = await request.body()
    form = parse_qs(raw[:MAX_FORM_BYTES].decode(errors="replace")) if b"=" in raw else {}
    whole = form.get("scope", [""])[0] == "coalition"
    state = consents.unsubscribe(session, settings, token=token, whole_channel=whole)
    session.commit()
    if wants_html(request):
        return _page(settings, consent_views.unsubscribed_page(state, whole), "Unsubscribed")
    answer = UnsubscriptionPublic(
        unsubscribed=True,
        channel=state.channel,
        partner_id=None if whole else state.partner_id,
        partner_name=None if whole else state.partner_name,
        whole_channel=state.whole_channel_withdrawn,
    )
    return JSONResponse(answer.model_dump(mode="json"))
