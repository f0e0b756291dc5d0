"""Errors as HTTP answers: application/problem+json (RFC 9457), the one place that maps the
domain errors (gateway/errors.py), the chain's refusals and the framework's own errors to an
answer, and that describes those answers in the OpenAPI document.

Every answer has the stable ``type`` (``/problems/<slug>``), the title and the status of the
catalogue (gateway/problem_types.py), and a detail that says what was wrong in this request; a
few carry more: a validation problem lists every invalid field (``errors``), a release not yet
due says when (``available_at``), and a rate-limited or not-yet answer says how long to wait
(the ``Retry-After`` header).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.errors import (
    CampaignRefused,
    CustodialReleasePending,
    GatewayError,
    ProfileRefused,
    RateLimited,
    SegmentRefused,
)
from gateway.problem_types import PROBLEM_HELP, PROBLEMS, problem_example, problem_type
from network.errors import ChainMismatchError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An error, as application/problem+json (RFC 9457). Branch on `type`, show `detail`.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "description": "Stable: /problems/<slug>, a page that says what it means and how to fix it",
            "enum": [problem_type(slug) for slug in PROBLEMS],
            "examples": ["/problems/validation-error"],
        },
        "title": {
            "type": "string",
            "description": "The problem type's title, the same for every answer of this type",
            "examples": [PROBLEMS["validation-error"][1]],
        },
        "status": {"type": "integer", "description": "The HTTP status of the answer", "examples": [422]},
        "detail": {
            "type": "string",
            "description": "What was wrong with this request, for a person",
            "examples": [PROBLEM_HELP["validation-error"][0]],
        },
        "instance": {"type": "string", "description": "The path of the request", "examples": ["/v1/purchases"]},
        "errors": {
            "type": "array",
            "description": "validation-error only: every invalid field",
            "items": {
                "type": "object",
                "description": "One invalid field",
                "properties": {
                    "field": {"type": "string", "description": "Where: body.<path>, query.<name>, path.<name>"},
                    "message": {"type": "string", "description": "Why it is invalid"},
                    "kind": {"type": "string", "description": "A stable code of the reason (pydantic's error type)"},
                },
            },
        },
    },
    "examples": [problem_example("validation-error") | {"instance": "/v1/purchases"}],
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}  # gateway/openapi.py publishes PROBLEM_SCHEMA there


def problem_responses(*slugs: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems a route can answer, grouped by status, each with
    an example answer per problem type."""
    by_status: dict[int, list[str]] = {}
    for slug in slugs:
        by_status.setdefault(PROBLEMS[slug][0], []).append(slug)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, names in sorted(by_status.items()):
        examples = {s: {"summary": PROBLEMS[s][1], "value": problem_example(s)} for s in names}
        responses[status] = {
            "description": "; ".join(f"{problem_type(s)}: {PROBLEMS[s][1]}" for s in names),
            "content": {PROBLEM_JSON: {"schema": PROBLEM_REF, "examples": examples}},
        }
        if status == 429:
            responses[status]["headers"] = {
                "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}
            }
    return responses


def status_of(error: GatewayError) -> int:
    """The HTTP status of an answer to ``error``."""
    return PROBLEMS[error.slug][0]


def members_of(error: GatewayError) -> dict[str, Any]:
    """The members an answer to ``error`` has beside type, title, status and detail."""
    if isinstance(error, CustodialReleasePending):
        return {"available_at": error.available_at.isoformat().replace("+00:00", "Z")}
    if isinstance(error, ProfileRefused):
        return {"field": error.field}
    if isinstance(error, SegmentRefused):
        return {"path": error.path}
    if isinstance(error, CampaignRefused):
        return {"field": error.field}
    return {}


def headers_of(error: GatewayError) -> dict[str, str]:
    """The headers an answer to ``error`` sends (Retry-After: the seconds to wait)."""
    if isinstance(error, RateLimited | CustodialReleasePending):
        return {"Retry-After": str(error.retry_after_s)}
    return {}


def problem_body(slug: str, detail: str, instance: str | None = None, **extra: Any) -> dict[str, Any]:
    """The members of a problem answer."""
    status, title = PROBLEMS[slug]
    body = {"type": problem_type(slug), "title": title, "status": status, "detail": detail, **extra}
    if instance:
        body["instance"] = instance
    return body


def error_body(error: GatewayError, instance: str | None = None) -> dict[str, Any]:
    """The members of the answer to a domain error."""
    return problem_body(error.slug, error.detail, instance, **members_of(error))


def problem(slug: str, detail: str, instance: str | None = None, **extra: Any) -> JSONResponse:
    status = PROBLEMS[slug][0]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = problem_body(slug, detail, instance, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def error_response(error: GatewayError, instance: str | None = None) -> JSONResponse:
    """The answer to a domain error."""
    response = problem(error.slug, error.detail, instance, **members_of(error))
    response.headers.update(headers_of(error))
    return response


async def gateway_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return error_response(exc, str(request.url.path))


DETAIL_FIELDS_SHOWN = 5  # a detail names the first few fields; `errors` lists every one


def field_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's errors as the ``errors`` of a validation problem: field path, message, kind."""
    return [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "kind": e["type"]} for e in errors]


def validation_detail(errors: Sequence[Mapping[str, str]]) -> str:
    """The human-readable detail of a validation problem: each field with its reason,
    ``body.customer.wallet: must be a checksummed (EIP-55) 20-byte hex address; body.amount: ...``."""
    reasons = [f"{e['field'] or 'the body'}: {e['message'].removeprefix('Value error, ')}" for e in errors]
    more = len(reasons) - DETAIL_FIELDS_SHOWN
    shown = "; ".join(reasons[:DETAIL_FIELDS_SHOWN])
    return shown + (f"; and {more} more (see errors)" if more > 0 else "") if reasons else "the request is not valid"


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    return problem("validation-error", validation_detail(errors), str(request.url.path), errors=errors)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # 400: FastAPI's "There was an error parsing the body" (bytes that are not JSON text): invalid input
    slugs = {400: "validation-error", 401: "unauthorized", 403: "forbidden", 404: "not-found"}
    slugs[405] = "method-not-allowed"
    slugs[413] = "content-too-large"  # e.g. Starlette's own form limits
    slug = slugs.get(exc.status_code, "internal-error")
    return problem(slug, str(exc.detail), str(request.url.path))


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem("internal-error", "an unexpected error occurred; it was logged", str(request.url.path))


async def chain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The chain layer refused to connect: a node that cannot be reached (retry later), or one
    that serves another chain id than the settings name (logged with both ids for the operator;
    the client is told only to retry)."""
    path = request.url.path
    if isinstance(exc, ChainMismatchError):
        log.error("the chain is refused: %s", exc)
        return problem("chain-unavailable", "the gateway cannot use its chain right now; retry later", path)
    return problem("chain-unavailable", f"the chain cannot be reached ({type(exc).__name__}); retry later", path)
