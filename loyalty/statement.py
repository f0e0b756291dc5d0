"""A period's settlement statement: its JSON (canonical bytes, whose keccak256 is recorded on
chain by ``Clearing.settle``) and its CSV rendering.

Breakage: ``points_expired`` is the points that expired in the period (``Expired`` events), for
information: they leave the liability, and nobody's net changes (loyalty/expiry.py's rule).

Membership fees (issue 21): ``membership_fees`` is a separate section, because the fees are in
each plan's currency (taken by the selling partner's own payment provider, reported through the
API) while the nets above are in the settlement token: the fees reported in the period (successful
payments whose reported time is after ``reported_after`` and at most ``reported_through``: the
timestamps of the blocks before and at the period's end, so consecutive periods share no fee and
miss none), per currency, selling partner and plan, with the coalition's share (each fee's as
stored when it was reported, at the plan's rate then) and the partner's net (the rest). Its own
sum check, per currency: partners' nets + coalition's share = fees. No money moves on chain for
them: the statement's hash, recorded on chain, covers this section too.

Canonical JSON: keys sorted, no whitespace, UTF-8, integers as JSON integers, so that anyone
holding the served statement can hash it and compare with ``Clearing.period(id).statementHash``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from eth_utils import keccak

from loyalty.expiry import BREAKAGE_RULE
from loyalty.settlement import MATRIX_RULE, PartnerLine, bilateral_matrix, format_units, operator_net

STATEMENT_VERSION = 5  # 3: points restored after refunds of till captures; 4: points_expired, breakage_rule;
# 5: membership_fees
CENT = Decimal("0.01")
FEES_RULE = (
    "fees = the successful membership payments reported in the period, in each plan's currency; "
    "coalition_share = the sum of each fee's coalition part (its plan's rate when reported, rounded half-up "
    "to the cent); partner_net = fees - coalition_share; not settled in the token"
)
FORMULA = (
    "net = redeemed_points x reimbursement_rate + reversed_points x issue_price - issued_points x issue_price "
    "- restored_points x reimbursement_rate of their capture, at each event's rate"
)


def build_statement(
    *,
    chain_id: int,
    period_id: int,
    from_block: int,
    to_block: int,
    lines: Sequence[PartnerLine],
    token_symbol: str = "cUSD",
    token_decimals: int = 6,
    points_expired: int = 0,
    membership_fees: Sequence[FeePayment] = (),
    fees_after: datetime | None = None,
    fees_through: datetime | None = None,
) -> dict[str, Any]:
    """The statement of a period as a JSON-ready dict (see the module doc for its bytes);
    ``points_expired``: the points of the period's ``Expired`` events; ``membership_fees``: the
    successful membership payments reported after ``fees_after`` and at most ``fees_through``."""
    op_net = operator_net(lines)
    nets = sum(line.net for line in lines)
    matrix = bilateral_matrix(lines)
    return {
        "version": STATEMENT_VERSION,
        "chain_id": chain_id,
        "period_id": period_id,
        "from_block": from_block,
        "to_block": to_block,
        "token": {"symbol": token_symbol, "decimals": token_decimals},
        "formula": FORMULA,
        "partners": [
            {
                "partner_id": line.partner_id,
                "points_issued": line.points_issued,
                "points_reversed": line.points_reversed,
                "points_redeemed": line.points_redeemed,
                "issued_value": line.issued_value,
                "reversed_value": line.reversed_value,
                "redeemed_value": line.redeemed_value,
                "points_restored": line.points_restored,
                "restored_value": line.restored_value,
                "net": line.net,
                "net_formatted": format_units(line.net, token_decimals),
            }
            for line in lines
        ],
        "operator_net": op_net,
        "operator_net_formatted": format_units(op_net, token_decimals),
        "points_expired": points_expired,
        "breakage_rule": BREAKAGE_RULE,
        "sum_check": {"partners_net": nets, "operator_net": op_net, "total": nets + op_net},
        "bilateral": {
            "rule": MATRIX_RULE,
            "points": [
                {"redeemed_at": redeemer, "issued_by": issuer, "points": points}
                for redeemer, row in sorted(matrix.items())
                for issuer, points in sorted(row.items())
            ],
        },
        "membership_fees": fees_section(membership_fees, after=fees_after, through=fees_through),
    }


# ---------------------------------------------------------------------- membership fees


@dataclass(frozen=True, slots=True)
class FeePayment:
    """One successful membership payment as stored: its selling partner, plan, currency, amount and
    the coalition's part of it (computed when it was reported)."""

    partner_id: int
    plan_id: int
    currency: str
    amount: Decimal
    coalition_amount: Decimal


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT) + 0)  # + 0: no "-0.00"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def fees_section(
    payments: Sequence[FeePayment], *, after: datetime | None = None, through: datetime | None = None
) -> dict[str, Any]:
    """The statement's ``membership_fees``: one line per (currency, selling partner, plan) with
    the fees, the coalition's share and the partner's net, and a sum check per currency. Amounts
    are strings with two decimals (exact; canonical JSON has no floats)."""
    lines: dict[tuple[str, int, int], list[Decimal]] = {}
    for p in payments:
        if p.amount < 0 or not Decimal(0) <= p.coalition_amount <= p.amount:
            raise ValueError(f"a fee of {p.amount} with a coalition part of {p.coalition_amount}")
        acc = lines.setdefault((p.currency, p.partner_id, p.plan_id), [Decimal(0), Decimal(0), Decimal(0)])
        acc[0] += 1
        acc[1] += p.amount
        acc[2] += p.coalition_amount
    checks: dict[str, dict[str, str]] = {}
    for currency in sorted({key[0] for key in lines}):
        mine = [v for k, v in lines.items() if k[0] == currency]
        fees, coalition = sum((v[1] for v in mine), Decimal(0)), sum((v[2] for v in mine), Decimal(0))
        partners = sum((v[1] - v[2] for v in mine), Decimal(0))
        checks[currency] = {
            "fees": _money(fees),
            "partners_net": _money(partners),
            "coalition_share": _money(coalition),
            "difference": _money(partners + coalition - fees),
        }
    return {
        "rule": FEES_RULE,
        "reported_after": _iso(after),
        "reported_through": _iso(through),
        "lines": [
            {
                "currency": currency,
                "partner_id": partner_id,
                "plan_id": plan_id,
                "payments": int(count),
                "fees": _money(fees),
                "coalition_share": _money(coalition),
                "partner_net": _money(fees - coalition),
            }
            for (currency, partner_id, plan_id), (count, fees, coalition) in sorted(lines.items())
        ],
        "sum_check": checks,
    }


