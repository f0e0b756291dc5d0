"""The dashboard's message pages (gateway/services/dashboard_messages.py, mailbox.py and their
views) on a migrated store (SQLite and PostgreSQL) with rows written as the planner and sender
write them, and a real Maildir: the delivery rates equal a count of the rows, the log's filters
find what they name, a message shows its events, and the mailbox lists newest first and shows a
mail's parts with its HTML escaped into a sandboxed frame."""

from __future__ import annotations

import mailbox as stdlib_mailbox
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import NotFound
from gateway.services import dashboard_mailbox_view, dashboard_messages, dashboard_messages_view, mailbox
from gateway.services.dashboard_messages import LogFilters
from gateway.services.date_range import RangeError
from tests.gateway.message_rows import OLD, PLAN, mail, seed_messages
from tests.pg import StoreKind
from tests.stores import add_partner, migrated_store

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def sessions(tmp_path: Path, store: StoreKind) -> Iterator[sessionmaker[Session]]:
    """A migrated store of the kind under test ([sqlite] and [postgresql], tests/pg.py) with the rows."""
    made = migrated_store(store.new_url(tmp_path))
    add_partner(made)
    seed_messages(made, now=NOW, partners=[7])
    yield made
    made.kw["bind"].dispose()


def test_the_rates_per_kind_and_channel_are_the_rows_counted_unit(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        rates = dashboard_messages.requested_rates(session, tz="Europe/Warsaw", start=None, end=None, today=NOW.date())
    want = Counter((k, c, s) for k, c, s, _, _ in PLAN)  # OLD is 60 days before: outside the 30 days
    got = {(r.kind, r.channel): r for r in rates.rows}
    assert set(got) == {(k, c) for k, c, _, _, _ in PLAN}
    for (kind, channel), row in got.items():
        for status in dashboard_messages.COUNTED:
            assert row.counts[status] == want[(kind, channel, status)], (kind, channel, status)
        assert row.total == sum(n for (k, c, _), n in want.items() if (k, c) == (kind, channel))
    email = got[("welcome", "email")]  # sent, delivered, bounced, suppressed (no-consent)
    assert (email.total, email.left) == (4, 3)
    assert email.rates == pytest.approx(
        {"sent": 1.0, "delivered": 1 / 3, "bounced": 1 / 3, "failed": 0.0, "suppressed": 0.25}
    )
    assert email.suppressed_by == {"no-consent": 1}
    assert got[("welcome", "sms")].rates["failed"] == 0.5
    expiring = got[("points_expiring", "email")]
    assert expiring.suppressed_by == {"no-consent": 1, "opted-out": 1} and expiring.rates["sent"] == 0.5
    assert got[("tier_up", "push")].rates["delivered"] is None  # nothing sent: no rate, not 0
    assert rates.total.total == len(PLAN) and rates.reasons == {"no-consent": 2, "opted-out": 1}
    assert rates.total.left == sum(1 for p in PLAN if p[2] in dashboard_messages.LEFT)
    with sessions() as session:  # a period that holds the old one too
        wide = dashboard_messages.requested_rates(session, tz="UTC", start="2026-09-01", end="2026-12-05")
        assert wide.total.total == len(PLAN) + 1
        with pytest.raises(RangeError, match="YYYY-MM-DD"):
            dashboard_messages.requested_rates(session, tz="UTC", start="05/12/2026", end=None)
    html = dashboard_messages_view.rates_page(rates)
    assert 'data-figure="welcome-email-bounced" data-value="1"' in html
    assert f'data-figure="all-total" data-value="{len(PLAN)}"' in html
    assert 'data-figure="welcome-email-rate-sent" data-value="1.000000">100.0 %' in html
    assert 'id="bar-welcome-email"' in html and 'class="bar-bounced"' in html


def test_the_log_filters_find_what_they_name_newest_first_unit(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = [*PLAN, OLD]
    with sessions() as session:
        log = dashboard_messages.message_log(session, filters=LogFilters.read({}))
        assert log.total == len(everything) and [m.id for m in log.rows] == sorted(
            (m.id for m in log.rows), reverse=True
        )
        for values, want in [
            ({"status": "suppressed"}, sum(1 for p in everything if p[2] == "suppressed")),
            ({"kind": "welcome", "channel": "sms"}, 2),
            ({"partner": "7"}, sum(1 for p in everything if p[4] == 0)),
            ({"status": "nonsense", "channel": "fax"}, len(everything)),  # unknown values filter nothing
        ]:
            found = dashboard_messages.message_log(session, filters=LogFilters.read(values))
            assert found.total == len(found.rows) == want, values
        first = log.rows[0]
        by_customer = dashboard_messages.message_log(
            session, filters=LogFilters.read({"customer": str(first.customer_id)})
        )
        assert [m.id for m in by_customer.rows] == [first.id]
        monkeypatch.setattr(dashboard_messages, "PAGE_SIZE", 5)
        page1 = dashboard_messages.message_log(session, filters=LogFilters.read({}))
        page2 = dashboard_messages.message_log(session, filters=LogFilters.read({}), before=page1.next_before)
        assert len(page1.rows) == 5 and page2.rows[0].id == page1.rows[-1].id - 1
    html = dashboard_messages_view.log_page(page1, tz="UTC")
    assert f'data-figure="log-total" data-value="{len(everything)}"' in html
    assert f"before={page1.next_before}" in html and "Grocer" in html


def test_a_message_shows_its_events_in_order_unit(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        bounced = dashboard_messages.message_log(session, filters=LogFilters.read({"status": "bounced"})).rows[0]
        seen = dashboard_messages.message_page(session, message_id=bounced.id)
        assert [(ev.status, ev.detail) for ev in seen.events] == [("queued", "planned"), ("bounced", "hard-bounce")]
        assert seen.partner == "Grocer"
        with pytest.raises(NotFound):
            dashboard_messages.message_page(session, message_id=10**9)
    html = dashboard_messages_view.message_page(seen, tz="UTC")
    assert html.count("<tr data-event=") == 2 and "hard-bounce" in html and "first_name" in html


def test_the_mailbox_lists_newest_first_and_shows_a_mail_sandboxed_unit(tmp_path: Path) -> None:
    folder = tmp_path / "mailbox"
    absent = mailbox.mail_list(folder)
    assert not absent.exists and "No mailbox at" in dashboard_mailbox_view.mailbox_page(absent, tz="UTC")
    box = stdlib_mailbox.Maildir(folder, create=True)
    evil = '<p>"quoted" &amp; <script>parent.document.title="pwned"</script></p>'
    keys = [
        box.add(mail(to="ada@example.com", subject="Witamy", language="pl", kind="welcome", message_id=3)),
        box.add(
            mail(to="bob@example.com", subject="Points expiring", language="en", kind="points_expiring", html=evil)
        ),
    ]
    box.close()
    found = mailbox.mail_list(folder)
    assert found.exists and found.total == 2
    assert [r.key for r in found.rows] == keys[::-1]  # newest first: delivery order of the keys
    assert [(r.to, r.subject, r.language, r.kind) for r in found.rows][1] == (
        "ada@example.com",
        "Witamy",
        "pl",
        "welcome",
    )
    assert found.rows[1].message_id == 3 and found.rows[0].message_id is None
    assert mailbox.mail_list(folder, start=1, size=1).rows[0].key == keys[0]
    html = dashboard_mailbox_view.mailbox_page(found, tz="UTC")
    assert 'data-figure="mailbox-total" data-value="2"' in html and "/dashboard/messages/3" in html

    seen = mailbox.mail(folder, keys[1])
    assert ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click") in seen.headers
    assert seen.text is not None and "Hello from the coalition." in seen.text and seen.html is not None
    page = dashboard_mailbox_view.mail_page(seen, tz="UTC")
    frame = re.search(r"<iframe [^>]*>", page)
    assert frame is not None and 'sandbox=""' in frame.group(0)
    assert "<script>" not in page and "&lt;script&gt;" in frame.group(0) and "&quot;quoted&quot;" in frame.group(0)
    for bad in ("../store.db", "nope", keys[0] + "/../x"):
        with pytest.raises(mailbox.MailNotFound):
            mailbox.mail(folder, bad)
    assert timedelta(0) <= datetime.now(UTC) - found.rows[0].at < timedelta(minutes=5)
