"""The message planner end to end: real anvil, redis-server, Celery workers and beat, the gateway
as a uvicorn process (tests/e2e/stack.py), on SQLite and on PostgreSQL, with the messages' clock the test moves
(``COALITION_MESSAGES_CLOCK_FILE``).

A partner enrols a consented customer (Polish, in Warsaw) and an unconsented one; beat's planner
plans each one welcome per channel, once, in the customer's locale; both buy, and once their
day has ended on the test's clock, beat's schedule plans the daily points digest: the consented
customer's goes out (queued: held by quiet hours or not), the unconsented one's is suppressed
(``no-consent``) and nothing of marketing is queued for them. The partner reads its log through
the API; the operator reads the delivery rates. send18's sender takes the queued rows from here.

Ports: 9920-9935.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, start_stack
from tests.pg import StoreKind

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("postgresql",)

pytestmark = pytest.mark.timeout(300)
OLA = {
    "phone": "+48600100400",
    "email": "ola@example.com",
    "locale": "pl-PL",
    "time_zone": "Europe/Warsaw",
    "attributes": {"first_name": "Ola"},
    "consents": [{"channel": "sms", "granted": True, "source": "pos", "scope": "coalition"}],
}
JAN = {"phone": "+48600100401"}


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Path:
    path = tmp_path_factory.mktemp("messages-clock") / "offset"
    path.write_text("0")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, clock_file: Path, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("messages-e2e"),
        ports=range(9920, 9936),
        store=store,
        messages_clock_file=clock_file,
        messages_plan_every_s=0.5,
        messages_schedule_every_s=1.0,
    ) as stack:
        yield stack


def operator_messages(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    r = stack.http.get("/v1/operator/messages", headers=OPERATOR_HEADERS, params=params | {"limit": 200})
    assert r.status_code == 200, r.text
    return list(r.json()["messages"])


def wait_for(stack: Stack, want: int, timeout_s: float = 60, **params: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = operator_messages(stack, **params)
        if len(found) >= want:
            return found
        assert time.monotonic() < deadline, f"{params}: {len(found)} of {want} messages\n{stack.logs()}"
        time.sleep(0.5)


def enrol(stack: Stack, partner: OnboardedPartner, ref: str, body: dict[str, Any]) -> None:
    r = stack.http.post(f"/v1/customers/{ref}/enrolment", json=body, headers=partner.headers)
    assert r.status_code == 201, r.text


def test_welcome_once_in_the_customers_locale_and_the_digest_only_with_consent(stack: Stack, clock_file: Path):
    shop = stack.onboard("Messages shop")
    enrol(stack, shop, "ola", OLA)
    enrol(stack, shop, "jan", JAN)
    welcomes = wait_for(stack, 3, kind="welcome")
    ola = {m["channel"]: m for m in welcomes if m["address"] in (OLA["phone"], OLA["email"])}
    assert set(ola) == {"sms", "email"} and {m["locale"] for m in ola.values()} == {"pl-PL"}
    assert ola["sms"]["data"]["first_name"] == "Ola" and ola["sms"]["category"] == "transactional"
    (jan_welcome,) = [m for m in welcomes if m["address"] == JAN["phone"]]
    assert jan_welcome["locale"] == "en"

    for ref in ("ola", "jan"):
        assert stack.post_purchase(shop, f"{ref}-1", ref=ref, amount="12.00").status_code == 202
    for ref in ("ola", "jan"):
        stack.wait_purchase(shop, f"{ref}-1", timeout_s=90)
    time.sleep(2)  # a few planner runs: the confirmed purchases reach the day's tallies
    clock_file.write_text(str(26 * 3600))  # the day has ended everywhere on the messages' clock
    digests = wait_for(stack, 3, kind="points_earned")
    time.sleep(2)  # further schedule runs add nothing
    assert len(operator_messages(stack, kind="points_earned")) == len(digests) == 3
    assert len(operator_messages(stack, kind="welcome")) == 3  # and the welcomes were planned once
    by_address = {(m["address"], m["channel"]): m for m in digests}
    mine = by_address[(OLA["phone"], "sms")]
    assert mine["status"] != "suppressed" and mine["data"]["points"] == 12 and mine["locale"] == "pl-PL"
    assert by_address[(OLA["email"], "email")]["reason"] == "no-consent"  # sms only, and for the coalition
    theirs = by_address[(JAN["phone"], "sms")]
    assert (theirs["status"], theirs["reason"]) == ("suppressed", "no-consent")

    log = stack.http.get("/v1/messages", headers=shop.headers, params={"ref": "jan"}).json()["messages"]
    assert {m["kind"] for m in log} == {"welcome"}  # the digest is the coalition's, not the shop's
    one = stack.http.get(f"/v1/messages/{log[0]['id']}", headers=shop.headers).json()
    assert one["log"][0]["status"] == "queued"
    rates = stack.http.get("/v1/operator/messages/stats", headers=OPERATOR_HEADERS).json()["rates"]
    sms = next(r for r in rates if (r["kind"], r["channel"]) == ("points_earned", "sms"))
    assert (sms["total"], sms["suppressed_by_reason"]) == (2, {"no-consent": 1})
