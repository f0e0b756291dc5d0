"""Campaigns' scheduled and transition triggers (gateway/services/campaigns_scheduled.py), on SQLite
and on PostgreSQL (tests/pg.py's cluster): a birthday, a win-back lapse and a segment entered each
fire once per occurrence however many runs see them, a day the beat missed is done by a later run
(once), nothing fires for days before the campaign started, both arms are exposed and only the
treatment arm is awarded, within the budget, through the accept path's award (the funder's outbox
at the campaign's award seqs)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.services.campaigns_scheduled import CONSUMER, TriggersRun, run_due
from gateway.tasks import campaigns as campaign_tasks
from gateway.tasks import context
from gateway.tasks.app import beat_schedule
from loyalty.campaigns.assignment import arm
from loyalty.campaigns.attribution import campaign_of
from network.store import (
    CampaignAward,
    CampaignExposure,
    CustomerProfile,
    EventCursor,
    Member,
    MemberPartnerTotal,
    OutboxPurchase,
)
from network.store.events import event_row, record_many
from tests.gateway.campaign_fixtures import add_campaign, add_customers
from tests.pg import PgCluster
from tests.stores import add_partner, migrated_store

CHAIN = 31337
FIXED = [{"kind": "bonus_points", "mode": "fixed", "points": 10}]


def due(sessions: sessionmaker[Session], *, now: datetime, backfill_days: int = 7) -> TriggersRun:
    return run_due(sessions, now=now, backfill_days=backfill_days, chain_id=CHAIN)


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


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


def exposures(sessions: sessionmaker[Session], campaign_id: int) -> list[tuple[int, str, str]]:
    with sessions() as session:
        rows = session.execute(
            select(CampaignExposure.customer_id, CampaignExposure.trigger_ref, CampaignExposure.arm)
            .where(CampaignExposure.campaign_id == campaign_id)
            .order_by(CampaignExposure.id)
        ).all()
    return [tuple(r) for r in rows]


def awards(sessions: sessionmaker[Session], campaign_id: int) -> list[tuple[int, int, int]]:
    with sessions() as session:
        rows = session.execute(
            select(CampaignAward.customer_id, CampaignAward.points, CampaignAward.seq)
            .where(CampaignAward.campaign_id == campaign_id)
            .order_by(CampaignAward.id)
        ).all()
    return [tuple(r) for r in rows]


def test_a_birthday_fires_once_a_year_and_a_missed_day_is_back_filled_once(sessions) -> None:
    (c0, _), (c1, _), (c2, _) = add_customers(sessions, 3)
    with sessions() as session:
        for customer, born in ((c0, date(1990, 11, 20)), (c1, date(1985, 11, 22)), (c2, date(2000, 12, 25))):
            session.add(CustomerProfile(customer_id=customer, birthday=born, attributes={}))
        session.commit()
    cid = add_campaign(
        sessions, trigger_type="birthday", effects=FIXED, budget_points=1000, started_at=at("2026-10-01")
    )
    late = add_campaign(sessions, trigger_type="birthday", effects=FIXED, started_at=at("2026-11-21", 0))

    assert due(sessions, now=at("2026-11-20")).exposed == 1
    assert due(sessions, now=at("2026-11-20", 18)).exposed == 0  # the same day again
    assert exposures(sessions, cid) == [(c0, "birthday:2026", "treatment")]
    # the 21st and 22nd are missed; the 23rd's run does the 22nd, and not the 20th again
    done = due(sessions, now=at("2026-11-23"))
    assert done.funders == {7}
    assert exposures(sessions, cid) == [(c0, "birthday:2026", "treatment"), (c1, "birthday:2026", "treatment")]
    assert exposures(sessions, late) == [(c1, "birthday:2026", "treatment")]  # nothing before it started
    assert due(sessions, now=at("2026-11-23", 20), backfill_days=30).exposed == 0
    given = awards(sessions, cid)
    assert [(c, p) for c, p, _ in given] == [(c0, 10), (c1, 10)]
    assert {campaign_of(seq) for _, _, seq in given} == {cid}
    with sessions() as session:
        minted = session.scalars(select(OutboxPurchase.seq).where(OutboxPurchase.partner_id == 7)).all()
    assert {seq for _, _, seq in given} <= set(minted)

    assert due(sessions, now=at("2027-11-20")).exposed == 2  # both campaigns, a year on
    assert exposures(sessions, cid)[-1] == (c0, "birthday:2027", "treatment")


def test_a_win_back_fires_once_per_lapse(sessions) -> None:
    (c0, _), (c1, _), (c2, _) = add_customers(sessions, 3)

    def last_purchase(customer: int, when: datetime) -> None:
        with sessions() as session:
            session.merge(
                MemberPartnerTotal(
                    customer_id=customer, partner_id=7, first_at=when, last_at=when, purchases=1, units=1, points=1
                )
            )
            session.commit()

    last_purchase(c0, at("2026-10-20"))  # 30 days without a purchase on 2026-11-19
    last_purchase(c1, at("2026-11-10"))  # not lapsed yet
    last_purchase(c2, at("2025-01-01"))  # lapsed long before the campaign
    cid = add_campaign(
        sessions, trigger_type="win_back", trigger_params={"days": 30}, effects=FIXED, started_at=at("2026-11-01")
    )
    assert due(sessions, now=at("2026-11-23")).exposed == 1
    assert due(sessions, now=at("2026-11-24")).exposed == 0
    assert exposures(sessions, cid) == [(c0, "win_back:2026-11-19", "treatment")]
    last_purchase(c0, at("2026-11-22"))  # came back, then lapsed again on 2026-12-22
    assert due(sessions, now=at("2026-12-12")).exposed == 1  # c1 lapsed on 2026-12-10
    assert due(sessions, now=at("2026-12-24")).exposed == 1
    assert exposures(sessions, cid)[1:] == [
        (c1, "win_back:2026-12-10", "treatment"),
        (c0, "win_back:2026-12-22", "treatment"),
    ]
    assert [c for c, _, _ in awards(sessions, cid)] == [c0, c1, c0]


def test_a_segment_entered_exposes_both_arms_once_and_stays_within_budget(sessions) -> None:
    customers = [c for c, _ in add_customers(sessions, 40)]
    cid = add_campaign(
        sessions,
        trigger_type="segment_entered",
        trigger_params={"segment": "At risk"},
        effects=FIXED,
        budget_points=50,
        holdout_bp=5000,
        salt="seg-salt",
        started_at=at("2026-11-01"),
    )
    now = at("2026-11-23")
    payload = {"scope": "coalition", "day": "2026-11-22", "from": "Loyal", "to": "At risk"}
    with sessions() as session:
        rows = [event_row("segment.changed", payload=payload | {"customer_id": c}, at=now) for c in customers]
        rows.append(event_row("segment.changed", payload=payload | {"customer_id": customers[0], "scope": "partner"},
                              partner_id=7, at=now))  # fmt: skip
        rows.append(event_row("segment.changed", payload=payload | {"customer_id": customers[1], "to": "Champions"},
                              at=now))  # fmt: skip
        record_many(session, rows)
        session.commit()

    done = due(sessions, now=now)
    assert (done.events, done.exposed) == (42, 40)
    seen = exposures(sessions, cid)
    assert {(c, side) for c, _, side in seen} == {(c, arm("seg-salt", c, 5000)) for c in customers}
    treated = {c for c, _, side in seen if side == "treatment"}
    assert treated and len(treated) < 40  # both arms
    given = awards(sessions, cid)
    assert {c for c, _, _ in given} <= treated
    assert sum(p for _, p, _ in given) == min(50, 10 * len(treated))

    assert due(sessions, now=now).events == 0
    with sessions() as session:  # the events handed over again (a run that rolled back): nothing twice
        session.execute(update(EventCursor).where(EventCursor.consumer == CONSUMER).values(last_id=0))
        session.commit()
    again = due(sessions, now=now + timedelta(hours=1))
    assert (again.events, again.exposed) == (42, 0)
    assert awards(sessions, cid) == given


def test_an_audience_condition_narrows_who_a_scheduled_trigger_exposes(sessions) -> None:
    (fr, _), (de, _), (nobody, _) = add_customers(sessions, 3)
    with sessions() as session:
        for customer, locale in ((fr, "fr-FR"), (de, "de-DE"), (nobody, "fr-FR")):
            session.add(
                CustomerProfile(customer_id=customer, birthday=date(1990, 11, 23), locale=locale, attributes={})
            )
        session.add_all([Member(customer_id=fr), Member(customer_id=de)])  # ``nobody`` is not enrolled
        session.commit()
    audience = {"field": "locale", "op": "=", "value": "fr-FR"}
    cid = add_campaign(
        sessions, trigger_type="birthday", effects=FIXED, conditions={"audience": audience}, started_at=at("2026-11-01")
    )
    assert due(sessions, now=at("2026-11-23")).exposed == 1
    assert exposures(sessions, cid) == [(fr, "birthday:2026", "treatment")]


@pytest.fixture
def one_store(tmp_path) -> sessionmaker[Session]:
    sessions = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    add_partner(sessions)
    return sessions


def test_the_beat_runs_the_triggers_at_its_setting(one_store, settings, monkeypatch) -> None:
    sessions = one_store
    worker = settings.model_copy(update={"campaign_triggers_every_s": 42.0})
    entry = beat_schedule(worker)["campaign-triggers"]
    assert (entry["task"], entry["schedule"]) == ("gateway.tasks.campaigns.fire_due", 42.0)
    (c0, _), = add_customers(sessions, 1)  # fmt: skip
    today = datetime.now(UTC).date()
    with sessions() as session:
        session.add(CustomerProfile(customer_id=c0, birthday=today.replace(year=1999) if (today.month, today.day)
                                    != (2, 29) else date(2000, 2, 29), attributes={}))  # fmt: skip
        session.commit()
    add_campaign(sessions, trigger_type="birthday", effects=FIXED, started_at=datetime.now(UTC) - timedelta(days=1))
    drained: list[int] = []
    monkeypatch.setattr(context, "settings", lambda: worker)
    monkeypatch.setattr(context, "sessions", lambda: sessions)
    monkeypatch.setattr(campaign_tasks.enqueue, "drain_partner", drained.append)
    assert campaign_tasks.fire_due()["exposed"] == 1
    assert drained == [7]
    assert campaign_tasks.fire_due()["exposed"] == 0
