"""Unit tests of the web pages' sessions and rendering (no chain, no server: plain functions,
and one SQLite store in the test's directory for the sessions)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from gateway.services import dashboard_auth, dashboard_views
from gateway.services.dashboard import Overview, PartnerFigures
from gateway.settings import GatewaySettings
from network.store import OperatorSession, utcnow
from tests.stores import migrated_store


def settings(**kw: str) -> GatewaySettings:
    return GatewaySettings(mode="local", **kw)


def test_operator_session_round_trip_expiry_tampering_rotation_and_logout_unit(tmp_path: Path) -> None:
    s = settings()
    sessions = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
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


def test_money_is_exact_and_separated_unit() -> None:
    assert dashboard_views.money(-1_234_500_000, 6) == "-1,234.500000"
    assert dashboard_views.money(5, 6) == "0.000005"
    assert dashboard_views.money(12345, 0) == "12,345"
    assert dashboard_views.money(None, 6) == "—"


def test_names_from_partners_are_escaped_unit() -> None:
    evil = '<script>alert("x")</script>'
    partner = PartnerFigures(id=1, name=evil, status="active", currency="EUR", issue_price=1, reimbursement_rate=1)
    ov = Overview(
        partners=[partner], points_issued=0, points_redeemed=0, points_reversed=0, points_expired=0, customers=0,
        total_supply=None, total_exposure=None, token_symbol="cUSD", token_decimals=6, chart=None, settlements=[],
        reconciliation=None, alerts=[], chain_error="node <down>",
    )  # fmt: skip
    html = dashboard_views.dashboard_page(ov)
    assert evil not in html and "&lt;script&gt;" in html and "node &lt;down&gt;" in html
    assert 'data-figure="partner-1-exposure" data-value=""' in html  # unknown, not zero
