"""Idempotent writes of the partner API, said once: a write is named by the partner's own id
(``purchase_id``, ``redemption_id``, ``refund_id``); the same id with the same body answers the
first result, the same id with another body is refused (409 ``idempotency-conflict``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from gateway.errors import IdempotencyConflict


class _Stored(Protocol):
    request_hash: str


Stored = TypeVar("Stored", bound=_Stored)


def body_hash(fields: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``fields`` (sorted keys, no spaces): what is compared."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def same_or_conflict(existing: Stored, digest: str, id_name: str, id_value: str, other: str = "another body") -> Stored:
    """``existing`` when it was posted with the body hashed to ``digest``; else the conflict."""
    if existing.request_hash != digest:
        raise IdempotencyConflict(f"{id_name} {id_value!r} was first posted with {other}; use a new {id_name}")
    return existing
