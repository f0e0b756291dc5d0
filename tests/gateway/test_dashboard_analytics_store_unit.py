"""The dashboard's analytics section on a small generated store (bench/analytics_data.py): the points
series per day and per week and the segment moves between two RFM snapshots against plain Python
over the rows, the liability series against the reference's outstanding points, each block's CSV
against the page's data (one computation, two layouts), and the filters."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.analytics_data import CHAIN_ID, fill
from gateway.services import analytics, analytics_series, dashboard_analytics, dashboard_analytics_view, rfm
from gateway.services.analytics import PeriodError
from network.store import COALITION, RfmRun, RfmSnapshot
from tests.gateway import analytics_reference as ref
from tests.pg import PgCluster
from tests.stores import migrated_store

START, END = date(2026, 9, 1), date(2026, 11, 30)
CHURN = 60
SNAPSHOTS = (date(2026, 10, 31), date(2026, 11, 30))


def _filled(url: str) -> sessionmaker[Session]:
    sessions = migrated_store(url)
    with sessions() as session:
        fill(session, members=200, partners=3, end=datetime(2026, 12, 1, tzinfo=UTC), days=200, seed=11)
    for day in SNAPSHOTS:
        rfm.snapshot(sessions, day=day)
    return sessions


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    return _filled(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'store.db'}")


@pytest.fixture(scope="module")
def rows(filled: sessionmaker[Session]) -> ref.Rows:
    with filled() as session:
        return ref.Rows(session)


def _python_points(rows: ref.Rows, *, partner: int | None, grain: str) -> dict[str, dict[str, int]]:
    """bucket start -> kind -> points, by a loop over the ledger."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in rows.ledger:
        day = datetime.fromtimestamp(e.block_time, UTC).date()
        if not START <= day <= END or e.kind not in ("earned", "redeemed", "reversed", "expired"):
            continue
        if partner is not None and e.partner_id != partner:
            continue
        first = day if grain == "day" else max(START, day - timedelta(days=day.weekday()))
        out[first.isoformat()][e.kind] += abs(e.points)
    return out


@pytest.mark.parametrize("partner", [None, 2])
@pytest.mark.parametrize("grain", ["day", "week"])
def test_the_points_series_is_what_a_loop_over_the_ledger_counts_and_adds_up_to_the_kpis(
    filled: sessionmaker[Session], rows: ref.Rows, partner: int | None, grain: analytics_series.Grain
) -> None:
    with filled() as session:
        s = analytics_series.points_series(session, start=START, end=END, chain_id=CHAIN_ID, partner_id=partner,
                                           grain=grain)  # fmt: skip
    want = _python_points(rows, partner=partner, grain=grain)
    assert len(s.labels) == ((END - START).days + 1 if grain == "day" else 14)  # Sept 1 2026 is a Tuesday
    assert s.labels[0] == START.isoformat() and len(set(s.labels)) == len(s.labels)
    for i, label in enumerate(s.labels):
        assert s.issued[i] == want[label]["earned"], label
        assert s.redeemed[i] == want[label]["redeemed"], label
        assert s.reversed[i] == want[label]["reversed"], label
        if partner is None:
            assert s.expired is not None and s.expired[i] == want[label]["expired"], label
    assert set(want) <= set(s.labels)
    assert s.expired is None if partner is not None else sum(s.expired or []) > 0
    k = ref.kpis(rows, start=START, end=END, partner=partner, churn_days=CHURN)
    assert (sum(s.issued), sum(s.redeemed), sum(s.reversed)) == (
        k["points_issued"],
        k["points_redeemed"],
        k["points_reversed"],
    )
    assert sum(s.issued) > 0 and sum(s.redeemed) > 0


