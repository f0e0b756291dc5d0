"""The web pages' sessions: browsers cannot send a Bearer header, so the operator's token and a
customer's sign-in are carried by an HttpOnly, SameSite=Strict cookie.

The operator's cookie is a random session token (``os_…``) of a session stored server side
(``operator_sessions``, the token's SHA-256 only): it lasts ``OPERATOR_SESSION_S``, ends at
logout (the row is deleted, so a copied cookie stops working at once), and is bound to the
operator token and secrets key in force (an HMAC of them, under a key derived from
``secrets_key``), so that rotating either ends every dashboard session. A customer's cookie is
the customer token of ``POST /v1/auth/session`` itself (stored hashed by the gateway, checked
the same way as the API, and ended the same way).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.settings import GatewaySettings
from gateway.timeutil import as_utc
from network.store import OperatorSession, utcnow

OPERATOR_COOKIE = "coalition_operator"
CUSTOMER_COOKIE = "coalition_customer"
OPERATOR_SESSION_S = 8 * 3_600
OPERATOR_TOKEN_PREFIX = "os_"
MAX_COOKIE_CHARS = 200


def _key(settings: GatewaySettings) -> bytes:
    return hmac.new(str(settings.secrets_key).encode(), b"coalition dashboard session v2", hashlib.sha256).digest()


def _credential(settings: GatewaySettings) -> str:
    """What a session is bound to: the operator token in force, under the secrets key in force."""
    token_hash = hashlib.sha256(str(settings.operator_token).encode()).hexdigest()
    return hmac.new(_key(settings), f"operator|{token_hash}".encode(), hashlib.sha256).hexdigest()


def _token_hash(value: str | None) -> str | None:
    """The stored hash of a cookie's value; None for a value this gateway never hands out."""
    if not value or len(value) > MAX_COOKIE_CHARS or not value.startswith(OPERATOR_TOKEN_PREFIX):
        return None
    return hashlib.sha256(value.encode()).hexdigest()


def token_is_operator(settings: GatewaySettings, token: str) -> bool:
    """Whether ``token`` is the operator token (constant time)."""
    return hmac.compare_digest(token.encode(), str(settings.operator_token).encode())


def open_operator_session(session: Session, settings: GatewaySettings) -> str:
    """A new operator session, valid for ``OPERATOR_SESSION_S``: returns the cookie's value
    (shown once; only its hash is stored; not committed)."""
    value = OPERATOR_TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        OperatorSession(
            token_hash=hashlib.sha256(value.encode()).hexdigest(),
            credential=_credential(settings),
            expires_at=utcnow() + timedelta(seconds=OPERATOR_SESSION_S),
        )
    )
    session.flush()
    return value


def operator_session_valid(session: Session, settings: GatewaySettings, value: str | None) -> bool:
    """True for the cookie of a stored, unexpired session opened under the current secrets."""
    token_hash = _token_hash(value)
    if token_hash is None:
        return False
    row = session.scalar(select(OperatorSession).where(OperatorSession.token_hash == token_hash))
    if row is None or as_utc(row.expires_at) <= utcnow():
        return False
    return hmac.compare_digest(row.credential.encode(), _credential(settings).encode())


def close_operator_session(session: Session, value: str | None) -> bool:
    """Ends the session of this cookie (logout): True if there was one (not committed)."""
    token_hash = _token_hash(value)
    if token_hash is None:
        return False
    ended = session.execute(delete(OperatorSession).where(OperatorSession.token_hash == token_hash))
    return bool(ended.rowcount)  # type: ignore[attr-defined]


def csrf_token(settings: GatewaySettings, value: str | None) -> str:
    """The CSRF token of the operator session whose cookie is ``value``: an HMAC of the session
    token under a key derived from ``secrets_key``, so it is per session, ends with it, and
    cannot be made without the cookie (which pages' scripts cannot read: HttpOnly). Every form
    that changes something carries it; the cookie is SameSite=Strict as well."""
    key = hmac.new(str(settings.secrets_key).encode(), b"coalition dashboard csrf v1", hashlib.sha256).digest()
    return hmac.new(key, (value or "").encode(), hashlib.sha256).hexdigest()


def csrf_valid(settings: GatewaySettings, value: str | None, token: str | None) -> bool:
    """Whether a form's ``token`` is the CSRF token of this session (constant time)."""
    if not value or not token:
        return False
    return hmac.compare_digest(csrf_token(settings, value).encode(), token.encode())


def cookie_secure(settings: GatewaySettings) -> bool:
    """Secure cookies when the gateway is served over HTTPS (a plain-HTTP local demo has none)."""
    return settings.public_url.startswith("https://")
