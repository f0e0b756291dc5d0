"""Errors on the pages people look at: an HTML page with a sentence and a retry link, not JSON.

The page routes (``/me``, its sign-in, ``/dashboard`` and its login) use ``PageRoute``: an error
raised by the route or by one of its dependencies (the chain that cannot be reached, a rate
limit, an expired session, a bug) is answered as an HTML page when the request asks for HTML
(a browser's navigation sends ``Accept: text/html``). Anything else, the pages' own ``fetch``
calls and every API route, keeps problem+json (gateway/problems.py): the status code and the
``Retry-After`` header are the same either way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import GatewayError
from gateway.problem_types import PROBLEMS
from gateway.problems import headers_of
from gateway.settings import get_settings
from network.errors import ChainMismatchError, TransientRpcError

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent / "templates"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CHAIN_RETRY_S = 30
# slug -> (heading, the sentence a person reads)
SENTENCES: dict[str, tuple[str, str]] = {
    "chain-unavailable": (
        "We cannot reach the blockchain right now",
        "Your points are safe: they are kept on the blockchain, which this site cannot read at the moment. "
        "Please try again in a minute.",
    ),
    "rate-limited": (
        "Too many attempts",
        "There were too many attempts from your network in a short time. Please wait a minute and try again.",
    ),
    "unauthorized": ("Please sign in again", "Your session has ended or this link is not valid any more."),
    "not-found": ("Page not found", "There is nothing at this address."),
    "link-invalid": (
        "This link does not work",
        "It was changed or cut short on its way (some mail programs cut long links). Open the whole link from the "
        "message, or change your choices on your page.",
    ),
    "link-expired": (
        "This confirmation link has expired",
        "Confirmation links work for a week. Give your consent again on your page or at the partner: we send a new "
        "link.",
    ),
    "consent-already-confirmed": ("Your address is confirmed already", "Nothing more to do: thank you."),
    "consent-withdrawn": (
        "You withdrew this consent",
        "It was withdrawn after this link was sent, so there is nothing to confirm. Your choices are on your page.",
    ),
    "internal-error": (
        "Something went wrong on our side",
        "The error was logged and nothing was changed. Please try again; if it happens again, try later.",
    ),
}
HTTP_SLUGS = {400: "validation-error", 401: "unauthorized", 403: "forbidden", 404: "not-found"}


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text())


def wants_html(request: Request) -> bool:
    """A browser navigating to a page (not a script's fetch, not an API client)."""
    return "text/html" in request.headers.get("accept", "").lower()


def _slug_of(exc: Exception) -> tuple[str, str, dict[str, str]]:
    """The problem slug, the detail for the log, and the headers to keep (Retry-After)."""
    if isinstance(exc, GatewayError):
        return exc.slug, exc.detail, headers_of(exc)
    if isinstance(exc, TransientRpcError | ChainMismatchError):
        return "chain-unavailable", str(exc), {"Retry-After": str(CHAIN_RETRY_S)}
    if isinstance(exc, RequestValidationError):
        return "validation-error", "invalid request", {}
    if isinstance(exc, StarletteHTTPException):
        return HTTP_SLUGS.get(exc.status_code, "internal-error"), str(exc.detail), dict(exc.headers or {})
    return "internal-error", repr(exc), {}


def retry_href(request: Request, home: str) -> str:
    """Where "Try again" goes: the same page for a GET; for a form's POST, the page it came from."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return home


def _display_name(request: Request) -> str:
    try:
        return request.app.dependency_overrides.get(get_settings, get_settings)().display_name
    except Exception:  # the settings themselves may be what failed
        return "Coalition loyalty network"


def home_of(path: str) -> str:
    return "/dashboard/login" if path.startswith("/dashboard") else "/me"


def error_page(request: Request, exc: Exception) -> HTMLResponse:
    slug, detail, headers = _slug_of(exc)
    status, title = PROBLEMS.get(slug, PROBLEMS["internal-error"])
    if slug == "chain-unavailable":
        headers.setdefault("Retry-After", str(CHAIN_RETRY_S))
    heading, sentence = SENTENCES.get(slug, (title, "Please go back and try again."))
    home = home_of(request.url.path)
    html = _template("error.html").substitute(
        title=escape(heading),
        brand=escape(_display_name(request)),
        home=escape(home),
        heading=escape(heading),
        sentence=escape(sentence),
        retry=escape(retry_href(request, home), quote=True),
        status=status,
        slug=escape(slug),
        rendered=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    log.log(logging.ERROR if status >= 500 and slug != "chain-unavailable" else logging.INFO,
            "error page %s %s on %s %s: %s", status, slug, request.method, request.url.path, detail,
            exc_info=exc if slug == "internal-error" else None)  # fmt: skip
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **headers})


class PageRoute(APIRoute):
    """A route whose errors a browser sees as a page (see the module's docstring)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                if not wants_html(request):
                    raise
                return error_page(request, exc)

        return page_handler
