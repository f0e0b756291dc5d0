"""Unit tests of the web pages' sessions and rendering (no chain, no server: plain functions,
and one SQLite store in the test's directory for the chart's buckets)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from gateway.models import OperatorSession
from gateway.services import dashboard, dashboard_auth, dashboard_views
from gateway.services.dashboard import Overview, PartnerFigures, Series
from gateway.settings import GatewaySettings
from network.store import LedgerEntry, open_store, utcnow


def settings(**kw: str) -> GatewaySettings:
    return GatewaySettings(mode="local", **kw)


def test_operator_session_round_trip_expiry_tampering_rotation_and_logout_unit(tmp_path: Path) -> None:
    s = settings()
    sessions = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with sessions() as session:
        value = dashboard_auth.open_operator_session(session, s)
        other = dashboard_auth.open_operator_session(session, s)
        session.commit()
        assert value.startswith("os_") and value != other
        row = session.scalar(select(OperatorSession).where(OperatorSession.token_hash != ""))
        assert row is not None and value not in (row.token_hash, row.credential)  # only its hash is stored
        assert dashboard_auth.operator_session_valid(session, s, value)
        for junk in (None, "", "x", "os_", value[:-1] + ("A" if value[-1] != "A" else "B"), "os_" + "9" * 300):
            assert not dashboard_auth.operator_session_valid(session, s, junk)
        rotated = settings(operator_token="another-operator-token-of-24+")
        assert not dashboard_auth.operator_session_valid(session, rotated, value)
        assert not dashboard_auth.operator_session_valid(session, settings(secrets_key="another-secrets-key"), value)
        # logout ends that session on the server, and only that one
        assert dashboard_auth.close_operator_session(session, value)
        session.commit()
        assert not dashboard_auth.operator_session_valid(session, s, value)
        assert not dashboard_auth.close_operator_session(session, value)
        assert dashboard_auth.operator_session_valid(session, s, other)
        session.execute(update(OperatorSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
        assert not dashboard_auth.operator_session_valid(session, s, other)  # expired
    assert dashboard_auth.token_is_operator(s, str(s.operator_token)) and not dashboard_auth.token_is_operator(s, "x")


def test_chart_step_is_the_finest_that_fits_unit() -> None:
    assert dashboard.choose_step(0, 0) == 60
    assert dashboard.choose_step(0, 60 * 89) == 60
    assert dashboard.choose_step(0, 60 * 90) == 3_600
    assert dashboard.choose_step(0, 86_400 * 3) == 3_600
    assert dashboard.choose_step(0, 86_400 * 30) == 86_400
    assert dashboard.choose_step(0, 86_400 * 900) == 86_400


def test_series_fills_empty_buckets_and_separates_kinds_unit(tmp_path: Path) -> None:
    sessions = open_store(f"sqlite:///{tmp_path / 'store.db'}")

    def entry(i: int, kind: str, points: int, t: int) -> LedgerEntry:
        return LedgerEntry(
            chain_id=1, block_number=i, block_time=t, tx_hash="0x" + "0" * 64, log_index=i, item=0,
            kind=kind, customer="0x" + "1" * 40, partner_id=1, points=points,
        )  # fmt: skip

    with sessions() as session:
        session.add_all(
            [entry(1, "earned", 10, 120), entry(2, "earned", 5, 130), entry(3, "redeemed", -4, 300),
             entry(4, "reversed", -1, 300), entry(5, "earned", 7, 999)]
        )  # fmt: skip
        session.commit()
        out = dashboard.series(session, chain_id=1)
        assert dashboard.series(session, chain_id=2).starts == []
        totals = dashboard.ledger_totals(session, chain_id=1)
    assert out.step_s == 60
    assert out.starts == [120, 180, 240, 300, 360, 420, 480, 540, 600, 660, 720, 780, 840, 900, 960]
    assert out.issued[0] == 15 and out.issued[-1] == 7 and sum(out.issued) == 22
    assert out.redeemed[3] == 4 and sum(out.redeemed) == 4
    assert totals == {1: {"earned": 22, "redeemed": 4, "reversed": 1}}


def test_money_is_exact_and_separated_unit() -> None:
    assert dashboard_views.money(-1_234_500_000, 6) == "-1,234.500000"
    assert dashboard_views.money(5, 6) == "0.000005"
    assert dashboard_views.money(12345, 0) == "12,345"
    assert dashboard_views.money(None, 6) == "—"


def test_names_from_partners_are_escaped_unit() -> None:
    evil = '<script>alert("x")</script>'
    partner = PartnerFigures(id=1, name=evil, status="active", currency="EUR", issue_price=1, reimbursement_rate=1)
    ov = Overview(
        partners=[partner], points_issued=0, points_redeemed=0, points_reversed=0, customers=0, total_supply=None,
        total_exposure=None, token_symbol="cUSD", token_decimals=6, series=Series(step_s=60), settlements=[],
        reconciliation=None, alerts=[], chain_error="node <down>",
    )  # fmt: skip
    html = dashboard_views.dashboard_page(ov)
    assert evil not in html and "&lt;script&gt;" in html and "node &lt;down&gt;" in html
    assert 'data-figure="partner-1-exposure" data-value=""' in html  # unknown, not zero
