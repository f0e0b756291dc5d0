"""End to end, real processes (tests/e2e/stack.py, one worker and beat): the partner SDK's retries
against a real gateway that fails first. Between the SDK and the gateway runs a real HTTP proxy
(tests/failing_proxy.py) that answers 503 and 429 itself, drops a connection, and loses the
gateway's answer to a purchase it did accept; then it passes everything on. No transport is
mocked: the SDK's own httpx client meets each failure on a socket.

What must hold: the SDK retries through every failure with the same purchase id and body, its
final answer is the gateway's replay of the first acceptance, and the purchase is minted once
(one purchase, one seq, one outbox entry in the store; the balance on chain).

Ports: 9720-9735 for the stack; the proxy on a free port of the system's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from network.store import OutboxPurchase, Partner, Purchase
from partners.client import AsyncPartnerClient, PartnerClient
from tests.e2e.stack import OnboardedPartner, Stack, fresh_wallet, start_stack
from tests.failing_proxy import FailingProxy

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("partner-sdk-retries-e2e"), ports=range(9720, 9736), workers=1) as stack:
        yield stack


def stored(stack: Stack, partner: OnboardedPartner) -> tuple[list[str], int, int]:
    """(purchase ids, outbox entries, next seq) of a partner, read from the store."""
    with stack.harness.sessions() as session:
        ids = list(session.scalars(select(Purchase.purchase_id).where(Purchase.partner_id == partner.id)))
        outbox = session.scalar(select(func.count()).where(OutboxPurchase.partner_id == partner.id))
        next_seq = session.scalar(select(Partner.next_seq).where(Partner.id == partner.id))
    return ids, int(outbox or 0), int(next_seq or 0)


def test_the_sdk_retries_through_a_failing_network_and_the_purchase_is_minted_once(stack: Stack) -> None:
    shop = stack.onboard("SDK Retries", points_per_unit="1")
    wallet = fresh_wallet("sdk-retries")
    faults = ["503", "429", "drop", "lost-answer"]
    with (
        FailingProxy(stack.url, faults, retry_after="1") as proxy,
        PartnerClient(proxy.url, shop.api_key, backoff_s=0.05) as coalition,
    ):
        started = time.monotonic()
        purchase = coalition.post_purchase("retry-1", wallet=wallet, amount="7", currency="EUR")
        elapsed = time.monotonic() - started
        confirmed = coalition.wait(purchase.status_url, timeout_s=120)
    posts = [p for p in proxy.passages if p.method == "POST"]
    assert [(p.path, p.fault) for p in posts] == [("/v1/purchases", f) for f in [*faults, None]], proxy.passages
    # the request the SDK never heard the answer to was accepted; the retry got its replay
    lost, answered = posts[3], posts[4]
    assert lost.upstream_status == answered.upstream_status == 202
    assert "idempotent-replayed" not in lost.upstream_headers
    assert answered.upstream_headers.get("idempotent-replayed") == "true"
    assert elapsed >= 1.0  # the 429's Retry-After: 1 was honoured
    assert (purchase.purchase_id, purchase.points, purchase.seq) == ("retry-1", 7, 1)
    assert (confirmed.status, confirmed.seq, confirmed.points) == ("confirmed", 1, 7)
    assert stored(stack, shop) == (["retry-1"], 1, 1)  # one purchase, one outbox entry, one seq taken
    assert stack.balance(wallet) == 7  # minted once


def test_the_async_sdk_retries_a_lost_answer_and_a_503_and_the_purchase_is_minted_once(stack: Stack) -> None:
    shop = stack.onboard("SDK Retries Async", points_per_unit="1")
    wallet = fresh_wallet("sdk-retries-async")

    async def buy(url: str) -> tuple[object, object]:
        async with AsyncPartnerClient(url, shop.api_key, backoff_s=0.05) as coalition:
            purchase = await coalition.post_purchase("retry-async-1", wallet=wallet, amount="3", currency="EUR")
            return purchase, await coalition.wait(purchase.status_url, timeout_s=120)

    with FailingProxy(stack.url, ["lost-answer", "503", "lost-answer"]) as proxy:
        purchase, confirmed = asyncio.run(buy(proxy.url))
    posts = [p for p in proxy.passages if p.method == "POST"]
    assert [p.fault for p in posts] == ["lost-answer", "503", "lost-answer", None], proxy.passages
    assert [p.upstream_status for p in posts] == [202, None, 202, 202]
    assert [p.upstream_headers.get("idempotent-replayed") for p in posts] == [None, None, "true", "true"]
    assert (purchase.seq, confirmed.status) == (1, "confirmed")  # type: ignore[attr-defined]
    assert stored(stack, shop) == (["retry-async-1"], 1, 1)
    assert stack.balance(wallet) == 3
