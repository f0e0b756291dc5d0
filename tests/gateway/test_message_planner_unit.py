"""The message planner on a migrated SQLite store (gateway/services/message_planner.py,
message_schedule.py), fed real domain events (enrolment through the in-process app, and events as
the services write them), with a clock the test gives: one row per (occurrence, customer,
channel) whatever the replays, consent refusals, the marketing cap, quiet hours holding until
their end, the daily digest once per day and a missed day back-filled once, tier up only upwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.routes.members import session_factory
from gateway.services import message_planner, message_schedule
from gateway.services.message_planner import Policy
from loyalty.messages.policy import Cap, QuietHours
from network.store import (
    CustomerConsent,
    CustomerLink,
    CustomerWallet,
    EventCursor,
    Message,
    MessageEvent,
    MessageSuppression,
)
from network.store.events import event_row, record_many
from tests.gateway.partners import PartnerKey
from tests.pg import StoreKind

POLICY = Policy(cap=Cap(2, timedelta(days=7)), quiet=QuietHours.of("21:00", "08:00"), default_zone="UTC")
DAY = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # 12:00 in Warsaw
WARSAW_PROFILE = {"locale": "pl-PL", "time_zone": "Europe/Warsaw", "attributes": {"first_name": "Ala"}}


@pytest.fixture
def store_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """SQLite; a test that asks for ``store`` runs on SQLite and on PostgreSQL (tests/pg.py): those
    whose SQL differs between them (the conflicts ignored, the tally's upsert)."""
    if "store" not in request.fixturenames:
        return f"sqlite:///{tmp_path / 'store.db'}"
    kind: StoreKind = request.getfixturevalue("store")
    return kind.new_url(tmp_path)


@pytest.fixture
def members(app: FastAPI, sessions: sessionmaker[Session]) -> TestClient:
    app.dependency_overrides[session_factory] = lambda: sessions
    return TestClient(app)


def enrol(members: TestClient, partner: PartnerKey, ref: str, **body: Any) -> int:
    r = members.post(f"/v1/customers/{ref}/enrolment", json=body, headers=partner.headers)
    assert r.status_code == 201, r.text
    sessions = members.app.dependency_overrides[session_factory]()  # type: ignore[attr-defined]
    with sessions() as session:
        link = session.scalar(
            select(CustomerLink).where(CustomerLink.partner_id == partner.id, CustomerLink.ref == ref)
        )
        return int(link.customer_id)


def wallet_of(sessions: sessionmaker[Session], customer_id: int) -> str:
    with sessions() as session:
        return str(session.scalar(select(CustomerWallet.address).where(CustomerWallet.customer_id == customer_id)))


def events(sessions: sessionmaker[Session], *rows: dict[str, Any]) -> None:
    with sessions() as session:
        record_many(session, list(rows))
        session.commit()


def confirmed(wallet: str, points: int, at: datetime, partner: int, ref: str) -> dict[str, Any]:
    payload = {"purchase_id": ref, "status": "confirmed", "customer_wallet": wallet, "points": points}
    return event_row("purchase.confirmed", payload=payload, partner_id=partner, customer_wallet=wallet, at=at)


def messages(sessions: sessionmaker[Session], **where: Any) -> list[Message]:
    with sessions() as session:
        query = select(Message).order_by(Message.id)
        for name, value in where.items():
            query = query.where(getattr(Message, name) == value)
        return list(session.scalars(query))


def replay_everything(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.execute(update(EventCursor).where(EventCursor.consumer == "messages").values(last_id=0, gaps=[]))
        session.commit()


def consume(sessions: sessionmaker[Session], now: datetime = DAY) -> None:
    message_planner.consume(sessions, policy=POLICY, now=now)


def grant(sessions: sessionmaker[Session], customer_id: int, channel: str) -> None:
    """A coalition-scope grant (the digest and tier at risk are the coalition's), confirmed."""
    with sessions() as session:
        session.add(
            CustomerConsent(
                customer_id=customer_id,
                channel=channel,
                partner_id=None,
                granted=True,
                source="web-form",
                recorded_at=DAY - timedelta(days=30),
                confirmed_at=DAY - timedelta(days=30),
            )
        )
        session.commit()


def schedule(sessions: sessionmaker[Session], now: datetime) -> message_schedule.Scheduled:
    return message_schedule.run(sessions, policy=POLICY, now=now, backfill_days=3, at_risk_days=30)


def test_welcome_is_one_row_per_channel_in_the_customers_locale_whatever_the_replays(members, partner, sessions, store):
    alice = enrol(
        members,
        partner,
        "alice",
        email="ala@example.com",
        phone="+48600100200",
        attributes={"first_name": "Ala", "push_token": "push-tok-1"},
        locale="pl-PL",
    )
    nobody = enrol(members, partner, "bob")  # no address: no message
    consume(sessions)
    consume(sessions)
    replay_everything(sessions)
    consume(sessions)
    rows = messages(sessions, kind="welcome")
    assert sorted(m.channel for m in rows) == ["email", "push", "sms"]
    assert {(m.customer_id, m.locale, m.status, m.category, m.partner_id) for m in rows} == {
        (alice, "pl-PL", "queued", "transactional", partner.id)
    }
    assert {m.address for m in rows} == {"ala@example.com", "+48600100200", "push-tok-1"}
    assert rows[0].data["first_name"] == "Ala" and len(rows[0].data["referral_code"]) == 10
    assert not messages(sessions, customer_id=nobody)
    with sessions() as session:
        logged = session.execute(select(MessageEvent.message_id, MessageEvent.status)).all()
    assert sorted(logged) == sorted((m.id, "queued") for m in rows)  # one decision each, logged once


def test_an_opt_out_suppresses_a_transactional_message_and_a_suppressed_address_too(members, partner, sessions):
    enrol(
        members,
        partner,
        "carol",
        email="carol@example.com",
        phone="+48600100201",
        consents=[{"channel": "sms", "granted": False, "source": "pos", "scope": "coalition"}],
    )
    with sessions() as session:
        session.add(MessageSuppression(channel="email", address="carol@example.com", reason="hard-bounce"))
        session.commit()
    consume(sessions)
    rows = {m.channel: m for m in messages(sessions, kind="welcome")}
    assert (rows["sms"].status, rows["sms"].reason) == ("suppressed", "opted-out")
    assert (rows["email"].status, rows["email"].reason) == ("suppressed", "suppressed-address")


def test_trigger_events_plan_their_kinds_and_tier_up_only_upwards(members, partner, sessions):
    dan = enrol(members, partner, "dan", email="dan@example.com")
    wallet = wallet_of(sessions, dan)
    tier = {"customer_id": dan, "ladder_version": 99, "at": "2026-06-01T10:00:00Z", "multiplier": "1.5"}
    events(
        sessions,
        event_row("tier.changed", payload=tier | {"from_tier": "Member", "to_tier": "Gold", "reason": "qualified"}),
        event_row("tier.changed", payload=tier | {"from_tier": "Gold", "to_tier": "Member", "reason": "review"}),
        event_row(
            "refund.confirmed",
            payload={
                "refund_id": "r-1",
                "purchase_id": "p-1",
                "status": "confirmed",
                "amount": "19.90",
                "points": 20,
                "customer_wallet": wallet,
            },
            partner_id=partner.id,
            customer_wallet=wallet,
        ),
        event_row(
            "redemption.fulfilled",
            payload={
                "redemption_id": "rd-1",
                "status": "fulfilled",
                "sku": "COFFEE",
                "points": 300,
                "voucher_code": "V-1",
                "customer_wallet": wallet,
            },
            partner_id=partner.id,
            customer_wallet=wallet,
        ),
        event_row(
            "customer.consent_requested",
            payload={
                "customer_id": dan,
                "partner_id": partner.id,
                "consent_id": 1,
                "address": "dan.new@example.com",
                "confirm_url": "https://gw/v1/consents/confirm/T",
            },
            partner_id=partner.id,
        ),
        event_row(
            "points.expiring",
            payload={
                "customer_id": dan,
                "wallet": wallet,
                "points": 800,
                "expires_at": "2026-07-01T00:00:00Z",
                "days_before": 30,
            },
            customer_wallet=wallet,
        ),
    )
    consume(sessions)
    by_kind = {m.kind: m for m in messages(sessions, customer_id=dan)}
    assert set(by_kind) == {
        "welcome",
        "tier_up",
        "refund_done",
        "reward_ready",
        "email_confirmation",
        "points_expiring",
    }
    assert by_kind["tier_up"].data | {"tier": "Gold", "previous_tier": "Member"} == by_kind["tier_up"].data
    assert by_kind["refund_done"].data["currency"] == "EUR" and by_kind["refund_done"].data["points_reversed"] == 20
    assert by_kind["reward_ready"].data["voucher_code"] == "V-1"
    confirm = by_kind["email_confirmation"]
    assert confirm.address == "dan.new@example.com" and confirm.data["confirm_url"].endswith("/T")
    assert confirm.status == "queued"  # the unconfirmed address is the one asked about
    assert by_kind["points_expiring"].data["expires_on"] == "2026-07-01"


def test_the_daily_digest_once_per_day_after_the_customers_midnight_held_by_quiet_hours(
    members, partner, sessions, store
):
    eve = enrol(members, partner, "eve", phone="+48600100202", **WARSAW_PROFILE)
    grant(sessions, eve, "sms")
    w = wallet_of(sessions, eve)
    events(
        sessions,
        confirmed(w, 120, DAY, partner.id, "p-1"),
        confirmed(w, 30, DAY + timedelta(hours=3), partner.id, "p-2"),
        confirmed(w, 7, DAY + timedelta(hours=12), partner.id, "p-3"),
    )  # 00:00 on 2 June in Warsaw
    consume(sessions)
    consume(sessions)  # the tally counts each purchase once: the cursor moved in its transaction
    assert schedule(sessions, datetime(2026, 6, 1, 21, 59, tzinfo=UTC)).messages == 0  # 23:59 in Warsaw
    after_midnight = datetime(2026, 6, 1, 22, 15, tzinfo=UTC)  # 00:15 on 2 June in Warsaw: quiet hours
    assert schedule(sessions, after_midnight).messages == 1
    assert schedule(sessions, after_midnight + timedelta(hours=1)).messages == 0
    (digest,) = messages(sessions, kind="points_earned")
    assert digest.occurrence == f"points_earned:{eve}:2026-06-01" and digest.category == "marketing"
    assert (digest.data["points"], digest.data["purchases"], digest.data["day"]) == (150, 2, "2026-06-01")
    assert digest.status == "queued" and digest.send_after == datetime(2026, 6, 2, 6, 0, tzinfo=UTC)  # 08:00 CEST
    with sessions() as session:  # what a sender takes: queued and due
        due = select(Message.id).where(Message.status == "queued", Message.kind == "points_earned")
        assert session.scalar(due.where(Message.send_after <= datetime(2026, 6, 2, 5, 59, tzinfo=UTC))) is None
        assert session.scalar(due.where(Message.send_after <= datetime(2026, 6, 2, 6, 0, tzinfo=UTC))) == digest.id


def test_the_digest_needs_consent_and_the_cap_stops_the_third_marketing_message(members, partner, sessions):
    fay = enrol(members, partner, "fay", phone="+48600100203", email="fay@example.com")
    gus = enrol(members, partner, "gus", phone="+48600100204")  # no consent
    grant(sessions, fay, "sms")  # sms only: email stays refused (no grant)
    for n, who in enumerate((fay, gus)):
        w = wallet_of(sessions, who)
        events(sessions, *[confirmed(w, 10, DAY + timedelta(days=d), partner.id, f"p-{n}-{d}") for d in range(3)])
    consume(sessions)
    missed = datetime(2026, 6, 4, 9, 0, tzinfo=UTC)  # beat was down: three days ended since, in one run
    assert schedule(sessions, missed).digests == 6
    assert schedule(sessions, missed + timedelta(hours=1)).digests == 0  # the back-fill ran once
    sms = sorted(
        (m.data["day"], m.status, m.reason)
        for m in messages(sessions, customer_id=fay, channel="sms", kind="points_earned")
    )
    assert sms == [
        ("2026-06-01", "queued", None),
        ("2026-06-02", "queued", None),
        ("2026-06-03", "suppressed", "frequency-cap"),
    ]
    assert {m.reason for m in messages(sessions, customer_id=fay, channel="email", kind="points_earned")} == {
        "no-consent"
    }
    assert {m.reason for m in messages(sessions, customer_id=gus, kind="points_earned")} == {"no-consent"}


def test_the_message_log_shows_a_partner_its_own_messages_and_the_operator_the_rates(members, make_partner, sessions):
    from tests.gateway.partners import OPERATOR

    mine, other = make_partner(), make_partner()
    enrol(
        members,
        mine,
        "hal",
        email="hal@example.com",
        phone="+48600100205",
        consents=[{"channel": "sms", "granted": False, "source": "pos"}],
    )
    enrol(members, other, "ivy", email="ivy@example.com")
    consume(sessions)
    page = members.get("/v1/messages", headers=mine.headers, params={"limit": 1})
    assert page.status_code == 200, page.text
    first = page.json()
    assert len(first["messages"]) == 1 and first["next_cursor"] is not None
    rest = members.get("/v1/messages", headers=mine.headers, params={"cursor": first["next_cursor"]}).json()
    seen = first["messages"] + rest["messages"]
    assert {(m["customer_ref"], m["channel"]) for m in seen} == {("hal", "email"), ("hal", "sms")}
    suppressed = members.get("/v1/messages", headers=mine.headers, params={"status": "suppressed", "ref": "hal"})
    assert [m["reason"] for m in suppressed.json()["messages"]] == ["opted-out"]
    one = members.get(f"/v1/messages/{seen[0]['id']}", headers=mine.headers).json()
    assert [e["status"] for e in one["log"]] == [one["status"]]
    theirs = members.get("/v1/messages", headers=other.headers).json()["messages"][0]["id"]
    assert members.get(f"/v1/messages/{theirs}", headers=mine.headers).status_code == 404
    assert members.get("/v1/messages", headers=mine.headers, params={"ref": "ivy"}).status_code == 404
    everyone = members.get("/v1/operator/messages", headers=OPERATOR).json()["messages"]
    assert len(everyone) == 3
    stats = members.get("/v1/operator/messages/stats", headers=OPERATOR).json()["rates"]
    sms = next(r for r in stats if r["channel"] == "sms")
    assert (sms["kind"], sms["total"], sms["suppressed"], sms["suppressed_by_reason"]) == (
        "welcome",
        1,
        1,
        {"opted-out": 1},
    )
    email = next(r for r in stats if r["channel"] == "email")
    assert (email["total"], email["queued"], email["delivery_rate"]) == (2, 2, 0.0)


def test_the_log_schemas_know_every_kind() -> None:
    from typing import get_args

    from gateway.schemas_messages import Kind
    from loyalty.messages.kinds import KINDS

    assert set(get_args(Kind)) == set(KINDS)


def test_tier_at_risk_30_days_before_the_review_when_points_are_missing_once(sessions):
    from decimal import Decimal

    from gateway.services import customer_records, tier_ladders, tier_recalculation, tiers
    from loyalty.tiers import Ladder, Tier, TierPolicy

    t0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    with sessions() as session:
        ladder = Ladder((Tier("Member", 0, Decimal(1)), Tier("Silver", 100, Decimal("1.25"))))
        version = tier_ladders.propose(session, ladder=ladder, policy=TierPolicy(), now=t0)
        run = tier_recalculation.apply(session, version=version.id, now=t0)
        session.commit()
        run_id = run.id
    with sessions() as session:
        tier_recalculation.run_chunk(session, run_id=run_id, size=10)
        session.commit()
    safe, risky = "0x" + "a" * 40, "0x" + "b" * 40
    events(
        sessions,
        *[confirmed(w, 60, t0 + timedelta(minutes=m), 1, f"p-{w[-1]}-{m}") for w in (safe, risky) for m in (0, 60)],
        confirmed(safe, 150, t0 + timedelta(days=180), 1, "p-a-later"),
    )
    tiers.consume(sessions, now=t0 + timedelta(days=181))
    with sessions() as session:
        for n, w in enumerate((safe, risky)):
            customer = tiers.customer_by_wallet(session, wallet=w)
            customer_records.set_profile(session, customer_id=customer, phone=f"+4860010030{n}")
        session.commit()
        risky_id = tiers.customer_by_wallet(session, wallet=risky)
    grant(sessions, risky_id, "sms")
    review = t0 + timedelta(hours=1) + timedelta(days=365)  # a year after Silver was reached
    early = message_schedule.tiers_at_risk(
        sessions, policy=POLICY, now=review - timedelta(days=40), at_risk_days=30, backfill_days=3
    )
    assert early == (0, 0)
    now = review - timedelta(days=29)  # beat missed a day: still told, once
    assert message_schedule.tiers_at_risk(sessions, policy=POLICY, now=now, at_risk_days=30, backfill_days=3) == (1, 1)
    assert message_schedule.tiers_at_risk(sessions, policy=POLICY, now=now, at_risk_days=30, backfill_days=3) == (0, 0)
    (told,) = messages(sessions, kind="tier_at_risk")
    assert told.customer_id == risky_id and told.occurrence == f"tier_at_risk:{risky_id}:{review.date().isoformat()}"
    assert (told.data["tier"], told.data["review_on"], told.status) == ("Silver", review.date().isoformat(), "queued")
    assert told.data["points_missing"] > 0