@pytest.mark.parametrize("scope", [COALITION, 1])
def test_segment_moves_are_the_members_whose_segment_differs_between_the_two_snapshots(
    filled: sessionmaker[Session], scope: int
) -> None:
    with filled() as session:
        got = analytics_series.segment_moves(session, scope=scope, on_or_before=END)
        first = analytics_series.segment_moves(session, scope=scope, on_or_before=SNAPSHOTS[0])
        none = analytics_series.segment_moves(session, scope=scope, on_or_before=date(2026, 10, 1))
        snap = {
            day: {r.customer_id: r.segment for r in session.scalars(
                select(RfmSnapshot).where(RfmSnapshot.day == day, RfmSnapshot.scope == scope))}
            for day in SNAPSHOTS
        }  # fmt: skip
        run = session.get(RfmRun, (SNAPSHOTS[1], scope))
    old, new = snap[SNAPSHOTS[0]], snap[SNAPSHOTS[1]]
    want = Counter((old.get(c, analytics_series.NONE), s) for c, s in new.items() if old.get(c) != s)
    assert (got.previous, got.day) == SNAPSHOTS
    assert {(m["from"], m["to"]): m["members"] for m in got.moves} == dict(want)
    assert [m["members"] for m in got.moves] == sorted((m["members"] for m in got.moves), reverse=True)
    assert run is not None and sum(int(str(m["members"])) for m in got.moves) == run.changes > 0
    assert (first.day, first.previous, first.moves) == (SNAPSHOTS[0], None, [])  # the first snapshot
    assert (none.day, none.moves) == (None, [])


def test_every_block_s_csv_is_the_page_s_data_and_the_figures_are_the_reference_s(
    filled: sessionmaker[Session], rows: ref.Rows
) -> None:
    f = dashboard_analytics.Filters(START, END, None, "week", "week")
    with filled() as session:
        page = dashboard_analytics.overview(session, filters=f, chain_id=CHAIN_ID, churn_days=CHURN)
        alone = {
            name: dashboard_analytics.block(session, name, filters=f, chain_id=CHAIN_ID, churn_days=CHURN)
            for name in dashboard_analytics.BLOCKS
        }
        with pytest.raises(dashboard_analytics.UnknownBlock):
            dashboard_analytics.block(session, "nope", filters=f, chain_id=CHAIN_ID, churn_days=CHURN)
    names = page.partners
    for name in dashboard_analytics.BLOCKS:
        text = dashboard_analytics.csv_text(name, alone[name], names)
        assert text == dashboard_analytics.csv_text(name, page.data(name), names), name
        table = list(csv.reader(io.StringIO(text)))
        assert len(table) >= 2 and len({len(r) for r in table[1:]}) <= 1, name
    k = ref.kpis(rows, start=START, end=END, partner=None, churn_days=CHURN)
    kpi_csv = {r[0]: r[1] for r in csv.reader(io.StringIO(dashboard_analytics.csv_text("kpis", alone["kpis"], names)))}
    assert int(kpi_csv["points_issued"]) == k["points_issued"] and int(kpi_csv["purchases"]) == k["purchases"]
    assert int(kpi_csv["outstanding_points"]) == k["outstanding_points"]
    assert float(kpi_csv["churn_rate"]) == pytest.approx(k["churn_rate"])
    assert {f"average_basket_{c}" for c in k["average_basket"]} <= kpi_csv.keys()
    cohorts = list(csv.reader(io.StringIO(dashboard_analytics.csv_text("cohorts", alone["cohorts"], names))))[1:]
    want = ref.cohorts(rows, start=START, end=END, partner=None)
    assert [[r[0], int(r[1]), [int(n) for n in r[2:] if n]] for r in cohorts] == [
        [c["cohort"], c["members"], c["active"]] for c in want
    ]
    # the liability at each day's end: the last is the KPI's outstanding points
    assert page.liability[-1].outstanding == k["outstanding_points"]
    mid = date(2026, 10, 15)
    assert (
        page.liability[(mid - START).days].outstanding
        == ref.kpis(rows, start=mid, end=mid, partner=None, churn_days=CHURN)["outstanding_points"]
    )
    # the page shows each KPI with its raw value, and every block links its CSV with the filters
    html = dashboard_analytics_view.analytics_page(page, decimals=6, symbol="cUSD")
    assert f'data-figure="kpi-points_issued" data-value="{k["points_issued"]}"' in html
    assert f'data-figure="kpi-members_enrolled" data-value="{k["members_enrolled"]}"' in html
    for name in dashboard_analytics.BLOCKS:
        assert f'href="/dashboard/analytics/{name}.csv?from=2026-09-01&amp;to=2026-11-30&amp;grain=week"' in html
    assert "<script>" not in html and 'id="analytics-data"' in html


