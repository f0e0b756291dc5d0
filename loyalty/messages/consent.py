"""Whom a message may reach: the customer's consents, per channel and per partner.

A consent is a history of changes (``customer_consents``: channel, partner or the coalition
(``partner_id`` None), given or withdrawn, when, how); the latest change of a scope is in force.
What a customer allowed partner A does not allow partner B.

- **Marketing** needs the latest change of (channel, the message's partner) to be a grant, and
  for email a grant confirmed by double opt-in.
- **Transactional** needs no grant, but never goes where the customer opted out: neither the
  channel for that partner nor the channel as a whole (a withdrawal at the coalition's scope,
  ``partner_id`` None, stops every message on that channel).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ConsentChange:
    """One row of a customer's consent history, as the rule needs it."""

    channel: str
    partner_id: int | None
    granted: bool
    recorded_at: datetime
    confirmed: bool = True  # email: confirmed by double opt-in (other channels: always True)


def latest(history: Iterable[ConsentChange], *, channel: str, partner_id: int | None) -> ConsentChange | None:
    """The change in force for one scope (the latest; ties: the later in ``history``)."""
    found: ConsentChange | None = None
    for change in history:
        in_scope = change.channel == channel and change.partner_id == partner_id
        if in_scope and (found is None or change.recorded_at >= found.recorded_at):
            found = change
    return found


def refusal(history: Iterable[ConsentChange], *, channel: str, partner_id: int | None, category: str) -> str | None:
    """Why a message of ``category`` from ``partner_id`` may not go out on ``channel``
    (``opted-out``, ``no-consent``, ``unconfirmed``), or None when it may."""
    changes = list(history)
    own = latest(changes, channel=channel, partner_id=partner_id)
    whole = latest(changes, channel=channel, partner_id=None)
    if (own is not None and not own.granted) or (whole is not None and not whole.granted and partner_id is not None):
        return "opted-out"
    if category == "transactional":
        return None
    if own is None:
        return "no-consent"
    if channel == "email" and not own.confirmed:
        return "unconfirmed"
    return None
