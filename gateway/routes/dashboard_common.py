"""What every dashboard route shares: the security headers, the operator's cookie session and
its CSRF token, reading a small form, and answering a page in the operator's frame."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Cookie, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from gateway.errors import Unauthorized
from gateway.services import dashboard_auth, dashboard_html
from gateway.settings import GatewaySettings

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_FORM_BYTES = 2_048
OperatorCookie = Annotated[str | None, Cookie(alias=dashboard_auth.OPERATOR_COOKIE)]
LOGIN = "/dashboard/login"
CSRF_REFUSED = "This form has expired or did not come from this dashboard; open the page again and confirm."


def html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


def signed_in(session: Session, settings: GatewaySettings, cookie: str | None) -> bool:
    valid = dashboard_auth.operator_session_valid(session, settings, cookie)
    session.commit()
    return valid


def to_login() -> RedirectResponse:
    return RedirectResponse(LOGIN, status_code=303)


def require_operator(session: Session, settings: GatewaySettings, cookie: str | None) -> None:
    """For what is not a page (downloads, chart data): 401 problem+json without a session."""
    if not signed_in(session, settings, cookie):
        raise Unauthorized(f"sign in at {LOGIN}")


async def read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form (first value of each field); past ``MAX_FORM_BYTES``, empty.
    Call it only once the session is checked: credentials before the body."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    return {k: v[0] for k, v in parse_qs(raw.decode(errors="replace"), keep_blank_values=True).items()}


async def checked_form(request: Request, settings: GatewaySettings, cookie: str | None) -> dict[str, str] | None:
    """The form, once the session is known good; None when its CSRF token is not this session's."""
    form = await read_form(request)
    return form if dashboard_auth.csrf_valid(settings, cookie, form.get("csrf")) else None


def page(
    settings: GatewaySettings,
    chain_id: int,
    cookie: str | None,
    *,
    title: str,
    active: str,
    content: str,
    scripts: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """An operator page: the navigation (``active`` marked), the content, the time zone stated."""
    body = dashboard_html.frame(
        title=title,
        brand=settings.display_name,
        active=active,
        csrf=dashboard_auth.csrf_token(settings, cookie),
        content=content,
        chain_id=chain_id,
        tz=settings.display_timezone,
        scripts=scripts,
    )
    return html(body, status_code)
