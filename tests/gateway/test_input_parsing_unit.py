"""Unit tests of the accept path's parsing: no input reaches a 500, every invalid one is a 422
problem (in a batch, only the bad item is rejected), the decimal inputs take exactly what their
published schema says.

Hypothesis (6.27, brownie's pin) fuzzes the parsers and validators themselves (dates with any
offset, amounts written any way, ids of any text, whole bodies of any JSON) and, in process, the
batch route; tests/e2e/test_input_hardening_e2e.py posts the partner's examples to the real
gateway."""

from __future__ import annotations

import json
import re
import string
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from gateway.errors import GatewayError
from gateway.routes.operator import PartnerRerate
from gateway.routes.refunds import RefundCreate
from gateway.schemas import (
    AMOUNT_PATTERN,
    MULTIPLIER_PATTERN,
    POINTS_PER_UNIT_PATTERN,
    SHARE_PATTERN,
    PartnerCreate,
    PurchaseBatchCreate,
    PurchaseCreate,
)
from gateway.services.purchases import points_for, request_hash
from gateway.timeutil import as_utc, utc_instant
from network.store import Partner
from tests.gateway.partners import OPERATOR, PARTNER_BODY, TREASURY
from tests.gateway.purchases import WALLET, assert_nothing_stored, purchase_body, stored
from tests.problems import assert_problem

EXTREME_DATES = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"]
UNDERSCORED = ["1_000", "1_0.5", "4_2.50"]
NOT_AS_PUBLISHED = [" 1", "1 ", "1e3", "1E-2", "+1", ".5", "5.", "0x10", "１２", "٣", "1\n", "Infinity", "NaN", "-0"]
FUZZ = hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_HTTP = hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

# ---------------------------------------------------------------------------------- strategies

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1)


