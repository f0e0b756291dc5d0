"""Reminders of points expiry: a ``points.expiring`` domain event (how many points, when) some days
before a holder's expiry time (``settings.expiry_reminder_days``, 30 and 7 by default), each once
per holder and expiry time (``expiry_reminders``); activity that moves the expiry time makes new
reminders due. The webhook consumer tells it to every partner with a ref of the customer
(gateway/services/webhooks.py ``CUSTOMER_EVENTS``).

A run looks at the holders whose expiry time is within the longest reminder (from the store's
indexed events: gateway/services/expiry_schedule.py) at the chain's time. When several reminders of
one expiry time are due at once (the job did not run in between), only the nearest is told; the
others are recorded as passed over, so that the holder hears once, and the right thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services.expiry_schedule import expiries
from loyalty.expiry_schedule import DAY_S, reminders_due
from network.store import CustomerWallet, ExpiryReminder
from network.store.events import record

EVENT = "points.expiring"


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def remind(session: Session, *, chain_id: int, now: int, days_before: Sequence[int]) -> list[str]:
    """Records the reminders due at ``now`` (the chain's time); returns the events written. The
    caller commits (a unique row per reminder makes a concurrent second run fail, not repeat)."""
    if not days_before:
        return []
    found = expiries(session, chain_id, before=now + max(days_before) * DAY_S + 1)
    due = {h: (e, reminders_due(e.expires_at, now, days_before)) for h, e in found.items() if e.balance > 0}
    due = {h: v for h, v in due.items() if v[1]}
    if not due:
        return []
    told = set(
        session.execute(
            select(ExpiryReminder.holder, ExpiryReminder.expires_at, ExpiryReminder.days_before).where(
                ExpiryReminder.chain_id == chain_id, ExpiryReminder.holder.in_(list(due))
            )
        ).tuples()
    )
    rows = session.execute(
        select(CustomerWallet.address, CustomerWallet.customer_id).where(CustomerWallet.address.in_(list(due)))
    )
    owners = {address: customer_id for address, customer_id in rows}
    events: list[str] = []
    for holder, (e, days) in sorted(due.items()):
        fresh = [d for d in days if (holder, e.expires_at, d) not in told]
        if not fresh:
            continue
        nearest = min(days)
        event_id = None
        if nearest in fresh:
            payload = {
                "customer_id": owners.get(holder),
                "wallet": holder,
                "points": e.balance,
                "expires_at": iso(e.expires_at),
                "days_before": nearest,
            }
            event_id = record(session, EVENT, payload=payload, customer_wallet=holder)
            events.append(event_id)
        for d in fresh:
            session.add(
                ExpiryReminder(
                    chain_id=chain_id,
                    holder=holder,
                    expires_at=e.expires_at,
                    days_before=d,
                    points=e.balance,
                    event_id=event_id if d == nearest else None,
                )
            )
    session.flush()
    return events
