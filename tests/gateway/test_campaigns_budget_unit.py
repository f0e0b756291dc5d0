"""A purchase campaign's budget under concurrency, on SQLite and on PostgreSQL (tests/pg.py's
cluster): 500 triggers from 16 threads, each its own transaction, as gateway processes would.
The points given never exceed the budget, every award is an outbox entry of the funder at its own
award seq, and both arms are exposed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.services.campaigns_accept import CampaignsCache, apply_purchase_campaigns
from loyalty.campaigns.assignment import arm
from loyalty.campaigns.attribution import campaign_of
from network.store import Campaign, CampaignAward, CampaignExposure, CampaignSpend, OutboxPurchase
from tests.gateway.campaign_fixtures import NOW, accepted, add_campaign, add_customers
from tests.pg import PgCluster
from tests.stores import add_partner, migrated_store

TRIGGERS = 500
CUSTOMERS = 100


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path) -> sessionmaker[Session]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        url = cluster.create_database()
    sessions = migrated_store(url)
    add_partner(sessions)
    return sessions


def test_500_concurrent_triggers_never_overspend_the_budget(sessions: sessionmaker[Session]) -> None:
    customers = add_customers(sessions, CUSTOMERS)
    campaign_id = add_campaign(
        sessions, budget_points=1000, period="day", member_period_points=30, holdout_bp=1000, salt="s-500"
    )
    cache = CampaignsCache()

    def trigger(i: int) -> set[int]:
        _, wallet = customers[i % CUSTOMERS]
        with sessions() as session:
            if session.get_bind().dialect.name == "sqlite":  # as the writer: its purchases written first
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            funders = apply_purchase_campaigns(session, accepted=[accepted(wallet, f"p-{i}")], now=NOW, cache=cache)
            session.commit()
            return funders

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(trigger, range(TRIGGERS)))

    with sessions() as session:
        row = session.get(Campaign, campaign_id)
        awards = list(session.scalars(select(CampaignAward).where(CampaignAward.campaign_id == campaign_id)))
        given = sum(a.points for a in awards)
        treated = {c for c, _ in customers if arm("s-500", c, 1000) == "treatment"}
        assert row is not None and given == row.spent_points <= 1000
        assert row.awards_count == len(awards) and row.members_awarded == len({a.customer_id for a in awards})
        # each treated member gets 3 a time up to 30 a day; the budget runs out first, its last award cut to fit
        assert given == min(1000, 30 * len(treated))
        per_member = session.execute(
            select(CampaignAward.customer_id, func.sum(CampaignAward.points)).group_by(CampaignAward.customer_id)
        ).all()
        assert max(points for _, points in per_member) <= 30 and {c for c, _ in per_member} <= treated
        outbox = {o.id: o for o in session.scalars(select(OutboxPurchase).where(OutboxPurchase.partner_id == 7))}
        assert sorted(a.seq for a in awards) == sorted(o.seq for o in outbox.values())
        assert all(campaign_of(a.seq) == campaign_id and outbox[a.outbox_id].points == a.points for a in awards)
        assert len({a.seq for a in awards}) == len(awards)
        exposures = session.execute(select(CampaignExposure.arm, func.count()).group_by(CampaignExposure.arm)).all()
        counts = dict(exposures)
        assert sum(counts.values()) == TRIGGERS and counts["control"] > 0
        line = session.scalar(
            select(CampaignSpend.points).where(CampaignSpend.campaign_id == campaign_id, CampaignSpend.customer_id == 0)
        )
        assert line == given


def test_a_paused_campaign_exposes_but_gives_nothing(sessions: sessionmaker[Session]) -> None:
    ((_, wallet),) = add_customers(sessions, 1)
    campaign_id = add_campaign(sessions)
    cache = CampaignsCache()
    with sessions() as session:
        assert apply_purchase_campaigns(session, accepted=[accepted(wallet, "p-1")], now=NOW, cache=cache) == {7}
        session.commit()
    with sessions() as session:
        session.get(Campaign, campaign_id).status = "paused"  # type: ignore[union-attr]
        session.commit()
    with sessions() as session:
        assert apply_purchase_campaigns(session, accepted=[accepted(wallet, "p-2")], now=NOW, cache=cache) == set()
        session.commit()
        assert session.scalar(select(func.count()).select_from(CampaignAward)) == 1
        assert session.scalar(select(func.count()).select_from(CampaignExposure)) == 1
