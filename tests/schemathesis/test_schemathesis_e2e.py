"""schemathesis against the gateway's own OpenAPI schema, on the real stack (tests/e2e/stack.py):
no 5xx, every answer conforms to the schema (body, content type, documented status).

Two runs on one stack, one test each so that a failure says whose routes it is: the partner API
(a partner's key; the customer-token routes answer their documented 401) and the operator API
(the operator token). It needs .venv-schemathesis (``make setup`` builds it from
requirements-schemathesis.lock; schemathesis needs a newer hypothesis than brownie allows in
.venv). Ports: 8730-8739.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stack import OPERATOR_HEADERS, Stack, start_stack
from tests.schemathesis.run_schemathesis import OPERATOR_PATHS, ST, run

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not ST.exists(), reason=f"{ST} is missing: run `make setup` (it builds .venv-schemathesis)"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("schemathesis"), ports=range(8730, 8740), workers=1) as stack:
        yield stack


def test_partner_api_has_no_server_error_and_no_schema_violation(stack: Stack) -> None:
    partner = stack.onboard("Fuzzed partner")
    result = run("partner", stack.url, partner.api_key, exclude_path_regex=OPERATOR_PATHS)
    assert result.ok, f"exit {result.returncode}\n{result.output[-15_000:]}\n{stack.logs(20)}"
    assert stack.http.get("/healthz").status_code == 200


def test_operator_api_has_no_server_error_and_no_schema_violation(stack: Stack) -> None:
    token = OPERATOR_HEADERS["Authorization"].removeprefix("Bearer ")
    result = run("operator", stack.url, token, include_path_regex=OPERATOR_PATHS)
    assert result.ok, f"exit {result.returncode}\n{result.output[-15_000:]}\n{stack.logs(20)}"
    assert stack.http.get("/healthz").status_code == 200
