"""Whom a message may reach: the customer's consents, per channel and per partner
(:class:`loyalty.customers.ConsentChange`, the latest change of a scope in force: :func:`in_force`).
What a customer allowed partner A does not allow partner B.

- **Marketing** needs the change in force for (channel, the message's partner) to be a grant, and
  for email a grant whose address was confirmed by double opt-in.
- **Transactional** needs no grant, but never goes where the customer opted out: neither the
  channel for that partner nor the channel as a whole (a withdrawal at the coalition's scope,
  ``partner_id`` None, stops every message on that channel). A one-click unsubscribe from a
  marketing message (source :data:`UNSUBSCRIBE_SOURCE`, RFC 8058) withdraws marketing, not the
  channel: the customer who left a newsletter still hears that their refund was made (withdrawing
  the channel on ``/me``, through the partner's API or by SMS ``STOP`` stops those too).
"""

from __future__ import annotations

from collections.abc import Iterable

from loyalty.customers import ConsentChange, in_force

UNSUBSCRIBE_SOURCE = "one-click-unsubscribe"  # a withdrawal of marketing only


def refusal(history: Iterable[ConsentChange], *, channel: str, partner_id: int | None, category: str) -> str | None:
    """Why a message of ``category`` from ``partner_id`` may not go out on ``channel``
    (``opted-out``, ``no-consent``, ``unconfirmed``), or None when it may. ``history`` in the
    order recorded."""
    changes = list(history)
    if category == "transactional":  # a marketing unsubscribe is no opt-out of the channel
        changes = [c for c in changes if c.source != UNSUBSCRIBE_SOURCE]
    current = in_force(changes)
    own = current.get((channel, partner_id))
    whole = current.get((channel, None))
    if (own is not None and not own.granted) or (whole is not None and not whole.granted):
        return "opted-out"
    if category == "transactional":
        return None
    if own is None:
        return "no-consent"
    if channel == "email" and not own.confirmed:
        return "unconfirmed"
    return None
