"""The SMS and push provider's status callbacks (Twilio's shape): ``POST /v1/messages/provider-status``,
form-encoded ``MessageSid``, ``MessageStatus`` (delivered, undelivered, failed, ...), ``ErrorCode``,
signed with ``X-Twilio-Signature`` (HMAC-SHA1 under the auth token of the URL the provider was
given, ``COALITION_PUBLIC_URL`` + the path, and the sorted parameters; loyalty/messages/signatures.py).
A bad signature is refused (403); a sid no message has yet (the worker's commit of its send may
come after the callback) is answered 503, which the provider retries."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from gateway.deps import SessionDep, SettingsDep
from gateway.errors import Forbidden
from gateway.messaging.sms import STATUS_CALLBACK_PATH
from gateway.services.message_delivery import record_provider_status
from loyalty.messages.signatures import CALLBACK_SIGNATURE_HEADER, callback_signature_ok

router = APIRouter(tags=["messages"])
# the provider's codes for a number that can never receive (Twilio: unknown destination, landline,
# invalid number): the number is suppressed for the channel
BAD_NUMBER_CODES = frozenset({"30005", "30006", "21211", "21614"})


@router.post(STATUS_CALLBACK_PATH, status_code=204, include_in_schema=False)
async def provider_status(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signature: Annotated[str | None, Header(alias=CALLBACK_SIGNATURE_HEADER)] = None,
) -> Response:
    params = dict(parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True))
    url = f"{settings.public_url}{STATUS_CALLBACK_PATH}"
    if not callback_signature_ok(url, params, signature, key=str(settings.sms_auth_token)):
        raise Forbidden("the X-Twilio-Signature does not match this request")
    code = params.get("ErrorCode", "")
    known = await run_in_threadpool(
        record_provider_status,
        session,
        provider_ref=params.get("MessageSid", ""),
        status=params.get("MessageStatus", ""),
        detail=f"provider {params.get('MessageStatus', '')} {code}".strip(),
        bad_address=code in BAD_NUMBER_CODES,
    )
    if known is None:  # its send not recorded yet (or not ours): the provider tries again later
        return Response(status_code=503, headers={"Retry-After": "1"})
    return Response(status_code=204)
