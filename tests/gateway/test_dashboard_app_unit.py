"""Unit tests of the dashboard application's pure rules (money, dates, who pays whom, the
headroom warning, CSRF) and of its chart's SQL on a real SQLite store in the test's directory
(rows written as the indexer and the purchase writer write them)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.services import dashboard_auth, dashboard_chart, date_range
from gateway.services import dashboard_format as fmt
from gateway.services.account import headroom_low
from gateway.settings import GatewaySettings
from loyalty.statement import named_csv, partner_view, who_pays
from network.store import (
    ChainEvent,
    LedgerEntry,
    OutboxPurchase,
    Partner,
    Purchase,
    PurchaseStatus,
    Redemption,
    Reward,
)
from tests.stores import migrated_store

DAY = 86_400


def test_money_has_its_currency_two_decimals_and_never_loses_a_digit_unit() -> None:
    assert fmt.units(1_234_500_000, 6, "cUSD") == "1,234.50 cUSD"
    assert fmt.units(7_500, 6, "cUSD") == "0.0075 cUSD"  # a rate below a cent keeps its digits
    assert fmt.units(0, 6, "cUSD") == "0.00 cUSD"
    assert fmt.units(-1_000_000, 6, "cUSD", sign=True) == "-1.00 cUSD"
    assert fmt.units(1_000_000, 6, "cUSD", sign=True) == "+1.00 cUSD"
    assert fmt.units(12_345, 0, "PTS") == "12,345 PTS"
    assert fmt.units(None, 6, "cUSD") == "—"
    assert fmt.fiat(Decimal("42.5"), "EUR") == "42.50 EUR"
    assert fmt.fiat(Decimal("1000"), "JPY") == "1,000 JPY"
    assert fmt.fiat(Decimal("1.5"), "KWD") == "1.500 KWD"
    assert fmt.fiat(Decimal("3.1415"), "EUR") == "3.1415 EUR"
    assert (fmt.tone(5), fmt.tone(-5), fmt.tone(0)) == ("pos", "neg", "")


def test_dates_are_written_in_the_stated_zone_unit() -> None:
    moment = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert fmt.when(moment) == "2026-11-23 23:30 UTC"
    assert fmt.when(moment, "Europe/Paris") == "2026-11-24 00:30 CET"
    assert fmt.day_of(moment, "Europe/Paris") == date(2026, 11, 24)
    with pytest.raises(ValueError, match="IANA"):
        GatewaySettings(mode="local", display_timezone="Mars/Olympus")


def test_who_pays_whom_follows_the_sign_of_the_net_unit() -> None:
    assert who_pays(5, "Grocer") == who_pays(5, "Grocer", "the operator")
    assert (who_pays(5, "Grocer").payer, who_pays(5, "Grocer").payee) == ("the operator", "Grocer")
    assert (who_pays(-5, "Grocer").payer, who_pays(-5, "Grocer").amount) == ("Grocer", 5)
    assert fmt.payment(-2_500_000, "Fuel", 6, "cUSD") == "Fuel pays the operator 2.50 cUSD"
    assert fmt.payment(0, "Fuel", 6, "cUSD") == "nothing to pay"


STATEMENT = {
    "period_id": 3,
    "token": {"symbol": "cUSD", "decimals": 6},
    "partners": [
        {"partner_id": 1, "points_issued": 100, "points_reversed": 0, "points_redeemed": 0, "issued_value": 1_000_000,
         "reversed_value": 0, "redeemed_value": 0, "net": -1_000_000},
        {"partner_id": 2, "points_issued": 0, "points_reversed": 0, "points_redeemed": 50, "issued_value": 0,
         "reversed_value": 0, "redeemed_value": 400_000, "net": 400_000},
    ],
    "operator_net": 600_000,
    "bilateral": {"points": [{"redeemed_at": 2, "issued_by": 1, "points": 50}]},
}  # fmt: skip


def test_a_partner_sees_only_its_own_line_of_a_statement_unit() -> None:
    view = partner_view(STATEMENT, 2)
    assert (
        view is not None
        and view["line"]["partner_id"] == 2
        and view["bilateral"] == [{"redeemed_at": 2, "issued_by": 1, "points": 50}]
    )
    assert partner_view(STATEMENT, 9) is None


def test_the_named_csv_has_names_dates_and_who_pays_whom_unit() -> None:
    text = named_csv(
        STATEMENT, {1: "Grocer", 2: "Fuel"}, period_start="2026-11-01 00:00 UTC", period_end="2026-11-30 23:59 UTC",
        settled_at="2026-12-01 00:05 UTC",
    )  # fmt: skip
    lines = text.splitlines()
    assert lines[0] == "period,3,from,2026-11-01 00:00 UTC,to,2026-11-30 23:59 UTC,settled,2026-12-01 00:05 UTC"
    assert "1,Grocer,100,1.000000,0,0.000000,0,0.000000,-1.000000,Grocer,the operator,1.000000,0,0.000000" in lines
    assert "2,Fuel,0,0.000000,0,0.000000,50,0.400000,0.400000,the operator,Fuel,0.400000,0,0.000000" in lines
    assert "Fuel,Grocer,50" in lines
    only = named_csv(STATEMENT, {1: "Grocer", 2: "Fuel"}, period_start="", period_end="", settled_at="", partner_id=1)
    assert "Grocer" in only and "0.400000,the operator,Fuel" not in only and "the operator,," not in only


def test_headroom_is_low_below_the_ratio_of_the_lower_bound_unit() -> None:
    assert headroom_low(headroom=9, bound=100, ratio=0.1)
    assert not headroom_low(headroom=10, bound=100, ratio=0.1)
    assert headroom_low(headroom=0, bound=0, ratio=0.1)  # no funds at all: nothing can be issued
    assert not headroom_low(headroom=0, bound=100, ratio=0)  # 0 turns the warning off
    assert headroom_low(headroom=10**30 - 1, bound=10**31, ratio=0.1)  # exact with large amounts


def test_csrf_token_is_per_session_and_checked_in_constant_time_unit() -> None:
    s = GatewaySettings(mode="local")
    a, b = dashboard_auth.csrf_token(s, "os_a"), dashboard_auth.csrf_token(s, "os_b")
    assert a != b and len(a) == 64
    assert dashboard_auth.csrf_valid(s, "os_a", a)
    assert not dashboard_auth.csrf_valid(s, "os_b", a)
    assert not dashboard_auth.csrf_valid(s, None, a) and not dashboard_auth.csrf_valid(s, "os_a", None)
    other = GatewaySettings(mode="local", secrets_key="another-secrets-key-of-32-characters!")
    assert not dashboard_auth.csrf_valid(other, "os_a", a)


def _event(i: int, name: str, partner: int, t: int, **args: int) -> ChainEvent:
    return ChainEvent(
        chain_id=1, block_number=i, block_hash="0x" + "0" * 64, block_time=t, tx_hash=f"0x{i:064x}", log_index=0,
        contract="Clearing", name=name, partner_id=partner, customer=None, args={"partnerId": partner, **args},
    )  # fmt: skip


def _ledger(i: int, kind: str, partner: int, points: int, t: int) -> LedgerEntry:
    return LedgerEntry(
        chain_id=1, block_number=i, block_time=t, tx_hash=f"0x{i:064x}", log_index=0, item=0, kind=kind,
        customer="0x" + "1" * 40, partner_id=partner, points=points,
    )  # fmt: skip


def _purchase(session: object, pk: int, partner: int, points: int, at: datetime, status: PurchaseStatus) -> None:
    outbox = OutboxPurchase(id=pk, partner_id=partner, seq=pk, customer="0x" + "1" * 40, points=points, status=status)
    purchase = Purchase(
        id=pk, partner_id=partner, purchase_id=f"p-{pk}", request_hash="h", seq=pk, customer_wallet="0x" + "1" * 40,
        amount=Decimal(points), currency="EUR", points=points, rule={}, purchased_at=at, outbox_id=pk,
    )  # fmt: skip
    session.add(outbox)  # type: ignore[attr-defined]
    session.flush()  # type: ignore[attr-defined]
    session.add(purchase)  # type: ignore[attr-defined]


def test_chart_sums_business_days_liability_and_funds_in_the_database_unit(tmp_path: Path) -> None:
    sessions = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    t0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())  # the range starts on Nov 2
    with sessions() as session:
        for pid in (1, 2):
            session.add(
                Partner(id=pid, name=f"P{pid}", minter=f"0x{pid:040x}", treasury="0x" + "2" * 40,
                        api_key_prefix=f"k{pid}", api_key_hash="h", currency="EUR", points_per_unit=Decimal(1),
                        issue_price=10, reimbursement_rate=8, issuance_limit=10**9)
            )  # fmt: skip
        session.flush()
        _purchase(session, 1, 1, 100, datetime(2026, 11, 2, 10, tzinfo=UTC), PurchaseStatus.MINTED)
        _purchase(session, 2, 1, 30, datetime(2026, 11, 2, 23, 30, tzinfo=UTC), PurchaseStatus.SKIPPED)
        _purchase(session, 3, 2, 7, datetime(2026, 11, 4, 12, tzinfo=UTC), PurchaseStatus.MINTED)
        _purchase(session, 4, 2, 999, datetime(2026, 11, 4, 12, tzinfo=UTC), PurchaseStatus.FAILED)  # not counted
        _purchase(session, 5, 1, 55, datetime(2026, 10, 1, tzinfo=UTC), PurchaseStatus.MINTED)  # before the range
        session.add_all(
            [
                _event(1, "Deposited", 1, t0, amount=5_000_000),  # before the range
                _event(2, "Deposited", 2, t0 + DAY + 60, amount=2**62),  # large: summed exactly as integers
                _event(3, "PartnerSettled", 1, t0 + 2 * DAY, net=-1_000_000),
                _event(4, "Withdrawn", 2, t0 + 3 * DAY, amount=1),
                _ledger(1, "earned", 1, 100, t0 - 10),  # before the range
                _ledger(2, "earned", 1, 30, t0 + DAY + 5),
                _ledger(3, "redeemed", 2, -20, t0 + 2 * DAY + 5),
                _ledger(4, "sent", 2, -5, t0 + 2 * DAY + 5),  # a transfer between customers is no liability
                _ledger(5, "reversed", 1, -3, t0 + 3 * DAY + 5),
            ]
        )
        session.add(Reward(id=1, partner_id=2, sku="S", name="S", points=20, stock=None))
        session.flush()
        session.add(
            Redemption(
                id=1, partner_id=2, redemption_id="r1", request_hash="h", reward_id=1, sku="S", quantity=1, points=20,
                stock_reserved=False, customer_wallet="0x" + "1" * 40, ref="0x" + "3" * 64, nonce="1", deadline=0,
                signature=b"", status="fulfilled", created_at=datetime(2026, 11, 3, 9, tzinfo=UTC),
            )
        )  # fmt: skip
        session.commit()
        c = dashboard_chart.chart(session, chain_id=1, start=date(2026, 11, 2), end=date(2026, 11, 5), tz="UTC")
        paris = dashboard_chart.chart(
            session, chain_id=1, start=date(2026, 11, 2), end=date(2026, 11, 5), tz="Europe/Paris"
        )
        one = dashboard_chart.chart(session, chain_id=1, start=date(2026, 11, 2), end=date(2026, 11, 5), tz="UTC",
                                    partner_id=2)  # fmt: skip
        default = dashboard_chart.default_range(session, "UTC", date(2026, 12, 4))
        with pytest.raises(date_range.RangeError):
            dashboard_chart.chart(session, chain_id=1, start=date(2026, 11, 5), end=date(2026, 11, 2), tz="UTC")
    assert c.days == ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
    assert c.issued == [130, 0, 7, 0]
    assert paris.issued == [100, 30, 7, 0]  # 23:30 UTC on Nov 2 is Nov 3 in Paris
    assert c.redeemed == [0, 20, 0, 0]
    assert c.liability == [130, 110, 107, 107]
    assert c.funds == [5_000_000 + 2**62, 4_000_000 + 2**62, 4_000_000 + 2**62 - 1, 4_000_000 + 2**62 - 1]
    assert one.issued == [0, 0, 7, 0] and one.funds == [2**62, 2**62, 2**62 - 1, 2**62 - 1]
    assert c.as_json()["funds"][0] == str(5_000_000 + 2**62)
    assert default == (date(2026, 10, 1), date(2026, 12, 4))
