"""Operator-defined segments: a small condition language over a closed list of member fields (pure:
no store, no HTTP). gateway/services/segments.py compiles a parsed condition to one SQL SELECT.

A condition is a JSON tree. A node is one of::

    {"all": [node, ...]}        every node holds (1 to MAX_CHILDREN nodes)
    {"any": [node, ...]}        at least one holds
    {"not": node}               the node does not hold
    {"field": F, "op": O, "value": V, ...options}   a leaf

A leaf on a value the member does not have (no profile, no locale, no tier, no RFM row, no points
holding, no churn score) is false, whatever the operator (``!=`` and ``not in`` included); ``not`` gives exactly the
complement. Dates are UTC days (``"2026-11-30"``); ``within_days`` N: in the N days before now (a
past date) or in the N days from now on (``next_expiry``). Numbers (``churn_risk``, 0 to 1) take
``<``, ``<=``, ``>``, ``>=`` and ``between``, never equality. :func:`parse` checks a tree and returns
it as typed nodes or raises :class:`SegmentInvalid` naming the path of the bad node (``$.all[1].value``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

MAX_DEPTH = 8
MAX_NODES = 200
MAX_CHILDREN = 50
MAX_LIST = 500
MAX_STRING = 64
MAX_DAYS = 36_600

Kind = Literal["string", "int", "bool", "date", "number"]
OPS: dict[Kind, tuple[str, ...]] = {
    "string": ("=", "!=", "in", "not in"),
    "int": ("=", "!=", "in", "not in", "<", "<=", ">", ">=", "between"),
    "bool": ("=", "!="),
    "date": ("<", "<=", ">", ">=", "between", "within_days"),
    "number": ("<", "<=", ">", ">=", "between"),
}
ALL_OPS = ("=", "!=", "in", "not in", "<", "<=", ">", ">=", "between", "within_days")


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    description: str
    options: tuple[str, ...] = ()  # extra keys a leaf may carry: "partner_id", "channel"
    lo: int | None = None  # bounds of an int field's values
    hi: int | None = None
    future: bool = False  # within_days looks forward (next_expiry)
    choices: tuple[str, ...] = ()  # a closed set of string values


RFM_SEGMENTS = (
    "Champions",
    "Loyal",
    "Potential loyalist",
    "New",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Can't lose them",
    "Hibernating",
    "Lost",
)
CHANNELS = ("email", "sms", "push")

FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("locale", "string", "the profile's locale (BCP 47, compared as written, e.g. `pl-PL`)"),
        Field("time_zone", "string", "the profile's IANA time zone"),
        Field("country", "string", "the region of the profile's locale, upper case (`fr-FR` → `FR`)"),
        Field("birthday_month", "int", "the month of the profile's birthday, 1 to 12", lo=1, hi=12),
        Field("has_email", "bool", "the profile has an email address"),
        Field("has_phone", "bool", "the profile has a phone number"),
        Field("tier", "string", "the tier in force (tier_states)"),
        Field("rfm_segment", "string", "the RFM segment in the last snapshot", ("partner_id",), choices=RFM_SEGMENTS),
        Field("rfm_r", "int", "the recency score (1 to 5) in the scope's last snapshot", ("partner_id",), lo=1, hi=5),
        Field("rfm_f", "int", "the frequency score (1 to 5)", ("partner_id",), lo=1, hi=5),
        Field("rfm_m", "int", "the monetary score (1 to 5)", ("partner_id",), lo=1, hi=5),
        Field("last_purchase", "date", "the last counted purchase (at `partner_id`)", ("partner_id",)),
        Field("partners_visited", "int", "partners with a counted purchase of the member", lo=0),
        Field("points_balance", "int", "points held on the member's wallets (0 without any)"),
        Field("next_expiry", "date", "when the held points expire (none without points)", future=True),
        Field("enrolled_at", "date", "the enrolment time"),
        Field("consent", "bool", "`channel` granted (email: confirmed) for `partner_id`", ("channel", "partner_id")),
        Field("churn_risk", "number", "the churn risk, 0 to 1, of the latest daily scoring (none: never bought)",
              lo=0, hi=1),
    )
}  # fmt: skip


class SegmentInvalid(ValueError):
    """A condition that cannot be used: ``path`` names the bad node (``$`` is the root)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Leaf:
    field: str
    op: str
    value: Any  # str | int | bool | date | tuple of them | (lo, hi) for between | int days for within_days
    partner_id: int | None = None
    channel: str | None = None


@dataclass(frozen=True)
class All:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Any_:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    node: Node


Node = Leaf | All | Any_ | Not


def parse(tree: Any) -> Node:
    """The checked condition of a JSON tree, or :class:`SegmentInvalid`."""
    count = [0]
    return _node(tree, "$", 1, count)


def _node(tree: Any, path: str, depth: int, count: list[int]) -> Node:
    if depth > MAX_DEPTH:
        raise SegmentInvalid(path, f"the condition is nested deeper than {MAX_DEPTH} levels")
    count[0] += 1
    if count[0] > MAX_NODES:
        raise SegmentInvalid(path, f"the condition has more than {MAX_NODES} nodes")
    if not isinstance(tree, dict):
        raise SegmentInvalid(
            path, "a node is an object: {all: [...]}, {any: [...]}, {not: {...}} or a leaf {field, op, value}"
        )
    if "field" not in tree:
        keys = set(tree)
        if len(keys) != 1 or not keys <= {"all", "any", "not"}:
            raise SegmentInvalid(
                path, f"a node has exactly one of all, any, not, or is a leaf with field; found {sorted(keys)}"
            )
        (key,) = keys
        if key == "not":
            return Not(_node(tree["not"], f"{path}.not", depth + 1, count))
        items = tree[key]
        if not isinstance(items, list) or not items:
            raise SegmentInvalid(f"{path}.{key}", "a non-empty list of nodes is expected")
        if len(items) > MAX_CHILDREN:
            raise SegmentInvalid(f"{path}.{key}", f"at most {MAX_CHILDREN} nodes, not {len(items)}")
        nodes = tuple(_node(t, f"{path}.{key}[{i}]", depth + 1, count) for i, t in enumerate(items))
        return All(nodes) if key == "all" else Any_(nodes)
    return _leaf(tree, path)