@st.composite
def written_instants(draw: st.DrawFn) -> Any:
    """A datetime as a client may write it: any instant of years 1-9999, any offset under 24 h
    (or none), with or without fractions; or a number, or text."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999_999)))
    minutes = draw(offsets)
    hours, rest = divmod(abs(minutes), 60)
    offset = draw(st.sampled_from(["", "Z", f"{'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d}"]))
    text = moment.isoformat(timespec=draw(st.sampled_from(["seconds", "microseconds", "milliseconds"]))) + offset
    return draw(st.sampled_from([text, text.replace("T", " ")]) | st.integers() | st.floats() | st.text(max_size=40))


amounts = (
    st.from_regex(AMOUNT_PATTERN, fullmatch=True)
    | st.decimals(allow_nan=True, allow_infinity=True).map(str)
    | st.text(alphabet="0123456789._-+eE x", max_size=24)
    | st.integers()
    | st.floats()
    | st.sampled_from(UNDERSCORED + NOT_AS_PUBLISHED)
    | json_values
)
idents = st.from_regex(r"^[A-Za-z0-9._:\-]{1,64}$", fullmatch=True) | st.text(max_size=80) | json_values
customers = st.fixed_dictionaries({"wallet": st.just(WALLET)}) | st.fixed_dictionaries({"ref": idents}) | json_values


@st.composite
def purchase_bodies(draw: st.DrawFn) -> Any:
    body: dict[str, Any] = {
        "purchase_id": draw(idents),
        "customer": draw(customers),
        "amount": draw(amounts),
        "currency": draw(st.sampled_from(["EUR", "USD", "eur"]) | st.text(max_size=4)),
        "purchased_at": draw(written_instants()),
    }
    for name in draw(st.sets(st.sampled_from(sorted(body)), max_size=2)):
        del body[name]
    if draw(st.booleans()):
        body[draw(st.text(max_size=8))] = draw(json_values)
    return draw(st.just(body) | json_values) if draw(st.integers(0, 9)) == 0 else body


def _parses_or_is_invalid(model: type[BaseModel], value: Any) -> BaseModel | None:
    """The model of ``value``, or None when it is invalid: any other exception fails the test."""
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


# ---------------------------------------------------------------------------------- fuzz: parsers


@FUZZ
@given(purchase_bodies())
@example(
    {
        "purchase_id": "p",
        "customer": {"wallet": WALLET},
        "amount": "1",
        "currency": "EUR",
        "purchased_at": EXTREME_DATES[0],
    }
)
@example(
    {
        "purchase_id": "p",
        "customer": {"wallet": WALLET},
        "amount": "1",
        "currency": "EUR",
        "purchased_at": EXTREME_DATES[1],
    }
)
def test_unit_fuzz_a_purchase_is_parsed_or_invalid_and_never_breaks_the_accept_path(body):
    purchase = _parses_or_is_invalid(PurchaseCreate, body)
    if purchase is None:
        return
    assert isinstance(purchase, PurchaseCreate)
    if purchase.purchased_at is not None:  # optional: absent, the gateway stamps the time it accepts it
        assert purchase.purchased_at.tzinfo is not None and purchase.purchased_at.utcoffset() == timedelta(0)
        assert as_utc(purchase.purchased_at) == purchase.purchased_at
    assert len(request_hash(purchase)) == 64
    assert re.fullmatch(AMOUNT_PATTERN, format(purchase.amount, "f"), re.ASCII) or not isinstance(body["amount"], str)
    rule = Partner(currency="EUR", points_per_unit=Decimal("1.5"))
    try:
        points, _ = points_for(rule, purchase.amount, purchase.currency)
    except GatewayError:
        return
    assert points > 0


@FUZZ
@given(st.lists(purchase_bodies() | json_values, min_size=1, max_size=5))
def test_unit_fuzz_a_batch_rejects_only_its_bad_items(items):
    batch = _parses_or_is_invalid(PurchaseBatchCreate, {"purchases": items})
    assert isinstance(batch, PurchaseBatchCreate)
    for item in batch.purchases:
        purchase = _parses_or_is_invalid(PurchaseCreate, item)
        if purchase is not None:
            request_hash(purchase)  # type: ignore[arg-type]


@FUZZ
@given(
    st.fixed_dictionaries({"refund_id": idents, "amount": amounts, "reason": st.none() | st.text(max_size=210)})
    | json_values
)
def test_unit_fuzz_a_refund_is_parsed_or_invalid(body):
    refund = _parses_or_is_invalid(RefundCreate, body)
    if refund is not None and refund.amount is not None:  # type: ignore[attr-defined]
        assert refund.amount > 0  # type: ignore[attr-defined]


@FUZZ
@given(
    st.fixed_dictionaries(
        {
            "name": st.text(max_size=130),
            "treasury": st.just(TREASURY) | st.text(max_size=44),
            "currency": st.just("EUR") | st.text(max_size=4),
            "points_per_unit": st.from_regex(POINTS_PER_UNIT_PATTERN, fullmatch=True) | amounts,
            "issue_price": st.integers() | json_values,
            "reimbursement_rate": st.integers(),
            "issuance_limit": st.integers(),
        }
    )
    | json_values
)
def test_unit_fuzz_an_onboarding_is_parsed_or_invalid(body):
    created = _parses_or_is_invalid(PartnerCreate, body)
    if created is not None:
        created.model_dump_json()  # what the onboarding hashes
    _parses_or_is_invalid(
        PartnerRerate, {"points_per_unit": body.get("points_per_unit")} if isinstance(body, dict) else body
    )


@FUZZ
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)), offsets)
def test_unit_fuzz_an_instant_is_in_utc_or_a_value_error(moment, minutes):
    written = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    try:
        utc = utc_instant(written)
    except ValueError:
        assert written.year in (1, 9999)  # only the first and the last day can leave the years UTC holds
        return
    assert utc.tzinfo == UTC and utc == written


# ---------------------------------------------------------------------------------- the schema is the validator


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    if "anyOf" not in schema:
        return [schema]
    return [leaf for branch in schema["anyOf"] for leaf in _branches(branch)]


def _published_patterns(client: Any) -> dict[str, str]:
    """The string pattern of every input that the published OpenAPI schema says is a number or a
    string (a decimal), by ``<schema>.<field>``."""
    spec = client.get("/openapi.json").json()
    found = {}
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            branches = _branches(prop)
            strings = [b for b in branches if b.get("type") == "string"]
            if any(b.get("type") == "number" for b in branches) and strings:
                found[f"{name}.{field}"] = strings[0].get("pattern", "(none)")
    return found


def test_unit_every_decimal_input_publishes_the_pattern_it_enforces(client):
    patterns = _published_patterns(client)
    assert patterns == {
        "PurchaseCreate.amount": AMOUNT_PATTERN,
        "LineCreate.quantity": AMOUNT_PATTERN,  # issue 16: a purchase's lines and tenders
        "LineCreate.unit_price": AMOUNT_PATTERN,
        "LineCreate.discount": AMOUNT_PATTERN,
        "PaidWith.points": AMOUNT_PATTERN,
        "PaidWith.gift_cards": AMOUNT_PATTERN,
        "RefundCreate.amount": AMOUNT_PATTERN,
        "HoldCreate.amount": AMOUNT_PATTERN,
        "HoldConsentRequest.amount": AMOUNT_PATTERN,
        "HoldCapture.amount": AMOUNT_PATTERN,
        "PartnerCreate.points_per_unit": POINTS_PER_UNIT_PATTERN,
        "PartnerRerate.points_per_unit": POINTS_PER_UNIT_PATTERN,
        "PlanCreate.price": AMOUNT_PATTERN,  # issue 21: paid memberships
        "PlanCreate.earn_multiplier": MULTIPLIER_PATTERN,
        "OperatorPlanCreate.price": AMOUNT_PATTERN,
        "OperatorPlanCreate.earn_multiplier": MULTIPLIER_PATTERN,
        "OperatorPlanCreate.coalition_share": SHARE_PATTERN,
        "ShareSet.coalition_share": SHARE_PATTERN,
        "PaymentReport.amount": AMOUNT_PATTERN,
    }


def _amount_accepted(text: str) -> bool:
    body = {"purchase_id": "p", "customer": {"wallet": WALLET}, "amount": text, "currency": "EUR"}
    return _parses_or_is_invalid(PurchaseCreate, body | {"purchased_at": "2026-11-23T10:00:00Z"}) is not None


@FUZZ
@given(st.from_regex(AMOUNT_PATTERN, fullmatch=True) | st.text(alphabet=string.printable + "٣１_", max_size=20))
@example("1_000")
def test_unit_fuzz_an_amount_string_is_accepted_exactly_when_it_matches_the_published_pattern(text):
    # JSON Schema patterns are ECMA-262 regexes: \d and [0-9] are ASCII, $ is the end of the text
    matches = re.fullmatch(AMOUNT_PATTERN, text, re.ASCII) is not None
    assert _amount_accepted(text) == (matches and Decimal(text) > 0)


@pytest.mark.parametrize("amount", UNDERSCORED + NOT_AS_PUBLISHED)
def test_unit_an_amount_not_written_as_published_is_refused_everywhere(client, partner, sessions, amount):
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body(amount=amount))
    assert [e["field"] for e in assert_problem(r, "validation-error")["errors"]] == ["body.amount"]
    r = client.post("/v1/purchases/batch", headers=partner.headers, json={"purchases": [purchase_body(amount=amount)]})
    assert r.status_code == 200 and r.json()["results"][0]["problem"]["type"] == "/problems/validation-error"
    with pytest.raises(ValidationError, match="amount"):  # the route needs a chain: over HTTP in the e2e test
        RefundCreate.model_validate({"refund_id": "r-1", "amount": amount})
    assert_nothing_stored(sessions, partner.id)
    r = client.post("/v1/operator/partners", headers=OPERATOR, json=PARTNER_BODY | {"points_per_unit": amount})
    assert "body.points_per_unit" in [e["field"] for e in assert_problem(r, "validation-error")["errors"]]
    r = client.patch(f"/v1/operator/partners/{partner.id}", headers=OPERATOR, json={"points_per_unit": amount})
    assert "body.points_per_unit" in [e["field"] for e in assert_problem(r, "validation-error")["errors"]]


# ---------------------------------------------------------------------------------- dates


@pytest.mark.parametrize("purchased_at", EXTREME_DATES)
def test_unit_an_instant_utc_cannot_hold_is_a_validation_problem(client, partner, sessions, purchased_at):
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body(purchased_at=purchased_at))
    assert [e["field"] for e in assert_problem(r, "validation-error")["errors"]] == ["body.purchased_at"]
    assert_nothing_stored(sessions, partner.id)


def test_unit_in_a_batch_only_the_item_with_an_extreme_date_is_rejected(client, partner, sessions):
    items = [
        purchase_body("good-1"),
        purchase_body("bad-1", purchased_at=EXTREME_DATES[0]),
        purchase_body("good-2"),
        purchase_body("bad-2", purchased_at=EXTREME_DATES[1]),
    ]
    r = client.post("/v1/purchases/batch", headers=partner.headers, json={"purchases": items})
    assert r.status_code == 200, r.text
    outcome = r.json()
    assert [x["outcome"] for x in outcome["results"]] == ["accepted", "rejected", "accepted", "rejected"]
    assert outcome["results"][1]["problem"]["errors"][0]["field"] == "purchased_at"
    assert [p.purchase_id for p in stored(sessions, partner.id)[0]] == ["good-1", "good-2"]


@FUZZ_HTTP
@given(items=st.lists(purchase_bodies(), min_size=1, max_size=6))
def test_unit_fuzz_the_batch_route_answers_every_item_and_never_a_500(client, partner, items):
    content = json.dumps({"purchases": items}, allow_nan=True).encode()  # NaN, Infinity: Python's json reads them
    r = client.post(
        "/v1/purchases/batch", headers=partner.headers | {"Content-Type": "application/json"}, content=content
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == list(range(len(items)))
    for item, result in zip(items, results, strict=True):
        if _parses_or_is_invalid(PurchaseCreate, item) is None:
            assert result["outcome"] == "rejected" and result["problem"]["status"] == 422, result
        else:
            assert result["outcome"] != "rejected" or result["problem"]["status"] in (409, 422), result
