"""A rule set as JSON and back (pure): how the store keeps a partner's rules and the API shows them.

One object per rule set, one per rule, named by ``kind``; decimals are strings (exact), dates
ISO, hours ``"HH:MM"``, a scope's names sorted lists::

    {"partner_id": 7, "version": 3, "currency": "EUR", "time_zone": "Europe/Paris", "rounding": "down",
     "rules": [{"kind": "base", "id": "base", "version": 1, "points_per_unit": "1.5", "qualifying": true},
               {"kind": "multiplier", "id": "wine-x2", "version": 2, "factor": "2",
                "skus": [], "categories": ["wine"], "labels": [], "qualifying": false}, ...]}

:func:`ruleset_from_json` checks the shapes and raises :class:`~loyalty.earning.RulesInvalid`
naming the rule; what the rules mean is checked by :func:`~loyalty.earning.compile_rules`, which
it runs, so a rule set read back is one that evaluates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal, InvalidOperation
from typing import Any

from loyalty.earning_rules import (
    BaseRate,
    BonusWindow,
    Cap,
    Exclusion,
    FirstPurchaseBonus,
    MinimumOrder,
    Multiplier,
    Rule,
    RuleSet,
    RulesInvalid,
    Scope,
    TierMultiplier,
    compile_rules,
)

KINDS: dict[str, type[Rule]] = {
    cls.kind: cls
    for cls in (BaseRate, Multiplier, BonusWindow, TierMultiplier, FirstPurchaseBonus, MinimumOrder, Exclusion, Cap)
}
_SCOPE = ("skus", "categories", "labels")
_DECIMALS = ("points_per_unit", "factor", "amount")
_INTS = ("version", "points", "limit")


def ruleset_to_json(ruleset: RuleSet) -> dict[str, Any]:
    return {
        "partner_id": ruleset.partner_id,
        "version": ruleset.version,
        "currency": ruleset.currency,
        "time_zone": ruleset.time_zone,
        "rounding": ruleset.rounding,
        "rules": [rule_to_json(rule) for rule in ruleset.rules],
    }


def rule_to_json(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": rule.kind}
    for f in dataclasses.fields(rule):
        value = getattr(rule, f.name)
        if isinstance(value, Scope):
            out.update({name: sorted(getattr(value, name)) for name in _SCOPE})
        elif isinstance(value, Decimal):
            out[f.name] = format(value, "f")
        elif isinstance(value, date):
            out[f.name] = value.isoformat()
        elif isinstance(value, frozenset):
            out[f.name] = sorted(value)
        elif f.name == "hours":
            out[f.name] = None if value is None else [t.strftime("%H:%M") for t in value]
        elif f.name == "rule_id":
            out["rule"] = value
        else:
            out[f.name] = value
    return out


def ruleset_from_json(data: Mapping[str, Any]) -> RuleSet:
    """The rule set of ``data`` (see the module doc), compiled once to check it."""
    try:
        ruleset = RuleSet(
            partner_id=int(data["partner_id"]),
            version=int(data["version"]),
            currency=str(data["currency"]),
            time_zone=str(data["time_zone"]),
            rounding=data.get("rounding", "down"),
            rules=tuple(rule_from_json(item) for item in data["rules"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RulesInvalid):
            raise
        raise RulesInvalid("ruleset", f"expected partner_id, version, currency, time_zone and rules: {exc}") from exc
    compile_rules(ruleset)
    return ruleset


def rule_from_json(item: Mapping[str, Any]) -> Rule:
    rule_id = str(item.get("id", "?"))
    cls = KINDS.get(item.get("kind", ""))
    if cls is None:
        raise RulesInvalid(rule_id, f"kind must be one of {', '.join(KINDS)}, not {item.get('kind')!r}")
    values: dict[str, Any] = {}
    try:
        for f in dataclasses.fields(cls):
            key = "rule" if f.name == "rule_id" else f.name
            if f.name == "scope":
                values["scope"] = Scope(**{name: frozenset(map(str, item.get(name) or ())) for name in _SCOPE})
            elif key not in item:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise RulesInvalid(rule_id, f"{key} is missing")
            else:
                values[f.name] = _read(f.name, item[key])
        return cls(**values)
    except (TypeError, ValueError, InvalidOperation) as exc:
        if isinstance(exc, RulesInvalid):
            raise
        raise RulesInvalid(rule_id, f"a {cls.kind} rule cannot hold {dict(item)!r}: {exc}") from exc


def _read(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _DECIMALS:
        if isinstance(value, (float, bool)):
            raise ValueError(f"{name} must be a decimal string, not {value!r}")
        return Decimal(str(value))
    if name in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, not {value!r}")
        return value
    if name in ("starts_on", "ends_on"):
        return date.fromisoformat(value)
    if name == "weekdays":
        return frozenset(int(day) for day in value)
    if name == "hours":
        start, until = value
        return (time.fromisoformat(start), time.fromisoformat(until))
    if name == "qualifying":
        if not isinstance(value, bool):
            raise ValueError(f"qualifying must be true or false, not {value!r}")
        return value
    return str(value)