def _leaf(tree: dict[str, Any], path: str) -> Leaf:
    name = tree["field"]
    if not isinstance(name, str) or name not in FIELDS:
        raise SegmentInvalid(f"{path}.field", f"unknown field {name!r}; known: {', '.join(FIELDS)}")
    field = FIELDS[name]
    allowed = {"field", "op", "value", *field.options}
    extra = sorted(set(tree) - allowed)
    if extra:
        raise SegmentInvalid(
            f"{path}.{extra[0]}", f"{name} takes no {extra[0]!r}; its keys: {', '.join(sorted(allowed))}"
        )
    op = tree.get("op")
    if op not in OPS[field.kind]:
        raise SegmentInvalid(
            f"{path}.op", f"{name} ({field.kind}) takes the operators {', '.join(OPS[field.kind])}, not {op!r}"
        )
    if "value" not in tree:
        raise SegmentInvalid(f"{path}.value", "a leaf needs a value")
    partner_id = tree.get("partner_id")
    if partner_id is not None and (type(partner_id) is not int or not 1 <= partner_id < 2**31):
        raise SegmentInvalid(f"{path}.partner_id", f"a partner id (a positive integer) is expected, not {partner_id!r}")
    channel = tree.get("channel")
    if "channel" in field.options and channel not in CHANNELS:
        raise SegmentInvalid(f"{path}.channel", f"channel is one of {', '.join(CHANNELS)}, not {channel!r}")
    value = _value(field, op, tree["value"], f"{path}.value")
    return Leaf(name, op, value, partner_id, channel)


def _value(field: Field, op: str, raw: Any, path: str) -> Any:
    if op == "within_days":
        if type(raw) is not int or not 0 <= raw <= MAX_DAYS:
            raise SegmentInvalid(path, f"within_days takes a number of days from 0 to {MAX_DAYS}, not {raw!r}")
        return raw
    if op in ("in", "not in"):
        if not isinstance(raw, list) or not raw:
            raise SegmentInvalid(path, f"{op} takes a non-empty list")
        if len(raw) > MAX_LIST:
            raise SegmentInvalid(path, f"{op} takes at most {MAX_LIST} values, not {len(raw)}")
        return tuple(_scalar(field, v, f"{path}[{i}]") for i, v in enumerate(raw))
    if op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            raise SegmentInvalid(path, "between takes a list of two values [low, high] (both included)")
        lo, hi = (_scalar(field, v, f"{path}[{i}]") for i, v in enumerate(raw))
        if lo > hi:
            raise SegmentInvalid(path, f"between's low {raw[0]!r} is above its high {raw[1]!r}")
        return (lo, hi)
    return _scalar(field, raw, path)


def _scalar(field: Field, raw: Any, path: str) -> Any:
    if field.kind == "bool":
        if type(raw) is not bool:
            raise SegmentInvalid(path, f"{field.name} takes true or false, not {raw!r}")
        return raw
    if field.kind == "int":
        if type(raw) is not int or abs(raw) >= 2**62:
            raise SegmentInvalid(path, f"{field.name} takes an integer, not {raw!r}")
        if (field.lo is not None and raw < field.lo) or (field.hi is not None and raw > field.hi):
            raise SegmentInvalid(
                path, f"{field.name} is from {field.lo} to {field.hi if field.hi is not None else '∞'}, not {raw}"
            )
        return raw
    if field.kind == "number":
        if type(raw) not in (int, float) or not math.isfinite(raw):
            raise SegmentInvalid(path, f"{field.name} takes a number, not {raw!r}")
        if (field.lo is not None and raw < field.lo) or (field.hi is not None and raw > field.hi):
            raise SegmentInvalid(path, f"{field.name} is from {field.lo} to {field.hi}, not {raw}")
        return float(raw)
    if field.kind == "date":
        if not isinstance(raw, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise SegmentInvalid(path, f"{field.name} takes a UTC day YYYY-MM-DD, not {raw!r}")
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise SegmentInvalid(path, f"{raw!r} is not a day of the calendar") from None
        if not 1900 <= day.year <= 2999:
            raise SegmentInvalid(path, f"a day from 1900 to 2999, not {raw!r}")
        return day
    if not isinstance(raw, str) or not raw or len(raw) > MAX_STRING or re.search(r"[\x00-\x1f\x7f]", raw):
        raise SegmentInvalid(
            path, f"{field.name} takes a string of 1 to {MAX_STRING} characters (no control ones), not {raw!r}"
        )
    if field.choices and raw not in field.choices:
        raise SegmentInvalid(path, f"{raw!r} is not an RFM segment; known: {', '.join(field.choices)}")
    if field.name == "country" and not re.fullmatch(r"[A-Za-z]{2}", raw):
        raise SegmentInvalid(path, f"a country is a two-letter region code, not {raw!r}")
    return raw.upper() if field.name == "country" else raw


def country_of(locale: str | None) -> str | None:
    """The region of a BCP 47 locale: its first two-letter subtag after the language (upper case)."""
    if not locale:
        return None
    for part in locale.replace("_", "-").split("-")[1:]:
        if len(part) == 2 and part.isalpha():
            return part.upper()
    return None
