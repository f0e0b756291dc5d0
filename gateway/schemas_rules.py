"""Request and response bodies of the earning rules (gateway/routes/earning_rules.py): a rule set
version, a draft, and a simulation's answer. A rule's JSON is loyalty/rules_json.py's."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import RuleKind, Strict

RULES_EXAMPLE: list[dict[str, Any]] = [
    {"kind": "base", "id": "base", "points_per_unit": "1.5"},
    {"kind": "multiplier", "id": "wine-x2", "factor": "2", "categories": ["wine"]},
    {"kind": "bonus_window", "id": "happy-hour", "factor": "3", "weekdays": [4], "hours": ["17:00", "19:00"]},
    {"kind": "exclusion", "id": "no-tobacco", "categories": ["tobacco"]},
    {"kind": "first_purchase", "id": "welcome", "points": 100},
    {"kind": "minimum_order", "id": "min-5", "amount": "5.00"},
    {"kind": "cap", "id": "bonus-cap", "limit": 500, "period": "month", "rule": "happy-hour"},
]
VERSION_EXAMPLE: dict[str, Any] = {
    "partner_id": 7,
    "version": 3,
    "status": "active",
    "currency": "EUR",
    "time_zone": "Europe/Paris",
    "rounding": "down",
    "rules": [{**rule, "version": 1} for rule in RULES_EXAMPLE],
    "created_at": "2026-11-20T09:00:00Z",
    "created_by": "operator",
    "activated_at": "2026-11-21T09:00:00Z",
    "activated_by": "operator",
}
Status = Literal["draft", "active", "retired"]
Rounding = Literal["down", "half_up", "half_even"]


class RuleSetDraft(Strict):
    """A proposed rule set of a partner (its currency is the partner's). Each rule is an object
    named by ``kind``: base (exactly one), multiplier, bonus_window, tier, first_purchase,
    minimum_order, exclusion, cap; decimals as strings. A rule's ``version`` may be left out: it
    keeps the active set's version when unchanged, one more when changed, 1 when new."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"time_zone": "Europe/Paris", "rounding": "down", "rules": RULES_EXAMPLE}]}
    )

    time_zone: str = Field(
        default="UTC", max_length=64, description="IANA time zone the bonus windows and cap periods are read in"
    )
    rounding: Rounding = Field(default="down", description="How the purchase's exact total is rounded, once")
    rules: list[dict[str, Any]] = Field(min_length=1, max_length=200, description="The rules, in order")


class RuleSetPublic(BaseModel):
    """One version of a partner's rules. Version 0 is the partner's rate, in force while it has no
    active version."""

    model_config = ConfigDict(json_schema_extra={"examples": [VERSION_EXAMPLE]})

    partner_id: int = Field(description="The partner")
    version: int = Field(description="The rule set's version (0: the partner's rate, no rule set)")
    status: Status = Field(description="draft (not in force yet), active (in force), retired (was in force)")
    currency: str = Field(description="ISO 4217 code of the purchases it earns on")
    time_zone: str = Field(description="Where bonus windows and cap periods are read")
    rounding: Rounding = Field(description="How a purchase's exact total is rounded")
    rules: list[dict[str, Any]] = Field(description="The rules, each with its kind, id and own version")
    created_at: datetime | None = Field(description="When it was drafted")
    created_by: str | None = Field(description="Who drafted it (operator)")
    activated_at: datetime | None = Field(description="When it came into force")
    activated_by: str | None = Field(description="Who activated it")


class RuleDeltaPublic(BaseModel):
    """One rule's points over the simulated purchases, under the rules in force and the proposal."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"rule": "wine-x2", "kind": "multiplier", "current": 0, "proposed": 1200, "delta": 1200}]
        }
    )

    rule: str = Field(description="The rule's id")
    kind: RuleKind = Field(description="Its kind")
    current: int = Field(description="Its points under the rules in force")
    proposed: int = Field(description="Its points under the proposal")
    delta: int = Field(description="proposed − current")


class SimulationPublic(BaseModel):
    """What the proposal would have issued over the partner's purchases of the last ``days`` days."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "days": 30,
                    "purchases": 5230,
                    "current_version": 3,
                    "points_current": 81234,
                    "points_proposed": 82434,
                    "delta_points": 1200,
                    "value": "12.00",
                    "value_token": "cUSD",
                    "members_changed": 37,
                    "members_more": 37,
                    "members_fewer": 0,
                    "summary": "this change would have issued 1200 more points, 12.00 cUSD at the issue price, "
                    "for 37 members",
                    "rules": [{"rule": "wine-x2", "kind": "multiplier", "current": 0, "proposed": 1200, "delta": 1200}],
                }
            ]
        }
    )

    days: int = Field(description="The window simulated, in days back from now")
    purchases: int = Field(description="Purchases simulated")
    current_version: int = Field(description="The version in force the proposal is compared with (0: the rate)")
    points_current: int = Field(description="Points they earned under the rules in force")
    points_proposed: int = Field(description="Points they would have earned under the proposal")
    delta_points: int = Field(description="points_proposed − points_current")
    value: str = Field(description="delta_points × the partner's issue price, in the settlement token (signed)")
    value_token: str = Field(description="The settlement token's symbol")
    members_changed: int = Field(description="Members whose points would differ")
    members_more: int = Field(description="Members who would have earned more")
    members_fewer: int = Field(description="Members who would have earned less")
    summary: str = Field(description="The answer in a sentence")
    rules: list[RuleDeltaPublic] = Field(description="Each rule's points before and after")
