"""End to end, real processes (tests/e2e/stack.py: anvil, redis-server, two Celery workers,
beat, uvicorn): a customer earns at partner A and redeems at partner B over HTTP; the relayer
burns with the customer's EIP-712 consent, the worker issues the voucher. Forged, expired and
replayed consents are refused at once; 300 concurrent redemptions of a reward with 100 in stock
fulfil exactly 100. Balances are read with our bindings and with foundry's ``cast``, which does
not trust them.

Ports: 8660-8679.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from web3.logs import DISCARD

from network.store import Redemption
from tests.e2e.redemptions import (
    add_reward,
    cast_balance,
    consent_body,
    earn,
    local_consent_body,
    redeemed_events,
)
from tests.e2e.stack import OnboardedPartner, Stack, key_for, start_stack
from tests.fakes import HeldLease
from tests.pg import StoreKind
from tests.problems import assert_problem

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("redemptions-e2e"),
        ports=range(8660, 8680),
        store=store,
        workers=2,
        redemption_stuck_after_s=5,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def partners(stack: Stack) -> tuple[OnboardedPartner, OnboardedPartner]:
    return stack.onboard("Grocer", points_per_unit="1"), stack.onboard("Cinema", points_per_unit="1")


def test_redeem_at_another_partner_burns_with_a_valid_signature_only(
    stack: Stack, partners: tuple[OnboardedPartner, OnboardedPartner]
) -> None:
    grocer, cinema = partners
    alice, mallory = key_for("redeem-alice"), key_for("redeem-mallory")
    earn(stack, grocer, "earn-alice", alice.address, "100")
    add_reward(stack, cinema, "POPCORN", points=30, stock=10)
    before = stack.balance(alice.address)
    assert before == 100 == cast_balance(stack, alice.address)

    forged = consent_body(stack, cinema, alice, "forged-1", "POPCORN", signer=mallory)
    assert_problem(stack.http.post("/v1/redemptions", headers=cinema.headers, json=forged), "invalid-signature")
    expired = local_consent_body(
        stack, cinema, alice, "expired-1", "POPCORN", 30, nonce=5, deadline=int(time.time()) - 5
    )
    assert_problem(stack.http.post("/v1/redemptions", headers=cinema.headers, json=expired), "signature-expired")

    body = consent_body(stack, cinema, alice, "popcorn-1", "POPCORN")
    r = stack.http.post("/v1/redemptions", headers=cinema.headers, json=body)
    assert r.status_code == 202 and r.json()["status"] == "accepted", r.text
    done = stack.wait_json("/v1/redemptions/popcorn-1", cinema.headers, want="fulfilled", timeout_s=60)
    assert done["voucher_code"] and done["tx_hash"] and done["points"] == 30

    replay = {**body, "redemption_id": "popcorn-replay"}
    assert_problem(stack.http.post("/v1/redemptions", headers=cinema.headers, json=replay), "nonce-used")

    assert stack.balance(alice.address) == before - 30 == cast_balance(stack, alice.address)
    receipt = stack.harness.w3.eth.get_transaction_receipt(done["tx_hash"])
    burned = [
        dict(e["args"])
        for e in stack.harness.contracts.points.events.Redeemed().process_receipt(receipt, errors=DISCARD)
    ]
    assert burned == [
        {
            "partnerId": cinema.id,
            "customer": alice.address,
            "ref": bytes.fromhex(done["ref"][2:]),
            "points": 30,
            "reimbursementRate": cinema.body["reimbursement_rate"],
        }
    ]
    # the forged consent's nonce was never spent on chain, and nothing else was burned at the cinema
    assert not stack.harness.contracts.points.functions.redeemNonceUsed(
        alice.address, forged["consent"]["nonce"]
    ).call()
    assert [e["points"] for e in redeemed_events(stack, cinema.id)] == [30]
    stock = stack.http.get("/v1/rewards/POPCORN", headers=cinema.headers).json()["stock"]
    assert stock == 9
    stack.assert_running()


def test_300_concurrent_redemptions_of_100_in_stock_fulfil_exactly_100(
    stack: Stack, partners: tuple[OnboardedPartner, OnboardedPartner]
) -> None:
    grocer, cinema = partners
    rich = key_for("redeem-rich")
    earn(stack, grocer, "earn-rich", rich.address, "1000")
    add_reward(stack, cinema, "TICKET", points=2, stock=100)
    before = stack.balance(rich.address)
    assert before == 1000
    bodies = [local_consent_body(stack, cinema, rich, f"ticket-{i}", "TICKET", 2, nonce=1_000 + i) for i in range(300)]

    def post(body: dict[str, Any]) -> httpx.Response:
        return stack.http.post("/v1/redemptions", headers=cinema.headers, json=body)

    with ThreadPoolExecutor(max_workers=48) as pool:
        responses = list(pool.map(post, bodies))
    statuses = Counter((r.status_code, r.json().get("type", "accepted")) for r in responses)
    assert statuses == {(202, "accepted"): 100, (409, "/problems/out-of-stock"): 200}, statuses
    accepted = {r.json()["redemption_id"]: r.json()["ref"] for r in responses if r.status_code == 202}

    deadline = time.monotonic() + 120
    while True:
        with stack.harness.sessions() as session:
            by_status = dict(
                session.execute(
                    select(Redemption.status, func.count())
                    .where(Redemption.redemption_id.in_(accepted))
                    .group_by(Redemption.status)
                ).all()
            )
        if by_status == {"fulfilled": 100}:
            break
        assert "failed" not in by_status, f"{by_status}\n{stack.logs()}"
        assert time.monotonic() < deadline, f"still {by_status}\n{stack.logs()}"
        time.sleep(0.25)

    refs = {bytes.fromhex(ref[2:]) for ref in accepted.values()}
    events = [e for e in redeemed_events(stack, cinema.id) if e["ref"] in refs]
    assert len(events) == 100 and sum(e["points"] for e in events) == 100 * 2
    assert {e["customer"] for e in events} == {rich.address}
    assert stack.balance(rich.address) == before - 200 == cast_balance(stack, rich.address)
    with stack.harness.sessions() as session:
        vouchers = session.scalars(select(Redemption.voucher_code).where(Redemption.redemption_id.in_(accepted)))
        assert len({v for v in vouchers if v}) == 100
    reward = stack.http.get("/v1/rewards/TICKET", headers=cinema.headers).json()
    assert reward["stock"] == 0
    stack.assert_running()


def test_a_worker_killed_around_the_broadcast_leaves_each_redemption_burned_once(
    stack: Stack, partners: tuple[OnboardedPartner, OnboardedPartner]
) -> None:
    """The workers are SIGKILLed; three redemptions are then left as a worker dies at three
    moments (the signed burn stored but never sent; stored, and its nonce since used by another
    transaction of the relayer; sent and mined but not yet marked burned). Restarted workers
    finish each one: the same bytes resent, a fresh signature, the receipt found; every one is
    burned exactly once."""
    from celery import Celery

    from gateway.services.burns import Burns
    from network.keys import dev_account
    from network.relayer import Relayer

    grocer, cinema = partners
    carol = key_for("redeem-carol")
    earn(stack, grocer, "earn-carol", carol.address, "100")
    add_reward(stack, cinema, "SODA", points=7, stock=10)
    for name in [*stack.workers, "beat"]:  # beat too: its sweep would run them in another order
        stack.kill(name)
    ids = ["soda-nonce-taken", "soda-mined", "soda-unsent"]  # signed in this order: nonces n, n+1, n+2
    for i, rid in enumerate(ids):
        body = local_consent_body(stack, cinema, carol, rid, "SODA", 7, nonce=50 + i)
        r = stack.http.post("/v1/redemptions", headers=cinema.headers, json=body)
        assert r.status_code == 202, r.text

    h = stack.harness
    relayer = Relayer(h.w3, h.contracts, dev_account(2, h.settings))
    holder = Burns(sessions=h.sessions, relayer=relayer, lease=HeldLease(), settings=h.settings)
    holder.recover()  # the relayer key's driver, as a worker holds it (then dies)
    with h.sessions() as session:
        rows = {
            r.redemption_id: r for r in session.scalars(select(Redemption).where(Redemption.redemption_id.in_(ids)))
        }
    stored: dict[str, str] = {}
    for rid in ids:
        [signed] = holder.sign([rows[rid].id])  # stored before any broadcast, as the task does
        stored[rid] = signed.tx_hash
        if rid == "soda-nonce-taken":  # another transaction of the relayer takes that nonce
            other = relayer.account.sign_transaction(
                {
                    "type": 2,
                    "chainId": h.settings.chain_id,
                    "nonce": signed.nonce,
                    "to": relayer.address,
                    "value": 0,
                    "gas": 21_000,
                    "maxFeePerGas": 50 * 10**9,
                    "maxPriorityFeePerGas": 10**9,
                }
            )
            h.w3.eth.wait_for_transaction_receipt(h.w3.eth.send_raw_transaction(other.raw_transaction), 30)
        elif rid == "soda-mined":
            h.w3.eth.wait_for_transaction_receipt(h.w3.eth.send_raw_transaction(bytes(signed.raw_tx)), 30)
    before = stack.balance(carol.address)
    assert before == 100 - 7  # only the mined one burned so far

    broker = Celery(broker=stack.redis_url)
    with broker.connection_for_write() as conn:  # the messages of the acceptances went with the dead workers
        conn.default_channel.queue_purge("celery")
    stack.start_worker("w1")
    stack.start_worker("w2")
    done: dict[str, dict[str, Any]] = {}
    for rid in ["soda-unsent", "soda-nonce-taken", "soda-mined"]:  # one at a time: the unsent one's nonce is next
        broker.send_task("gateway.tasks.redemptions.process", args=[rows[rid].id])  # as the sweep would
        done[rid] = stack.wait_json(f"/v1/redemptions/{rid}", cinema.headers, want="fulfilled")
    assert done["soda-unsent"]["tx_hash"] == stored["soda-unsent"]  # the same bytes, sent after the crash
    assert done["soda-mined"]["tx_hash"] == stored["soda-mined"]  # found by its receipt
    assert done["soda-nonce-taken"]["tx_hash"] != stored["soda-nonce-taken"]  # signed again on a new nonce
    assert stack.balance(carol.address) == 100 - 3 * 7 == cast_balance(stack, carol.address)
    refs = {bytes.fromhex(d["ref"][2:]) for d in done.values()}
    assert sorted(e["points"] for e in redeemed_events(stack, cinema.id) if e["ref"] in refs) == [7, 7, 7]
    stack.start_beat()
    stack.assert_running()


def test_a_redemption_whose_message_is_lost_is_finished_by_the_sweep(
    stack: Stack, partners: tuple[OnboardedPartner, OnboardedPartner]
) -> None:
    """Accepted while no worker runs, its message then lost (as if Redis lost it or the enqueue
    failed): beat's sweep enqueues it again once it has been open for redemption_stuck_after_s."""
    from celery import Celery

    grocer, cinema = partners
    dave = key_for("redeem-dave")
    earn(stack, grocer, "earn-dave", dave.address, "20")
    add_reward(stack, cinema, "CANDY", points=4, stock=1)
    for name in list(stack.workers):
        stack.kill(name)
    body = local_consent_body(stack, cinema, dave, "candy-lost", "CANDY", 4, nonce=9)
    assert stack.http.post("/v1/redemptions", headers=cinema.headers, json=body).status_code == 202
    with Celery(broker=stack.redis_url).connection_for_write() as conn:
        assert conn.default_channel.queue_purge("celery") >= 1  # the redemption's message is gone
    stack.start_worker("w1")
    stack.start_worker("w2")
    done = stack.wait_json("/v1/redemptions/candy-lost", cinema.headers, want="fulfilled", timeout_s=60)
    assert done["voucher_code"]
    assert stack.balance(dave.address) == 20 - 4 == cast_balance(stack, dave.address)
    stack.assert_running()
