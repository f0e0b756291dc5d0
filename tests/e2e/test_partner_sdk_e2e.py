"""End to end, real processes (tests/e2e/stack.py, one worker and beat): the partner SDK
(partners/client.py) as an integrator uses it. The README's own example runs twice in a row
and the second run answers the same purchase.

Ports: 9600-9615 for the stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import OnboardedPartner, Stack, fresh_wallet, start_stack

pytestmark = pytest.mark.timeout(300)
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("partner-sdk-e2e"), ports=range(9600, 9616), workers=1) as stack:
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
