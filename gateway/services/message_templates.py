"""Message templates and brands in the store: the catalogue of kinds and overrides, an override's
read, save (checked in the sandbox with the kind's sample data) and removal, the brand, previews,
and :func:`content_for`, the sender's one call for a message's text.

``partner_id`` None is the coalition's own (the operator's). A partner's message uses the
partner's override of (kind, channel, locale), else the coalition's, else the built-in template;
its brand is the partner's, else the partner's name in the coalition's colours. What the sender
reads is cached per process for :data:`CACHE_TTL_S` seconds (a save in this process forgets it at
once): a saved override reaches every sender within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import NotFound, TemplateRefused
from loyalty.messages import render as templates
from loyalty.messages.kinds import KINDS
from loyalty.messages.render import PARTS, TEMPLATES, Brand, Override, Rendered, RenderError, TemplateInvalid
from network.store import MessageBrand, MessageTemplate, Partner, utcnow

CACHE_TTL_S = 5.0
Key = tuple[str, str, str]  # kind, channel, locale


@dataclass(frozen=True, slots=True)
class KindEntry:
    """A kind of message, its channels and which (channel, locale) the owner overrides ("email/pl")."""

    kind: str
    category: str
    trigger: str
    description: str
    channels: tuple[str, ...]
    overridden: list[str]


@dataclass(frozen=True, slots=True)
class TemplateView:
    """The sources of one (kind, channel, locale): the override's, or the built-in ones."""

    kind: str
    channel: str
    locale: str
    overridden: bool
    subject: str | None
    text: str | None
    html: str | None
    version: int | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BrandView:
    name: str
    colour: str
    accent: str
    custom: bool  # False: no brand saved, these are the defaults
    updated_at: datetime | None = None


def _check(kind: str, channel: str, locale: str) -> None:
    spec = KINDS.get(kind)
    if spec is None:
        raise NotFound(f"no message kind {kind!r}; known: {', '.join(KINDS)}")
    if channel not in spec.channels:
        raise NotFound(f"{kind} goes out on {', '.join(spec.channels)} only, not {channel}")
    if locale not in templates.LOCALES:
        raise NotFound(f"no locale {locale!r}; known: {', '.join(templates.LOCALES)}")


def _owner_where(partner_id: int | None) -> Any:
    column = MessageTemplate.partner_id
    return column.is_(None) if partner_id is None else column == partner_id


def _row(session: Session, partner_id: int | None, kind: str, channel: str, locale: str) -> MessageTemplate | None:
    return session.scalar(
        select(MessageTemplate).where(
            _owner_where(partner_id),
            MessageTemplate.kind == kind,
            MessageTemplate.channel == channel,
            MessageTemplate.locale == locale,
        )
    )


def catalogue(session: Session, *, partner_id: int | None) -> list[KindEntry]:
    """Every kind of message with its channels and the owner's overrides."""
    rows = session.execute(
        select(MessageTemplate.kind, MessageTemplate.channel, MessageTemplate.locale).where(_owner_where(partner_id))
    ).all()
    mine: dict[str, list[str]] = {}
    for kind, channel, locale in sorted(rows):
        mine.setdefault(kind, []).append(f"{channel}/{locale}")
    return [
        KindEntry(k.name, k.category, k.trigger, k.description, k.channels, mine.get(k.name, []))
        for k in KINDS.values()
    ]


def builtin_sources(kind: str, channel: str, locale: str) -> dict[str, str | None]:
    """The built-in template's sources, part by part (None: a part the channel has not)."""
    return {
        part: (TEMPLATES / f"{locale}/{kind}.{channel}.{part}.j2").read_text() if part in PARTS[channel] else None
        for part in ("subject", "text", "html")
    }


def template(session: Session, *, partner_id: int | None, kind: str, channel: str, locale: str) -> TemplateView:
    """The owner's override of (kind, channel, locale), or the built-in sources to start one from."""
    _check(kind, channel, locale)
    row = _row(session, partner_id, kind, channel, locale)
    if row is None:
        return TemplateView(kind, channel, locale, False, **builtin_sources(kind, channel, locale))
    return TemplateView(kind, channel, locale, True, row.subject, row.text, row.html, row.version, row.updated_at)


def _sources(channel: str, subject: str | None, text: str | None, html: str | None) -> Override:
    given = {"subject": subject, "text": text, "html": html}
    extra = [part for part, source in given.items() if source is not None and part not in PARTS[channel]]
    if extra:
        raise TemplateRefused(f"{channel} templates have {', '.join(PARTS[channel])} only, not {', '.join(extra)}")
    return Override(subject=subject or None, text=text or None, html=html or None)


def save(
    session: Session,
    *,
    partner_id: int | None,
    kind: str,
    channel: str,
    locale: str,
    subject: str | None,
    text: str | None,
    html: str | None,
    by: str,
) -> TemplateView:
    """Stores the owner's override after rendering it in the sandbox with the kind's sample data
    and the owner's brand; raises ``TemplateRefused`` naming the part and line."""
    _check(kind, channel, locale)
    override = _sources(channel, subject, text, html)
    try:
        templates.validate(kind, channel, locale, override, brand=_brand(session, partner_id))
    except TemplateInvalid as exc:
        raise TemplateRefused(str(exc)) from exc
    row = _row(session, partner_id, kind, channel, locale)
    if row is None:
        try:
            with session.begin_nested():  # two first saves at once: the second updates the first's row
                row = MessageTemplate(
                    partner_id=partner_id, kind=kind, channel=channel, locale=locale, version=0, updated_by=by
                )
                session.add(row)
        except IntegrityError:
            row = _row(session, partner_id, kind, channel, locale)
            assert row is not None
    row.subject, row.text, row.html = override.subject, override.text, override.html
    row.version, row.updated_at, row.updated_by = row.version + 1, utcnow(), by
    session.flush()
    forget(partner_id)
    return TemplateView(kind, channel, locale, True, row.subject, row.text, row.html, row.version, row.updated_at)


