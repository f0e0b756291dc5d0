"""An email as it goes on the wire: headers and a multipart/alternative body (plain text, then
HTML). Pure: the stdlib's ``email`` package, no connection.

``Message-ID`` is stable per message row (``<msg-<id>@<domain>>``): a resend after a worker died
between the server's acceptance and the commit carries the same id, so a receiver that collapses
duplicates by Message-ID (ours does, gateway/messaging/smtp_server.py) shows it once.
A marketing email carries RFC 8058's one-click unsubscribe: ``List-Unsubscribe`` (the signed link)
and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from loyalty.messages.render import Rendered

ONE_CLICK = "List-Unsubscribe=One-Click"


def message_id(message_row_id: int, domain: str) -> str:
    """The stable Message-ID of the message row ``message_row_id``."""
    return f"<msg-{message_row_id}@{domain}>"


def domain_of(address: str) -> str:
    """The domain of an address (``"Shop <no-reply@shop.example>"`` -> ``shop.example``)."""
    _, email = parseaddr(address)
    _user, at, domain = email.rpartition("@")
    return domain if at and domain else "localhost"


def build_email(
    *,
    message_row_id: int,
    sender: str,
    to: str,
    rendered: Rendered,
    date: datetime,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """The email of one message row: text and (when rendered) HTML alternatives, in the
    rendered locale (``Content-Language``); ``unsubscribe_url`` adds RFC 8058's headers."""
    mail = EmailMessage()
    mail["Message-ID"] = message_id(message_row_id, domain_of(sender))
    mail["Date"] = format_datetime(date)
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = rendered.subject or ""
    mail["Auto-Submitted"] = "auto-generated"
    if unsubscribe_url is not None:
        mail["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = ONE_CLICK
    mail.set_content(rendered.text, cte="quoted-printable")
    if rendered.html:
        mail.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    mail["Content-Language"] = rendered.locale  # after the body: make_alternative moves Content-* into the parts
    return mail


def unsubscribe_payload(
    *, customer_id: int, partner_id: int | None, channel: str, message_row_id: int
) -> dict[str, object]:
    """What an unsubscribe token carries (loyalty/messages/tokens.py ``sign``), as the gateway's
    ``/v1/unsubscribe/<token>`` endpoint reads it: customer, partner (None: the coalition's own),
    channel, message, action."""
    return {"c": customer_id, "p": partner_id, "ch": channel, "m": message_row_id, "a": "unsubscribe"}
