"""Signed tokens in links that work without signing in: one-click unsubscribe (RFC 8058) and the
confirmation of an email address (double opt-in). A token is ``<payload>.<mac>``: the payload is
base64url JSON (what the link does, to whom), the MAC is HMAC-SHA256 over it with a key of the
deployment (gateway settings), truncated to 128 bits. Nothing secret is in the payload; a token
cannot be forged or altered without the key. Pure: the key is passed in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


class TokenInvalid(ValueError):
    """The token was altered, truncated or signed with another key."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any], *, key: bytes) -> str:
    """A token carrying ``payload`` (a JSON object)."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(key, body.encode(), hashlib.sha256).digest()[:16]
    return f"{body}.{_b64(mac)}"


def verify(token: str, *, key: bytes) -> dict[str, Any]:
    """The payload of ``token``; raises :class:`TokenInvalid` unless it was signed with ``key``."""
    body, _, mac = token.partition(".")
    try:
        expected = hmac.new(key, body.encode(), hashlib.sha256).digest()[:16]
        if not mac or not hmac.compare_digest(_unb64(mac), expected):
            raise TokenInvalid("bad signature")
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenInvalid(str(exc)) from exc
    if not isinstance(payload, dict):
        raise TokenInvalid("not an object")
    return payload
