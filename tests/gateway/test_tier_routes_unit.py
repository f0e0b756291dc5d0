"""The tier routes in process (TestClient) on a migrated SQLite store: the operator's ladder, dry
run, recalculation and manual tiers with their problem types; a partner reads only its own
customers' tiers; a customer reads their progress on /v1/me/tier; a tier change becomes a
webhook for each partner with a ref of the member. No chain: confirmed purchases are the domain
events the sender writes, inserted as rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.chain import get_chain
from gateway.deps import get_session
from gateway.main import create_app
from gateway.routes.tiers import get_enqueue, get_publish
from gateway.services import tier_recalculation, tiers, webhooks
from gateway.settings import LOCAL_OPERATOR_TOKEN, GatewaySettings, get_settings
from network.store import WebhookDelivery, WebhookEndpoint, utcnow
from network.store.events import event_row, record_many
from tests.fakes import CHAIN_ID
from tests.gateway.customers import Api, customer_key, partner_headers
from tests.gateway.partners import PUBLIC_URL
from tests.problems import assert_problem
from tests.stores import migrated_store

OPERATOR_HEADERS = {"Authorization": f"Bearer {LOCAL_OPERATOR_TOKEN}"}
LADDER = {
    "tiers": [
        {"name": "Member", "threshold": 0, "multiplier": "1"},
        {"name": "Silver", "threshold": 100, "multiplier": "1.25"},
        {"name": "Gold", "threshold": 200, "multiplier": "1.5"},
    ],
    "policy": {"window": "rolling_12_months", "review": {"kind": "anniversary"}, "grace_days": 30},
}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    settings = GatewaySettings(
        state_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/gateway.db", public_url=PUBLIC_URL, chain_id=CHAIN_ID
    )
    sessions = migrated_store(settings.database_url)

    def session_dep() -> Iterator[Session]:
        with sessions() as session:
            yield session

    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_session] = session_dep
    app.dependency_overrides[get_chain] = lambda: SimpleNamespace()
    app.dependency_overrides[get_enqueue] = lambda: lambda run_id: True  # the test runs the chunks itself
    app.dependency_overrides[get_publish] = lambda: lambda event_ids: None  # no broker: webhooks.publish is called
    a, b = partner_headers(sessions, 1, "Grocer"), partner_headers(sessions, 2, "Books")
    with TestClient(app) as client:
        yield Api(client, sessions, settings, {}, a, b)


def apply(api: Api) -> None:
    put = api.client.put("/v1/operator/tiers/ladder", headers=OPERATOR_HEADERS, json=LADDER)
    assert put.status_code == 201, put.text
    run = api.client.post(
        "/v1/operator/tiers/recalculations", headers=OPERATOR_HEADERS, json={"version": put.json()["version"]}
    )
    assert run.status_code == 202 and run.json()["status"] == "running", run.text
    with api.sessions() as session:
        assert tier_recalculation.run_chunk(session, run_id=run.json()["id"])[0]
        session.commit()
    done = api.client.get(f"/v1/operator/tiers/recalculations/{run.json()['id']}", headers=OPERATOR_HEADERS)
    assert done.json()["status"] == "done"


def confirm(api: Api, wallet: str, points: int, purchase_id: str = "p-1") -> None:
    payload = {"purchase_id": purchase_id, "status": "confirmed", "customer_wallet": wallet, "points": points}
    with api.sessions() as session:
        record_many(session, [event_row("purchase.confirmed", payload=payload, partner_id=1, customer_wallet=wallet)])
        session.commit()
    tiers.consume(api.sessions, now=utcnow() + timedelta(seconds=1))


def test_without_a_ladder_reads_say_so_and_a_bad_ladder_is_refused_with_its_reason(api: Api) -> None:
    assert_problem(api.client.get("/v1/operator/tiers/ladder", headers=OPERATOR_HEADERS), "tier-ladder-not-set")
    bad = {**LADDER, "tiers": [{"name": "Member", "threshold": 10}]}
    answer = api.client.put("/v1/operator/tiers/ladder", headers=OPERATOR_HEADERS, json=bad)
    assert_problem(answer, "tier-ladder-invalid")
    assert "at 0 points" in answer.json()["detail"]
    assert api.client.get("/v1/operator/tiers/ladder").status_code == 401


def test_a_partner_reads_its_own_customers_tier_and_the_customer_their_progress(api: Api) -> None:
    apply(api)
    alice = customer_key("alice")
    assert api.link(api.a, "alice", alice).status_code == 200
    confirm(api, alice.address, 150)
    seen = api.client.get("/v1/customers/alice/tier", headers=api.a)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert (body["tier"], body["multiplier"], body["points_to_next"], body["customer_ref"]) == (
        "Silver",
        "1.25",
        50,
        "alice",
    )
    assert_problem(api.client.get("/v1/customers/alice/tier", headers=api.b), "not-found")  # not B's customer
    mine = api.client.get("/v1/me/tier", headers=api.sign_in(alice)).json()
    assert (mine["tier"], mine["qualifying_points"], mine["next_tier"]) == ("Silver", 150, "Gold")
    assert mine["review_at"] is not None and mine["decided_at"] is not None
    stranger = api.client.get("/v1/me/tier", headers=api.sign_in(customer_key("bob"))).json()
    assert (stranger["tier"], stranger["customer_id"]) == ("Member", None)


def test_the_operator_sets_a_manual_tier_with_an_end_and_ends_it(api: Api) -> None:
    apply(api)
    alice = customer_key("alice")
    api.link(api.a, "alice", alice)
    confirm(api, alice.address, 150)
    customer = api.client.get("/v1/customers/alice/tier", headers=api.a).json()["customer_id"]
    path = f"/v1/operator/tiers/members/{customer}/manual"
    until = (utcnow() + timedelta(days=30)).isoformat()
    unknown = api.client.put(path, headers=OPERATOR_HEADERS, json={"tier": "Diamond", "until": until})
    assert_problem(unknown, "tier-unknown")
    past = api.client.put(path, headers=OPERATOR_HEADERS, json={"tier": "Gold", "until": "2020-01-01T00:00:00Z"})
    assert_problem(past, "manual-tier-end-invalid")
    gold = api.client.put(path, headers=OPERATOR_HEADERS, json={"tier": "Gold", "until": until})
    assert gold.status_code == 200, gold.text
    assert (gold.json()["tier"], gold.json()["earned"]) == ("Gold", "Silver")
    assert [c["reason"] for c in gold.json()["changes"]] == ["manual", "qualified"]
    ended = api.client.delete(path, headers=OPERATOR_HEADERS).json()
    assert (ended["tier"], ended["manual_until"]) == ("Silver", None)
    assert_problem(api.client.get("/v1/operator/tiers/members/999", headers=OPERATOR_HEADERS), "not-found")


def test_a_dry_run_lists_who_would_move(api: Api) -> None:
    apply(api)
    alice = customer_key("alice")
    api.link(api.a, "alice", alice)
    confirm(api, alice.address, 150)
    lower = {**LADDER, "tiers": [LADDER["tiers"][0], LADDER["tiers"][1], {**LADDER["tiers"][2], "threshold": 120}]}
    seen = api.client.post("/v1/operator/tiers/dry-run", headers=OPERATOR_HEADERS, json=lower)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert (body["up"], body["down"], body["unchanged"]) == (1, 0, 0)
    assert body["moving_up"] == [{"customer_id": 1, "from_tier": "Silver", "to_tier": "Gold"}]
    assert body["summary"].startswith("1 of 1 member would move up, 0 down")


def test_a_tier_change_is_a_webhook_to_each_partner_with_a_ref_of_the_member(api: Api) -> None:
    apply(api)
    alice = customer_key("alice")
    api.link(api.a, "alice-at-a", alice)
    with api.sessions() as session:
        for partner_id in (1, 2):  # both listen; only A knows alice
            session.add(
                WebhookEndpoint(
                    partner_id=partner_id,
                    url="https://hooks.coalition-partner.com/in",
                    event_types=["tier.changed"],
                    secret_encrypted=b"",
                    status="active",
                )
            )
        session.commit()
    confirm(api, alice.address, 250)
    webhooks.publish(api.sessions)
    with api.sessions() as session:
        deliveries = list(session.scalars(select(WebhookDelivery)))
    assert [(d.partner_id, d.event_type) for d in deliveries] == [(1, "tier.changed")]
    data = deliveries[0].payload["data"]
    assert (data["customer_ref"], data["from_tier"], data["to_tier"], data["reason"]) == (
        "alice-at-a",
        "Member",
        "Gold",
        "qualified",
    )
