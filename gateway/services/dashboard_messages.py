"""What the dashboard's message pages read from the store (network/store/messages.py): the message
log with its filters (status, kind, channel, partner, customer), one message with its events, and
the delivery rates per kind and channel over a period of the display time zone's days.

Read-only. The rates are counted by the database (one GROUP BY per kind and channel, one for the
suppression reasons, and the same sums without grouping for the totals); the shares are divisions
done in the same SELECT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, func, select
from sqlalchemy.orm import Session

from gateway.errors import NotFound
from gateway.services.dashboard_chart import bounds
from gateway.services.dashboard_format import zone
from gateway.services.dashboard_members import partner_names
from gateway.services.date_range import DEFAULT_DAYS, RangeError, check_range
from loyalty.messages.kinds import CHANNELS, KINDS
from network.store.messages import MESSAGE_STATUSES, Message, MessageEvent

PAGE_SIZE = 50
FILTERS = ("status", "kind", "channel", "partner", "customer")
LEFT = ("sent", "delivered", "bounced")  # the messages that went out (delivered and bounced were sent first)
COUNTED = ("queued", "sending", *LEFT, "failed", "suppressed")


@dataclass(frozen=True, slots=True)
class LogFilters:
    """The log's filters as the page's form gives them; an unknown value filters nothing."""

    status: str = ""
    kind: str = ""
    channel: str = ""
    partner: int | None = None
    customer: int | None = None

    @classmethod
    def read(cls, values: dict[str, str]) -> LogFilters:
        def number(text: str) -> int | None:
            text = text.strip()
            return int(text) if text.isdigit() and len(text) < 19 else None

        return cls(
            status=values.get("status", "") if values.get("status", "") in MESSAGE_STATUSES else "",
            kind=values.get("kind", "") if values.get("kind", "") in KINDS else "",
            channel=values.get("channel", "") if values.get("channel", "") in CHANNELS else "",
            partner=number(values.get("partner", "")),
            customer=number(values.get("customer", "")),
        )

    def query(self) -> dict[str, str]:
        """The filters set, as a query string's fields."""
        out = {
            "status": self.status,
            "kind": self.kind,
            "channel": self.channel,
            "partner": "" if self.partner is None else str(self.partner),
            "customer": "" if self.customer is None else str(self.customer),
        }
        return {k: v for k, v in out.items() if v}

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.status:
            clauses.append(Message.status == self.status)
        if self.kind:
            clauses.append(Message.kind == self.kind)
        if self.channel:
            clauses.append(Message.channel == self.channel)
        if self.partner is not None:
            clauses.append(Message.partner_id == self.partner)
        if self.customer is not None:
            clauses.append(Message.customer_id == self.customer)
        return clauses


@dataclass(frozen=True, slots=True)
class MessageLog:
    filters: LogFilters
    rows: list[Message]
    total: int  # the messages the filters match
    next_before: int | None  # the cursor of the next page (None: the last page)
    partners: dict[int, str]


@dataclass(frozen=True, slots=True)
class MessageSeen:
    message: Message
    events: list[MessageEvent]
    partner: str | None


def message_log(session: Session, *, filters: LogFilters, before: int | None = None) -> MessageLog:
    """A page of the log, newest first (by id), matching ``filters``, below the id ``before``."""
    where = filters.where()
    total = int(session.scalar(select(func.count()).select_from(Message).where(*where)) or 0)
    query = select(Message).where(*where).order_by(Message.id.desc()).limit(PAGE_SIZE + 1)
    if before is not None:
        query = query.where(Message.id < before)
    rows = list(session.scalars(query))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return MessageLog(filters, rows, total, rows[-1].id if more else None, partner_names(session))


def message_page(session: Session, *, message_id: int) -> MessageSeen:
    """One message and its log, oldest event first; :class:`NotFound` for an id that is none."""
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"no message {message_id}")
    events = list(
        session.scalars(select(MessageEvent).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id))
    )
    partner = None if message.partner_id is None else partner_names(session).get(message.partner_id)
    return MessageSeen(message, events, partner)


