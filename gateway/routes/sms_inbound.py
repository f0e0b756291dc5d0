"""The SMS provider's inbound webhook (Twilio-shaped): a customer's reply to the coalition's number,
form fields ``From`` and ``Body``, signed with ``X-Twilio-Signature`` (loyalty/messages/signatures.py)
by the provider's auth token, ``COALITION_SMS_AUTH_TOKEN``, over the URL it called:
``COALITION_PUBLIC_URL`` + the path (set that URL in the provider's console). The rules of STOP
and START: gateway/services/sms_inbound.py. Answers TwiML with nothing to send (the provider
sends its own stop and start confirmations)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from gateway.deps import SessionDep, SettingsDep
from gateway.errors import ProviderSignatureInvalid
from gateway.problems import problem_responses
from gateway.services import sms_inbound
from gateway.settings import GatewaySettings
from loyalty.messages.signatures import CALLBACK_SIGNATURE_HEADER, callback_signature_ok

router = APIRouter(tags=["messages"])
MAX_FORM_BYTES = 16_384
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
INBOUND_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["From", "Body"],
                    "properties": {"From": {"type": "string"}, "Body": {"type": "string"}},
                },
                "example": "From=%2B48600100200&Body=STOP&To=%2B48500000000&MessageSid=SM123",
            }
        },
    }
}


def called_url(settings: GatewaySettings, request: Request) -> str:
    """The URL the provider called, as it signs it: the public address, the path, the query."""
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{settings.public_url.rstrip('/')}{request.url.path}{query}"


@router.post(
    "/v1/sms/inbound",
    response_class=Response,
    summary="The SMS provider's inbound messages: STOP and START keywords (signed by the provider)",
    responses={
        200: {"content": {"application/xml": {"example": EMPTY_TWIML}}, "description": "TwiML: nothing to send"},
        **problem_responses("provider-signature-invalid", "validation-error"),
    },
    openapi_extra=INBOUND_BODY,
)
async def inbound_sms(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signature: Annotated[
        str | None,
        Header(
            alias=CALLBACK_SIGNATURE_HEADER,
            description="The provider's signature of the request (HMAC-SHA1 with its auth token, base64)",
            examples=["0/KCTR6DLpKmkAf8muzZqo1nDgQ="],
        ),
    ] = None,
) -> Response:
    """STOP (STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, and Polish, Czech, Russian kin) withdraws SMS
    consent for the whole coalition and suppresses the number; START allows it again. Anything
    else changes nothing. A missing or wrong signature: 403 ``provider-signature-invalid``."""
    raw = await request.body()
    params = dict(parse_qsl(raw[:MAX_FORM_BYTES].decode(errors="replace"), keep_blank_values=True))
    token = settings.sms_auth_token
    if not token or not callback_signature_ok(called_url(settings, request), params, signature, key=token):
        raise ProviderSignatureInvalid("X-Twilio-Signature does not match the request")
    phone, body = params.get("From", "").strip(), params.get("Body", "")
    if phone:
        sms_inbound.received(session, settings, phone=phone, body=body)
        session.commit()
    return Response(EMPTY_TWIML, media_type="application/xml")
