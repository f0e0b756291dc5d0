"""Consent changes with their consequences: the words shown, double opt-in for email, the
confirmation and one-click unsubscribe links (gateway/services/message_links.py).

The rules:

- **Every change is a row** (customer_records.record_consent: the history is append-only) and a
  ``customer.consent_changed`` domain event, in the caller's transaction.
- **An email grant waits for its confirmation** (double opt-in): it is recorded with
  ``confirmed_at`` null and a ``customer.consent_requested`` event carries the customer's address
  and a signed ``confirm_url`` (plan18 turns it into the ``email_confirmation`` message). A grant
  of a scope whose grant in force is confirmed already keeps that confirmation (a partner posting
  the same consent again does not ask the customer again).
- **A confirmation is a row of its own**: granted, source ``double-opt-in``, ``confirmed_at`` now,
  the grant's words shown. Confirming the address confirms every email grant of the customer
  still waiting (one address, one proof); a link whose grant is confirmed already answers
  ``consent-already-confirmed``, one withdrawn since ``consent-withdrawn``.
- **One-click unsubscribe** withdraws the consent the link names (channel, partner; or with
  ``whole_channel`` the channel at the coalition's scope, which stops every partner's messages on
  it); unsubscribing what is withdrawn already records nothing (idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import ConsentAlreadyConfirmed, ConsentRefused, ConsentWithdrawn, LinkInvalid, NotFound
from gateway.services import customer_records, message_links
from gateway.settings import GatewaySettings
from loyalty.customers import ConsentInvalid
from loyalty.messages.consent import UNSUBSCRIBE_SOURCE
from network.store import Customer, CustomerConsent, CustomerProfile, Partner, utcnow
from network.store.events import record

CONFIRMED_SOURCE = "double-opt-in"


def in_force_row(session: Session, *, customer_id: int, channel: str, partner_id: int | None) -> CustomerConsent | None:
    """The row in force of the scope (channel, partner_id): the latest recorded."""
    scope = CustomerConsent.partner_id.is_(None) if partner_id is None else CustomerConsent.partner_id == partner_id
    return session.scalar(
        select(CustomerConsent)
        .where(CustomerConsent.customer_id == customer_id, CustomerConsent.channel == channel, scope)
        .order_by(CustomerConsent.recorded_at.desc(), CustomerConsent.id.desc())
        .limit(1)
    )


def record_change(
    session: Session,
    settings: GatewaySettings,
    *,
    customer_id: int,
    channel: str,
    partner_id: int | None,
    granted: bool,
    source: str,
    text_shown: str | None = None,
    message_id: int | None = None,
) -> CustomerConsent:
    """Records one change (see the module's rules); ConsentRefused for a bad one, NotFound for an
    unknown partner. Not committed."""
    now = utcnow()
    confirmed_at = None
    if channel == "email" and granted:
        held = in_force_row(session, customer_id=customer_id, channel=channel, partner_id=partner_id)
        confirmed_at = held.confirmed_at if held is not None and held.granted else None
    try:
        row = customer_records.record_consent(
            session,
            customer_id=customer_id,
            channel=channel,
            partner_id=partner_id,
            granted=granted,
            source=source,
            at=now,
            text_shown=text_shown,
            confirmed_at=confirmed_at,
        )
    except ConsentInvalid as exc:
        raise ConsentRefused(str(exc)) from exc
    except customer_records.PartnerNotFound as exc:
        raise NotFound(str(exc)) from exc
    _changed(session, row, message_id=message_id)
    if channel == "email" and granted and confirmed_at is None:
        _confirmation_requested(session, settings, row)
    return row


def _changed(session: Session, row: CustomerConsent, *, message_id: int | None = None) -> None:
    payload: dict[str, object] = {
        "customer_id": row.customer_id,
        "channel": row.channel,
        "partner_id": row.partner_id,
        "granted": row.granted,
    }
    if row.source in (CONFIRMED_SOURCE, UNSUBSCRIBE_SOURCE):
        payload["source"] = row.source
    if message_id is not None:
        payload["message_id"] = message_id
    record(session, "customer.consent_changed", payload=payload, partner_id=row.partner_id)


def _confirmation_requested(session: Session, settings: GatewaySettings, row: CustomerConsent) -> None:
    token = message_links.confirm_token(
        settings, customer_id=row.customer_id, partner_id=row.partner_id, consent_id=row.id, now=row.recorded_at
    )
    payload = {
        "customer_id": row.customer_id,
        "partner_id": row.partner_id,
        "consent_id": row.id,
        "confirm_url": message_links.confirm_url(settings, token),
    }
    record(session, "customer.consent_requested", payload=payload, partner_id=row.partner_id)


# --- double opt-in


@dataclass(frozen=True)
class PendingConfirmation:
    """What a confirmation link confirms: the customer's address, the grant's scope and words."""

    customer_id: int
    partner_id: int | None
    partner_name: str | None
    address: str | None
    text_shown: str | None


def pending_confirmation(session: Session, settings: GatewaySettings, *, token: str) -> PendingConfirmation:
    """The grant a confirmation link names, still waiting for its confirmation; LinkInvalid,
    LinkExpired, ConsentAlreadyConfirmed, ConsentWithdrawn otherwise."""
    link = message_links.read(settings, token, action=message_links.CONFIRM, now=utcnow())
    granted = session.get(CustomerConsent, link.consent_id)
    if (
        granted is None
        or (granted.customer_id, granted.partner_id, granted.channel) != (link.customer_id, link.partner_id, "email")
        or not granted.granted
    ):
        raise LinkInvalid("this link names no email consent of this coalition's")
    current = in_force_row(session, customer_id=link.customer_id, channel="email", partner_id=link.partner_id)
    assert current is not None  # the granted row itself, at least
    if not current.granted:
        raise ConsentWithdrawn("this email consent was withdrawn after the link was sent")
    if current.confirmed_at is not None:
        raise ConsentAlreadyConfirmed("your email consent is confirmed already")
    profile = session.get(CustomerProfile, link.customer_id)
    if profile is None or profile.email is None:  # erased, or removed since: nothing to confirm
        raise LinkInvalid("no email address is on file any more for this consent")
    partner = session.get(Partner, link.partner_id) if link.partner_id is not None else None
    return PendingConfirmation(
        customer_id=link.customer_id,
        partner_id=link.partner_id,
        partner_name=partner.name if partner is not None else None,
        address=profile.email if profile is not None else None,
        text_shown=current.text_shown,
    )


def confirm(session: Session, settings: GatewaySettings, *, token: str) -> PendingConfirmation:
    """Confirms the customer's address: a confirmation row for every email grant of theirs in
    force and still waiting (the link's among them). Raises as :func:`pending_confirmation`. Not
    committed."""
    pending = pending_confirmation(session, settings, token=token)
    now = utcnow()
    for (channel, partner_id), change in customer_records.consents_in_force(
        session, customer_id=pending.customer_id
    ).items():
        if channel != "email" or not change.granted or change.confirmed:
            continue
        row = customer_records.record_consent(
            session,
            customer_id=pending.customer_id,
            channel="email",
            partner_id=partner_id,
            granted=True,
            source=CONFIRMED_SOURCE,
            at=now,
            text_shown=change.text_shown,
            confirmed_at=now,
        )
        _changed(session, row)
    return pending


# --- one-click unsubscribe


@dataclass(frozen=True)
class Unsubscription:
    """What an unsubscribe link stops: ``channel`` from ``partner_id`` (None: the coalition's own
    messages), and whether it (and the whole channel) is withdrawn already."""

    customer_id: int
    channel: str
    partner_id: int | None
    partner_name: str | None
    withdrawn: bool
    whole_channel_withdrawn: bool
    message_id: int | None


def unsubscription(session: Session, settings: GatewaySettings, *, token: str) -> Unsubscription:
    """What the unsubscribe link ``token`` names, and where it stands; LinkInvalid otherwise."""
    link = message_links.read(settings, token, action=message_links.UNSUBSCRIBE, now=utcnow())
    if session.get(Customer, link.customer_id) is None:
        raise LinkInvalid("this link names nobody this coalition knows")
    partner = session.get(Partner, link.partner_id) if link.partner_id is not None else None
    if link.partner_id is not None and partner is None:
        raise LinkInvalid("this link names no partner of this coalition's")
    own = in_force_row(session, customer_id=link.customer_id, channel=link.channel, partner_id=link.partner_id)
    whole = in_force_row(session, customer_id=link.customer_id, channel=link.channel, partner_id=None)
    return Unsubscription(
        customer_id=link.customer_id,
        channel=link.channel,
        partner_id=link.partner_id,
        partner_name=partner.name if partner is not None else None,
        withdrawn=own is not None and not own.granted,
        whole_channel_withdrawn=whole is not None and not whole.granted,
        message_id=link.message_id,
    )


def unsubscribe(
    session: Session, settings: GatewaySettings, *, token: str, whole_channel: bool = False
) -> Unsubscription:
    """Withdraws the consent the link names (``whole_channel``: the channel at the coalition's
    scope); nothing is recorded for what is withdrawn already. Answers where it stands now. Not
    committed."""
    before = unsubscription(session, settings, token=token)
    partner_id = None if whole_channel else before.partner_id
    done = before.whole_channel_withdrawn if whole_channel else before.withdrawn
    if not done:
        row = customer_records.record_consent(
            session,
            customer_id=before.customer_id,
            channel=before.channel,
            partner_id=partner_id,
            granted=False,
            source=UNSUBSCRIBE_SOURCE,
        )
        _changed(session, row, message_id=before.message_id)
    return unsubscription(session, settings, token=token)
