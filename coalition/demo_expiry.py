"""``coalition demo``'s points expiry (issue 17), played after the month's first settlement: a short
expiry window put in force on chain, a few customers who earn once and then do nothing, their
``points.expiring`` reminders, and the sweep that burns their points once the window has passed.

The window is bounded on chain (``MIN_EXPIRY_WINDOW`` 30 days, a change applies after
``EXPIRY_NOTICE`` 90 days), so the demo moves the local chain's clock forward (anvil's
``evm_increaseTime`` + ``evm_mine``) and says so. The clock only moves forward: a second run finds
the window in force and moves it by the window alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import Celery
from sqlalchemy import select
from web3 import Web3

from coalition import program
from coalition.demo_operator import Operator
from coalition.simulator import Shop
from gateway.operator_key import operator_key_held
from network.direct import transact
from network.keys import dev_account
from network.points_logs import expired_logs
from network.store import DomainEvent, open_store

DAY = 86_400
DEMO_WINDOW = 30 * DAY  # the contract's MIN_EXPIRY_WINDOW
EXPIRING = 3  # customers who earn once under the demo's window, then do nothing
REMINDER = "points.expiring"


@dataclass
class ExpiryShown:
    """What the expiry part did, for the demo to print."""

    moved_days: int = 0
    window_applied_now: bool = False
    earned: dict[str, int] = field(default_factory=dict)  # wallet -> points, earned once
    expires_at: dict[str, int] = field(default_factory=dict)  # wallet -> expiresAtOf after the earn
    reminders: list[dict[str, Any]] = field(default_factory=list)  # points.expiring payloads, in order
    due: list[str] = field(default_factory=list)  # every holder of the run past its expiry time
    expired: dict[str, int] = field(default_factory=dict)  # wallet -> points of its Expired event
    swept_by: str = ""
    first_block: int = 0
    expired_holders: int = 0  # every Expired event since the part began (others past their window too)
    expired_points: int = 0


class DemoClock:
    """The local chain's clock, moved forward only, each move counted."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.moved = 0

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def forward(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        self.moved += seconds


def put_window_in_force(op: Operator, clock: DemoClock) -> bool:
    """The demo's window in force on chain; answers whether it was applied now (else already was).
    Schedules it if no such change is pending, moves the clock past its notice, applies it."""
    points = op.contracts.points.functions
    if int(points.expiryWindow().call()) == DEMO_WINDOW:
        return False
    admin, operator = dev_account(0, op.settings), dev_account(1, op.settings)
    window, effective_at = (int(v) for v in points.pendingExpiryWindow().call())
    if window != DEMO_WINDOW:
        client = redis.Redis.from_url(op.net.redis_url)
        with operator_key_held(client, operator.address, op.settings):  # the gateway signs with it too
            transact(op.w3, operator, points.scheduleExpiryWindow(DEMO_WINDOW))
        client.close()
        window, effective_at = (int(v) for v in points.pendingExpiryWindow().call())
    if clock.now() < effective_at:
        clock.forward(effective_at - clock.now() + 1)
    transact(op.w3, admin, points.applyExpiryWindow())  # anyone may, once the notice is over
    return True


def earn_once(op: Operator, shop: Shop, run_id: str) -> dict[str, str]:
    """``EXPIRING`` new members (enrolled at ``shop`` with an email, a language and consents, in
    custodial wallets, so that their reminders reach them as messages too) earn once there
    (purchase id -> wallet), confirmed on chain."""
    headers = {"Authorization": f"Bearer {shop.api_key}"}
    bought: dict[str, str] = {}
    for i in range(EXPIRING):
        ref = f"{run_id}-exp-{i}"
        member = op.call("POST", f"/v1/customers/{ref}/enrolment", headers=headers,
                         json={**program.profile(i, ref), "wallet": "custodial"})  # fmt: skip
        purchase_id = f"{run_id}-exp-{i}"
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = {"purchase_id": purchase_id, "customer": {"ref": ref}, "amount": f"{20 + 15 * i}.00",
                "currency": shop.currency, "purchased_at": at}  # fmt: skip
        r = op.http.post("/v1/purchases", json=body, headers=headers)
        if r.is_error:
            raise RuntimeError(f"POST /v1/purchases: {r.status_code} {r.text}")
        bought[purchase_id] = str(member["wallet"])
    return bought


def confirmed_points(op: Operator, shop: Shop, bought: dict[str, str], timeout_s: float = 120) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {shop.api_key}"}
    deadline = time.monotonic() + timeout_s
    points: dict[str, int] = {}
    for purchase_id, wallet in bought.items():
        while True:
            body = op.call("GET", f"/v1/purchases/{purchase_id}", headers=headers)
            if body["status"] == "confirmed":
                points[wallet] = int(body["points"])
                break
            if body["status"] in ("failed", "skipped") or time.monotonic() > deadline:
                raise RuntimeError(f"purchase {purchase_id}: {body['status']} {body.get('failure_reason')}")
            time.sleep(0.3)
    return points


def run_task(op: Operator, name: str, timeout_s: float = 120) -> dict[str, Any]:
    """Asks the network's workers to run one of beat's tasks now (as beat would, later), and
    answers what it returned."""
    app = Celery("coalition-demo", broker=op.net.redis_url, backend=op.net.redis_url)
    try:
        result = app.send_task(name, queue="celery", ignore_result=False)
        try:
            return dict(result.get(timeout=timeout_s))
        finally:
            result.forget()
    finally:
        app.close()


def wait_reminders(
    op: Operator, wallets: set[str], after_id: int, days_before: int, timeout_s: float = 60
) -> tuple[list[dict[str, Any]], int]:
    """The ``points.expiring`` events of ``wallets`` written after ``after_id`` for ``days_before``,
    once every wallet has one; and the newest event id."""
    sessions = open_store(op.settings.database_url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            with sessions() as session:
                rows = session.execute(
                    select(DomainEvent.id, DomainEvent.payload)
                    .where(DomainEvent.type == REMINDER, DomainEvent.id > after_id)
                    .order_by(DomainEvent.id)
                ).all()
            found = [dict(p) for _, p in rows if p.get("wallet") in wallets and p.get("days_before") == days_before]
            if {p["wallet"] for p in found} >= wallets:
                return found, max(i for i, _ in rows)
            if time.monotonic() > deadline:
                why = f"no {days_before}-day {REMINDER} reminder for {sorted(wallets)} after {timeout_s} s"
                raise TimeoutError(why)
            time.sleep(0.3)
    finally:
        sessions.kw["bind"].dispose()


def last_event_id(op: Operator) -> int:
    sessions = open_store(op.settings.database_url)
    try:
        with sessions() as session:
            return int(session.scalar(select(DomainEvent.id).order_by(DomainEvent.id.desc()).limit(1)) or 0)
    finally:
        sessions.kw["bind"].dispose()


def play_expiry(op: Operator, shop: Shop, run_id: str, clock: DemoClock) -> ExpiryShown:
    """The whole part: window, earns, reminders 30 and 7 days before, the clock past expiry, the sweep."""
    shown = ExpiryShown(first_block=op.w3.eth.block_number + 1)
    points = op.contracts.points.functions
    shown.window_applied_now = put_window_in_force(op, clock)
    bought = earn_once(op, shop, run_id)
    shown.earned = confirmed_points(op, shop, bought)
    wallets = set(shown.earned)
    shown.expires_at = {w: int(points.expiresAtOf(w).call()) for w in shown.earned}
    op.wait_indexed(op.w3.eth.block_number)
    seen = last_event_id(op)
    run_task(op, "gateway.tasks.expiry.remind")  # 30 days before: due at once (the window is 30 days)
    thirty, seen = wait_reminders(op, wallets, seen, 30)
    clock.forward(max(shown.expires_at.values()) - clock.now() - 7 * DAY + 60)  # a minute past 7 days before
    # reminders are planned at the time of the last indexed block: the moved clock's block first
    op.wait_indexed(op.w3.eth.block_number)
    run_task(op, "gateway.tasks.expiry.remind")
    seven, _ = wait_reminders(op, wallets, seen, 7)
    shown.reminders = thirty + seven
    clock.forward(max(shown.expires_at.values()) - clock.now() + 1)  # past every expiry time
    holders = sorted(wallets)
    shown.due = [w for w in holders if int(points.expiredPointsOf(w).call()) > 0]
    op.wait_indexed(op.w3.eth.block_number)
    swept = run_task(op, "gateway.tasks.expiry.sweep")  # anyone may sweep: the network's job does it
    deadline = time.monotonic() + 60
    while any(int(points.balanceOf(w).call()) for w in holders) and time.monotonic() < deadline:
        time.sleep(0.5)
    shown.swept_by = f"the network's sweep job (gateway.tasks.expiry.sweep: {swept})"
    if any(int(points.balanceOf(w).call()) for w in holders):
        transact(op.w3, dev_account(0, op.settings), points.expire(holders))
        shown.swept_by = "the demo's own expire(holders) (the sweep job had not run)"
    for log in expired_logs(op.w3, op.book, shown.first_block, op.w3.eth.block_number):
        shown.expired_holders += 1
        shown.expired_points += log.points
        if log.holder in wallets:
            shown.expired[log.holder] = shown.expired.get(log.holder, 0) + log.points
    shown.moved_days = clock.moved // DAY
    return shown