def canonical_bytes(statement: dict[str, Any]) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def statement_hash(statement: dict[str, Any]) -> bytes:
    """keccak256 of the canonical JSON bytes: what ``Clearing.settle`` records."""
    return keccak(canonical_bytes(statement))


def statement_csv(statement: dict[str, Any]) -> str:
    """The statement as CSV: one row per partner, the operator's row, then the bilateral matrix."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    decimals = statement["token"]["decimals"]
    w.writerow(
        ["period_id", statement["period_id"], "from_block", statement["from_block"], "to_block", statement["to_block"]]
    )
    w.writerow(
        [
            "partner_id",
            "points_issued",
            "points_reversed",
            "points_redeemed",
            "issued_value",
            "reversed_value",
            "redeemed_value",
            "points_restored",
            "restored_value",
            "net",
            f"net_{statement['token']['symbol']}",
        ]
    )
    for p in statement["partners"]:
        w.writerow(
            [
                p["partner_id"],
                p["points_issued"],
                p["points_reversed"],
                p["points_redeemed"],
                p["issued_value"],
                p["reversed_value"],
                p["redeemed_value"],
                p.get("points_restored", 0),
                p.get("restored_value", 0),
                p["net"],
                p["net_formatted"],
            ]
        )
    op = statement["operator_net"]
    w.writerow(["operator", "", "", "", "", "", "", "", "", op, format_units(op, decimals)])
    w.writerow([])
    w.writerow(["redeemed_at", "issued_by", "points"])
    for cell in statement["bilateral"]["points"]:
        w.writerow([cell["redeemed_at"], cell["issued_by"], cell["points"]])
    w.writerow([])
    w.writerow(["points_expired", statement.get("points_expired", 0)])
    _fees_csv(w, statement)
    return out.getvalue()


FEES_COLUMNS = ["currency", "partner_id", "plan_id", "payments", "fees", "coalition_share", "partner_net"]


def _fees_csv(w: Any, statement: dict[str, Any], partner_id: int | None = None) -> None:
    """The membership fees section (statements from version 5): its lines, then per currency the
    sum check (the total row: partner "all")."""
    section = statement.get("membership_fees")
    if section is None:
        return
    w.writerow([])
    w.writerow(["membership_fees", "reported_after", section["reported_after"] or "", "reported_through",
                section["reported_through"] or ""])  # fmt: skip
    w.writerow(FEES_COLUMNS)
    for line in section["lines"]:
        if partner_id is None or int(line["partner_id"]) == partner_id:
            w.writerow([line[c] for c in FEES_COLUMNS])
    if partner_id is None:
        for currency, check in section["sum_check"].items():
            w.writerow([currency, "all", "", "", check["fees"], check["coalition_share"], check["partners_net"]])


# ---------------------------------------------------------------------- for people


@dataclass(frozen=True)
class Payment:
    """Who pays whom for one partner's net: ``payer`` pays ``payee`` ``amount`` (base units)."""

    payer: str
    payee: str
    amount: int