def remove(session: Session, *, partner_id: int | None, kind: str, channel: str, locale: str) -> None:
    """Drops the owner's override: the built-in template (or the coalition's) is used again."""
    _check(kind, channel, locale)
    row = _row(session, partner_id, kind, channel, locale)
    if row is None:
        raise NotFound(f"no override of {kind}/{channel}/{locale}")
    session.delete(row)
    session.flush()
    forget(partner_id)


def _brand_row(session: Session, partner_id: int | None) -> MessageBrand | None:
    return session.scalar(select(MessageBrand).where(MessageBrand.owner == (partner_id or 0)))


def brand(session: Session, *, partner_id: int | None) -> BrandView:
    """The owner's brand: saved, or its defaults (a partner's name in the coalition's colours)."""
    row = _brand_row(session, partner_id)
    if row is not None:
        return BrandView(row.name, row.colour, row.accent, True, row.updated_at)
    default = _brand(session, partner_id)
    return BrandView(default.name, default.colour, default.accent, False)


def _brand(session: Session, partner_id: int | None) -> Brand:
    row = _brand_row(session, partner_id)
    if row is not None:
        return Brand(row.name, row.colour, row.accent)
    coalition = Brand() if partner_id is None else _brand(session, None)
    partner = session.get(Partner, partner_id) if partner_id is not None else None
    return Brand(partner.name if partner is not None else coalition.name, coalition.colour, coalition.accent)


def save_brand(session: Session, *, partner_id: int | None, name: str, colour: str, accent: str) -> BrandView:
    row = _brand_row(session, partner_id)
    if row is None:
        row = MessageBrand(owner=partner_id or 0, partner_id=partner_id)
        session.add(row)
    row.name, row.colour, row.accent, row.updated_at = name, colour.lower(), accent.lower(), utcnow()
    session.flush()
    forget(partner_id)
    return BrandView(row.name, row.colour, row.accent, True, row.updated_at)


def preview(
    session: Session,
    *,
    partner_id: int | None,
    kind: str,
    channel: str,
    locale: str,
    subject: str | None = None,
    text: str | None = None,
    html: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> Rendered:
    """The message as the owner's customers would read it: in the locale negotiated from the BCP 47
    tag ``locale``; with the sources given (checked as a save checks them), else the override the
    sender would use (the owner's, else the coalition's); with ``data``, else the kind's sample.
    Nothing is stored."""
    _check(kind, channel, templates.LOCALES[0])
    chosen = templates.locale_for(kind, channel, locale)
    values = templates.sample_data(kind) if data is None else data
    owner_brand = _brand(session, partner_id)
    try:
        if any(source is not None for source in (subject, text, html)):
            override = _sources(channel, subject, text, html)
            return templates.validate(kind, channel, chosen, override, data=values, brand=owner_brand)
        row = _row(session, partner_id, kind, channel, chosen)
        if row is None and partner_id is not None:
            row = _row(session, None, kind, channel, chosen)
        stored = None if row is None else Override(row.subject, row.text, row.html)
        return templates.render(kind, channel, chosen, values, brand=owner_brand, override=stored)
    except RenderError as exc:
        raise TemplateRefused(str(exc)) from exc


# ---------------------------------------------------------------------- the sender's call


@dataclass(slots=True)
class _Owner:
    """What one owner's messages need, as read at ``loaded``."""

    loaded: float
    brand: Brand
    overrides: dict[Key, Override] = field(default_factory=dict)


_cache: dict[int | None, _Owner] = {}
_lock = threading.Lock()


def forget(partner_id: int | None) -> None:
    """Drops what this process cached of an owner (the coalition's: everyone's, they inherit it)."""
    with _lock:
        if partner_id is None:
            _cache.clear()
        else:
            _cache.pop(partner_id, None)


def _owner(session: Session, partner_id: int | None) -> _Owner:
    now = time.monotonic()
    with _lock:
        cached = _cache.get(partner_id)
    if cached is not None and now - cached.loaded < CACHE_TTL_S:
        return cached
    rows = session.scalars(select(MessageTemplate).where(_owner_where(partner_id))).all()
    owner = _Owner(
        now,
        _brand(session, partner_id),
        {(r.kind, r.channel, r.locale): Override(r.subject, r.text, r.html) for r in rows},
    )
    with _lock:
        _cache[partner_id] = owner
    return owner


def content_for(
    session: Session, *, kind: str, channel: str, locale: str | None, partner_id: int | None, data: Mapping[str, Any]
) -> Rendered:
    """The text of one message: ``kind`` on ``channel`` for a customer whose locale is ``locale``
    (a BCP 47 tag), sent on behalf of ``partner_id`` (None: the coalition), with ``data`` (the
    message row's variables, with ``unsubscribe_url`` for marketing). Raises
    ``loyalty.messages.render.RenderError`` when the data lacks a variable of the kind."""
    chosen = templates.locale_for(kind, channel, locale) if kind in KINDS and channel in PARTS else "en"
    key = (kind, channel, chosen)
    owner = _owner(session, partner_id)
    override = owner.overrides.get(key)
    if override is None and partner_id is not None:
        override = _owner(session, None).overrides.get(key)
    return templates.render(kind, channel, locale, data, brand=owner.brand, override=override)
