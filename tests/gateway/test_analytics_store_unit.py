"""The KPIs in SQL (gateway/services/analytics.py) against plain Python over the generated rows
(tests/gateway/analytics_reference.py), coalition-wide and for each partner, on two periods; the
generated store holds erased members, unconfirmed purchases, full, partial and failed refunds,
redemptions at partners where the points were not earned, and expiries."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bench.analytics_data import CHAIN_ID, fill
from gateway.services import analytics, rfm
from network.store import COALITION, RfmRun
from tests.gateway import analytics_reference as ref
from tests.stores import migrated_store

PERIODS = [(date(2026, 9, 1), date(2026, 11, 30)), (date(2026, 11, 15), date(2026, 11, 15))]
CHURN = 60


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    sessions = migrated_store(f"sqlite:///{tmp_path_factory.mktemp('kpis') / 'store.db'}")
    with sessions() as session:
        fill(session, members=300, partners=4, end=datetime(2026, 12, 1, tzinfo=UTC), days=200, seed=7)
    return sessions


@pytest.fixture(scope="module")
def rows(filled: sessionmaker[Session]) -> ref.Rows:
    with filled() as session:
        return ref.Rows(session)


@pytest.mark.parametrize("partner", [None, 1, 2, 3, 4])
@pytest.mark.parametrize("period", PERIODS, ids=["quarter", "one-day"])
def test_every_kpi_is_what_plain_python_counts(
    filled: sessionmaker[Session], rows: ref.Rows, partner: int | None, period: tuple[date, date]
) -> None:
    start, end = period
    with filled() as session:
        got = analytics.kpis(session, start=start, end=end, chain_id=CHAIN_ID, churn_days=CHURN, partner_id=partner)
    want = ref.kpis(rows, start=start, end=end, partner=partner, churn_days=CHURN)
    for name, value in want.items():
        assert getattr(got, name) == (pytest.approx(value) if isinstance(value, float) else value), name
    assert got.cohorts == ref.cohorts(rows, start=start, end=end, partner=partner)
    assert got.tiers == ref.tiers(rows, partner=partner)
    flow = {(f["earned_at"], f["redeemed_at"]): f["points"] for f in got.flow}
    want_flow = ref.flow(rows, start=start, end=end, partner=partner)
    assert flow.keys() == want_flow.keys() and all(flow[k] == pytest.approx(v) for k, v in want_flow.items())
    assert {(s["a"], s["b"]): s["members"] for s in got.shared_members} == ref.shared(rows, partner=partner)
    if period == PERIODS[0]:  # the figures are not all empty
        assert got.purchases > 20 and got.points_redeemed > 0 and got.flow and got.cohorts and got.tiers
        assert got.outstanding_value_low is not None and got.outstanding_value_low > 0
        assert got.clv and got.churn_rate is not None
        if partner is None:
            assert got.points_expired and got.breakage_rate and got.tier_moves


def test_a_period_is_parsed_and_checked() -> None:
    today = date(2026, 12, 5)
    assert analytics.parse_period(None, None, today=today) == (date(2026, 11, 5), date(2026, 12, 4))
    assert analytics.parse_period("2026-01-01", "2026-01-31", today=today) == (date(2026, 1, 1), date(2026, 1, 31))
    for bad in (("2026-02-01", "2026-01-01"), ("x", None), ("2020-01-01", "2026-01-01")):
        with pytest.raises(analytics.PeriodError):
            analytics.parse_period(*bad, today=today)


def test_with_the_days_rfm_snapshot_the_recency_figures_come_from_it_and_agree(
    filled: sessionmaker[Session], rows: ref.Rows
) -> None:
    start, end = PERIODS[0]
    with filled() as session:
        before = [analytics.recency(session, end=end, partner_id=p, churn_days=CHURN) for p in (None, 2)]
    rfm.snapshot(filled, day=end)
    with filled() as session:
        assert session.get(RfmRun, (end, COALITION)) is not None
        after = [analytics.recency(session, end=end, partner_id=p, churn_days=CHURN) for p in (None, 2)]
        got = analytics.kpis(session, start=start, end=end, chain_id=CHAIN_ID, churn_days=CHURN, partner_id=2)
    assert after == before and before[0][0] > 100
    want = ref.kpis(rows, start=start, end=end, partner=2, churn_days=CHURN)
    assert (got.active_30d, got.active_90d, got.churn_rate) == (
        want["active_30d"], want["active_90d"], pytest.approx(want["churn_rate"])
    )  # fmt: skip