def who_pays(net: int, partner: str, operator: str = "the operator") -> Payment:
    """A partner's net as a payment: positive, the operator pays the partner (its redemptions and
    refunds outweigh its issuance); negative, the partner pays the operator."""
    if net >= 0:
        return Payment(payer=operator, payee=partner, amount=net)
    return Payment(payer=partner, payee=operator, amount=-net)


def partner_view(statement: dict[str, Any], partner_id: int) -> dict[str, Any] | None:
    """One partner's part of a statement: its own line and the bilateral cells it is in
    (points redeemed at it, or issued by it and redeemed elsewhere); None if it has no line."""
    line = next((p for p in statement.get("partners", []) if int(p["partner_id"]) == partner_id), None)
    if line is None:
        return None
    cells = [
        c
        for c in statement.get("bilateral", {}).get("points", [])
        if partner_id in (int(c["redeemed_at"]), int(c["issued_by"]))
    ]
    fees = [f for f in statement.get("membership_fees", {}).get("lines", []) if int(f["partner_id"]) == partner_id]
    return {"token": statement["token"], "line": line, "bilateral": cells, "membership_fees": fees}


def named_csv(
    statement: dict[str, Any],
    names: Mapping[int, str],
    *,
    period_start: str,
    period_end: str,
    settled_at: str,
    partner_id: int | None = None,
) -> str:
    """The statement as a CSV for people: partners by name, the period's dates, amounts in the
    token with its symbol, and who pays whom; then the bilateral matrix by name. With
    ``partner_id``, only that partner's line and cells."""
    token = statement["token"]
    decimals, symbol = int(token["decimals"]), str(token["symbol"])

    def name(pid: int) -> str:
        return "before the period" if pid == 0 else names.get(pid, f"partner #{pid}")

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["period", statement["period_id"], "from", period_start, "to", period_end, "settled", settled_at])
    w.writerow(
        [
            "partner_id", "partner", "points_issued", f"issued_{symbol}", "points_reversed", f"reversed_{symbol}",
            "points_redeemed", f"redeemed_{symbol}", f"net_{symbol}", "payer", "payee", f"amount_{symbol}",
            "points_restored", f"restored_{symbol}",
        ]
    )  # fmt: skip
    for p in statement["partners"]:
        pid = int(p["partner_id"])
        if partner_id is not None and pid != partner_id:
            continue
        pay = who_pays(int(p["net"]), name(pid))
        w.writerow(
            [
                pid, name(pid), p["points_issued"], format_units(int(p["issued_value"]), decimals),
                p["points_reversed"], format_units(int(p["reversed_value"]), decimals), p["points_redeemed"],
                format_units(int(p["redeemed_value"]), decimals), format_units(int(p["net"]), decimals),
                pay.payer, pay.payee, format_units(pay.amount, decimals), p.get("points_restored", 0),
                format_units(int(p.get("restored_value", 0)), decimals),
            ]
        )  # fmt: skip
    if partner_id is None:
        op = int(statement["operator_net"])
        w.writerow(["", "the operator", "", "", "", "", "", "", format_units(op, decimals), "", "", "", "", ""])
    w.writerow([])
    w.writerow(["redeemed_at", "issued_by", "points"])
    for cell in statement["bilateral"]["points"]:
        at, by = int(cell["redeemed_at"]), int(cell["issued_by"])
        if partner_id is None or partner_id in (at, by):
            w.writerow([name(at), name(by), cell["points"]])
    if partner_id is None:
        w.writerow([])
        w.writerow(["points expired (breakage, the operator's)", statement.get("points_expired", 0)])
        w.writerow(["whose money", statement.get("breakage_rule", BREAKAGE_RULE)])
    _fees_csv(w, statement, partner_id)
    return out.getvalue()
