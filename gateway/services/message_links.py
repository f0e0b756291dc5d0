"""The links of messages that work without signing in: one-click unsubscribe (RFC 8058) and the
confirmation of an email grant (double opt-in). Their tokens are loyalty/messages/tokens.py's,
signed with the deployment's link key; what a token may do is in its payload:

- unsubscribe: ``{"a": "unsubscribe", "c": customer id, "p": partner id or null, "ch": channel,
  "m": message id}``; no expiry (a mail read months later still unsubscribes).
- confirm: ``{"a": "confirm", "c": customer id, "p": partner id or null, "ch": "email", "r": the
  consent row granted, "e": expiry (unix seconds)}``; ``COALITION_CONSENT_CONFIRM_TTL_DAYS`` (7).

The key: ``COALITION_MESSAGES_LINK_KEY``, or else one derived from ``COALITION_SECRETS_KEY``
(which outside local mode must be a real secret): a link of one deployment is refused by another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway.errors import LinkExpired, LinkInvalid
from gateway.settings import GatewaySettings, WorkerSettings, messages_link_key
from loyalty.customers import CHANNELS
from loyalty.messages.tokens import TokenInvalid, sign, verify

UNSUBSCRIBE = "unsubscribe"
CONFIRM = "confirm"


def link_key(settings: WorkerSettings) -> bytes:
    """The HMAC key of the links' tokens: gateway/settings.py ``messages_link_key``, the one the
    sender signs List-Unsubscribe with (see the module's docstring)."""
    return messages_link_key(settings)


@dataclass(frozen=True)
class Link:
    """What a verified token names."""

    action: str
    customer_id: int
    partner_id: int | None
    channel: str
    message_id: int | None = None
    consent_id: int | None = None


def unsubscribe_token(
    settings: WorkerSettings, *, customer_id: int, partner_id: int | None, channel: str, message_id: int | None
) -> str:
    """The token of a message's one-click unsubscribe link (send18 puts it in List-Unsubscribe)."""
    payload = {"a": UNSUBSCRIBE, "c": customer_id, "p": partner_id, "ch": channel, "m": message_id}
    return sign(payload, key=link_key(settings))


def unsubscribe_url(settings: GatewaySettings, token: str) -> str:
    """``<COALITION_PUBLIC_URL>/v1/unsubscribe/<token>``: the List-Unsubscribe URL and the page."""
    return f"{settings.public_url.rstrip('/')}/v1/unsubscribe/{token}"


def confirm_token(
    settings: GatewaySettings, *, customer_id: int, partner_id: int | None, consent_id: int, now: datetime
) -> str:
    """The token of the link that confirms the email grant ``consent_id`` (double opt-in)."""
    expires = int((now + timedelta(days=settings.consent_confirm_ttl_days)).timestamp())
    payload = {"a": CONFIRM, "c": customer_id, "p": partner_id, "ch": "email", "r": consent_id, "e": expires}
    return sign(payload, key=link_key(settings))


def confirm_url(settings: GatewaySettings, token: str) -> str:
    """``<COALITION_PUBLIC_URL>/v1/consents/confirm/<token>``: the page with the button."""
    return f"{settings.public_url.rstrip('/')}/v1/consents/confirm/{token}"


def read(settings: WorkerSettings, token: str, *, action: str, now: datetime) -> Link:
    """What ``token`` names, if it is this deployment's, for ``action`` and not expired;
    LinkInvalid or LinkExpired otherwise."""
    try:
        payload = verify(token, key=link_key(settings))
    except TokenInvalid as exc:
        raise LinkInvalid("this link was altered, cut short, or is not one of this coalition's") from exc
    if payload.get("a") != action:
        raise LinkInvalid(f"this link is not an {action} link")
    link = _link(payload)
    if link is None:
        raise LinkInvalid("this link names nothing this coalition knows")
    expires = payload.get("e")
    if isinstance(expires, int) and now.timestamp() > expires:
        raise LinkExpired("this confirmation link has expired: ask for a new one where you gave your consent")
    return link


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63 else None


def _link(payload: dict[str, Any]) -> Link | None:
    customer_id, channel = _int(payload.get("c")), payload.get("ch")
    partner = payload.get("p")
    partner_id = None if partner is None else _int(partner)
    if customer_id is None or channel not in CHANNELS or (partner is not None and partner_id is None):
        return None
    consent_id = _int(payload.get("r"))
    if payload.get("a") == CONFIRM and consent_id is None:
        return None
    return Link(payload["a"], customer_id, partner_id, channel, _int(payload.get("m")), consent_id)
