"""End to end, real processes (tests/e2e/stack.py): purchases posted over HTTP are minted by the
earn pipeline running as Celery tasks (beat's dispatch, a drain per partner under a Redis lease),
and a second worker does not send a purchase twice.

Ports: 8740-8749.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from network.store import LedgerEntry, OutboxPurchase, PurchaseStatus
from partners.client import AsyncPartnerClient, PartnerClient, ProblemError
from tests.e2e.stack import Stack, fresh_wallet, start_stack
from tests.pg import StoreKind

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("earn-e2e"), ports=range(8740, 8750), store=store, workers=2) as stack:
        yield stack


def test_purchases_at_two_partners_are_minted_once_by_the_workers(stack: Stack) -> None:
    grocer = stack.onboard("Grocer", points_per_unit="1.5")
    fuel = stack.onboard("Fuel", points_per_unit="2")
    wallet = fresh_wallet("earn-pipeline")
    for i in range(30):
        partner = grocer if i % 2 else fuel
        r = stack.post_purchase(partner, f"pipe-{i}", wallet, amount="10")
        assert r.status_code == 202, r.text
    for i in range(30):
        body = stack.wait_purchase(grocer if i % 2 else fuel, f"pipe-{i}")
        assert body["tx_hash"], body
    assert stack.balance(wallet) == 15 * 15 + 15 * 20
    with stack.harness.sessions() as session:
        counts = dict(
            session.execute(select(OutboxPurchase.status, func.count()).group_by(OutboxPurchase.status)).all()
        )
    assert counts == {PurchaseStatus.MINTED: 30}
    stack.assert_running()


def test_the_partner_sdk_posts_retries_idempotently_and_waits(stack: Stack) -> None:
    """partners/client.py against the real gateway: sync and async, the same answer for a
    retried purchase, problems raised with their stable type."""
    grocer = stack.partners["Grocer"]
    wallet = fresh_wallet("sdk")
    with PartnerClient(stack.url, grocer.api_key) as client:
        first = client.post_purchase("sdk-1", wallet=wallet, amount="20", currency="EUR")
        again = client.post_purchase("sdk-1", wallet=wallet, amount="20.00", currency="EUR")  # a retry
        assert again == first  # the first answer (the gateway stamped purchased_at once, at acceptance)
        with pytest.raises(ProblemError) as problem:
            client.post_purchase("sdk-1", wallet=wallet, amount="21", currency="EUR")
        assert problem.value.status == 409 and problem.value.slug == "idempotency-conflict"
        done = client.wait(first["status_url"])
        assert done["status"] == "confirmed" and done["points"] == 30

    async def post_many() -> list[dict[str, object]]:
        async with AsyncPartnerClient(stack.url, grocer.api_key) as client:
            posted = await asyncio.gather(
                *(client.post_purchase(f"sdk-a-{i}", wallet=wallet, amount="2", currency="EUR") for i in range(20))
            )
            return list(await asyncio.gather(*(client.wait(p["status_url"]) for p in posted)))

    assert {p["status"] for p in asyncio.run(post_many())} == {"confirmed"}
    assert stack.balance(wallet) == 30 + 20 * 3


def test_history_is_indexed_by_the_beat_task(stack: Stack) -> None:
    """The indexer runs as a beat task: the customer's ledger reaches the chain's balance."""
    wallet = fresh_wallet("earn-pipeline")
    want = stack.balance(wallet)
    assert want > 0
    deadline = time.monotonic() + 30
    while True:
        with stack.harness.sessions() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(LedgerEntry.points), 0)).where(LedgerEntry.customer == wallet)
            )
        if total == want:
            break
        assert time.monotonic() < deadline, f"ledger {total} != balance {want}\n{stack.logs()}"
        time.sleep(0.2)
