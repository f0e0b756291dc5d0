"""The SMS/push provider's request signatures, both directions (pure HMAC).

Outgoing (the coalition -> the provider): the form body is signed with HMAC-SHA256 under the
account's auth token, hex, in the header ``X-Coalition-Signature: sha256=<hex>``; the provider
(and our embedded one, gateway/messaging/sms_server.py) recomputes it over the bytes it received.

Incoming (the provider's status callbacks -> the gateway): Twilio's ``X-Twilio-Signature``
scheme: the full URL the provider called, followed by every POST parameter's name and value
concatenated in the order of the names, HMAC-SHA1 under the auth token, base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

BODY_SIGNATURE_HEADER = "X-Coalition-Signature"
CALLBACK_SIGNATURE_HEADER = "X-Twilio-Signature"


def sign_body(body: bytes, *, key: str) -> str:
    """The value of ``X-Coalition-Signature`` for a request body."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def body_signature_ok(body: bytes, signature: str | None, *, key: str) -> bool:
    return signature is not None and hmac.compare_digest(sign_body(body, key=key), signature)


def sign_callback(url: str, params: Mapping[str, str], *, key: str) -> str:
    """Twilio's ``X-Twilio-Signature`` of a POST to ``url`` with form ``params``."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(key.encode(), data.encode(), hashlib.sha1).digest()).decode()


def callback_signature_ok(url: str, params: Mapping[str, str], signature: str | None, *, key: str) -> bool:
    return signature is not None and hmac.compare_digest(sign_callback(url, params, key=key), signature)
