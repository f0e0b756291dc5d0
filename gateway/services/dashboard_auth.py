"""The web pages' sessions: browsers cannot send a Bearer header, so the operator's token and a
customer's sign-in are carried by an HttpOnly, SameSite=Strict cookie.

The operator's cookie holds no secret: ``<expires>.<hmac>``, an HMAC-SHA256 under a key derived
from ``secrets_key`` over the expiry and a hash of the operator token in force, so that rotating
either secret ends every dashboard session. A customer's cookie is the customer token of
``POST /v1/auth/session`` itself (stored hashed by the gateway, checked the same way as the API).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from gateway.settings import GatewaySettings

OPERATOR_COOKIE = "coalition_operator"
CUSTOMER_COOKIE = "coalition_customer"
OPERATOR_SESSION_S = 8 * 3_600
MAX_COOKIE_CHARS = 200


def _key(settings: GatewaySettings) -> bytes:
    return hmac.new(str(settings.secrets_key).encode(), b"coalition dashboard session v1", hashlib.sha256).digest()


def _mac(settings: GatewaySettings, expires: int) -> str:
    token_hash = hashlib.sha256(str(settings.operator_token).encode()).hexdigest()
    return hmac.new(_key(settings), f"operator|{expires}|{token_hash}".encode(), hashlib.sha256).hexdigest()


def token_is_operator(settings: GatewaySettings, token: str) -> bool:
    """Whether ``token`` is the operator token (constant time)."""
    return hmac.compare_digest(token.encode(), str(settings.operator_token).encode())


def operator_cookie(settings: GatewaySettings, now: float | None = None) -> str:
    """A new operator session value, valid for ``OPERATOR_SESSION_S``."""
    expires = int(now if now is not None else time.time()) + OPERATOR_SESSION_S
    return f"{expires}.{_mac(settings, expires)}"


def operator_cookie_valid(settings: GatewaySettings, value: str | None, now: float | None = None) -> bool:
    """True for an unexpired value this gateway signed under the current secrets."""
    if not value or len(value) > MAX_COOKIE_CHARS:
        return False
    expires_text, _, mac = value.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if expires <= (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(mac.encode(), _mac(settings, expires).encode())


def cookie_secure(settings: GatewaySettings) -> bool:
    """Secure cookies when the gateway is served over HTTPS (a plain-HTTP local demo has none)."""
    return settings.public_url.startswith("https://")