def test_the_filters_are_read_or_refused() -> None:
    today = date(2026, 12, 5)
    read = dashboard_analytics.Filters.read
    f = read(start=None, end=None, partner=None, grain=None, today=today)
    assert (f.start, f.end, f.partner_id, f.grain) == (date(2026, 11, 5), date(2026, 12, 4), None, "day")
    f = read(start="2026-01-01", end="2026-06-30", partner="3", grain="", today=today)
    assert (f.partner_id, f.grain, f.scope) == (3, "week", 3)
    assert f.query() == {"from": "2026-01-01", "to": "2026-06-30", "partner": "3"}
    f = read(start="2026-01-01", end="2026-06-30", partner="", grain="day", today=today)
    assert (f.grain, f.query()) == ("day", {"from": "2026-01-01", "to": "2026-06-30", "grain": "day"})
    for bad in ({"partner": "x"}, {"partner": "0"}, {"start": "2026-02-30"}, {"start": "2025-01-01"}):
        with pytest.raises(PeriodError):
            read(**{"start": None, "end": "2026-06-30", "partner": None, "grain": None, "today": today} | bad)
    assert dashboard_analytics_view.heat(0, 10) == "heat-0" and dashboard_analytics_view.heat(10, 10) == "heat-9"
    assert dashboard_analytics_view.heat(0.1, 10) == "heat-1" and analytics.bounds(today, today)[0].day == 5


def test_on_postgresql_the_series_and_the_moves_are_the_same(
    pg_cluster: PgCluster, filled: sessionmaker[Session], rows: ref.Rows
) -> None:
    """The same generated store on PostgreSQL (its cluster's zone is Pacific/Chatham: days stay UTC's)."""
    pg = _filled(pg_cluster.create_database())
    try:
        for partner, grain in ((None, "day"), (2, "week")):
            with pg() as session:
                s = analytics_series.points_series(
                    session, start=START, end=END, chain_id=CHAIN_ID, partner_id=partner, grain=grain
                )
            want = _python_points(rows, partner=partner, grain=grain)
            assert s.issued == [want[label]["earned"] for label in s.labels]
            assert s.redeemed == [want[label]["redeemed"] for label in s.labels]
        with pg() as pg_session, filled() as lite:
            for scope in (COALITION, 1):
                assert analytics_series.segment_moves(pg_session, scope=scope, on_or_before=END) == (
                    analytics_series.segment_moves(lite, scope=scope, on_or_before=END)
                )
    finally:
        pg.kw["bind"].dispose()


def test_before_any_snapshot_the_page_says_so_and_a_partner_s_page_is_scoped(filled: sessionmaker[Session]) -> None:
    early = dashboard_analytics.Filters(date(2026, 9, 1), date(2026, 9, 30), 3, "day")
    with filled() as session:
        seen = dashboard_analytics.overview(session, filters=early, chain_id=CHAIN_ID, churn_days=CHURN)
    assert seen.segments is None and seen.moves.day is None and seen.points.expired is None
    html = dashboard_analytics_view.analytics_page(seen, decimals=6, symbol="cUSD", error="The filters were not read")
    assert "No RFM snapshot on or before the period" in html and 'role="alert"' in html
    assert 'data-partner="3"' in html and "partner=3" in html and 'option value="3" selected' in html
    assert 'data-figure="kpi-points_expired" data-value=""' in html  # expiry is nobody's partner's
