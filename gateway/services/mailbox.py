"""The local mailbox: what the embedded SMTP server (``make demo``, ``coalition up``, the tests) received,
read from its Maildir (``COALITION_MAILBOX_DIR``) for the operator dashboard. Read-only: nothing here
moves, marks or deletes a mail.

A list is newest first by delivery time, read from the Maildir keys (``<seconds>.M<micro>P...``)
without opening a file; only the mails of the page shown are parsed (a bench leaves thousands).
The message's kind comes from its ``X-Coalition-Kind`` header, its language from ``Content-Language``,
its row in the message log from ``X-Coalition-Message`` (the ``messages.id``), when the sender set them.
"""

from __future__ import annotations

import mailbox
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from loyalty.messages.mime import KIND_HEADER, MESSAGE_HEADER  # what the sender writes

PAGE_SIZE = 50
KEY = re.compile(r"^[\w.,=\\-]{1,200}$")  # a Maildir key (a file's name before its ``:2,`` info)
_DELIVERED = re.compile(r"^(\d+)(?:\.M(\d+))?")


class MailNotFound(LookupError):
    """No mail with that key in the mailbox (or no mailbox)."""


@dataclass(frozen=True, slots=True)
class MailRow:
    """One mail of the list."""

    key: str
    to: str
    subject: str
    language: str
    kind: str
    at: datetime  # its Date header, else its delivery time
    message_id: int | None  # the messages row it was sent for (X-Coalition-Message)


@dataclass(frozen=True, slots=True)
class MailList:
    """A page of the mailbox: ``exists`` False when the folder is not there (no embedded server)."""

    path: Path
    exists: bool
    total: int
    start: int
    rows: list[MailRow]

    @property
    def next_start(self) -> int | None:
        after = self.start + len(self.rows)
        return after if after < self.total else None


@dataclass(frozen=True, slots=True)
class MailSeen:
    """One mail: its row, every header in order (decoded), the plain text and the HTML (None if absent)."""

    row: MailRow
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None


def _delivered(key: str) -> tuple[int, int, str]:
    found = _DELIVERED.match(key)
    if found is None:
        return (0, 0, key)
    return (int(found.group(1)), int(found.group(2) or 0), key)


def _open(path: Path) -> mailbox.Maildir | None:
    if not (path / "cur").is_dir() or not (path / "new").is_dir():
        return None
    return mailbox.Maildir(path, factory=None, create=False)


def _parse(box: mailbox.Maildir, key: str) -> EmailMessage:
    try:
        with box.get_file(key) as raw:
            parsed = BytesParser(policy=policy.default).parse(raw)
    except (KeyError, FileNotFoundError) as exc:
        raise MailNotFound(f"no mail {key!r} in the mailbox") from exc
    assert isinstance(parsed, EmailMessage)
    return parsed


def _header(mail: EmailMessage, name: str) -> str:
    value = mail.get(name)
    return "" if value is None else str(value)


def _language(mail: EmailMessage) -> str:
    """The mail's ``Content-Language``, else its first part's (set before the body was made multipart)."""
    for part in mail.walk():
        if part.get("Content-Language"):
            return str(part["Content-Language"])
    return ""


def _row(key: str, mail: EmailMessage) -> MailRow:
    at: datetime | None = None
    if mail.get("Date"):
        try:
            at = parsedate_to_datetime(_header(mail, "Date"))
        except (TypeError, ValueError):
            at = None
    if at is None:
        at = datetime.fromtimestamp(_delivered(key)[0], UTC)
    elif at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    ref = _header(mail, MESSAGE_HEADER).strip()
    return MailRow(
        key=key,
        to=_header(mail, "To"),
        subject=_header(mail, "Subject"),
        language=_language(mail),
        kind=_header(mail, KIND_HEADER),
        at=at,
        message_id=int(ref) if ref.isdigit() else None,
    )


def mail_list(path: Path, *, start: int = 0, size: int = PAGE_SIZE) -> MailList:
    """A page of the mailbox at ``path``, newest first, from ``start``."""
    box = _open(path)
    if box is None:
        return MailList(path, False, 0, 0, [])
    keys = sorted(box.keys(), key=_delivered, reverse=True)
    start = max(0, min(start, len(keys)))
    rows = []
    for key in keys[start : start + size]:
        try:
            rows.append(_row(key, _parse(box, key)))
        except MailNotFound:  # moved away meanwhile
            continue
    return MailList(path, True, len(keys), start, rows)


def _part(mail: EmailMessage, kind: str) -> str | None:
    body = mail.get_body(preferencelist=(kind,))
    if body is None or body.get_content_type() != f"text/{kind}":
        return None
    content = body.get_content()
    return content if isinstance(content, str) else None


def mail(path: Path, key: str) -> MailSeen:
    """The mail ``key``; :class:`MailNotFound` for a key that is not one or not there."""
    box = _open(path)
    if box is None or not KEY.match(key):
        raise MailNotFound(f"no mail {key!r} in the mailbox")
    parsed = _parse(box, key)
    headers = [(name, str(value)) for name, value in parsed.items()]
    return MailSeen(_row(key, parsed), headers, _part(parsed, "plain"), _part(parsed, "html"))
