"""End to end, real processes (tests/e2e/stack.py: anvil, Redis, Celery workers, beat, uvicorn): the
chain's clock moves (``evm_increaseTime``) through a holder's expiry window. The ``points.expiring``
reminders go out once each, 30 then 7 days before, as signed webhooks to the partner with a ref of
the customer, and a customer active again in between gets no 7-day one for the old date; the partner
reads the schedule (``GET /v1/customers/{ref}/expiry``). Past the expiry, beat's sweep burns the due
holders (batches of one, the worker SIGKILLed once the first batch is stored, a new worker finishing)
and nobody else, each once; more runs change nothing, and reconciliation finds no difference.

Ports: 9560-9578, the receiver 9579.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.services.expiry_sweep import EXPIRE_KIND
from network.store import ChainEvent, ChainTransaction
from partners.webhooks import verify
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, start_stack
from tests.gateway.webhook_receiver import Receiver
from tests.pg import StoreKind
from tests.ports import port_for_worker

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("sqlite",)

pytestmark = pytest.mark.timeout(300)
RECEIVER_PORT = port_for_worker(9579)
DAY = 86_400


@pytest.fixture(scope="module")
def receiver(store: StoreKind) -> Iterator[Receiver]:  # one per store's stack: its own deliveries only
    with Receiver(port=RECEIVER_PORT) as r:
        yield r


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("expiry-sweep-e2e"),
        ports=range(9560, 9579),
        store=store,
        workers=1,
        webhook_allow_loopback=True,
        webhook_backoff_base_s=0.5,
        webhook_backoff_cap_s=2,
        expiry_sweep_every_s=1,
        expiry_sweep_batch=1,
        expiry_remind_every_s=1,
        reconcile_every_s=2,
    ) as stack:
        yield stack


def wait_for(what: str, check: Callable[[], Any], stack: Stack, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} after {timeout_s} s:\n{stack.logs()}"
        time.sleep(0.2)


def reminders(receiver: Receiver, secret: str) -> list[tuple[str, int, int]]:
    with receiver.lock:
        received = list(receiver.received)
    found = [verify(secret, r.body, r.headers["Coalition-Signature"]) for r in received]  # raises if forged
    return sorted(
        (e["data"]["customer_ref"], e["data"]["days_before"], e["data"]["points"])
        for e in found
        if e["type"] == "points.expiring"
    )


def custodial(stack: Stack, partner: OnboardedPartner, ref: str) -> str:
    r = stack.http.post(f"/v1/customers/{ref}/custodial-wallet", headers=partner.headers)
    assert r.status_code == 201, r.text
    return r.json()["wallet"]


def earn(stack: Stack, partner: OnboardedPartner, purchase_id: str, ref: str, amount: str) -> None:
    assert stack.post_purchase(partner, purchase_id, ref=ref, amount=amount).status_code == 202
    stack.wait_purchase(partner, purchase_id)


def expire_txs(stack: Stack) -> int:
    with stack.harness.sessions() as s:
        return int(s.scalar(select(func.count()).where(ChainTransaction.kind == EXPIRE_KIND)) or 0)


def test_reminders_once_each_then_the_sweep_burns_the_due_holders_only(stack: Stack, receiver: Receiver) -> None:
    points = stack.harness.contracts.points.functions
    grocer = stack.onboard("Expiry Grocer", points_per_unit="1")
    hook = stack.http.post(
        "/v1/webhooks", headers=grocer.headers, json={"url": receiver.url, "event_types": ["points.expiring"]}
    )
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    wallets = {ref: custodial(stack, grocer, ref) for ref in ("exp-a", "exp-b", "exp-c")}
    for i, (ref, amount) in enumerate((("exp-a", "12.00"), ("exp-b", "30.00"), ("exp-c", "5.00"))):
        earn(stack, grocer, f"exp-p{i}", ref, amount)
    window = int(points.expiryWindow().call())
    expires = int(points.expiresAtOf(wallets["exp-a"]).call())

    r = stack.http.get("/v1/customers/exp-a/expiry", headers=grocer.headers)
    assert r.status_code == 200, r.text
    schedule = r.json()
    assert (schedule["points"], schedule["window_days"], len(schedule["schedule"])) == (12, window // DAY, 1)
    assert schedule["schedule"][0]["points"] == 12 and len(schedule["schedule"][0]["reminders"]) == 2
    r = stack.http.get("/v1/customers/nobody/expiry", headers=grocer.headers)
    assert r.status_code == 404 and r.json()["type"] == "/problems/not-found"

    now = int(stack.harness.w3.eth.get_block("latest")["timestamp"])
    stack.advance_time(expires - now - 30 * DAY + 60)  # inside 30 days of the first three's expiry
    want_30 = [("exp-a", 30, 12), ("exp-b", 30, 30), ("exp-c", 30, 5)]
    wait_for("the 30-day reminders", lambda: reminders(receiver, secret) == want_30, stack)
    earn(stack, grocer, "exp-p3", "exp-c", "1.00")  # exp-c is active again: its points live a window more
    stack.advance_time(23 * DAY + 60)  # inside 7 days of the old date
    want_7 = sorted([*want_30, ("exp-a", 7, 12), ("exp-b", 7, 30)])
    wait_for("the 7-day reminders", lambda: reminders(receiver, secret) == want_7, stack)

    stack.advance_time(8 * DAY)  # past exp-a's and exp-b's expiry
    deadline = time.monotonic() + 60
    while expire_txs(stack) < 1:  # the first batch is signed and stored: kill now, before the second
        assert time.monotonic() < deadline, f"no expire batch after 60 s:\n{stack.logs()}"
        time.sleep(0.005)
    stack.kill_worker("w1")  # mid-sweep: its batches are stored; a new worker finishes from the store
    stack.processes.pop("worker-w1")  # dead on purpose
    stack.start_worker("w2")
    wait_for("the sweep", lambda: [stack.balance(wallets[r]) for r in ("exp-a", "exp-b")] == [0, 0], stack, 90)
    assert stack.balance(wallets["exp-c"]) == 6
    stack.wait_indexed()
    time.sleep(4)  # more ticks of the sweep and the reminders: nothing left to do
    last = stack.harness.w3.eth.block_number
    stack.wait_indexed(last)
    with stack.harness.sessions() as s:
        expired = sorted(s.scalars(select(ChainEvent.customer).where(ChainEvent.name == "Expired")))
    assert expired == sorted([wallets["exp-a"], wallets["exp-b"]])  # each once
    assert reminders(receiver, secret) == want_7
    assert int(points.totalSupply().call()) == 6

    deadline = time.monotonic() + 60
    while True:
        r = stack.http.get("/v1/operator/reconciliations", headers=OPERATOR_HEADERS, params={"limit": 5})
        assert r.status_code == 200, r.text
        reports = [p for p in r.json() if p["block_number"] >= last]
        if reports:
            break
        assert time.monotonic() < deadline, f"no reconciliation at block {last}\n{stack.logs()}"
        time.sleep(0.2)
    assert reports[-1]["ok"] is True and reports[-1]["differences"] == [], reports[-1]
    stack.assert_running()
