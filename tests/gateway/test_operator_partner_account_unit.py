"""Unit tests of the operator's new partner routes (issue 14, item 8), in process with the
fixtures of test_purchases_unit.py (no chain: these answers come before it): a deposit is
refused before its body is read without the operator token (a partner key is not one), an
invalid amount is a validation problem naming the field, an unknown partner is a 404."""

from __future__ import annotations

import pytest

from tests.gateway.partners import OPERATOR
from tests.problems import assert_problem

JSON = {"Content-Type": "application/json"}
BROKEN = b'{"amount": '


def test_unit_a_deposit_checks_the_operator_token_before_its_body(client, partner, no_chain):
    path = f"/v1/operator/partners/{partner.id}/deposits"
    assert_problem(client.post(path, headers=JSON, content=BROKEN), "unauthorized")
    assert_problem(client.post(path, headers=partner.headers | JSON, content=BROKEN), "unauthorized")
    assert_problem(client.post(path, headers=OPERATOR | JSON, content=BROKEN), "validation-error")
    assert no_chain.calls == 0


@pytest.mark.parametrize("amount", [0, -1, 2**96, 1.5, None])
def test_unit_a_deposit_of_an_invalid_amount_is_a_validation_problem(client, partner, amount):
    r = client.post(f"/v1/operator/partners/{partner.id}/deposits", headers=OPERATOR, json={"amount": amount})
    problem = assert_problem(r, "validation-error")
    assert [e["field"] for e in problem["errors"]] == ["body.amount"]


def test_unit_the_partner_account_and_its_deposits_are_the_operators_alone(client, partner):
    for method, path, body in (
        ("GET", f"/v1/operator/partners/{partner.id}", None),
        ("POST", f"/v1/operator/partners/{partner.id}/deposits", {"amount": 1}),
        ("GET", "/v1/operator/settlement-token", None),
    ):
        assert_problem(client.request(method, path, headers=partner.headers, json=body), "unauthorized")


def test_unit_an_unknown_partner_is_not_found_before_the_chain_is_used(client, partner):
    missing = client.get("/v1/operator/partners/999", headers=OPERATOR)
    assert "no partner 999" in assert_problem(missing, "not-found")["detail"]
    deposit = client.post("/v1/operator/partners/999/deposits", headers=OPERATOR, json={"amount": 1})
    assert_problem(deposit, "not-found")
