"""The dashboard's tier page (gateway/services/dashboard_tiers.py and its view) on a migrated
SQLite store: the form people write is read into the API's ladder or refused naming the line,
a dry-run from the form predicts what applying it does, and the page shows the ladder in force
with its members and the run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import TierLadderInvalid
from gateway.services import dashboard_tiers, dashboard_tiers_view, tier_recalculation, tiers
from loyalty.tiers import FixedDate, Window
from network.store.events import event_row, record_many
from tests.stores import migrated_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FORM = {"tiers": "Member, 0, 1\nSilver, 100, 1.25\n\nGold, 200, 1.5", "window": "rolling_12_months",
        "review": "01-15", "grace_days": "30"}  # fmt: skip


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    made = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield made
    made.kw["bind"].dispose()


def _confirm(sessions: sessionmaker[Session], n: int, points: int) -> None:
    who = f"0x{n:040x}"
    payload = {"purchase_id": f"p-{n}", "status": "confirmed", "customer_wallet": who, "points": points}
    with sessions() as session:
        record_many(
            session, [event_row("purchase.confirmed", payload=payload, partner_id=1, customer_wallet=who, at=T0)]
        )
        session.commit()


def test_the_form_reads_into_the_ladder_and_back_unit() -> None:
    ladder, policy = dashboard_tiers.parse_form(FORM)
    assert [(t.name, t.threshold, str(t.multiplier)) for t in ladder.tiers] == [
        ("Member", 0, "1"), ("Silver", 100, "1.25"), ("Gold", 200, "1.5"),
    ]  # fmt: skip
    assert policy.window == Window.ROLLING_12_MONTHS and policy.review == FixedDate(1, 15)
    assert policy.grace == timedelta(days=30)
    assert dashboard_tiers.parse_form({**FORM, "tiers": "Member, 0\nSilver, 100"})[0].tiers[1].multiplier == 1


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("tiers", "Member, 0, 1\nSilver 100 1.25", "line 2"),
        ("tiers", "  \n", "at least one tier"),
        ("tiers", "Member, 5, 1", "0"),  # the first tier starts at 0 (the pure ladder's rule)
        ("tiers", "Member, 0, 1\nSilver, 100, 1\nGold, 50, 2", "must be above"),
        ("review", "someday", "MM-DD"),
        ("grace_days", "-3", "grace_days"),
        ("grace_days", "400", "grace_days"),
    ],
)
def test_a_bad_form_is_refused_saying_what_to_fix_unit(field: str, value: str, says: str) -> None:
    with pytest.raises(TierLadderInvalid, match=says):
        dashboard_tiers.parse_form({**FORM, field: value})


def test_the_dry_run_predicts_the_apply_and_the_page_shows_it_unit(sessions: sessionmaker[Session]) -> None:
    for n, points in [(1, 50), (2, 150), (3, 250), (4, 120)]:
        _confirm(sessions, n, points)
    tiers.consume(sessions, now=T0 + timedelta(minutes=1))
    now = T0 + timedelta(hours=1)
    with sessions() as session:
        page = dashboard_tiers.overview(session)
        assert page.active is None and page.member_count == 4 and page.runs == []
        assert dashboard_tiers.form_of(None) == dashboard_tiers.EXAMPLE_FORM
        html = dashboard_tiers_view.tiers_page(page, csrf="t", values=dashboard_tiers.form_of(None), tz="UTC",
                                               notice=None)  # fmt: skip
        assert "No ladder yet" in html and 'id="dry-run"' in html
        seen = dashboard_tiers.dry_run(session, FORM, now=now)
        assert (seen.up, seen.down, seen.unchanged) == (3, 0, 1)
        assert dict(seen.after) == {"Member": 1, "Silver": 2, "Gold": 1}
        shown = dashboard_tiers_view.dry_run_page(seen, csrf="t", values=FORM)
        assert 'data-up="3"' in shown and "3 of 4 members would move up" in shown
        assert 'name="review" value="01-15"' in shown  # the apply form carries the same ladder
        run = dashboard_tiers.apply(session, FORM, now=now)
        session.commit()
        run_id = run.id
    done = False
    while not done:
        with sessions() as session:
            done, _ = tier_recalculation.run_chunk(session, run_id=run_id)
            session.commit()
    with sessions() as session:
        page = dashboard_tiers.overview(session)
        assert page.active is not None and page.members == {"Member": 1, "Silver": 2, "Gold": 1}
        assert page.runs[0].moved_up == seen.up and page.runs[0].status == "done"
        assert dashboard_tiers.parse_form(dashboard_tiers.form_of(page.active)) == (page.active.ladder,
                                                                                      page.active.policy)  # fmt: skip
        html = dashboard_tiers_view.tiers_page(page, csrf="t", values=dashboard_tiers.form_of(page.active), tz="UTC",
                                               notice="applied")  # fmt: skip
        assert 'data-figure="members-Silver" data-value="2"' in html and "version 1" in html
        assert "each year on 01-15" in html