@dataclass(frozen=True, slots=True)
class RateRow:
    """The messages of one kind on one channel (``None``, ``None``: all of them) planned in the period:
    a count per status, ``left`` (sent, delivered or bounced), the shares, suppressions by reason."""

    kind: str | None
    channel: str | None
    counts: dict[str, int]
    total: int
    left: int
    rates: dict[str, float | None]  # sent, delivered, bounced, failed, suppressed (None: nothing to divide)
    suppressed_by: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rates:
    start: date
    end: date
    tz: str
    rows: list[RateRow]
    total: RateRow
    reasons: dict[str, int]  # suppressed in the period, by reason


def _share(part: ColumnElement[Any], whole: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(part, Float) / func.nullif(whole, 0)


def _columns() -> list[ColumnElement[Any]]:
    """Per status a count, the total, ``left``, and the rates: sent of those not suppressed,
    delivered and bounced of those sent, failed of those not suppressed, suppressed of all."""
    counts = {s: func.sum(case((Message.status == s, 1), else_=0)) for s in COUNTED}
    total = func.count()
    left = func.sum(case((Message.status.in_(LEFT), 1), else_=0))
    meant = total - counts["suppressed"]
    return [
        *(c.label(s) for s, c in counts.items()),
        total.label("total"),
        left.label("left"),
        _share(left, meant).label("rate_sent"),
        _share(counts["delivered"], left).label("rate_delivered"),
        _share(counts["bounced"], left).label("rate_bounced"),
        _share(counts["failed"], meant).label("rate_failed"),
        _share(counts["suppressed"], total).label("rate_suppressed"),
    ]


RATE_NAMES = ("sent", "delivered", "bounced", "failed", "suppressed")


def _rate_row(kind: str | None, channel: str | None, found: Any, reasons: dict[str, int]) -> RateRow:
    values = found._mapping
    return RateRow(
        kind=kind,
        channel=channel,
        counts={s: int(values[s] or 0) for s in COUNTED},
        total=int(values["total"] or 0),
        left=int(values["left"] or 0),
        rates={r: None if values[f"rate_{r}"] is None else float(values[f"rate_{r}"]) for r in RATE_NAMES},
        suppressed_by=reasons,
    )


def rates(session: Session, *, start: date, end: date, tz: str) -> Rates:
    """The delivery rates of the messages planned (``created_at``) in ``start..end``, days of ``tz``."""
    check_range(start, end)
    lo, hi = bounds(start, end, tz)
    period = [
        Message.created_at >= datetime.fromtimestamp(lo, UTC),
        Message.created_at < datetime.fromtimestamp(hi, UTC),
    ]
    grouped = session.execute(
        select(Message.kind, Message.channel, *_columns())
        .where(*period)
        .group_by(Message.kind, Message.channel)
        .order_by(Message.kind, Message.channel)
    ).all()
    why = session.execute(
        select(Message.kind, Message.channel, Message.reason, func.count())
        .where(*period, Message.status == "suppressed")
        .group_by(Message.kind, Message.channel, Message.reason)
    ).all()
    by_row: dict[tuple[str, str], dict[str, int]] = {}
    overall: dict[str, int] = {}
    for kind, channel, reason, n in why:
        text = reason or "unknown"
        by_row.setdefault((kind, channel), {})[text] = int(n)
        overall[text] = overall.get(text, 0) + int(n)
    rows = [_rate_row(r.kind, r.channel, r, dict(sorted(by_row.get((r.kind, r.channel), {}).items()))) for r in grouped]
    total = _rate_row(
        None, None, session.execute(select(*_columns()).where(*period)).one(), dict(sorted(overall.items()))
    )
    return Rates(start, end, tz, rows, total, dict(sorted(overall.items())))


def requested_rates(
    session: Session, *, tz: str, start: str | None, end: str | None, today: date | None = None
) -> Rates:
    """The rates of a range as the page asked for it (``YYYY-MM-DD``); the last ``DEFAULT_DAYS`` days to
    today by default. RangeError for a date that is not one, a reversed range or one too long."""
    today = today or datetime.now(zone(tz)).date()
    try:
        hi = date.fromisoformat(end) if end else today
        lo = date.fromisoformat(start) if start else hi - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError as exc:
        raise RangeError(f"dates are written YYYY-MM-DD: {exc}") from exc
    return rates(session, start=lo, end=hi, tz=tz)
