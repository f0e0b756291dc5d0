"""Who may spend a custodial customer's points (issue 13, finding 1), in process, without a chain
or a broker.

Fakes, said once: the points contract is ``FakePoints`` of tests/fakes.py (balances and used
nonces in dicts; EIP-712 signatures are real and recovered by the real code), the Celery enqueue
is a list. The app runs on a fresh SQLite store migrated by the real migrations (the fixtures of
tests/conftest.py); custodial wallets are made by the real route, with real sealed keys.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import customer_records
from gateway.services import redemptions as service
from gateway.settings import GatewaySettings
from network.signatures import RedeemConsent, recover_redeem_signer
from network.store import Redemption, utcnow
from tests.fakes import CHAIN_ID, POINTS_ADDRESS, FakePoints
from tests.gateway.partners import PartnerKey
from tests.gateway.redemptions import add_reward, customer_key, redemptions_of, run_concurrently, signed_body, stock_of
from tests.problems import assert_problem

LIMIT = 25  # points of one custodial wallet per 24 h, in these tests


@pytest.fixture
def settings(settings: GatewaySettings) -> GatewaySettings:
    return settings.model_copy(
        update={
            "custodial_daily_points_limit": LIMIT,
            "custodial_release_notice_s": 0,  # the release's notice period: test_custodial_release_unit.py
        }
    )


def custodial(client: TestClient, partner: PartnerKey, ref: str) -> str:
    r = client.post(f"/v1/customers/{ref}/custodial-wallet", headers=partner.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["wallet"])


def no_consent(redemption_id: str, **customer: str) -> dict[str, Any]:
    return {"redemption_id": redemption_id, "sku": "COFFEE", "customer": customer}


def post(client: TestClient, partner: PartnerKey, body: dict[str, Any]) -> Any:
    return client.post("/v1/redemptions", headers=partner.headers, json=body)


def test_another_partner_cannot_spend_a_custodial_wallet_and_cannot_tell_it_is_custodial(
    client: TestClient, make_partner: Any, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    custodian, other = make_partner(), make_partner()
    for p in (custodian, other):
        add_reward(client, p, "COFFEE", points=10, stock=5)
    wallet = custodial(client, custodian, "carol")
    stranger = customer_key("stranger").address  # a wallet the gateway holds no key for
    points.balances[wallet] = points.balances[stranger] = 100
    # by wallet, without a consent: the very answer an unknown wallet gets, nothing stored
    held = post(client, other, no_consent("steal-1", wallet=wallet))
    unknown = post(client, other, no_consent("steal-1", wallet=stranger))
    assert_problem(held, "consent-required")
    assert (held.status_code, held.json()) == (unknown.status_code, unknown.json())
    # the custodian itself by wallet: the same (it names its customers by its own ref)
    assert post(client, custodian, no_consent("by-wallet", wallet=wallet)).json() == unknown.json()
    # with a consent someone signed: refused as for any wallet (the signer is not the wallet)
    forged = signed_body(other, customer_key("stranger"), "steal-2", points=10)
    forged["customer"] = {"wallet": wallet}
    assert_problem(post(client, other, forged), "invalid-signature")
    # a ref of another partner linked to the custodial wallet (no route makes one; a store edit
    # could): still not the custodian, the same answer
    with sessions() as session:
        customer_records.link(session, partner_id=other.id, ref="carol-too", wallet=wallet)
        session.commit()
    linked = post(client, other, no_consent("steal-3", ref="carol-too"))
    assert (linked.status_code, linked.json()) == (unknown.status_code, unknown.json())
    assert redemptions_of(sessions, other.id) == [] and redemptions_of(sessions, custodian.id) == []
    assert stock_of(sessions, other.id, "COFFEE") == 5


def test_the_custodian_spends_by_its_own_ref_with_the_gateways_signature(
    client: TestClient, make_partner: Any, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    custodian = make_partner()
    add_reward(client, custodian, "COFFEE", points=10, stock=5)
    wallet = custodial(client, custodian, "dora")
    points.balances[wallet] = 100
    r = post(client, custodian, no_consent("r-1", ref="dora"))
    assert r.status_code == 202, r.text
    assert (r.json()["custodial"], r.json()["customer_wallet"]) == (True, wallet)
    [stored] = redemptions_of(sessions, custodian.id)
    consent = RedeemConsent(wallet, custodian.id, 10, bytes.fromhex(stored.ref[2:]), int(stored.nonce), stored.deadline)
    signer = recover_redeem_signer(stored.signature, consent, chain_id=CHAIN_ID, points_address=POINTS_ADDRESS)
    assert signer == wallet
    # a release asked for (not yet handed over): the custodian still spends, within the limit
    release = "/v1/customers/dora/custodial-wallet/release"
    asked = client.post(release, json={"password": "dora-pw-123"}, headers=custodian.headers)
    assert asked.status_code == 202, asked.text
    assert post(client, custodian, no_consent("r-2", ref="dora")).status_code == 202
    # once released, the gateway no longer signs: the customer signs like any other
    released = client.post(release, json={"password": "dora-pw-123"}, headers=custodian.headers)
    assert released.status_code == 200, released.text
    assert_problem(post(client, custodian, no_consent("r-3", ref="dora")), "consent-required")


def test_custodial_spending_is_capped_per_wallet_over_a_rolling_day(
    client: TestClient, make_partner: Any, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    custodian = make_partner()
    add_reward(client, custodian, "COFFEE", points=10, stock=None)
    wallet, other_wallet = custodial(client, custodian, "erin"), custodial(client, custodian, "finn")
    points.balances[wallet] = points.balances[other_wallet] = 1_000
    assert post(client, custodian, no_consent("e-1", ref="erin")).status_code == 202
    assert post(client, custodian, no_consent("e-2", ref="erin")).status_code == 202
    over = assert_problem(post(client, custodian, no_consent("e-3", ref="erin")), "custodial-limit-reached")
    assert f"{LIMIT} points in any 24 h" in over["detail"] and "20 spent" in over["detail"]
    assert post(client, custodian, no_consent("f-1", ref="finn")).status_code == 202  # per wallet
    first = min((r for r in redemptions_of(sessions, custodian.id) if r.customer_wallet == wallet), key=lambda r: r.id)
    with sessions() as session:  # a failed redemption burned nothing: it does not count
        service.mark_failed(session, first.id, "burn refused: test")
        session.commit()
    assert post(client, custodian, no_consent("e-3", ref="erin")).status_code == 202
    assert_problem(post(client, custodian, no_consent("e-4", ref="erin")), "custodial-limit-reached")
    with sessions() as session:  # spending older than 24 h no longer counts
        session.execute(
            update(Redemption)
            .where(Redemption.customer_wallet == wallet)
            .values(created_at=utcnow() - timedelta(hours=24, seconds=1))
        )
        session.commit()
    assert post(client, custodian, no_consent("e-4", ref="erin")).status_code == 202


def test_a_zero_limit_leaves_custodial_customers_to_sign_themselves(
    client: TestClient, make_partner: Any, points: FakePoints, settings: GatewaySettings
) -> None:
    custodian = make_partner()
    add_reward(client, custodian, "COFFEE", points=10, stock=None)
    wallet = custodial(client, custodian, "gus")
    points.balances[wallet] = 100
    settings.custodial_daily_points_limit = 0
    assert_problem(post(client, custodian, no_consent("g-1", ref="gus")), "custodial-limit-reached")


def test_concurrent_custodial_redemptions_never_pass_the_limit(
    app: FastAPI, client: TestClient, make_partner: Any, points: FakePoints, sessions: sessionmaker[Session]
) -> None:
    """30 at once for one wallet, 5 points each, a limit of 25: exactly 5 accepted."""
    custodian = make_partner()
    add_reward(client, custodian, "TICKET", points=5, stock=None)
    wallet = custodial(client, custodian, "hana")
    points.balances[wallet] = 10_000
    requests = [
        ("/v1/redemptions", custodian.headers, {**no_consent(f"h-{i}", ref="hana"), "sku": "TICKET"}) for i in range(30)
    ]
    statuses = Counter((r.status_code, r.json().get("type", "accepted")) for r in run_concurrently(app, requests))
    assert statuses == {(202, "accepted"): 5, (422, "/problems/custodial-limit-reached"): 25}, statuses
    assert sum(r.points for r in redemptions_of(sessions, custodian.id)) == LIMIT
