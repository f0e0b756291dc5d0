"""An email as it goes on the wire: headers and a multipart/alternative body (plain text, then
HTML), both UTF-8 in quoted-printable, lines ending CRLF. Pure: bytes out, no connection. Written
directly rather than through ``email.message.EmailMessage`` (whose header objects cost ~1.3 ms a
message, more than the rest of the sender); the unit tests parse what it writes back with the
stdlib's parser.

``Message-ID`` is stable per message row (``<msg-<id>@<domain>>``): a resend after a worker died
between the server's acceptance and the commit carries the same id, so a receiver that collapses
duplicates by Message-ID (ours does, gateway/messaging/smtp_server.py) shows it once.
A marketing email carries RFC 8058's one-click unsubscribe: ``List-Unsubscribe`` (the signed link)
and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

from loyalty.messages.render import Rendered

ONE_CLICK = "List-Unsubscribe=One-Click"
KIND_HEADER = "X-Coalition-Kind"  # the kind of message (loyalty/messages/kinds.py), for the local mailbox's list
MESSAGE_HEADER = "X-Coalition-Message"  # the messages row's id: the mail's line in the message log
_QP_PART = b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"


@dataclass(frozen=True)
class Email:
    """A built email: its envelope (``sender``, ``to``: bare addresses), ``message_id`` and wire ``data``."""

    sender: str
    to: str
    message_id: str
    data: bytes


def message_id(message_row_id: int, domain: str) -> str:
    """The stable Message-ID of the message row ``message_row_id``."""
    return f"<msg-{message_row_id}@{domain}>"


def domain_of(address: str) -> str:
    """The domain of an address (``"Shop <no-reply@shop.example>"`` -> ``shop.example``)."""
    _, email = parseaddr(address)
    _user, at, domain = email.rpartition("@")
    return domain if at and domain else "localhost"


def _header(name: str, value: str) -> str:
    """A header value, RFC 2047-encoded and folded (CRLF) when it is not plain ASCII; no line break of its own."""
    value = " ".join(value.split())
    return value if value.isascii() else Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def _mailbox(address: str) -> str:
    name, email = parseaddr(address)
    return formataddr((" ".join(name.split()), email), charset="utf-8") if name else email


def _qp(text: str) -> bytes:
    """UTF-8 quoted-printable with CRLF line ends (a QP body never holds "=_": the boundaries start so)."""
    encoded = binascii.b2a_qp(text.replace("\r\n", "\n").encode(), istext=True)
    return encoded.replace(b"\n", b"\r\n")


def build_email(
    *,
    message_row_id: int,
    kind: str | None = None,
    sender: str,
    to: str,
    rendered: Rendered,
    date: datetime,
    unsubscribe_url: str | None = None,
) -> Email:
    """The email of one message row: text and (when rendered) HTML alternatives, in the
    rendered locale (``Content-Language``), naming its row and ``kind`` (``X-Coalition-Message``,
    ``X-Coalition-Kind``: the dashboard's mailbox reads them); ``unsubscribe_url`` adds RFC 8058's headers."""
    mid = message_id(message_row_id, domain_of(sender))
    headers = [
        ("Message-ID", mid),
        ("Date", format_datetime(date)),
        ("From", _mailbox(sender)),
        ("To", _mailbox(to)),
        ("Subject", _header("Subject", rendered.subject or "")),
        ("MIME-Version", "1.0"),
        ("Content-Language", _header("Content-Language", rendered.locale)),
        ("Auto-Submitted", "auto-generated"),
        (MESSAGE_HEADER, str(message_row_id)),
    ]
    if kind is not None:
        headers.append((KIND_HEADER, kind))
    if unsubscribe_url is not None:
        headers += [("List-Unsubscribe", f"<{unsubscribe_url}>"), ("List-Unsubscribe-Post", ONE_CLICK)]
    if rendered.html:
        boundary = f"=_alt-{message_row_id}"
        headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
        parts = [("plain", rendered.text), ("html", rendered.html)]
        body = (
            b"".join(
                f'--{boundary}\r\nContent-Type: text/{kind}; charset="utf-8"\r\n'.encode()
                + _QP_PART
                + _qp(content)
                + b"\r\n"
                for kind, content in parts
            )
            + f"--{boundary}--\r\n".encode()
        )
    else:
        headers += [("Content-Type", 'text/plain; charset="utf-8"'), ("Content-Transfer-Encoding", "quoted-printable")]
        body = _qp(rendered.text) + b"\r\n"
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
    return Email(sender=parseaddr(sender)[1], to=parseaddr(to)[1], message_id=mid, data=head + b"\r\n" + body)


def unsubscribe_payload(
    *, customer_id: int, partner_id: int | None, channel: str, message_row_id: int
) -> dict[str, object]:
    """What an unsubscribe token carries (loyalty/messages/tokens.py ``sign``), as the gateway's
    ``/v1/unsubscribe/<token>`` endpoint reads it: customer, partner (None: the coalition's own),
    channel, message, action."""
    return {"c": customer_id, "p": partner_id, "ch": channel, "m": message_row_id, "a": "unsubscribe"}
