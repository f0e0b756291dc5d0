"""API keys: shown once at onboarding, stored as a SHA-256 hash, looked up by their prefix.

A key reads ``ck_<prefix>_<secret>``: 16 hex characters of prefix (the lookup) and 43 of
URL-safe secret (256 bits, so a plain hash is enough: nobody can brute-force it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class NewApiKey:
    key: str
    prefix: str
    hash: str


def hash_secret(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> NewApiKey:
    prefix = secrets.token_hex(8)
    key = f"ck_{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(key=key, prefix=prefix, hash=hash_secret(key))


def prefix_of(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "ck" or len(parts[1]) != 16:
        return None
    return parts[1]


def matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(key), stored_hash)
