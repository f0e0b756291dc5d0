"""A settlement period's statement from the store (gateway/services/settlement.py
``period_statement``) carries the membership fees reported in the period: the successful payments
whose reported time is after the block before the period and at most its last block's time; a
failed payment, and one reported before or after the window, are not in it (the next window has
the later one). The points nets still sum to zero with the operator's line."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import customer_records, memberships
from gateway.services.dashboard_statement import HumanStatement
from gateway.services.dashboard_statement_view import partner_page, period_page
from gateway.services.settlement import period_statement
from loyalty.statement import statement_csv
from network.store import ChainEvent, Partner, SettlementPeriod
from tests.stores import add_partner, migrated_store

T0 = datetime(2027, 1, 10, 9, tzinfo=UTC)
GRACE = 7


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    made = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    add_partner(made, partner_id=7, name="Grocer")
    with made() as session:
        grocer = session.get(Partner, 7)
        assert grocer is not None
        session.add(Partner(**{c.name: getattr(grocer, c.name) for c in Partner.__table__.columns} | {
            "id": 8, "name": "Bakery", "minter": "0x" + "3" * 40, "api_key_prefix": "ck_bakery",
        }))  # fmt: skip
        for i, partner in enumerate((7, 7, 8, 8, 7)):
            customer_records.link(session, partner_id=partner, ref=f"c{i}", wallet="0x" + f"{i + 1:x}" * 40)
        session.commit()
    return made


def _plan(session: Session, owner: int, price: str, currency: str, share: str) -> int:
    return memberships.create_plan(
        session, owner_partner_id=owner, name=f"Plus {currency}", price=Decimal(price), currency=currency,
        period="monthly", trial_days=0, earn_multiplier=Decimal(1), tier_protection=False, members_only_skus=[],
        perks=[], honoured_by=[], coalition_share=Decimal(share),
    ).id  # fmt: skip


def _subscribe(session: Session, partner: int, ref: str, plan: int, at: datetime) -> int:
    customer = memberships.customer_of_ref(session, partner_id=partner, ref=ref)
    done = memberships.subscribe(
        session, partner_id=partner, customer_id=customer, plan_id=plan, now=at, grace_days=GRACE,
        provider_ref=f"pi_{ref}",
    )  # fmt: skip
    assert isinstance(done, memberships.Reported)
    return done.subscription.id


def test_the_statement_has_the_fees_reported_in_its_period_only(sessions: sessionmaker[Session]) -> None:
    start, end = T0, T0 + timedelta(days=1)  # the window: after start, at most end
    with sessions() as session:
        eur = _plan(session, 7, "9.99", "EUR", "0.1")
        usd = _plan(session, 8, "4.05", "USD", "0.15")
        _subscribe(session, 7, "c0", eur, start)  # at the window's opening: the previous period's
        inside = _subscribe(session, 7, "c1", eur, start + timedelta(hours=1))
        _subscribe(session, 8, "c2", usd, end)  # at the window's end: in it
        later = _subscribe(session, 8, "c3", usd, end + timedelta(seconds=1))  # the next period's
        memberships.report_payment(
            session, partner_id=7, subscription_id=inside, provider_ref="pi_fail", outcome="failed",
            amount=Decimal("9.99"), currency="EUR", now=start + timedelta(hours=2), grace_days=GRACE,
        )  # fmt: skip
        memberships.report_payment(
            session, partner_id=8, subscription_id=later, provider_ref="pi_c3_renewal", outcome="succeeded",
            amount=Decimal("4.05"), currency="USD", now=end + timedelta(days=31), grace_days=GRACE,
        )  # fmt: skip
        session.execute(insert(ChainEvent), [_earned(7, 100, 10_000, 5), _redeemed(8, 40, 9_000, 6)])
        session.commit()

        s = period_statement(
            session, chain_id=31337, period_id=3, from_block=5, to_block=9, token_symbol="cUSD", token_decimals=6,
            fees_after=start, fees_through=end,
        )  # fmt: skip
        fees = s["membership_fees"]
        assert fees["reported_after"] == start.isoformat() and fees["reported_through"] == end.isoformat()
        assert fees["lines"] == [
            {"currency": "EUR", "partner_id": 7, "plan_id": eur, "payments": 1, "fees": "9.99",
             "coalition_share": "1.00", "partner_net": "8.99"},
            {"currency": "USD", "partner_id": 8, "plan_id": usd, "payments": 1, "fees": "4.05",
             "coalition_share": "0.61", "partner_net": "3.44"},  # 0.6075 rounded half-up
        ]  # fmt: skip
        assert fees["sum_check"] == {
            "EUR": {"fees": "9.99", "partners_net": "8.99", "coalition_share": "1.00", "difference": "0.00"},
            "USD": {"fees": "4.05", "partners_net": "3.44", "coalition_share": "0.61", "difference": "0.00"},
        }
        assert s["sum_check"]["total"] == 0 and s["operator_net"] == 100 * 10_000 - 40 * 9_000
        rows = list(csv.reader(io.StringIO(statement_csv(s))))
        assert ["USD", "8", str(usd), "1", "4.05", "0.61", "3.44"] in rows
        assert ["EUR", "all", "", "", "9.99", "1.00", "8.99"] in rows

        human = HumanStatement(
            SettlementPeriod(period_id=3, chain_id=31337, from_block=5, to_block=9, status="settled"), s,
            {7: "Grocer", 8: "Bakery"}, start, end, "UTC",
        )  # fmt: skip
        page = period_page(human, links=False)
        assert 'data-fee-total="USD"' in page and "<td>Bakery</td>" in page and ">3.44<" in page
        bakery_only = partner_page(human, 8, links=False)
        assert 'data-fee="8-' in bakery_only and 'data-fee="7-' not in bakery_only
        named = list(csv.reader(io.StringIO(human.csv(8))))
        assert ["USD", "8", str(usd), "1", "4.05", "0.61", "3.44"] in named and ["EUR", "7"] not in [
            r[:2] for r in named
        ]

        following = period_statement(
            session, chain_id=31337, period_id=4, from_block=10, to_block=20, token_symbol="cUSD", token_decimals=6,
            fees_after=end, fees_through=end + timedelta(days=40),
        )  # fmt: skip
        assert [(f["currency"], f["payments"], f["fees"]) for f in following["membership_fees"]["lines"]] == [
            ("USD", 2, "8.10")  # the subscription a second after the window, and its renewal
        ]
        first = period_statement(
            session, chain_id=31337, period_id=1, from_block=0, to_block=4, token_symbol="cUSD", token_decimals=6,
            fees_after=None, fees_through=start,
        )  # fmt: skip
        assert [(f["partner_id"], f["fees"]) for f in first["membership_fees"]["lines"]] == [(7, "9.99")]


def _event(name: str, partner: int, block: int, args: dict) -> dict:
    return {
        "chain_id": 31337, "block_number": block, "block_hash": "0x" + "33" * 32, "block_time": 1_700_000_000 + block,
        "tx_hash": "0x" + "44" * 32, "log_index": block, "contract": "CoalitionPoints", "name": name,
        "partner_id": partner, "customer": args.get("customer"), "args": {"partnerId": partner, **args},
    }  # fmt: skip


def _earned(partner: int, points: int, rate: int, block: int) -> dict:
    return _event("Earned", partner, block, {
        "points": points, "issuePrice": rate, "batchId": 1, "root": "0x" + "00" * 32, "purchases": ["0x" + "11" * 32],
    })  # fmt: skip


def _redeemed(partner: int, points: int, rate: int, block: int) -> dict:
    return _event(
        "Redeemed", partner, block, {"points": points, "reimbursementRate": rate, "customer": "0x" + "22" * 20}
    )
