"""Unit tests of the ``coalition`` command as an operator meets it (issue 14, items 8, 10, 13):
amounts and dates for people, refusals in words, exit codes that tell, addresses checksummed,
``status`` that creates nothing. The command runs in typer's CliRunner against a stand-in
gateway (a real HTTP server on a free port answering canned operator-API bodies), or against
nothing at all; the real network is tests/e2e/test_cli_operator_e2e.py's."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner
from web3 import Web3

from coalition.cli import app
from coalition.formats import (
    Token,
    amount,
    checksum_address,
    money,
    net,
    parse_amount,
    problem_lines,
    until,
    when,
)
from coalition.processes import LocalNetwork
from gateway.services import partner_account
from gateway.settings import GatewaySettings
from network.contracts import load_abi
from network.store import Partner
from tests.stores import migrated_store

CUSD = Token("cUSD", 6)
TREASURY = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TOKEN = {"address": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "symbol": "cUSD", "decimals": 6}


# ---------------------------------------------------------------------------- pure formatting


def test_amounts_show_two_decimals_and_more_only_where_the_value_has_them() -> None:
    assert amount(66_680_000, 6) == "66.68"
    assert amount(8_000, 6) == "0.008", "a price of 0.008 cUSD must not be rounded to 0.01"
    assert amount(1, 6) == "0.000001"
    assert amount(-(10**12), 6) == "-1,000,000.00"
    assert amount(0, 6) == "0.00"
    assert amount(1234, 0) == "1,234"


def test_money_carries_its_currency_and_nets_their_sign_and_colour() -> None:
    assert money(66_680_000, CUSD) == "66.68 cUSD"
    assert money(66_680_000, CUSD, signed=True) == "+66.68 cUSD"
    assert money(-1_500_000, CUSD, signed=True) == "-1.50 cUSD"
    assert net(66_680_000, CUSD) == "[green]+66.68 cUSD[/green]"
    assert net(-1, CUSD) == "[red]-0.000001 cUSD[/red]"
    assert net(0, CUSD) == "0.00 cUSD"


def test_amounts_typed_by_a_person_become_exact_base_units_or_are_refused() -> None:
    assert parse_amount("1000.5", 6) == 1_000_500_000
    assert parse_amount("0.01", 6) == 10_000
    assert parse_amount(" 7 ", 6) == 7_000_000
    for bad in ("-1", "1e3", "1,000", "", ".5", "0x10", "１"):
        with pytest.raises(ValueError, match="not an amount"):
            parse_amount(bad, 6)
    with pytest.raises(ValueError, match=r"more than 6 decimals: the smallest amount is 0\.000001"):
        parse_amount("0.0000001", 6)


def test_dates_are_shown_in_a_named_time_zone() -> None:
    instant = "2026-12-01T10:00:00+00:00"
    assert when(instant, UTC) == "2026-12-01 10:00:00 UTC"
    assert when(instant, ZoneInfo("Europe/Paris")) == "2026-12-01 11:00:00 CET"
    assert when("2026-12-01T10:00:00", UTC) == "2026-12-01 10:00:00 UTC", "the API's instants are UTC"
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert until(instant, now) == "in 7 d 1 h"
    assert until("2026-11-24T09:05:00Z", now) == "in 5 min"
    assert until("2026-11-24T08:00:00Z", now) == "due now"


def test_a_lowercase_address_is_checksummed_and_a_wrong_checksum_is_a_typo() -> None:
    assert checksum_address(TREASURY.lower()) == TREASURY
    assert checksum_address(TREASURY) == TREASURY
    with pytest.raises(ValueError, match="not its EIP-55 checksum"):
        checksum_address(TREASURY[:-1] + "c")
    with pytest.raises(ValueError, match="not an address"):
        checksum_address("0x1234")


def test_a_validation_problem_names_each_field_in_words_without_its_path() -> None:
    body = {
        "type": "/problems/validation-error",
        "title": "The request is not valid",
        "status": 422,
        "detail": "invalid fields: body.issue_price, body.customer.wallet",
        "errors": [
            {"field": "body.issue_price", "message": "Input should be greater than 0", "kind": "greater_than"},
            {"field": "body.customer.wallet", "message": "Value error, must be checksummed", "kind": "value_error"},
        ],
    }
    lines = problem_lines(422, body, json.dumps(body), {"issue_price": "the issue price (--issue-price)"})
    assert lines == [
        "The request is not valid:",
        "  the issue price (--issue-price): Input should be greater than 0",
        "  customer wallet: must be checksummed",
    ]
    other = {"type": "/problems/not-found", "title": "No such resource", "status": 404, "detail": "no partner 9"}
    assert problem_lines(404, other, "", {}) == ["No such resource: no partner 9"]
    assert problem_lines(502, None, "<html>Bad gateway</html>", {}) == [
        "the gateway answered HTTP 502: <html>Bad gateway</html>"
    ]


# ---------------------------------------------------------------------------- the command, against a stand-in gateway


@dataclass
class FakeGateway:
    """Answers (method, path) with a canned (status, body); records what it was sent."""

    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGateway]:
    fake = FakeGateway()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            fake.requests.append((self.command, self.path, body))
            status, answer = fake.answers.get((self.command, self.path), (404, _problem(404, "No such resource")))
            data = json.dumps(answer).encode() if not isinstance(answer, bytes) else answer
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status < 400 else "application/problem+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _isolate(tmp_path, monkeypatch, fake.url)
    fake.answers[("GET", "/v1/operator/settlement-token")] = (200, TOKEN)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for name, value in {
        "COALITION_PUBLIC_URL": url,
        "COALITION_STATE_DIR": str(tmp_path / "state"),
        "COALITION_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "COALITION_ANVIL_PORT": "1",  # nothing answers there
        "COALITION_RPC_URL": "http://127.0.0.1:1",
        "COALITION_REDIS_PORT": "1",
        "COALITION_MODE": "local",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("COALITION_REDIS_URL", raising=False)  # the embedded one, on port 1: nothing answers


def _problem(status: int, title: str, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "/problems/x", "title": title, "status": status, "detail": detail or title, **extra}


def _account(**changes: Any) -> dict[str, Any]:
    account = {
        "id": 4,
        "name": "Bakery",
        "minter": "0x5190176531A5195245d07659D3EFE98a6710B01b",
        "treasury": TREASURY,
        "currency": "EUR",
        "points_per_unit": "1.500000",
        "issue_price": 10_000,
        "reimbursement_rate": 8_000,
        "issuance_limit": 50_000_000_000,
        "status": "active",
        "scheduled_rerate": None,
        "settlement_token": TOKEN,
        "block_number": 1234,
        "funds": 0,
        "free_funds": 0,
        "headroom": 0,
        "exposure": 0,
        "pending_credit": 0,
        "held_purchases": 0,
        "failed_purchases": 0,
    }
    return account | changes


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_partner_add_checksums_a_lowercase_treasury_sends_base_units_and_warns_without_a_deposit(
    gateway: FakeGateway,
) -> None:
    gateway.answers[("POST", "/v1/operator/partners")] = (201, _account(api_key="ck_x_y"))
    gateway.answers[("GET", "/v1/operator/partners/4")] = (200, _account())
    result = _run("partner", "add", "Bakery", TREASURY.lower(), "--issue-price", "0.01", "--points-per-unit", "1.5")
    assert result.exit_code == 0, result.output
    sent = next(body for method, path, body in gateway.requests if method == "POST")
    assert sent["treasury"] == TREASURY and sent["issue_price"] == 10_000 and sent["deposit"] == 0
    assert sent["reimbursement_rate"] == 8_000 and sent["issuance_limit"] == 10**15
    assert "API key (shown once" in result.stdout and "ck_x_y" in result.stdout
    assert "1.5 point(s) per EUR" in result.stdout and "0.008 cUSD per point" in result.stdout
    assert "WARNING: partner #4 Bakery cannot issue points" in result.stderr
    assert "coalition partner fund 4" in result.stderr


def test_partner_add_with_a_deposit_shows_its_funds_and_no_warning(gateway: FakeGateway) -> None:
    gateway.answers[("POST", "/v1/operator/partners")] = (201, _account(api_key="ck_x_y"))
    funded = _account(funds=1_000_000_000, free_funds=1_000_000_000, headroom=1_000_000_000)
    gateway.answers[("GET", "/v1/operator/partners/4")] = (200, funded)
    result = _run("partner", "add", "Bakery", TREASURY, "--deposit", "1000")
    assert result.exit_code == 0, result.output
    assert next(body for method, _, body in gateway.requests if method == "POST")["deposit"] == 1_000_000_000
    assert "1,000.00 cUSD" in result.stdout and "WARNING" not in result.output


def test_a_mistyped_address_or_amount_is_a_usage_error_and_nothing_is_sent(gateway: FakeGateway) -> None:
    typo = _run("partner", "add", "Bakery", TREASURY[:-1] + "c")
    assert typo.exit_code == 2 and "EIP-55 checksum" in typo.output
    amount_typo = _run("partner", "add", "Bakery", TREASURY, "--deposit", "1e3")
    assert amount_typo.exit_code == 2 and "not an amount" in amount_typo.output
    assert gateway.requests == []
    too_fine = _run("partner", "fund", "4", "0.0000001")
    assert too_fine.exit_code == 2 and "more than 6 decimals" in too_fine.output
    assert not any(method == "POST" for method, _, _ in gateway.requests)
    nothing = _run("partner", "rerate", "4")
    assert nothing.exit_code == 2 and "give at least one of --issue-price" in nothing.output


def test_a_refusal_of_the_api_is_told_in_words_and_exits_1(gateway: FakeGateway) -> None:
    errors = [
        {"field": "body.currency", "message": "String should match pattern '^[A-Z]{3}$'", "kind": "string_pattern"},
        {"field": "body.issue_price", "message": "Input should be greater than 0", "kind": "greater_than"},
    ]
    invalid = _problem(422, "The request is not valid", "invalid fields: body.currency, body.issue_price")
    gateway.answers[("POST", "/v1/operator/partners")] = (422, invalid | {"errors": errors})
    result = _run("partner", "add", "Bakery", TREASURY, "--currency", "euro", "--issue-price", "0")
    assert result.exit_code == 1, result.output
    assert "The request is not valid:" in result.stderr
    assert "the currency (--currency): String should match pattern" in result.stderr
    assert "the issue price (--issue-price): Input should be greater than 0" in result.stderr
    assert "body." not in result.output and '"type"' not in result.output, "no field paths, no raw JSON"
    missing = _run("partner", "show", "9")
    assert missing.exit_code == 1 and "No such resource" in missing.stderr


def test_an_unreachable_chain_exits_3_and_a_failing_gateway_4(gateway: FakeGateway) -> None:
    gateway.answers[("GET", "/v1/operator/partners/4")] = (503, _problem(503, "The chain cannot be reached"))
    assert _run("partner", "show", "4").exit_code == 3
    gateway.answers[("GET", "/v1/operator/partners/4")] = (500, _problem(500, "Internal error"))
    failed = _run("partner", "show", "4")
    assert failed.exit_code == 4 and "Internal error" in failed.stderr


def test_a_gateway_that_does_not_answer_exits_3_and_says_to_start_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _isolate(tmp_path, monkeypatch, "http://127.0.0.1:1")
    result = _run("partner", "list")
    assert result.exit_code == 3, result.output
    assert "does not answer" in result.stderr and "coalition up" in result.stderr


def test_partner_show_prints_money_not_base_units_and_the_scheduled_rerate_with_its_zone(
    gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    scheduled = {"issue_price": 20_000, "reimbursement_rate": 9_000, "effective_at": "2099-12-01T10:00:00+00:00"}
    account = _account(
        funds=1_000_500_000,
        free_funds=1_000_080_000,
        headroom=1_000_080_000,
        exposure=420_000,
        pending_credit=10_000,
        held_purchases=2,
        failed_purchases=1,
        scheduled_rerate=scheduled,
    )
    gateway.answers[("GET", "/v1/operator/partners/4")] = (200, account)
    result = _run("partner", "show", "4")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for shown in ("1,000.50 cUSD", "1,000.08 cUSD", "0.42 cUSD", "0.01 cUSD per point", "50,000.00 cUSD"):
        assert shown in out, (shown, out)
    assert "1000500000" not in out and "420000" not in out
    assert "issue 0.02 cUSD per point, reimbursement 0.009 cUSD per point" in out
    assert "2099-12-01 10:00:00 UTC" in out
    assert "WARNING" not in result.output


def test_fund_deposits_on_a_local_chain_and_exits_0(gateway: FakeGateway) -> None:
    answer = {
        "partner_id": 4,
        "amount": 25_000_000,
        "status": "deposited",
        "tx_hash": "0xabc",
        "funds": 25_000_000,
        "headroom": 25_000_000,
        "transactions": [],
    }
    gateway.answers[("POST", "/v1/operator/partners/4/deposits")] = (200, answer)
    result = _run("partner", "fund", "4", "25")
    assert result.exit_code == 0, result.output
    assert gateway.requests[-1][2] == {"amount": 25_000_000}
    assert "deposited 25.00 cUSD for partner #4" in result.stdout


def test_fund_where_the_treasury_must_pay_prints_its_transactions_and_exits_1(gateway: FakeGateway) -> None:
    calls = [
        {"to": "0xT", "data": "0x095ea7b3", "function": "approve(address,uint256)", "description": "approve"},
        {"to": "0xC", "data": "0x1234", "function": "deposit(uint32,uint256)", "description": "deposit"},
    ]
    answer = {"partner_id": 4, "amount": 25_000_000, "status": "treasury-must-send", "transactions": calls}
    gateway.answers[("POST", "/v1/operator/partners/4/deposits")] = (200, answer)
    result = _run("partner", "fund", "4", "25")
    assert result.exit_code == 1, result.output
    assert "approve(address,uint256)" in result.stdout and "deposit(uint32,uint256)" in result.stdout
    assert "nothing was deposited" in result.stderr


def test_settle_prints_the_operator_net_as_money_with_its_sign(gateway: FakeGateway) -> None:
    statement = {
        "token": {"symbol": "cUSD", "decimals": 6},
        "formula": "net = …",
        "partners": [
            {
                "partner_id": 4,
                "points_issued": 6_668,
                "points_redeemed": 0,
                "points_reversed": 0,
                "issued_value": 66_680_000,
                "reversed_value": 0,
                "redeemed_value": 0,
                "net": -66_680_000,
            }
        ],
        "operator_net": 66_680_000,
        "bilateral": {"rule": "pro rata", "points": []},
    }
    period = {
        "period_id": 1,
        "status": "settled",
        "from_block": 4,
        "to_block": 20,
        "settled_at": "2026-12-01T10:00:00Z",
        "status_url": "u",
        "statement_url": "s",
        "statement": statement,
    }
    gateway.answers[("POST", "/v1/operator/settlements")] = (202, period)
    gateway.answers[("GET", "/v1/operator/partners")] = (200, [_account()])
    result = _run("settle")
    assert result.exit_code == 0, result.output
    assert "operator net +66.68 cUSD" in result.stdout and "66680000" not in result.stdout
    assert "-66.68 cUSD" in result.stdout and "Bakery" in result.stdout


def test_suspend_and_reactivate_print_the_partners_new_status(gateway: FakeGateway) -> None:
    gateway.answers[("POST", "/v1/operator/partners/4/suspend")] = (200, _account(status="suspended"))
    gateway.answers[("POST", "/v1/operator/partners/4/reactivate")] = (200, _account(status="active"))
    suspended = _run("partner", "suspend", "4")
    assert suspended.exit_code == 0 and "partner #4 Bakery: suspended" in suspended.stdout
    reactivated = _run("partner", "reactivate", "4")
    assert reactivated.exit_code == 0 and "partner #4 Bakery: active" in reactivated.stdout


def test_rerate_sends_base_units_and_says_what_is_scheduled_and_what_is_in_force(
    gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    scheduled = {"issue_price": 20_000, "reimbursement_rate": 8_000, "effective_at": "2099-12-01T10:00:00+00:00"}
    answer = _account(issuance_limit=500_000_000, scheduled_rerate=scheduled)
    gateway.answers[("PATCH", "/v1/operator/partners/4")] = (200, answer)
    result = _run("partner", "rerate", "4", "--issue-price", "0.02", "--issuance-limit", "500")
    assert result.exit_code == 0, result.output
    assert gateway.requests[-1][2] == {"issue_price": 20_000, "issuance_limit": 500_000_000}
    assert "in force now: issuance limit 500.00 cUSD" in result.stdout
    assert "new prices scheduled on chain: issue 0.02 cUSD per point" in result.stdout
    assert "in force from 2099-12-01 10:00:00 UTC" in result.stdout
    assert "until then: issue 0.01 cUSD per point" in result.stdout


def test_reconcile_prints_differences_as_a_table_in_points_and_money_and_exits_1(gateway: FakeGateway) -> None:
    report = {
        "id": 7,
        "block_number": 120,
        "ok": False,
        "customers_checked": 3,
        "partners_checked": 2,
        "total_supply": "5000",
        "differences": [
            {"kind": "balance", "customer": TREASURY, "store": 40, "chain": 42},
            {"kind": "exposure", "partner_id": 4, "store": 400_000, "chain": 420_000},
        ],
        "created_at": "2026-12-01T10:00:00Z",
    }
    gateway.answers[("POST", "/v1/operator/reconciliations")] = (200, report)
    result = _run("reconcile")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "DIFFERENCES" in out and "5,000 points in circulation" in out
    assert "40 points" in out and "42 points" in out and "0.40 cUSD" in out and "0.42 cUSD" in out
    assert "partner #4" in out and "{" not in out


def test_status_with_nothing_running_says_so_exits_3_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _isolate(tmp_path, monkeypatch, "http://127.0.0.1:1")
    result = _run("status")
    assert result.exit_code == 3, result.output
    assert "nothing runs" in result.stderr and "coalition up" in result.stderr
    assert not (tmp_path / "store.db").exists() and not (tmp_path / "state").exists()
    assert "processes" not in result.stdout, "no empty table"


def test_status_of_a_network_running_in_part_names_what_is_missing_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _isolate(tmp_path, monkeypatch, "http://127.0.0.1:1")
    net = LocalNetwork(GatewaySettings())
    net._spawn("anvil", ["sleep", "60"], None)
    try:
        result = _run("status")
        assert result.exit_code == 3, result.output
        assert "anvil" in result.stdout and "incomplete: not running: redis, gateway, beat, workers" in result.stderr
        assert "store: none yet" in result.stdout
        assert not (tmp_path / "store.db").exists(), "status must not create the store"
    finally:
        net.down()


def test_every_option_of_the_partner_commands_explains_itself_with_its_unit() -> None:
    for command in ("add", "fund", "rerate", "show", "list", "suspend", "reactivate"):
        result = CliRunner().invoke(app, ["partner", command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
    add = CliRunner().invoke(app, ["partner", "add", "--help"], env={"COLUMNS": "200"}).output
    for text in ("cUSD the partner pays per point it issues", "cap, in cUSD", "lowercase is checksummed"):
        assert text in add
    top = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "Exit codes: 0 done; 1 refused" in top and "3 not running" in top


# ---------------------------------------------------------------------------- the deposit service outside local mode


def test_outside_local_mode_a_deposit_answers_the_treasurys_transactions_and_sends_nothing(tmp_path: Path) -> None:
    sessions = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    with sessions() as session:
        session.add(
            Partner(
                id=4,
                name="Bakery",
                minter="0x5190176531A5195245d07659D3EFE98a6710B01b",
                treasury=TREASURY,
                api_key_prefix="p",
                api_key_hash="h",
                currency="EUR",
                points_per_unit=1,
                issue_price=10_000,
                reimbursement_rate=8_000,
                issuance_limit=10**15,
            )
        )
        session.commit()
    w3 = Web3()  # no provider: any chain call would fail
    token = w3.eth.contract(address=TOKEN["address"], abi=load_abi("SettlementToken"))
    clearing = w3.eth.contract(address="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", abi=load_abi("Clearing"))
    chain = SimpleNamespace(contracts=SimpleNamespace(token=token, clearing=clearing), admin=None)
    with sessions() as session:
        answer = partner_account.deposit(session, chain, SimpleNamespace(mode="rpc"), 4, 25_000_000)  # type: ignore[arg-type]
    assert answer.status == "treasury-must-send" and answer.tx_hash is None and answer.funds is None
    approve, deposit = answer.transactions
    fn, args = token.decode_function_input(approve.data)
    assert (approve.to, fn.fn_name, args) == (
        token.address,
        "approve",
        {"spender": clearing.address, "value": 25_000_000},
    )
    fn, args = clearing.decode_function_input(deposit.data)
    assert (deposit.to, fn.fn_name, args) == (clearing.address, "deposit", {"partnerId": 4, "amount": 25_000_000})
    assert TREASURY in approve.description
