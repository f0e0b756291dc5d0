"""The analytics API: a partner reads its own KPIs and RFM segments (a customer by its ref), the
operator the coalition's or any partner's; bad periods and unknown customers are problems."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from bench.analytics_data import wallet
from gateway.services import rfm
from gateway.settings import GatewaySettings
from gateway.tasks import analytics as analytics_tasks
from gateway.tasks import context
from gateway.tasks.app import beat_schedule
from network.store import (
    Customer,
    CustomerLink,
    CustomerWallet,
    LedgerEntry,
    Member,
    OutboxPurchase,
    Purchase,
    PurchaseStatus,
)
from tests.gateway.partners import OPERATOR, PartnerKey
from tests.problems import assert_problem

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


def _member_buying(sessions: sessionmaker[Session], partner_id: int, c: int, amounts: list[str]) -> None:
    at = datetime.combine(YESTERDAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    with sessions() as s:
        s.execute(insert(Customer), [{"id": c, "created_at": at}])
        s.execute(insert(CustomerWallet), [{"address": wallet(c), "customer_id": c}])
        s.execute(insert(Member), [{"customer_id": c, "enrolled_at": at}])
        s.execute(
            insert(CustomerLink),
            [{"partner_id": partner_id, "ref": f"card-{c}", "wallet": wallet(c), "customer_id": c}],
        )
        for i, amount in enumerate(amounts):
            pk = c * 100 + i
            s.execute(insert(OutboxPurchase), [{
                "id": pk, "partner_id": partner_id, "seq": pk, "customer": wallet(c), "points": 10,
                "status": PurchaseStatus.MINTED, "attempts": 0,
            }])  # fmt: skip
            s.execute(insert(Purchase), [{
                "id": pk, "partner_id": partner_id, "purchase_id": f"p{pk}", "request_hash": "0", "seq": pk,
                "customer_wallet": wallet(c), "amount": Decimal(amount), "currency": "EUR", "points": 10, "rule": {},
                "purchased_at": at, "outbox_id": pk,
            }])  # fmt: skip
            s.execute(insert(LedgerEntry), [{
                "chain_id": 31337, "block_number": pk, "block_time": int(at.timestamp()), "tx_hash": "0x",
                "log_index": 0, "item": 0, "kind": "earned", "customer": wallet(c), "partner_id": partner_id,
                "seq": pk, "points": 10,
            }])  # fmt: skip
        s.commit()


def test_a_partner_reads_its_own_figures_and_the_operator_everyones(
    client: TestClient, sessions: sessionmaker[Session], make_partner: Callable[..., PartnerKey]
) -> None:
    a, b = make_partner(), make_partner()
    _member_buying(sessions, a.id, 1, ["10", "20"])
    _member_buying(sessions, a.id, 2, ["5"])
    _member_buying(sessions, b.id, 3, ["7", "7", "7"])
    rfm.snapshot(sessions, day=YESTERDAY)

    answer = client.get("/v1/analytics/kpis", headers=a.headers)
    assert answer.status_code == 200, answer.text
    k = answer.json()
    assert (k["from"], k["to"]) == ((YESTERDAY - timedelta(days=29)).isoformat(), YESTERDAY.isoformat())
    assert (k["partner_id"], k["members_enrolled"], k["purchases"], k["buyers"]) == (a.id, 2, 3, 2)
    assert k["average_basket"] == {"EUR": "11.67"} and k["repeat_purchase_rate"] == 0.5
    assert (k["points_issued"], k["outstanding_points"], k["points_expired"]) == (30, 30, None)

    day = YESTERDAY.isoformat()
    coalition = client.get(f"/v1/operator/analytics/kpis?from={day}&to={day}", headers=OPERATOR).json()
    assert (coalition["partner_id"], coalition["purchases"], coalition["buyers"], coalition["points_expired"]) == (
        None,
        6,
        3,
        0,
    )
    assert client.get(f"/v1/operator/analytics/kpis?partner_id={b.id}", headers=OPERATOR).json()["purchases"] == 3

    segments = client.get("/v1/analytics/rfm?ref=card-1", headers=a.headers).json()
    assert (segments["scope"], segments["partner_id"], segments["day"], segments["members"]) == (
        "partner",
        a.id,
        day,
        2,
    )
    assert sum(segments["sizes"].values()) == 2 and len(segments["sizes"]) == 11
    # member 1: 2 purchases, 30 EUR against member 2's 1 and 5: ranks 1 of 2 -> scores 1 + 5 * 1 // 2 = 3
    assert segments["member"] | {"day": None} == {
        "customer_id": 1, "day": None, "recency_days": 0, "frequency": 2, "monetary": "30.0000",
        "r": 1, "f": 3, "m": 3, "segment": "At risk",
    }  # fmt: skip
    everyone = client.get("/v1/operator/analytics/rfm?customer_id=3", headers=OPERATOR).json()
    assert (everyone["scope"], everyone["members"], everyone["member"]["monetary"]) == ("coalition", 3, "30.0000")


def test_problems(client: TestClient, partner: PartnerKey) -> None:
    assert_problem(client.get("/v1/analytics/kpis"), "unauthorized")
    assert_problem(client.get("/v1/operator/analytics/kpis", headers=partner.headers), "unauthorized")
    reversed_period = client.get("/v1/analytics/kpis?from=2026-02-01&to=2026-01-01", headers=partner.headers)
    assert_problem(reversed_period, "validation-error")
    assert_problem(client.get("/v1/analytics/kpis?from=yesterday", headers=partner.headers), "validation-error")
    assert_problem(client.get("/v1/analytics/rfm?ref=nobody", headers=partner.headers), "not-found")
    assert_problem(client.get("/v1/operator/analytics/rfm?customer_id=9", headers=OPERATOR), "not-found")
    empty = client.get("/v1/analytics/rfm", headers=partner.headers).json()  # no snapshot yet
    assert (empty["day"], empty["members"], empty["member"]) == (None, 0, None)


def test_the_beat_task_snapshots_yesterday_once(
    monkeypatch: pytest.MonkeyPatch,
    settings: GatewaySettings,
    sessions: sessionmaker[Session],
    make_partner: Callable[..., PartnerKey],
) -> None:
    a = make_partner()
    _member_buying(sessions, a.id, 1, ["10"])
    monkeypatch.setattr(context, "settings", lambda: settings)
    monkeypatch.setattr(context, "sessions", lambda: sessions)
    assert analytics_tasks.snapshot() == {"scopes": 2, "members": 2, "changes": 0}  # the coalition and the partner
    assert analytics_tasks.snapshot() == {"scopes": 0, "members": 0, "changes": 0}  # done: nothing again
    with sessions() as s:
        assert rfm.latest_day(s, scope=a.id) == YESTERDAY
    assert "rfm-snapshot" in beat_schedule(settings)
