"""The customer's consents as a grid (``/me`` and ``GET/PUT /v1/me/consents``): a row for the
coalition and one for each partner the customer has a ref with (and any other partner a consent
names), a cell per channel, each cell the consent in force: ``granted``, ``pending`` (an email
grant waiting for its confirmation), ``withdrawn`` or ``unset``.

Setting the grid records only the cells that change (source ``me``, with the words /me shows as
``text_shown``), through gateway/services/consents.py: an email grant goes through double opt-in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import NotFound
from gateway.services import consents, customer_records
from gateway.settings import GatewaySettings
from loyalty.customers import CHANNELS, ConsentChange
from network.store import CustomerLink, Partner

ME_SOURCE = "me"
CHANNEL_WORDS = {"email": "email", "sms": "text messages (SMS)", "push": "app notifications"}
ME_TEXT = (
    "I agree that {sender} may send me {channel} about my points, rewards and offers. I can change this at any time."
)


@dataclass(frozen=True)
class GridCell:
    channel: str
    partner_id: int | None
    state: str  # granted | pending | withdrawn | unset
    text_shown: str | None
    source: str | None


@dataclass(frozen=True)
class GridRow:
    partner_id: int | None
    name: str
    cells: list[GridCell]


@dataclass(frozen=True)
class CellChange:
    channel: str
    partner_id: int | None
    granted: bool


def me_text(partner_name: str | None, channel: str) -> str:
    """The words /me shows for a cell, recorded with the change."""
    return ME_TEXT.format(sender=partner_name or "the coalition", channel=CHANNEL_WORDS.get(channel, channel))


def _state(change: ConsentChange | None) -> str:
    if change is None:
        return "unset"
    if not change.granted:
        return "withdrawn"
    return "granted" if change.confirmed else "pending"


def _partners(session: Session, customer_id: int, named: Iterable[int]) -> list[tuple[int, str]]:
    linked = select(CustomerLink.partner_id).where(CustomerLink.customer_id == customer_id)
    wanted = Partner.id.in_(linked) | Partner.id.in_(list(named))
    rows = session.execute(select(Partner.id, Partner.name).where(wanted).order_by(Partner.id))
    return [(partner_id, name) for partner_id, name in rows]


def grid(session: Session, *, customer_id: int) -> list[GridRow]:
    """The customer's grid (see the module's docstring)."""
    current = customer_records.consents_in_force(session, customer_id=customer_id)
    named = {p for _, p in current if p is not None}
    senders: list[tuple[int | None, str]] = [(None, "The coalition (all partners)")]
    senders += _partners(session, customer_id, named)
    return [
        GridRow(
            partner_id=partner_id,
            name=name,
            cells=[
                GridCell(
                    channel=ch,
                    partner_id=partner_id,
                    state=_state(current.get((ch, partner_id))),
                    text_shown=c.text_shown if (c := current.get((ch, partner_id))) else None,
                    source=c.source if c else None,
                )
                for ch in CHANNELS
            ],
        )
        for partner_id, name in senders
    ]


def set_cells(session: Session, settings: GatewaySettings, *, customer_id: int, changes: list[CellChange]) -> int:
    """Records the cells that change (a cell already so records nothing; a pending email grant
    counts as given); answers how many were recorded. NotFound for an unknown partner. Not committed."""
    current = customer_records.consents_in_force(session, customer_id=customer_id)
    wanted = {c.partner_id for c in changes if c.partner_id is not None}
    names = dict(session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(wanted))).all())
    recorded = 0
    for c in changes:
        if c.partner_id is not None and c.partner_id not in names:
            raise NotFound(f"no partner {c.partner_id}")
        held = current.get((c.channel, c.partner_id))
        if held is not None and held.granted == c.granted:
            continue
        consents.record_change(
            session,
            settings,
            customer_id=customer_id,
            channel=c.channel,
            partner_id=c.partner_id,
            granted=c.granted,
            source=ME_SOURCE,
            text_shown=me_text(names.get(c.partner_id) if c.partner_id is not None else None, c.channel),
        )
        recorded += 1
    return recorded
