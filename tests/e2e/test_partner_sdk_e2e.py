"""End to end, real processes (tests/e2e/stack.py, one worker and beat): the partner SDK
(partners/client.py) as an integrator uses it. The README's own example runs twice in a row
and the second run answers the same purchase; a purchase the chain refuses after acceptance
makes ``wait()`` raise with its problem type (issue 14).

Ports: 9600-9615 for the stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from partners.client import OperationFailed, PartnerClient, WaitTimeout
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, fresh_wallet, start_stack

pytestmark = pytest.mark.timeout(300)
README = Path(__file__).resolve().parents[2] / "README.md"
HELD_TIMEOUT_S = 3  # COALITION_HELD_PURCHASE_TIMEOUT_S: a held purchase fails after this
PRICE = 10_000  # settlement-token units per point


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("partner-sdk-e2e"),
        ports=range(9600, 9616),
        workers=1,
        held_purchase_timeout_s=HELD_TIMEOUT_S,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def grocer(stack: Stack) -> OnboardedPartner:
    return stack.onboard("SDK Grocer", points_per_unit="1")


def readme_sdk_example() -> str:
    """The code block under "The partner SDK in ten lines", as the README shows it."""
    text = README.read_text()
    section = text[text.index("The partner SDK in ten lines") :]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the README has no python block under its SDK example"
    return found.group(1)


def test_the_readme_sdk_example_runs_twice_and_the_second_run_answers_the_same_purchase(
    stack: Stack, grocer: OnboardedPartner
) -> None:
    wallet = fresh_wallet("readme-example")
    code = (
        readme_sdk_example()
        .replace("http://127.0.0.1:8000", stack.url)
        .replace('"ck_…"', repr(grocer.api_key))
        .replace('"0x…"', repr(wallet))
    )
    assert stack.url in code and grocer.api_key in code and wallet in code, code
    first: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), first)  # the README code, on the test stack
    second: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), second)  # a POS retrying the same order
    assert second["p"] == first["p"]  # the first answer, replayed
    r = stack.http.get("/v1/purchases/order-1042", headers=grocer.headers)
    assert r.json()["status"] == "confirmed" and r.json()["points"] == 42
    refunds = stack.http.get("/v1/purchases/order-1042/refunds", headers=grocer.headers).json()
    assert [x["refund_id"] for x in refunds] == ["refund-1"]  # refunded once, not twice
    stack.wait_json("/v1/purchases/order-1042/refunds/refund-1", grocer.headers, want="confirmed")
    assert stack.balance(wallet) == 42 - 10


def test_a_purchase_held_past_the_timeout_makes_wait_raise_partner_funds_exhausted(stack: Stack) -> None:
    """The partner's deposit pays for 10 points; a purchase of 50 is held (wait() times out and
    says why), then fails after COALITION_HELD_PURCHASE_TIMEOUT_S: wait() raises with the type."""
    tight = stack.onboard("SDK Tight", points_per_unit="1", issue_price=PRICE, deposit=10 * PRICE)
    with PartnerClient(stack.url, tight.api_key) as coalition:
        p = coalition.post_purchase("big-1", wallet=fresh_wallet("tight"), amount="50.00", currency="EUR")
        held = stack.wait_json("/v1/purchases/big-1", tight.headers, want="held")
        assert held["failure"]["type"] == "/problems/partner-funds-exhausted" and "waits" in held["failure"]["detail"]
        with pytest.raises(WaitTimeout) as waiting:  # held is not final: wait() goes on, and says why it waits
            coalition.wait(p["status_url"], timeout_s=0.2)
        assert waiting.value.slug == "partner-funds-exhausted"
        with pytest.raises(OperationFailed) as failed:
            coalition.wait(p["status_url"], timeout_s=60)
    assert failed.value.slug == "partner-funds-exhausted"
    assert failed.value.type == "/problems/partner-funds-exhausted"
    assert "COALITION_HELD_PURCHASE_TIMEOUT_S" in failed.value.detail
    assert failed.value.failure_reason is not None and failed.value.failure_reason.startswith("partner-funds-exhausted")
    assert failed.value.resource["status"] == "failed" and stack.balance(fresh_wallet("tight")) == 0


def test_a_purchase_of_a_partner_suspended_after_acceptance_makes_wait_raise_partner_suspended(stack: Stack) -> None:
    """Accepted while the partner was active, sent once it was suspended (the worker was down in
    between): the chain refuses it (PartnerRegistryNotActive) and wait() raises partner-suspended."""
    shop = stack.onboard("SDK Suspended", points_per_unit="1")
    stack.kill_worker("w1")  # nothing drains the outbox until it is back
    try:
        with PartnerClient(stack.url, shop.api_key) as coalition:
            p = coalition.post_purchase("late-1", wallet=fresh_wallet("late"), amount="5", currency="EUR")
            r = stack.http.post(f"/v1/operator/partners/{shop.id}/suspend", headers=OPERATOR_HEADERS)
            assert r.status_code == 200, r.text
            stack.start_worker("w1")
            with pytest.raises(OperationFailed) as failed:
                coalition.wait(p["status_url"], timeout_s=90)
    finally:
        if stack.processes["worker-w1"].poll() is not None:
            stack.start_worker("w1")
    assert failed.value.slug == "partner-suspended"
    assert "PartnerRegistryNotActive" in str(failed.value.failure_reason)  # the raw reason, for support
    assert "PartnerRegistryNotActive" not in failed.value.detail
    body = stack.http.get("/v1/purchases/late-1", headers=shop.headers).json()
    assert body["failure"] == failed.value.problem and body["failure"]["type"] == "/problems/partner-suspended"
