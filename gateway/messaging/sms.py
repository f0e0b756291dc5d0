"""SMS and push through the provider's HTTP API, shaped on Twilio's Messages API:

    POST {COALITION_SMS_API_URL}/2010-04-01/Accounts/{sid}/Messages.json
    form: To, From, Body, StatusCallback (push: also Channel=push, Title)
    HTTP Basic auth: the account sid and auth token
    Idempotency-Key: msg-<message id>   (a resend of the same message is collapsed by the provider)
    X-Coalition-Signature: sha256=<hex HMAC-SHA256 of the body under the auth token>
    answer: JSON {"sid": ..., "status": "queued" | ...}; an error: {"code": ..., "message": ...}

The provider then POSTs the message's status (delivered, undelivered, failed) to StatusCallback,
signed with ``X-Twilio-Signature`` (gateway/routes/message_callbacks.py verifies it).
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from gateway.settings import WorkerSettings
from loyalty.messages.delivery import Outcome, http_outcome
from loyalty.messages.signatures import BODY_SIGNATURE_HEADER, sign_body

STATUS_CALLBACK_PATH = "/v1/messages/provider-status"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def messages_url(settings: WorkerSettings) -> str:
    return f"{str(settings.sms_api_url).rstrip('/')}/2010-04-01/Accounts/{settings.sms_account_sid}/Messages.json"


def idempotency_key(message_row_id: int) -> str:
    return f"msg-{message_row_id}"


def make_client(settings: WorkerSettings) -> httpx.Client:
    return httpx.Client(timeout=settings.sms_timeout_s, auth=(settings.sms_account_sid, str(settings.sms_auth_token)))


def send(
    client: httpx.Client,
    settings: WorkerSettings,
    *,
    message_row_id: int,
    channel: str,
    to: str,
    body: str,
    title: str | None = None,
) -> Outcome:
    """One SMS or push message through the provider; its ``sid`` is the provider reference."""
    if settings.sms_api_url is None:
        return Outcome("permanent", "COALITION_SMS_API_URL is not set: SMS and push are off")
    form = {
        "To": to,
        "From": settings.sms_from,
        "Body": body,
        "StatusCallback": f"{settings.public_url.rstrip('/')}{STATUS_CALLBACK_PATH}",
    }
    if channel == "push":
        form |= {"Channel": "push", "Title": title or ""}
    content = urlencode(form).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        IDEMPOTENCY_HEADER: idempotency_key(message_row_id),
        BODY_SIGNATURE_HEADER: sign_body(content, key=str(settings.sms_auth_token)),
    }
    try:
        r = client.post(messages_url(settings), content=content, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome("retry", f"connection {type(exc).__name__}: {exc}"[:255])
    if r.is_success:
        try:
            answer = r.json()
            sid = str(answer["sid"])
        except (ValueError, KeyError, TypeError):
            return Outcome("retry", f"http {r.status_code} without a sid")
        return Outcome("sent", f"http {r.status_code} {answer.get('status', '')}".strip(), provider_ref=sid)
    try:
        error = r.json()
        detail = f"{error.get('code', '')} {error.get('message', '')}".strip()
    except ValueError:
        detail = r.reason_phrase
    return http_outcome(r.status_code, detail)
