"""The settlement statement's membership fees section (loyalty/statement.py ``fees_section``),
checked against an independent computation in integer cents: each fee's coalition part is the
plan's rate (in basis points of a basis point: 4 decimals) times the fee, rounded half-up to the
cent; the section adds them per (currency, selling partner, plan), and its sum check holds per
currency."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.memberships import fee_split
from loyalty.statement import FEES_RULE, STATEMENT_VERSION, FeePayment, build_statement, fees_section, statement_hash

payment = st.tuples(
    st.sampled_from(["EUR", "USD", "PLN"]),
    st.integers(1, 3),  # partner
    st.integers(1, 4),  # plan
    st.integers(0, 10**7),  # the fee in cents
    st.integers(0, 10_000),  # the plan's rate in 1/10,000
)


def _cents(text: str) -> int:
    units, _, cents = text.lstrip("-").partition(".")
    value = int(units) * 100 + int(cents)
    return -value if text.startswith("-") else value


@settings(max_examples=150, deadline=None)
@given(st.lists(payment, max_size=40))
def test_section_against_cents(raw: list[tuple[str, int, int, int, int]]) -> None:
    payments = []
    expected: dict[tuple[str, int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for currency, partner, plan, cents, rate in raw:
        coalition_cents = (cents * rate * 2 + 10_000) // 20_000  # half-up, in integers
        acc = expected[(currency, partner, plan)]
        acc[0], acc[1], acc[2] = acc[0] + 1, acc[1] + cents, acc[2] + coalition_cents
        amount = Decimal(cents) / 100
        coalition = fee_split(amount, Decimal(rate) / 10_000)[0]  # as the store computes it when reported
        payments.append(FeePayment(partner, plan, currency, amount, coalition))
    section = fees_section(payments)
    got = {
        (f["currency"], f["partner_id"], f["plan_id"]): [
            f["payments"],
            _cents(f["fees"]),
            _cents(f["coalition_share"]),
            _cents(f["partner_net"]),
        ]
        for f in section["lines"]
    }
    assert got == {k: [n, fees, co, fees - co] for k, (n, fees, co) in expected.items()}
    assert [(f["currency"], f["partner_id"], f["plan_id"]) for f in section["lines"]] == sorted(expected)
    for currency in {k[0] for k in expected}:
        fees = sum(v[1] for k, v in expected.items() if k[0] == currency)
        coalition = sum(v[2] for k, v in expected.items() if k[0] == currency)
        check = section["sum_check"][currency]
        assert (_cents(check["fees"]), _cents(check["coalition_share"])) == (fees, coalition)
        assert _cents(check["partners_net"]) + coalition == fees and check["difference"] == "0.00"
    assert set(section["sum_check"]) == {k[0] for k in expected}


def test_statement_carries_the_section_and_its_hash_covers_it() -> None:
    fees = [
        FeePayment(1, 1, "EUR", Decimal("9.99"), Decimal("1.00")),
        FeePayment(1, 1, "EUR", Decimal("9.99"), Decimal("1.00")),
        FeePayment(2, 3, "USD", Decimal("0.05"), Decimal("0.01")),  # 0.05 x 0.15 = 0.0075: half-up to 0.01
    ]
    s = build_statement(chain_id=1, period_id=2, from_block=5, to_block=9, lines=[], membership_fees=fees)
    assert s["version"] == STATEMENT_VERSION == 5
    assert s["membership_fees"]["rule"] == FEES_RULE
    assert s["membership_fees"]["lines"] == [
        {"currency": "EUR", "partner_id": 1, "plan_id": 1, "payments": 2, "fees": "19.98",
         "coalition_share": "2.00", "partner_net": "17.98"},
        {"currency": "USD", "partner_id": 2, "plan_id": 3, "payments": 1, "fees": "0.05",
         "coalition_share": "0.01", "partner_net": "0.04"},
    ]  # fmt: skip
    assert s["membership_fees"]["sum_check"]["EUR"] == {
        "fees": "19.98", "partners_net": "17.98", "coalition_share": "2.00", "difference": "0.00",
    }  # fmt: skip
    assert s["sum_check"]["total"] == 0  # the token's nets are untouched by fees
    fewer = build_statement(chain_id=1, period_id=2, from_block=5, to_block=9, lines=[], membership_fees=fees[1:])
    assert statement_hash(fewer) != statement_hash(s)


def test_a_coalition_part_above_the_fee_is_refused() -> None:
    with pytest.raises(ValueError):
        fees_section([FeePayment(1, 1, "EUR", Decimal("1.00"), Decimal("1.01"))])
