"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served with
their scripts from this gateway: they work without internet (FastAPI's defaults load both from
a CDN, and a page that loads nothing is blank).

The UIs are vendored in ``gateway/static/vendor`` with their licences, as Chart.js is: exact
files of the npm packages ``swagger-ui-dist`` and ``redoc`` (version and integrity in
``gateway/static/vendor/SOURCES.md``), so the gateway needs nothing but its own package at
run time. Nothing on these pages points outside the gateway: no validator badge, no web fonts,
no remote favicon.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from gateway.errors import NotFound

router = APIRouter(include_in_schema=False)
VENDOR = Path(__file__).resolve().parents[1] / "static" / "vendor"
ASSETS = "/docs/assets"
SWAGGER_UI = "swagger-ui-5.35.0"
REDOC = "redoc-2.5.4"
ASSET_FILES = {  # name -> media type: only these are served
    f"{SWAGGER_UI}/swagger-ui-bundle.js": "text/javascript",
    f"{SWAGGER_UI}/swagger-ui.css": "text/css",
    f"{SWAGGER_UI}/favicon-32x32.png": "image/png",
    f"{REDOC}/redoc.standalone.js": "text/javascript",
}
# what the pages may load: only this gateway (ReDoc's sidebar shows a badge from its vendor's CDN,
# which the browser is told not to fetch; the inline init script of Swagger UI needs 'unsafe-inline')
COMMON_POLICY = (
    "default-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; style-src 'self' 'unsafe-inline'"
)
SWAGGER_UI_HEADERS = {"Content-Security-Policy": COMMON_POLICY + "; script-src 'self' 'unsafe-inline'"}
REDOC_HEADERS = {"Content-Security-Policy": COMMON_POLICY + "; script-src 'self'; worker-src 'self' blob:"}
SWAGGER_UI_PARAMETERS = {
    "validatorUrl": None,  # the default badge asks a public validator about the schema
    "persistAuthorization": True,  # the key typed in "Authorize" survives a reload of the page
    "displayRequestDuration": True,
    "tryItOutEnabled": False,
}


def _openapi_url(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/") + request.app.openapi_url


def _asset(request: Request, name: str) -> str:
    return request.scope.get("root_path", "").rstrip("/") + f"{ASSETS}/{name}"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - API reference",
        swagger_js_url=_asset(request, f"{SWAGGER_UI}/swagger-ui-bundle.js"),
        swagger_css_url=_asset(request, f"{SWAGGER_UI}/swagger-ui.css"),
        swagger_favicon_url=_asset(request, f"{SWAGGER_UI}/favicon-32x32.png"),
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    page.headers.update(SWAGGER_UI_HEADERS)
    return page


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    page = get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - API reference",
        redoc_js_url=_asset(request, f"{REDOC}/redoc.standalone.js"),
        redoc_favicon_url=_asset(request, f"{SWAGGER_UI}/favicon-32x32.png"),
        with_google_fonts=False,
    )
    page.headers.update(REDOC_HEADERS)
    return page


@router.get(ASSETS + "/{name:path}")
def asset(name: str) -> FileResponse:
    if name not in ASSET_FILES:
        raise NotFound(f"no documentation asset {name!r}")
    # versioned names: a new release of a UI is a new path, so browsers may keep these a day
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return FileResponse(VENDOR / name, media_type=ASSET_FILES[name], headers=headers)
