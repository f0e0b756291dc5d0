"""What a partner's black-box run found at the gateway's door, over real HTTP against the real
stack (tests/e2e/stack.py: anvil with the coalition, redis-server, a Celery worker and beat, the
gateway under uvicorn):

- a body is not read before the credentials are checked (broken JSON without a key: 401), and
  not past the cap (413 problem, before a byte when Content-Length says so);
- extreme dates are 422 problems, and in a batch only those items are rejected;
- an amount written as Python's Decimal would take it ("1_000") is refused wherever one is taken;
- concurrent onboardings of one name: one 201, the others 409 ``partner-exists``;
- a storm of identical POSTs of one purchase, while it is minted, is answered the first answer.

Ports: 9400-9419.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.problems import PROBLEM_JSON
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, fresh_wallet, key_for, start_stack
from tests.pg import StoreKind
from tests.problems import assert_problem

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("sqlite",)

pytestmark = pytest.mark.timeout(300)
BROKEN = b'{"purchase_id": "p-1", '
JSON = {"Content-Type": "application/json"}
EXTREME_DATES = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"]
DEFAULT_CAP = 2 * 1024 * 1024  # COALITION_MAX_REQUEST_BODY_BYTES' default


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("input-hardening"), ports=range(9400, 9420), store=store, workers=1
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def partner(stack: Stack) -> OnboardedPartner:
    return stack.onboard("Door grocer", points_per_unit="2")


def purchase(purchase_id: str, **changes: Any) -> dict[str, Any]:
    body = {
        "purchase_id": purchase_id,
        "customer": {"wallet": fresh_wallet(f"hardening-{purchase_id}")},
        "amount": "10.00",
        "currency": "EUR",
        "purchased_at": "2026-11-23T10:00:00Z",
    }
    return body | changes


def raw_http(stack: Stack, head: str, body_chunks: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """One request written on a socket by hand (a head, then body chunks, then nothing more):
    the status, headers and body of the answer, read until the server closes or it is complete."""
    netloc = urlsplit(stack.url)
    with socket.create_connection((netloc.hostname, netloc.port), timeout=30) as s:
        s.sendall(head.encode())
        for chunk in body_chunks:
            s.sendall(chunk)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            more = s.recv(65536)
            if not more:
                break
            data += more
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def _length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 1 << 62


# ---------------------------------------------------------------------------------- credentials first, and the cap


@pytest.mark.parametrize("path", ["/v1/purchases", "/v1/purchases/batch", "/v1/purchases/p-1/refunds"])
def test_e2e_a_broken_body_without_a_key_is_unauthorized(stack, partner, path):
    problem = assert_problem(stack.http.post(path, headers=JSON, content=BROKEN), "unauthorized")
    assert "errors" not in problem
    assert_problem(stack.http.post(path, headers=partner.headers | JSON, content=BROKEN), "validation-error")


def test_e2e_a_broken_onboarding_without_the_operator_token_is_unauthorized(stack, partner):
    r = stack.http.post("/v1/operator/partners", headers=partner.headers | JSON, content=BROKEN)
    assert_problem(r, "unauthorized")
    r = stack.http.post("/v1/operator/partners", headers=OPERATOR_HEADERS | JSON, content=BROKEN)
    assert_problem(r, "validation-error")


def test_e2e_a_declared_length_over_the_cap_is_refused_before_the_body_is_sent(stack, partner):
    host = urlsplit(stack.url).netloc
    for auth in ("", f"Authorization: Bearer {partner.api_key}\r\n"):
        head = (
            f"POST /v1/purchases/batch HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\n"
            f"Content-Length: {DEFAULT_CAP + 1}\r\n\r\n"
        )
        status, headers, body = raw_http(stack, head, [])  # not one byte of the body is sent
        assert status == 413 and headers["content-type"] == PROBLEM_JSON, (status, headers, body)
        assert json.loads(body)["type"] == "/problems/content-too-large"


def test_e2e_a_chunked_body_is_refused_once_it_passes_the_cap(stack, partner):
    host = urlsplit(stack.url).netloc
    head = (
        f"POST /v1/purchases/batch HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {partner.api_key}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b" " * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * (DEFAULT_CAP // len(piece))  # the cap, exactly
    chunks.append(b"1\r\n \r\n")  # one byte over it; the body is never ended
    status, headers, body = raw_http(stack, head, chunks)
    assert status == 413 and headers["content-type"] == PROBLEM_JSON, (status, headers, body)
    assert json.loads(body)["type"] == "/problems/content-too-large"
    assert stack.http.get("/healthz").status_code == 200


# ---------------------------------------------------------------------------------- dates and amounts


@pytest.mark.parametrize("purchased_at", EXTREME_DATES)
def test_e2e_an_extreme_date_is_a_validation_problem(stack, partner, purchased_at):
    r = stack.http.post("/v1/purchases", headers=partner.headers, json=purchase("extreme", purchased_at=purchased_at))
    problem = assert_problem(r, "validation-error")
    assert [e["field"] for e in problem["errors"]] == ["body.purchased_at"]


def test_e2e_in_a_batch_only_the_items_with_extreme_dates_are_rejected(stack, partner):
    items = [
        purchase("dates-good-1"),
        purchase("dates-bad-1", purchased_at=EXTREME_DATES[0]),
        purchase("dates-good-2"),
        purchase("dates-bad-2", purchased_at=EXTREME_DATES[1]),
    ]
    r = stack.http.post("/v1/purchases/batch", headers=partner.headers, json={"purchases": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["outcome"] for x in results] == ["accepted", "rejected", "accepted", "rejected"], results
    assert {x["problem"]["type"] for x in results if x["problem"]} == {"/problems/validation-error"}
    for good in ("dates-good-1", "dates-good-2"):
        done = stack.wait_purchase(partner, good)
        assert stack.balance(done["customer_wallet"]) == 20  # 10.00 EUR at 2 points per unit
    assert stack.http.get("/v1/purchases/dates-bad-1", headers=partner.headers).status_code == 404


@pytest.mark.parametrize("amount", ["1_000", "1_0.5", " 10", "1e3", "+10", "１０"])
def test_e2e_an_amount_not_written_as_published_is_refused_everywhere(stack, partner, amount):
    r = stack.http.post("/v1/purchases", headers=partner.headers, json=purchase("amount", amount=amount))
    assert [e["field"] for e in assert_problem(r, "validation-error")["errors"]] == ["body.amount"]
    r = stack.http.post(
        "/v1/purchases/batch", headers=partner.headers, json={"purchases": [purchase("amount", amount=amount)]}
    )
    assert r.status_code == 200 and r.json()["results"][0]["problem"]["type"] == "/problems/validation-error"
    r = stack.http.post(
        "/v1/purchases/amount/refunds", headers=partner.headers, json={"refund_id": "r-1", "amount": amount}
    )
    assert [e["field"] for e in assert_problem(r, "validation-error")["errors"]] == ["body.amount"]
    body = partner.body | {"name": "Underscored", "points_per_unit": amount}
    r = stack.http.post("/v1/operator/partners", headers=OPERATOR_HEADERS, json=body)
    assert "body.points_per_unit" in [e["field"] for e in assert_problem(r, "validation-error")["errors"]]
    assert stack.http.get("/v1/purchases/amount", headers=partner.headers).status_code == 404


# ---------------------------------------------------------------------------------- onboarding


def test_e2e_concurrent_onboardings_of_one_name_give_one_partner_and_409s(stack):
    body = {
        "name": "Raced grocer",
        "treasury": key_for("treasury-raced").address,
        "currency": "EUR",
        "points_per_unit": "1",
        "issue_price": 10_000,
        "reimbursement_rate": 8_000,
        "issuance_limit": 10**12,
        "deposit": 10**9,
    }
    registry = stack.harness.contracts.registry
    before = registry.functions.partnerCount().call()

    def onboard(_: int) -> httpx.Response:
        return httpx.post(f"{stack.url}/v1/operator/partners", headers=OPERATOR_HEADERS, json=body, timeout=60)

    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(onboard, range(5)))
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {201: 1, 409: 4}, [(r.status_code, r.text) for r in answers]
    for r in answers:
        if r.status_code == 409:
            assert_problem(r, "partner-exists")
    [created] = [r.json() for r in answers if r.status_code == 201]
    assert registry.functions.partnerCount().call() == before + 1
    assert stack.harness.contracts.partner_id_of(created["minter"]) == created["id"]
    assert_problem(onboard(0), "partner-exists")  # and once done, as before
    listed = stack.http.get("/v1/operator/partners", headers=OPERATOR_HEADERS).json()
    assert [p["id"] for p in listed if p["name"] == body["name"]] == [created["id"]]
    key = {"Authorization": f"Bearer {created['api_key']}"}
    r = stack.http.post("/v1/purchases", headers=key, json=purchase("raced-1"))
    assert r.status_code == 202, r.text


# ---------------------------------------------------------------------------------- duplicates


def test_e2e_a_storm_of_identical_posts_is_answered_the_first_answer_while_the_purchase_is_minted(stack, partner):
    body = purchase("storm-1", amount="7.50")
    first = stack.http.post("/v1/purchases", headers=partner.headers, json=body)
    assert first.status_code == 202 and first.json()["status"] == "accepted", first.text

    async def storm() -> tuple[list[httpx.Response], list[str]]:
        answers: list[httpx.Response] = []
        seen: list[str] = []
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            deadline = time.monotonic() + 90
            after_confirmed = 0
            while after_confirmed < 3:
                answers += await asyncio.gather(
                    *(client.post("/v1/purchases", headers=partner.headers, json=body) for _ in range(20))
                )
                now = (await client.get("/v1/purchases/storm-1", headers=partner.headers)).json()["status"]
                if not seen or seen[-1] != now:
                    seen.append(now)
                after_confirmed += now == "confirmed"
                assert time.monotonic() < deadline, f"still {seen} after 90 s\n{stack.logs()}"
        return answers, seen

    answers, seen = asyncio.run(storm())
    assert seen[-1] == "confirmed", seen
    assert Counter(r.status_code for r in answers) == {202: len(answers)}
    bodies = Counter(r.content for r in answers)
    assert bodies == {first.content: len(answers)}, [json.loads(b)["status"] for b in bodies]
    assert all(r.headers["idempotent-replayed"] == "true" for r in answers)
    assert stack.balance(first.json()["customer_wallet"]) == 15  # minted once


def test_e2e_nothing_crashed(stack, partner):
    stack.assert_running()
    text = stack.log("gateway", 100_000)
    assert "Application startup complete" in text, text[-5000:]  # the gateway's own log, not an empty one
    assert "Traceback" not in text, text[-5000:]
