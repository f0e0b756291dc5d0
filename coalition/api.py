"""The ``coalition`` command's side of the operator API: one call, its refusals told to a person
on stderr, and an exit code that says what happened.

Exit codes (also in ``coalition --help``):

    0  done
    1  refused: the API refused the request (its reason is printed), a check failed, or the
       command could not do what it was asked (e.g. ``fund`` where the treasury must pay)
    2  usage: a missing or invalid option or argument (nothing was sent)
    3  not running: the gateway does not answer, the chain cannot be reached, or ``status``
       finds the network stopped or incomplete
    4  the gateway failed (HTTP 500): its log says why
"""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console

from coalition.formats import Token, problem_lines
from gateway.settings import GatewaySettings

# Piped or logged (no terminal), rich would wrap to 80 columns and cut the statement's figures;
# sentences are not wrapped at all (soft wrap: the terminal wraps them), so they stay greppable.
console = Console(width=None if sys.stdout.isatty() else 140, soft_wrap=True)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 140, soft_wrap=True)


class ExitCode(IntEnum):
    OK = 0
    REFUSED = 1
    USAGE = 2
    NOT_RUNNING = 3
    GATEWAY_FAILED = 4


EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 refused (by the API, a failed check); 2 usage (a bad option or argument); "
    "3 not running (no gateway, no chain; status: stopped or incomplete); 4 the gateway failed (see its log)."
)

# the operator API's body fields, in words, with the option or argument that sets them
FIELD_WORDS = {
    "name": "the partner's name (NAME)",
    "treasury": "the treasury address (TREASURY)",
    "currency": "the currency (--currency)",
    "points_per_unit": "the points per unit of currency (--points-per-unit)",
    "issue_price": "the issue price (--issue-price)",
    "reimbursement_rate": "the reimbursement rate (--reimbursement-rate)",
    "issuance_limit": "the issuance limit (--issuance-limit)",
    "deposit": "the deposit (--deposit)",
    "amount": "the amount (AMOUNT)",
    "partner_id": "the partner id (PARTNER_ID)",
}


def settings() -> GatewaySettings:
    return GatewaySettings()


def fail(code: ExitCode, *lines: str) -> NoReturn:
    for line in lines:
        errors.print(line, markup=False, highlight=False)
    raise typer.Exit(int(code))


def call(method: str, path: str, **kw: Any) -> Any:
    """The operator API's answer (JSON), or the command ends with the reason and its exit code."""
    s = settings()
    url = s.public_url.rstrip("/")
    try:
        r = httpx.request(method, url + path, headers={"Authorization": f"Bearer {s.operator_token}"}, timeout=60, **kw)
    except httpx.TransportError as exc:
        fail(
            ExitCode.NOT_RUNNING,
            f"the gateway at {url} does not answer ({type(exc).__name__}): is the network running? "
            "Start it with `coalition up`.",
        )
    if not r.is_error:
        return r.json()
    try:
        body = r.json()
    except ValueError:
        body = None
    lines = problem_lines(r.status_code, body, r.text, FIELD_WORDS)
    if r.status_code == 401:
        lines.append("the operator token (COALITION_OPERATOR_TOKEN) is not this gateway's")
    if r.status_code == 503:
        fail(ExitCode.NOT_RUNNING, *lines)
    fail(ExitCode.GATEWAY_FAILED if r.status_code >= 500 else ExitCode.REFUSED, *lines)


def settlement_token() -> Token:
    """The token partners prefund and settle in, as the gateway's chain has it."""
    t = call("GET", "/v1/operator/settlement-token")
    return Token(t["symbol"], int(t["decimals"]))
