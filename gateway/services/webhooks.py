"""Webhooks: the event catalogue, recording events for delivery, and partners' endpoints.

An event is recorded by :func:`emit` inside the database transaction of the change it
reports (a confirmed purchase, a failed refund...), as one delivery row per active endpoint
of the partner that subscribed to its type: the event is never announced for a change that
was rolled back, nor lost for one that was committed. The webhook task
(gateway/tasks/webhooks.py) sends it later: the beat's ``sweep`` picks every delivery that is
due, and a caller may also :func:`kick` its deliveries right after its commit.

Signing secrets are stored encrypted (AES-256-GCM, key derived with HKDF-SHA256 from
``settings.secrets_key``) and shown to the partner once, when created or rotated.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

EVENT_TYPES: tuple[str, ...] = (
    "purchase.confirmed",
    "purchase.failed",
    "refund.confirmed",
    "refund.failed",
    "redemption.fulfilled",
    "redemption.failed",
)
MAX_ENDPOINTS_PER_PARTNER = 20
_HKDF_INFO = b"coalition webhook secrets v1"
_NONCE_BYTES = 12
_TAG_BYTES = 16


def emit(session: Session, partner_id: int, event_type: str, data: dict[str, Any]) -> list[int]:
    """Records an event for every active endpoint of the partner subscribed to ``event_type``,
    in the caller's transaction (the caller commits). Returns the new deliveries' ids (empty
    when no endpoint listens), for an optional :func:`kick` after the commit."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    endpoints = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.partner_id == partner_id, WebhookEndpoint.status == "active")
    ).all()
    targets = [e for e in endpoints if event_type in e.event_types]
    if not targets:
        return []
    event_id = f"evt_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    payload = {
        "id": event_id,
        "type": event_type,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "partner_id": partner_id,
        "data": data,
    }
    rows = [
        WebhookDelivery(
            endpoint_id=e.id,
            partner_id=partner_id,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
        )
        for e in targets
    ]
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows]


def kick(ids: Iterable[int]) -> None:
    """Asks a worker to deliver now (after the commit that stored the deliveries). Optional:
    the beat's sweep delivers them anyway within seconds, so a broker hiccup is only logged."""
    ids = list(ids)
    if not ids:
        return
    try:
        from gateway.tasks.webhooks import deliver  # the task module imports the Celery app

        for delivery_id in ids:
            deliver.delay(delivery_id)
    except Exception:  # noqa: BLE001 - the sweep is the guarantee, this is only a shortcut
        log.warning("could not enqueue webhook deliveries %s; the sweep will send them", ids, exc_info=True)


# --- secrets at rest


def _key(secrets_key: str) -> bytes:
    return HKDF(secrets_key.encode(), 32, b"", SHA256, context=_HKDF_INFO)  # type: ignore[return-value]


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def encrypt_secret(secret: str, secrets_key: str) -> bytes:
    """nonce | tag | ciphertext of the secret under AES-256-GCM."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    cipher = AES.new(_key(secrets_key), AES.MODE_GCM, nonce=nonce)
    ciphertext, tag = cipher.encrypt_and_digest(secret.encode())
    return nonce + tag + ciphertext


def decrypt_secret(blob: bytes, secrets_key: str) -> str:
    """Raises ValueError if the blob was altered or the key is not the one it was sealed with."""
    nonce, tag, ciphertext = blob[:_NONCE_BYTES], blob[_NONCE_BYTES : _NONCE_BYTES + _TAG_BYTES], blob[28:]
    cipher = AES.new(_key(secrets_key), AES.MODE_GCM, nonce=nonce)
    return cipher.decrypt_and_verify(ciphertext, tag).decode()
