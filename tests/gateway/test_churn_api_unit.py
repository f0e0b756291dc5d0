"""The operator's churn routes, the member page's churn panel and the customer's
``/v1/me/recommendations``, in process on a migrated SQLite store filled by bench/analytics_data.py
(the figures themselves are checked against references in test_churn_store_unit.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.analytics_data import fill, wallet
from gateway.services import dashboard_members, dashboard_members_view, wallet_auth
from gateway.settings import GatewaySettings
from gateway.tasks import churn as churn_tasks
from gateway.tasks import context
from gateway.tasks.app import beat_schedule
from network.store import ChurnScore, Customer, Member, Redemption, Reward
from tests.gateway.partners import OPERATOR
from tests.problems import assert_problem

NOW = datetime.now(UTC).replace(microsecond=0)  # the beat task reads the clock
YESTERDAY = (NOW.date() - timedelta(days=1)).isoformat()


def _redeem(session: Session, n: int, customer: int, reward: int, status: str = "burned") -> None:
    session.add(Redemption(
        partner_id=1, redemption_id=f"r{n}", request_hash="0" * 64, reward_id=reward, sku="s", quantity=1,
        points=10, stock_reserved=False, customer_wallet=wallet(customer), ref=f"0x{n:064x}", nonce=str(n),
        deadline=0, signature=b"", status=status,
    ))  # fmt: skip


def test_churn_routes_the_member_panel_and_recommendations(
    client: TestClient, sessions: sessionmaker[Session], settings: GatewaySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_problem(client.get("/v1/operator/analytics/churn-model", headers=OPERATOR), "not-found")
    with sessions() as session:
        fill(session, members=150, partners=2, purchases_per_member=6, end=NOW, days=200, seed=7)
    worker = settings.model_copy(update={"churn_days": 45})
    monkeypatch.setattr(context, "settings", lambda: worker)
    monkeypatch.setattr(context, "sessions", lambda: sessions)
    assert "churn-model" in beat_schedule(worker)
    done = churn_tasks.train_and_score()
    assert done["trained"] and done["scored"]
    assert churn_tasks.train_and_score() == {"model_id": done["model_id"], "trained": False, "scored": None}

    model = client.get("/v1/operator/analytics/churn-model", headers=OPERATOR)
    assert model.status_code == 200, model.text
    m = model.json()
    assert m["churn_days"] == 45 and m["id"] == done["model_id"] and m["scored_day"] == YESTERDAY
    assert set(m["coefficients"]) == {"recency_days", "frequency", "recent_purchases", "monetary_points",
                                      "partners_visited", "tenure_days", "tier_level"}  # fmt: skip
    assert m["auc"] is not None and 0 <= m["auc"] <= 1
    assert client.get("/v1/operator/analytics/churn-model").status_code == 401

    with sessions() as session:
        scored = session.scalars(select(ChurnScore).order_by(ChurnScore.risk.desc())).first()
        assert scored is not None
    one = client.get(f"/v1/operator/members/{scored.customer_id}/churn", headers=OPERATOR)
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["churn_risk"] == scored.risk and body["day"] == YESTERDAY and body["model"]["id"] == done["model_id"]
    logit = body["model"]["intercept"] + sum(c["contribution"] for c in body["contributions"])
    assert 1 / (1 + math.exp(-logit)) == pytest.approx(scored.risk, abs=1e-12)
    top = body["contributions"][0]
    assert top["contribution"] == pytest.approx(top["coefficient"] * top["standardized"])
    assert_problem(client.get("/v1/operator/members/999999/churn", headers=OPERATOR), "not-found")

    with sessions() as session:  # the dashboard's member page: risk, the model's AUC, the top features
        html = dashboard_members_view.member_page(
            dashboard_members.member_page(session, customer_id=scored.customer_id, now=NOW), tz="UTC"
        )
        assert f'data-figure="churn-risk" data-value="{scored.risk:.6f}"' in html
        assert f'data-figure="churn-auc" data-value="{m["auc"]:.6f}"' in html
        assert f'data-feature="{top["feature"]}"' in html and html.count("data-feature=") == 3
        session.add(Customer(id=500, created_at=NOW))
        session.add(Member(customer_id=500, enrolled_at=NOW))  # never bought: no score
        session.flush()
        unscored = dashboard_members.member_page(session, customer_id=500, now=NOW)
        assert unscored.churn is None
        assert 'id="churn-none"' in dashboard_members_view.member_page(unscored, tz="UTC")
        session.rollback()

    with sessions() as session:  # rewards: 1 and 2 go together; 3 is redeemed alone; 4 is inactive
        rewards = [Reward(partner_id=1, sku=f"k{i}", name=f"Gift {i}", points=10 * i, active=i != 4)
                   for i in range(1, 5)]  # fmt: skip
        session.add_all(rewards)
        session.flush()
        r1, r2, r3, r4 = (r.id for r in rewards)
        n = 0
        for c, items in {1: (r1, r2), 2: (r1, r2, r4), 3: (r1, r3), 4: (r2,), 5: (r1,)}.items():
            for r in items:
                n += 1
                _redeem(session, n, c, r)
        _redeem(session, 99, 5, r3, status="failed")  # a failed redemption is not a redemption
        token, _ = wallet_auth.open_session(session, settings, wallet(5))
        session.commit()
    me = {"Authorization": f"Bearer {token}"}
    got = client.get("/v1/me/recommendations", headers=me)
    assert got.status_code == 200, got.text
    rewards_json = got.json()["rewards"]
    # n(1) = 4, n(2) = 3, n(3) = 1, co(1,2) = 2, co(1,3) = 1: 2 / sqrt(12) > 1 / sqrt(4)? 0.577 > 0.5
    assert [(r["reward_id"], r["because"]) for r in rewards_json] == [(r2, ["Gift 1"]), (r3, ["Gift 1"])]
    assert rewards_json[0]["score"] == pytest.approx(2 / math.sqrt(12))
    assert [r["reward_id"] for r in client.get("/v1/me/recommendations?limit=1", headers=me).json()["rewards"]] == [r2]
    assert client.get("/v1/me/recommendations").status_code == 401
