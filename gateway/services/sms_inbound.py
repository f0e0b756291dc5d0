"""An SMS a customer sent to the coalition's number (the provider's inbound webhook): the stop
and start keywords (loyalty/messages/sms.py).

- **STOP** (and its kin) withdraws SMS consent at the coalition's scope (which stops every
  partner's SMS: loyalty/messages/consent.py) for every customer with that phone in their profile,
  source ``sms-stop``, and suppresses the number for SMS (``message_suppressions``, reason
  ``stop``), whoever holds it now: the number said stop.
- **START** lifts that suppression (never a hard bounce's) and records an SMS grant at the
  coalition's scope, source ``sms-start``, for each of those customers.
- Anything else is no keyword and changes nothing. Repeating a keyword records nothing new.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.services import consents
from gateway.settings import GatewaySettings
from loyalty.messages.sms import keyword
from network.store import CustomerProfile, MessageSuppression, utcnow
from network.store.bulk import insert_ignoring_conflicts

STOP_SOURCE = "sms-stop"
START_SOURCE = "sms-start"


def customers_with_phone(session: Session, *, phone: str) -> list[int]:
    rows = session.scalars(select(CustomerProfile.customer_id).where(CustomerProfile.phone == phone))
    return sorted(rows)


def received(session: Session, settings: GatewaySettings, *, phone: str, body: str) -> str | None:
    """Acts on the keyword of an SMS from ``phone`` (see the module's rules); answers ``"stop"``,
    ``"start"`` or None. Not committed."""
    word = keyword(body)
    if word is None:
        return None
    granted = word == "start"
    for customer_id in customers_with_phone(session, phone=phone):
        held = consents.in_force_row(session, customer_id=customer_id, channel="sms", partner_id=None)
        if held is not None and held.granted == granted:
            continue
        consents.record_change(
            session,
            settings,
            customer_id=customer_id,
            channel="sms",
            partner_id=None,
            granted=granted,
            source=START_SOURCE if granted else STOP_SOURCE,
        )
    if granted:
        session.execute(
            delete(MessageSuppression).where(
                MessageSuppression.channel == "sms",
                MessageSuppression.address == phone,
                MessageSuppression.reason == "stop",
            )
        )
    else:
        session.flush()
        row = {"channel": "sms", "address": phone, "reason": "stop", "message_id": None, "created_at": utcnow()}
        insert_ignoring_conflicts(session.connection(), MessageSuppression.__table__, [row])
    return word
