"""The pages of the problem types: each error's ``type`` (``/problems/<slug>``) is a link that
answers what the problem means and how to fix it, from the catalogue of gateway/problem_types.py
(``PROBLEMS`` and ``PROBLEM_HELP``). HTML for a person; JSON for a client that asks for it
(``Accept: application/json``). Left out of the OpenAPI schema: documentation, not API.
"""

from __future__ import annotations

import re
from html import escape
from string import Template
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.errors import NotFound
from gateway.problem_types import PROBLEM_HELP, PROBLEMS, problem_type
from gateway.request_settings import settings_of
from gateway.services.dashboard_views import TEMPLATES

router = APIRouter(prefix="/problems", include_in_schema=False)
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=3600",
    "Vary": "Accept",
}


def _template() -> Template:
    return Template((TEMPLATES / "problem.html").read_text())


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _prose(text: str) -> str:
    """A catalogue sentence as HTML: escaped, with its `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(text))


def described(slug: str) -> dict[str, Any]:
    """A problem type as its page tells it."""
    status, title = PROBLEMS[slug]
    example, fix = PROBLEM_HELP[slug]
    return {
        "type": problem_type(slug),
        "slug": slug,
        "status": status,
        "title": title,
        "example_detail": example,
        "how_to_fix": fix,
    }


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return ("application/json" in accept or "application/problem+json" in accept) and "text/html" not in accept


def _page(request: Request, heading: str, content: str) -> HTMLResponse:
    brand = settings_of(request).display_name
    html = _template().substitute(heading=_e(heading), brand=_e(brand), content=content)
    return HTMLResponse(html, headers=HEADERS)


@router.get("")
def problem_index(request: Request) -> Response:
    problems = [described(slug) for slug in PROBLEMS]
    if _wants_json(request):
        return JSONResponse({"problems": problems}, headers=HEADERS)
    rows = "".join(
        f'<tr><td><a href="{_e(p["type"])}"><code>{_e(p["slug"])}</code></a></td><td class="num">{p["status"]}</td>'
        f"<td>{_e(p['title'])}</td></tr>"
        for p in problems
    )
    content = (
        '<div class="page-head"><div><h1>Problem types</h1><p class="muted">Each error answered by the API names '
        "one of these in its <code>type</code>; its <code>detail</code> says what was wrong in that request."
        "</p></div></div>"
        '<section class="panel"><div class="table-wrap"><table class="table" id="problems">'
        '<thead><tr><th>Type</th><th class="num">Status</th><th>Meaning</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div></section>"
    )
    return _page(request, "Problem types", content)


@router.get("/{slug}")
def problem_page(slug: str, request: Request) -> Response:
    if slug not in PROBLEMS:
        raise NotFound(f"no problem type {slug!r}; /problems lists them all")
    p = described(slug)
    if _wants_json(request):
        return JSONResponse(p, headers=HEADERS)
    content = (
        f'<div class="page-head"><div><p class="muted mono">{_e(p["type"])}</p><h1>{_e(p["title"])}</h1>'
        f'<p>HTTP status <strong data-figure="status">{p["status"]}</strong></p></div></div>'
        '<section class="panel"><h2>How to fix it</h2>'
        f'<p data-figure="how-to-fix">{_prose(p["how_to_fix"])}</p></section>'
        '<section class="panel"><h2>What it looks like</h2><p class="muted">An answer of this type is '
        f"<code>application/problem+json</code> with <code>type</code> <code>{_e(p['type'])}</code>, "
        f"<code>status</code> {p['status']} and a <code>detail</code> that names what was wrong in the request at "
        f'hand, for example:</p><p><code data-figure="example-detail">{_e(p["example_detail"])}</code></p></section>'
    )
    return _page(request, p["title"], content)
