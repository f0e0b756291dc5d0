"""The sender: due messages claimed, rendered, sent over their channel, and what happened recorded.

Claim: one committed UPDATE moves up to ``messages_batch`` due rows (``queued`` with ``send_after``
passed, or ``sending`` whose lease ran out: a worker died holding them) to ``sending`` with a lease
(``claimed_until``); on PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED``, on SQLite the
statement is atomic under its write lock, so several workers never claim the same row at once.
The lease is the claim's fence: a result is recorded only while the row is still ``sending`` with
that lease, so a worker that outlived its lease records nothing over another's; and no send starts
when the lease would run out during it (the rest of the batch is given back to the queue).

Send: emails of a batch go over one SMTP connection (gateway/messaging/smtp.py), SMS and push
through the provider's API (gateway/messaging/sms.py). Record, in one short transaction per
``messages_commit_every`` messages sent (never held open while sending):
``sent`` (provider reference: the Message-ID, the provider's sid) and a log line; a transient
error puts it back to ``queued`` with an exponential backoff with jitter, until
``messages_max_attempts``, then ``failed``; a permanent one makes it ``bounced`` (a hard bounce
also adds the address to ``message_suppressions``, so the planner stops using it) or ``failed``.

Exactly once, as far as a network allows: the row is the unit (one per occurrence, customer and
channel) and is ``sent`` once. A worker killed after the server accepted a message and before its
commit (at most ``messages_commit_every`` messages) leaves the rows ``sending``; when the lease runs
out they are sent again, with the same Message-ID (email) or Idempotency-Key (SMS, push), which a
receiver collapses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import httpx
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from gateway.messaging import sms
from gateway.messaging.smtp import SmtpChannel
from gateway.services.message_planner import clock
from gateway.services.message_templates import content_for
from gateway.settings import WorkerSettings, messages_link_key
from loyalty.messages.delivery import Outcome, backoff_s
from loyalty.messages.mime import build_email, unsubscribe_payload
from loyalty.messages.render import Rendered
from loyalty.messages.tokens import sign
from network.store import Message, MessageEvent, MessageSuppression, utcnow

log = logging.getLogger(__name__)
UNSUBSCRIBE_PATH = "/v1/unsubscribe/"


@dataclass
class Round:
    """What one batch did: how many were claimed, and their results by status."""

    claimed: int = 0
    results: dict[str, int] = field(default_factory=dict)
    released: int = 0  # claimed but given back unsent: the lease would have run out during them

    def count(self, status: str) -> None:
        self.results[status] = self.results.get(status, 0) + 1


@dataclass(frozen=True)
class Claimed:
    """A claimed message, read once: what the channel needs."""

    id: int
    kind: str
    category: str
    customer_id: int
    partner_id: int | None
    channel: str
    address: str | None
    locale: str
    data: dict[str, Any]
    attempts: int


# a message's text from its row's variables (``data``: the row's, plus ``unsubscribe_url`` for a
# marketing email), given a session of the store to read templates and brands with
Renderer = Callable[[Session, Claimed, dict[str, Any]], Rendered]


def claim(
    sessions: sessionmaker[Session], *, limit: int, lease_s: float, due_at: datetime | None = None
) -> tuple[datetime, list[Claimed]]:
    """Claims up to ``limit`` due messages with a lease; answers the lease (the fence) and them.
    ``due_at``: the messages' clock (the planner's, which set ``send_after``; default the wall
    clock); the lease is on the wall clock."""
    now = utcnow()
    until = now + timedelta(seconds=lease_s)
    due = or_(
        and_(Message.status == "queued", Message.send_after <= (due_at or now)),
        and_(Message.status == "sending", Message.claimed_until < now),
    )
    with sessions() as session:
        picked = select(Message.id).where(due).order_by(Message.send_after, Message.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            picked = picked.with_for_update(skip_locked=True)
        ids = list(
            session.scalars(
                update(Message)
                .where(Message.id.in_(picked.scalar_subquery()), due)
                .values(status="sending", claimed_until=until, updated_at=now)
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
        )
        session.commit()
        if not ids:
            return until, []
        rows = session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id))
        claimed = [_claimed(m) for m in rows]
    return until, claimed


def _claimed(m: Message) -> Claimed:
    return Claimed(
        id=m.id, kind=m.kind, category=m.category, customer_id=m.customer_id, partner_id=m.partner_id,
        channel=m.channel, address=m.address, locale=m.locale, data=dict(m.data or {}), attempts=m.attempts,
    )  # fmt: skip


def default_renderer(session: Session, message: Claimed, data: dict[str, Any]) -> Rendered:
    """The message's text from its templates (gateway/services/message_templates.py ``content_for``:
    the partner's override and brand, else the coalition's, else the built-in ones; the customer's
    locale, falling back to English)."""
    return content_for(
        session, kind=message.kind, channel=message.channel, locale=message.locale, partner_id=message.partner_id,
        data=data,
    )  # fmt: skip


def send_batch(
    sessions: sessionmaker[Session],
    settings: WorkerSettings,
    *,
    smtp: SmtpChannel,
    http: httpx.Client,
    renderer: Renderer = default_renderer,
) -> Round:
    """Claims one batch, sends it (emails over ``smtp``'s one connection) and records each result."""
    # due by the messages' clock (send_after is the planner's: quiet hours end on it), a test's too
    lease = settings.messages_lease_s
    until, messages = claim(sessions, limit=settings.messages_batch, lease_s=lease, due_at=clock(settings))
    done = Round(claimed=len(messages))
    suppressed = _suppressed(sessions, messages)
    pending: list[Result] = []
    # a send may take up to the channel's timeout: none starts that close to the lease's end
    stop_at = until - timedelta(seconds=max(settings.smtp_timeout_s, settings.sms_timeout_s) + 2)
    with sessions() as reading:  # the renderer's reads (templates, brands), apart from the records
        for n, message in enumerate(messages):
            if utcnow() > stop_at:
                done.released = _release(sessions, until, messages[n:])
                break
            if not message.address:
                pending.append(Result(message, Outcome("permanent", "no address"), "suppressed", "no-address"))
            elif (message.channel, message.address) in suppressed:
                outcome = Outcome("permanent", "the address is suppressed for the channel")
                pending.append(Result(message, outcome, "suppressed", "suppressed-address"))
            else:
                outcome = _send(reading, message, settings, smtp=smtp, http=http, renderer=renderer)
                pending.append(Result(message, outcome))
            # SMS and push at once: the provider's status callback may come before a group's commit
            if len(pending) >= settings.messages_commit_every or message.channel != "email":
                reading.rollback()  # no read transaction held across the records' commit
                for status in _record_all(sessions, settings, until, pending):
                    done.count(status)
                pending = []
    for status in _record_all(sessions, settings, until, pending):
        done.count(status)
    return done


def _send(
    session: Session,
    message: Claimed,
    settings: WorkerSettings,
    *,
    smtp: SmtpChannel,
    http: httpx.Client,
    renderer: Renderer,
) -> Outcome:
    link = (
        unsubscribe_url(message, settings) if message.category == "marketing" and message.channel == "email" else None
    )
    try:
        rendered = renderer(
            session, message, message.data if link is None else {**message.data, "unsubscribe_url": link}
        )
    except Exception as exc:  # a template that does not render is this message's failure, not the batch's
        log.exception("message %s does not render", message.id)
        return Outcome("permanent", f"render {type(exc).__name__}: {exc}"[:255])
    address = str(message.address)
    if message.channel == "email":
        mail = build_email(
            message_row_id=message.id,
            kind=message.kind,
            sender=settings.smtp_from,
            to=address,
            rendered=rendered,
            date=utcnow(),
            unsubscribe_url=link,
        )
        return smtp.send(mail)
    if message.channel in ("sms", "push"):
        return sms.send(
            http, settings, message_row_id=message.id, channel=message.channel, to=address, body=rendered.text,
            title=rendered.subject,
        )  # fmt: skip
    return Outcome("permanent", f"unknown channel {message.channel!r}")


def unsubscribe_url(message: Claimed, settings: WorkerSettings) -> str:
    """The one-click unsubscribe link of a marketing message (RFC 8058; the gateway's
    ``/v1/unsubscribe/<token>`` verifies the token and records the opt-out)."""
    payload = unsubscribe_payload(
        customer_id=message.customer_id,
        partner_id=message.partner_id,
        channel=message.channel,
        message_row_id=message.id,
    )
    return f"{settings.public_url.rstrip('/')}{UNSUBSCRIBE_PATH}{sign(payload, key=messages_link_key(settings))}"


def _suppressed(sessions: sessionmaker[Session], messages: Iterable[Claimed]) -> set[tuple[str, str]]:
    addresses = {m.address for m in messages if m.address}
    if not addresses:
        return set()
    with sessions() as session:
        rows = session.execute(
            select(MessageSuppression.channel, MessageSuppression.address).where(
                MessageSuppression.address.in_(addresses)
            )
        )
        return {(channel, address) for channel, address in rows}


def _release(sessions: sessionmaker[Session], until: datetime, messages: list[Claimed]) -> int:
    """Gives claimed messages back to the queue unsent (no attempt counted), where the claim still holds them."""
    with sessions() as session:
        released = session.execute(
            update(Message)
            .where(
                Message.id.in_([m.id for m in messages]), Message.status == "sending", Message.claimed_until == until
            )
            .values(status="queued", claimed_until=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
    log.info("%d messages given back unsent: their lease was running out", released)
    return int(released)


class Result(NamedTuple):
    """A message's outcome, waiting to be recorded; ``final`` and ``reason`` when it was never sent."""

    message: Claimed
    outcome: Outcome
    final: str | None = None
    reason: str | None = None


def _values(settings: WorkerSettings, result: Result, now: datetime, due_now: datetime) -> dict[str, Any]:
    """The row's new columns for ``result``; a retry's ``send_after`` on the messages' clock ``due_now``."""
    message, outcome = result.message, result.outcome
    attempts = message.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "claimed_until": None, "updated_at": now}
    if result.final is not None:
        return values | {"status": result.final, "reason": result.reason}
    if outcome.verdict == "sent":
        return values | {"status": "sent", "provider_ref": outcome.provider_ref, "sent_at": now, "reason": None}
    if outcome.verdict == "retry" and attempts < settings.messages_max_attempts:
        wait = backoff_s(attempts, base_s=settings.messages_backoff_base_s, cap_s=settings.messages_backoff_cap_s)
        return values | {"status": "queued", "send_after": due_now + timedelta(seconds=wait), "reason": "retrying"}
    if outcome.verdict == "retry":
        return values | {"status": "failed", "reason": "too-many-attempts"}
    return values | {"status": "bounced" if outcome.hard_bounce else "failed", "reason": _reason(outcome)}


def _record_all(
    sessions: sessionmaker[Session], settings: WorkerSettings, until: datetime, results: list[Result]
) -> list[str]:
    """Stores what became of each message, in one transaction, where the claim ``until`` still holds
    it; answers each one's status ("lost" when its lease had run out and another worker took it)."""
    if not results:
        return []
    now, due_now = utcnow(), clock(settings)
    statuses: list[str] = []
    events: list[dict[str, Any]] = []
    with sessions() as session:
        for result in results:
            message, outcome = result.message, result.outcome
            values = _values(settings, result, now, due_now)
            held = session.execute(
                update(Message)
                .where(Message.id == message.id, Message.status == "sending", Message.claimed_until == until)
                .values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount
            if held != 1:
                log.warning("message %s: lease lost before its result (%s) was recorded", message.id, outcome.verdict)
                statuses.append("lost")
                continue
            detail = (
                outcome.detail if values["status"] != "queued" else f"attempt {values['attempts']}: {outcome.detail}"
            )
            events.append({"message_id": message.id, "status": values["status"], "detail": detail[:255], "at": now})
            if outcome.hard_bounce and result.final is None and message.address:
                suppress(session, channel=message.channel, address=message.address, reason="hard-bounce",
                         message_id=message.id)  # fmt: skip
            statuses.append(str(values["status"]))
        if events:
            session.execute(insert(MessageEvent), events)
        session.commit()
    return statuses


def _record(
    sessions: sessionmaker[Session], settings: WorkerSettings, message: Claimed, until: datetime, outcome: Outcome
) -> str:
    """One message's result recorded on its own (see :func:`_record_all`)."""
    return _record_all(sessions, settings, until, [Result(message, outcome)])[0]


def _reason(outcome: Outcome) -> str:
    return "hard-bounce" if outcome.hard_bounce else outcome.detail.split(" ", 2)[0][:16] + "-refused"


def suppress(session: Session, *, channel: str, address: str, reason: str, message_id: int | None) -> None:
    """Adds ``address`` to the channel's suppressions (kept as it was if it is there already)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(MessageSuppression)
        .values(channel=channel, address=address, reason=reason, message_id=message_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["channel", "address"])
    )


def record_provider_status(
    session: Session, *, provider_ref: str, status: str, detail: str, bad_address: bool = False
) -> str | None:
    """A provider's status callback: ``delivered`` marks a sent message delivered; ``undelivered``
    or ``failed`` marks it bounced, and ``bad_address`` (the provider's code says the number can
    never receive) suppresses the number. Answers the message's status, or None when no message
    has that reference."""
    message = session.scalar(select(Message).where(Message.provider_ref == provider_ref))
    if message is None:
        return None
    new = {"delivered": "delivered", "undelivered": "bounced", "failed": "bounced"}.get(status)
    if new is None or message.status != "sent":
        return message.status  # queued, sent, sending: nothing the log lacks; a final status stays
    now = utcnow()
    message.status = new
    message.reason = ("hard-bounce" if bad_address else "undelivered") if new == "bounced" else None
    message.updated_at = now
    session.add(MessageEvent(message_id=message.id, status=new, detail=detail[:255], at=now))
    if new == "bounced" and bad_address and message.address:
        suppress(session, channel=message.channel, address=message.address, reason="hard-bounce", message_id=message.id)
    session.commit()
    return new
