"""What is refused before a route reads its request body: a pure ASGI middleware.

- **The body is capped** (``COALITION_MAX_REQUEST_BODY_BYTES``): a ``Content-Length`` above the
  cap is answered 413 ``content-too-large`` before a byte is read; a body sent without one
  (chunked) is counted as it streams in and refused once it passes the cap.
- **Credentials come first.** FastAPI reads and parses a route's body before it solves the
  route's dependencies, so an unauthenticated client would have its JSON parsed and see a 422
  that describes the schema. The guard hands the app a ``receive`` that, the first time the
  matched route pulls its body, runs that route's credential check (``deps.authenticate_first``:
  the partner key, the operator token) and only then reads. What the check found stays in the
  request's scope, where the route's own dependency takes it: one check per request, and on
  the purchase routes no store read and no thread hop that were not there before.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.deps import authenticate_first
from gateway.errors import ContentTooLarge, GatewayError
from gateway.problems import error_response, problem, status_of
from gateway.request_settings import settings_of_app

IMPORT_PATH_SUFFIX = "/imports/customers"
log = logging.getLogger(__name__)


class Refused(StarletteHTTPException):
    """A refusal raised while the body is being received. FastAPI turns any other exception
    raised there into a 400, but lets an HTTPException through to the exception handlers."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(status_code=status_of(error), detail=error.detail)
        self.error = error


async def refused_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return error_response(exc.error, str(request.url.path))


def _too_large(limit: int) -> ContentTooLarge:
    return ContentTooLarge(f"the request body is over {limit} bytes, the most this gateway accepts")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before the app sees it
    return None


class RequestGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = settings_of_app(scope["app"])
        limit = settings.max_request_body_bytes
        if scope["path"].endswith(IMPORT_PATH_SUFFIX):  # a CSV import may be larger
            limit = settings.import_max_body_bytes
        length = _content_length(scope)
        if length is not None and length > limit:
            response = problem("content-too-large", _too_large(limit).detail, scope["path"])
            response.headers["Connection"] = "close"  # the unread body is not drained
            await response(scope, receive, send)
            return
        checked = False
        received = 0

        async def guarded_receive() -> Message:
            nonlocal checked, received
            if not checked:
                checked = True
                try:
                    await authenticate_first(scope, receive)
                except GatewayError as refused:
                    raise Refused(refused) from refused
                except Exception as failed:  # e.g. the store unreachable: a 500 to retry, never the 400/422
                    # "error parsing the body" FastAPI makes of any error raised while the body is read
                    log.error("the credential check of %s failed", scope["path"], exc_info=failed)
                    raise Refused(GatewayError("an unexpected error occurred; it was logged")) from failed
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise Refused(_too_large(limit))
            return message

        await self.app(scope, guarded_receive, send)
