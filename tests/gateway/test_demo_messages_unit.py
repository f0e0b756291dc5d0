"""``coalition demo``'s messages part (coalition/demo_messages.py) on a real Maildir: without a
mailbox it says so and is no failure; with one it prints the run's welcome and points-expiring mails
(to, subject, language) and the dashboard's mailbox, and names a kind that did not come."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

from rich.console import Console

from coalition import demo_messages
from tests.gateway.message_rows import mail

URL = "http://127.0.0.1:8000"


def _console() -> Console:
    return Console(record=True, width=200, force_terminal=False)


def test_without_a_mailbox_the_part_is_skipped_saying_why_unit(tmp_path: Path) -> None:
    console = _console()
    assert demo_messages.show_messages(console, tmp_path / "mailbox", URL, since=datetime.now(UTC), timeout_s=0)
    assert "no mailbox configured" in console.export_text()


def test_the_runs_mails_are_printed_and_a_missing_kind_named_unit(tmp_path: Path) -> None:
    folder = tmp_path / "mailbox"
    since = demo_messages.started_at()
    box = mailbox.Maildir(folder, create=True)
    box.add(mail(to="ada@example.com", subject="Witaj, Ada", language="pl", kind="welcome"))
    box.add(mail(to="eve@example.com", subject="Other", language="en", kind="tier_up"))
    ticks = count()
    seen = demo_messages.wait_mails(folder, since=since, timeout_s=3, clock=lambda: next(ticks), sleep=lambda _: None)
    assert (
        seen.configured and [m.to for m in seen.mails] == ["ada@example.com"] and seen.missing == ("points_expiring",)
    )
    console = _console()
    assert not demo_messages.show_messages(console, folder, URL, since=since, timeout_s=0)
    out = console.export_text()
    assert "Witaj, Ada" in out and "pl" in out and "no points_expiring mail arrived" in out
    assert f"{URL}/dashboard/messages/mailbox" in out and "Other" not in out

    box.add(mail(to="bob@example.com", subject="Points expiring", language="en", kind="points_expiring"))
    box.close()
    console = _console()
    assert demo_messages.show_messages(console, folder, URL, since=since, timeout_s=0)
    assert "bob@example.com" in console.export_text()
    later = demo_messages.wait_mails(folder, since=since + timedelta(hours=1), timeout_s=0)
    assert later.mails == [] and later.missing == demo_messages.EXPECTED  # mails of an earlier run are not this one's
