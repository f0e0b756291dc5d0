"""Checking the coalition's webhooks on the partner's side: signature and replay window.

Every webhook is a POST with a JSON body and three headers:

- ``Coalition-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>``
  (during a secret rotation there may be several ``v1=`` entries; one matching is enough);
- ``Coalition-Event-Id``: the event's id, also ``id`` in the body;
- ``Coalition-Event-Type``: e.g. ``purchase.confirmed``, also ``type`` in the body.

    from partners.webhooks import verify, WebhookSignatureError

    try:
        event = verify(secret, request.body, request.headers["Coalition-Signature"])
    except WebhookSignatureError:
        return 400
    if already_processed(event["id"]):   # deliveries are at-least-once: dedupe by event id
        return 200
    handle(event); return 200

Verify the raw body bytes as received, before any JSON parsing. Answer 2xx once the event is
stored; anything else (or no answer within the timeout) is retried with backoff, so the same
event can arrive more than once, and events can arrive out of order: dedupe on the event id
and compare the resource's state rather than the arrival order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

SIGNATURE_HEADER = "Coalition-Signature"
EVENT_ID_HEADER = "Coalition-Event-Id"
EVENT_TYPE_HEADER = "Coalition-Event-Type"
DEFAULT_TOLERANCE_S = 300


class WebhookSignatureError(ValueError):
    """The webhook is not from the coalition, was altered, or is a replay outside the window."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under the endpoint's secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Coalition-Signature`` header value for ``body`` (what the coalition sends)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError as exc:
                raise WebhookSignatureError("the signature header's timestamp is not an integer") from exc
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookSignatureError("the signature header needs t=<unix seconds> and v1=<hex>")
    return timestamp, candidates


def verify(
    secret: str, body: bytes, header: str, tolerance_s: int = DEFAULT_TOLERANCE_S, now: float | None = None
) -> dict[str, Any]:
    """Checks the signature and the replay window; returns the parsed event.

    Raises WebhookSignatureError when the header is malformed, no ``v1`` matches (wrong secret,
    altered body or timestamp), or the timestamp is more than ``tolerance_s`` away from ``now``
    (a replay of an old, validly signed request)."""
    timestamp, candidates = _parse(header)
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise WebhookSignatureError("no signature matches: wrong secret, or the body or timestamp was altered")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookSignatureError(
            f"timestamp {timestamp} is {int(current - timestamp)} s from now, outside the {tolerance_s} s window"
        )
    event = json.loads(body)
    if not isinstance(event, dict):
        raise WebhookSignatureError("the body is not a JSON object")
    return event
