"""The one place secrets are encrypted at rest (custodial wallets' keys, webhook signing secrets).

AES-256-GCM with a key derived from ``settings.secrets_key`` (HKDF-SHA256, one derived key per
purpose, so a ciphertext of one kind can never be opened as another). Each value gets a fresh
96-bit random nonce; the nonce and the tag are stored next to the ciphertext; the plain value
never is. ``aad`` binds a ciphertext to its row (e.g. the wallet address) so that swapping two
rows' ciphertexts in the database makes both fail to open instead of silently trading keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF

NONCE_BYTES = 12
TAG_BYTES = 16


class SecretsBoxError(Exception):
    """A ciphertext that does not open: wrong key, wrong purpose/aad, or tampered with."""


@dataclass(frozen=True)
class Sealed:
    ciphertext: bytes  # the encrypted value followed by the 16-byte GCM tag
    nonce: bytes


def _key(secrets_key: str, purpose: str) -> bytes:
    if not secrets_key:
        raise ValueError("an empty secrets key encrypts nothing")
    derived = HKDF(secrets_key.encode(), 32, salt=b"coalition-secrets-box-v1", hashmod=SHA256, context=purpose.encode())
    assert isinstance(derived, bytes)
    return derived


def seal(secrets_key: str, purpose: str, plaintext: bytes, aad: bytes = b"") -> Sealed:
    """Encrypts ``plaintext`` for ``purpose`` (e.g. ``"custodial-wallet"``)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    cipher = AES.new(_key(secrets_key, purpose), AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
    cipher.update(aad)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return Sealed(ciphertext=ciphertext + tag, nonce=nonce)


def derive_many(secrets_key: str, purpose: str, salts: list[bytes]) -> list[bytes]:
    """A 32-byte secret per salt: HMAC-SHA256 of the salt under the purpose's derived key. What
    only the salt is stored for is as safe as a sealed value (the secrets key is needed to get it
    back) at a hundredth of a seal's cost; the bulk import's custodial keys are made so."""
    key = _key(secrets_key, purpose)
    return [hmac.new(key, salt, hashlib.sha256).digest() for salt in salts]


def open_sealed(secrets_key: str, purpose: str, sealed: Sealed, aad: bytes = b"") -> bytes:
    """Decrypts and authenticates; raises SecretsBoxError rather than returning garbage."""
    if len(sealed.nonce) != NONCE_BYTES or len(sealed.ciphertext) < TAG_BYTES:
        raise SecretsBoxError("malformed sealed value")
    cipher = AES.new(_key(secrets_key, purpose), AES.MODE_GCM, nonce=sealed.nonce, mac_len=TAG_BYTES)
    cipher.update(aad)
    body, tag = sealed.ciphertext[:-TAG_BYTES], sealed.ciphertext[-TAG_BYTES:]
    try:
        return cipher.decrypt_and_verify(body, tag)
    except ValueError as exc:
        raise SecretsBoxError("the sealed value does not open with this key (wrong key or tampered)") from exc
