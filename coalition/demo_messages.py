"""``coalition demo``'s messages (issue 18): the mails the coalition sent during the run, as the
embedded SMTP server kept them in the local mailbox (a Maildir, ``COALITION_MAILBOX_DIR``, by default
``<state dir>/mailbox``): the members' welcome and the points-expiring reminders, each with its
recipient, subject and language, and the dashboard page that shows them all.

Without a mailbox (no embedded SMTP server writes one) the part says so and is skipped: it is not a
failure of the demo. With one, it waits for the kinds it expects and names those that did not come.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gateway.services import mailbox
from gateway.services.mailbox import MailRow

EXPECTED = ("welcome", "points_expiring")
SCANNED = 2_000  # the newest mails looked at (a bench may have left many more)
MAILBOX_PAGE = "/dashboard/messages/mailbox"


@dataclass
class MailsSeen:
    """What the mailbox held of the run: ``configured`` False when there is no mailbox at ``path``."""

    path: Path
    configured: bool
    mails: list[MailRow] = field(default_factory=list)  # of the kinds wanted, oldest first
    missing: tuple[str, ...] = ()  # kinds wanted of which no mail came


def wait_mails(
    path: Path,
    *,
    since: datetime,
    kinds: tuple[str, ...] = EXPECTED,
    timeout_s: float = 60,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> MailsSeen:
    """The mails of ``kinds`` the mailbox at ``path`` received since ``since``, once one of each kind
    is there or ``timeout_s`` has passed; at once when there is no mailbox."""
    deadline = clock() + timeout_s
    while True:
        found = mailbox.mail_list(path, size=SCANNED)
        if not found.exists:
            return MailsSeen(path, False, missing=kinds)
        mails = [m for m in found.rows if m.kind in kinds and m.at >= since][::-1]
        missing = tuple(k for k in kinds if all(m.kind != k for m in mails))
        if not missing or clock() >= deadline:
            return MailsSeen(path, True, mails, missing)
        sleep(0.5)


def print_mails(console: Console, seen: MailsSeen, dashboard_url: str) -> None:
    """The mails (to, subject, language, kind), what did not come, and where the dashboard shows them."""
    if not seen.configured:
        console.print(
            f"\n[bold]Messages[/bold]: no mailbox configured (no Maildir at {seen.path}): the embedded SMTP "
            "server keeps what it receives there; the messages part is skipped"
        )
        return
    table = Table(title=f"Mails received by the local SMTP server ({len(seen.mails)} of the run)")
    for column in ("to", "subject", "language", "kind"):
        table.add_column(column)
    for m in seen.mails:
        table.add_row(m.to, m.subject, m.language or "–", m.kind)
    console.print(table)
    for kind in seen.missing:
        console.print(f"  [yellow]no {kind} mail arrived[/yellow]")
    console.print(f"  the mailbox on the dashboard: {dashboard_url}{MAILBOX_PAGE}")


def show_messages(console: Console, path: Path, gateway_url: str, *, since: datetime, timeout_s: float = 60) -> bool:
    """Waits for the run's welcome and points-expiring mails and prints them; answers whether each
    expected kind came (True without a mailbox: nothing to check)."""
    with console.status("messages: waiting for the welcome and points-expiring mails in the local mailbox…"):
        seen = wait_mails(path, since=since, timeout_s=timeout_s)
    print_mails(console, seen, gateway_url)
    return not seen.configured or not seen.missing


def started_at() -> datetime:
    """The moment the run began, for :func:`show_messages`'s ``since`` (mails' dates are to the second)."""
    return datetime.now(UTC).replace(microsecond=0)
