"""The segment condition language (loyalty/segments.py): what it accepts, each operator of each field
type, and every error with the path of the bad node."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from loyalty.segments import (
    FIELDS,
    MAX_CHILDREN,
    MAX_DEPTH,
    MAX_LIST,
    MAX_NODES,
    OPS,
    All,
    Any_,
    Leaf,
    Not,
    SegmentInvalid,
    country_of,
    parse,
)

VALUES: dict[str, dict[str, Any]] = {
    "string": {"=": "Gold", "!=": "Gold", "in": ["Gold", "Silver"], "not in": ["Gold"]},
    "int": {"=": 3, "!=": 3, "in": [1, 2], "not in": [4], "<": 3, "<=": 3, ">": 3, ">=": 3, "between": [2, 4]},
    "bool": {"=": True, "!=": False},
    "number": {"<": 0.5, "<=": 0.5, ">": 0.25, ">=": 0, "between": [0.2, 1]},
    "date": {
        "<": "2026-11-01",
        "<=": "2026-11-01",
        ">": "2026-11-01",
        ">=": "2026-11-01",
        "between": ["2026-11-01", "2026-11-30"],
        "within_days": 30,
    },
}


def _leaf(field: str, op: str) -> dict[str, Any]:
    kind = FIELDS[field].kind
    value = VALUES[kind][op]
    if field == "rfm_segment":
        value = ["At risk"] if isinstance(value, list) else "At risk"
    if field == "country":
        value = ["PL", "fr"] if isinstance(value, list) else "pl"
    if field in ("rfm_r", "rfm_f", "rfm_m", "birthday_month") and isinstance(value, int):
        value = 3
    tree = {"field": field, "op": op, "value": value}
    if field == "consent":
        tree["channel"] = "email"
    return tree


@pytest.mark.parametrize(
    ("field", "op"), [(f, op) for f, spec in FIELDS.items() for op in OPS[spec.kind]], ids=lambda x: str(x)
)
def test_every_operator_of_every_field_is_accepted(field: str, op: str) -> None:
    parsed = parse(_leaf(field, op))
    assert isinstance(parsed, Leaf) and parsed.field == field and parsed.op == op


def test_values_come_back_typed() -> None:
    assert parse({"field": "enrolled_at", "op": "between", "value": ["2026-01-01", "2026-01-31"]}) == Leaf(
        "enrolled_at", "between", (date(2026, 1, 1), date(2026, 1, 31))
    )
    assert parse({"field": "country", "op": "in", "value": ["pl", "CZ"]}).value == ("PL", "CZ")  # type: ignore[union-attr]
    assert parse({"field": "consent", "op": "=", "value": True, "channel": "sms", "partner_id": 4}) == Leaf(
        "consent", "=", True, 4, "sms"
    )
    assert parse({"field": "rfm_r", "op": ">=", "value": 4, "partner_id": 2}).partner_id == 2  # type: ignore[union-attr]


def test_trees_nest() -> None:
    tree = {
        "all": [
            {"field": "tier", "op": "=", "value": "Gold"},
            {
                "any": [
                    {"not": {"field": "has_email", "op": "=", "value": True}},
                    {"field": "rfm_f", "op": "<", "value": 2},
                ]
            },
        ]
    }
    parsed = parse(tree)
    assert isinstance(parsed, All) and isinstance(parsed.nodes[1], Any_) and isinstance(parsed.nodes[1].nodes[0], Not)


def _deep(n: int) -> dict[str, Any]:
    tree: dict[str, Any] = {"field": "tier", "op": "=", "value": "Gold"}
    for _ in range(n - 1):
        tree = {"not": tree}
    return tree


TIER = {"field": "tier", "op": "=", "value": "Gold"}
ERRORS: list[tuple[Any, str, str]] = [
    ([TIER], "$", "a node is an object"),
    ({}, "$", "exactly one of all, any, not"),
    ({"all": [TIER], "any": [TIER]}, "$", "exactly one of"),
    ({"every": [TIER]}, "$", "exactly one of"),
    ({"all": []}, "$.all", "non-empty list"),
    ({"any": TIER}, "$.any", "non-empty list"),
    ({"all": [TIER] * (MAX_CHILDREN + 1)}, "$.all", f"at most {MAX_CHILDREN}"),
    ({"all": [TIER, {"not": "tier"}]}, "$.all[1].not", "a node is an object"),
    (_deep(MAX_DEPTH + 1), "$" + ".not" * MAX_DEPTH, "deeper than"),
    ({"all": [{"any": [TIER] * 40}] * 6}, "$.all[4].any[34]", f"more than {MAX_NODES} nodes"),
    ({"field": "age", "op": "=", "value": 3}, "$.field", "unknown field 'age'"),
    ({"field": 3, "op": "=", "value": 3}, "$.field", "unknown field"),
    ({"field": "tier", "op": "<", "value": "Gold"}, "$.op", "takes the operators =, !=, in, not in"),
    ({"field": "tier", "op": "like", "value": "G%"}, "$.op", "not 'like'"),
    ({"field": "tier", "op": "="}, "$.value", "needs a value"),
    ({"field": "tier", "op": "=", "value": "Gold", "partner_id": 1}, "$.partner_id", "tier takes no 'partner_id'"),
    ({"field": "tier", "op": "=", "value": 3}, "$.value", "a string of 1 to"),
    ({"field": "tier", "op": "=", "value": ""}, "$.value", "a string of 1 to"),
    ({"field": "tier", "op": "=", "value": "x" * 65}, "$.value", "a string of 1 to"),
    ({"field": "tier", "op": "in", "value": []}, "$.value", "non-empty list"),
    ({"field": "tier", "op": "in", "value": "Gold"}, "$.value", "non-empty list"),
    ({"field": "tier", "op": "in", "value": ["a"] * (MAX_LIST + 1)}, "$.value", f"at most {MAX_LIST} values"),
    ({"field": "tier", "op": "not in", "value": ["Gold", 2]}, "$.value[1]", "a string"),
    ({"field": "rfm_segment", "op": "=", "value": "Sleepy"}, "$.value", "not an RFM segment"),
    ({"field": "rfm_r", "op": "=", "value": 6}, "$.value", "from 1 to 5"),
    ({"field": "rfm_m", "op": "=", "value": 2, "partner_id": 0}, "$.partner_id", "a partner id"),
    ({"field": "rfm_m", "op": "=", "value": 2, "partner_id": "1"}, "$.partner_id", "a partner id"),
    ({"field": "rfm_m", "op": "=", "value": 2, "partner_id": 2**31}, "$.partner_id", "a partner id"),
    ({"field": "birthday_month", "op": "=", "value": 13}, "$.value", "from 1 to 12"),
    ({"field": "birthday_month", "op": "=", "value": 2.5}, "$.value", "an integer"),
    ({"field": "points_balance", "op": ">", "value": True}, "$.value", "an integer"),
    ({"field": "points_balance", "op": ">", "value": "100"}, "$.value", "an integer"),
    ({"field": "partners_visited", "op": ">", "value": -1}, "$.value", "from 0 to"),
    ({"field": "points_balance", "op": "between", "value": [5]}, "$.value", "two values"),
    ({"field": "points_balance", "op": "between", "value": [9, 5]}, "$.value", "above its high"),
    ({"field": "has_email", "op": "=", "value": "yes"}, "$.value", "true or false"),
    ({"field": "has_email", "op": "in", "value": [True]}, "$.op", "takes the operators =, !="),
    ({"field": "country", "op": "=", "value": "POL"}, "$.value", "two-letter region"),
    ({"field": "enrolled_at", "op": "=", "value": "2026-01-01"}, "$.op", "takes the operators <"),
    ({"field": "enrolled_at", "op": "<", "value": "01/02/2026"}, "$.value", "YYYY-MM-DD"),
    ({"field": "enrolled_at", "op": "<", "value": "2026-02-30"}, "$.value", "not a day of the calendar"),
    ({"field": "enrolled_at", "op": "<", "value": "9999-12-31"}, "$.value", "a day from 1900 to 2999"),
    ({"field": "tier", "op": "=", "value": "Gold\x00"}, "$.value", "no control ones"),
    ({"field": "enrolled_at", "op": "within_days", "value": -1}, "$.value", "number of days"),
    ({"field": "next_expiry", "op": "within_days", "value": "30"}, "$.value", "number of days"),
    ({"field": "next_expiry", "op": "between", "value": ["2026-02-01", "2026-01-01"]}, "$.value", "above its high"),
    ({"field": "consent", "op": "=", "value": True}, "$.channel", "channel is one of"),
    ({"field": "consent", "op": "=", "value": True, "channel": "fax"}, "$.channel", "channel is one of"),
    ({"all": [TIER, {"any": [{"field": "tier", "op": "=", "value": None}]}]}, "$.all[1].any[0].value", "a string"),
]


@pytest.mark.parametrize(("tree", "path", "message"), ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_every_error_names_the_bad_node(tree: Any, path: str, message: str) -> None:
    with pytest.raises(SegmentInvalid) as refused:
        parse(tree)
    assert refused.value.path == path
    assert message in refused.value.message
    assert str(refused.value).startswith(f"{path}: ")


def test_the_limits_are_limits_not_less() -> None:
    parse(_deep(MAX_DEPTH))
    parse({"all": [TIER] * MAX_CHILDREN})
    parse({"field": "tier", "op": "in", "value": ["a"] * MAX_LIST})
    parse({"all": [{"any": [TIER] * 39}] * 4 + [{"any": [TIER] * 38}]})  # 1 + 4 × 40 + 39: 200 nodes


def test_the_country_of_a_locale_is_its_region() -> None:
    assert [country_of(x) for x in ("pl-PL", "en", "sr-Latn-RS", "fr-ca", None, "")] == [
        "PL",
        None,
        "RS",
        "CA",
        None,
        None,
    ]
