"""Bodies of the campaign routes (gateway/routes/campaigns.py). The language of triggers, conditions,
effects and limits: loyalty/campaigns/evaluation.py and the README's "Campaigns" section."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TriggerName = Literal["purchase", "birthday", "win_back", "segment_entered", "referral", "achievement"]

TRIGGER_EXAMPLE: dict[str, Any] = {"type": "purchase", "params": {}}
CONDITIONS_EXAMPLE: dict[str, Any] = {
    "categories": ["wine"],
    "min_amount": "20",
    "weekdays": [5, 6],
    "time_zone": "Europe/Paris",
}
EFFECTS_EXAMPLE: list[dict[str, Any]] = [{"kind": "bonus_points", "mode": "multiplier", "factor": "2"}]
LIMITS_EXAMPLE: dict[str, Any] = {
    "budget_points": 100_000,
    "period": "day",
    "period_budget_points": 10_000,
    "member_period_points": 500,
}
CAMPAIGN_EXAMPLE: dict[str, Any] = {
    "name": "Double points on wine weekends",
    "trigger": TRIGGER_EXAMPLE,
    "conditions": CONDITIONS_EXAMPLE,
    "effects": EFFECTS_EXAMPLE,
    "limits": LIMITS_EXAMPLE,
    "holdout_bp": 1000,
    "starts_at": "2026-12-05T00:00:00Z",
    "ends_at": "2026-12-31T00:00:00Z",
}


class Trigger(BaseModel):
    """What fires a campaign: a type of the registry (loyalty/campaigns/evaluation.py) and its params."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [TRIGGER_EXAMPLE]})

    type: TriggerName = Field(
        description="purchase (a purchase accepted at a partner), birthday, win_back (params.days), "
        "segment_entered (params.segment); referral and achievement come with their own issue items",
        examples=["purchase"],
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The trigger's parameters", examples=[{}])


class CampaignCreate(BaseModel):
    """A campaign to write as a draft."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [CAMPAIGN_EXAMPLE, CAMPAIGN_EXAMPLE | {"funder_partner_id": 2}]},
    )

    name: str = Field(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]+$", description="A name for people")
    funder_partner_id: int | None = Field(
        default=None,
        ge=1,
        lt=2**32,
        description="Operator only: the partner whose minter issues the points (absent: the house partner, "
        "COALITION_HOUSE_PARTNER_ID). A partner's campaigns are always its own.",
        examples=[None],
    )
    trigger: Trigger = Field(description="What fires the campaign")
    conditions: dict[str, Any] = Field(
        default_factory=dict,
        description="All must hold: partners, skus, categories, min_amount, first_purchase, weekdays, hours, "
        "time_zone, audience (a segments condition)",
        examples=[CONDITIONS_EXAMPLE],
    )
    effects: list[dict[str, Any]] = Field(
        description="bonus_points (mode fixed with points, per_unit with points, multiplier with factor) and message",
        examples=[EFFECTS_EXAMPLE],
    )
    limits: dict[str, Any] = Field(
        default_factory=dict,
        description="budget_points, period (day, week, month), period_budget_points, member_period_points, max_members",
        examples=[LIMITS_EXAMPLE],
    )
    holdout_bp: int = Field(
        default=1000, ge=0, le=10_000, description="The control group's share in basis points (0: a warning)"
    )
    starts_at: datetime | None = Field(default=None, description="Fires from then (absent: once started)")
    ends_at: datetime | None = Field(default=None, description="Fires until then (absent: until stopped)")


class CampaignPublic(BaseModel):
    """A campaign, with what it has given so far."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 4,
                    **CAMPAIGN_EXAMPLE,
                    "funder_partner_id": 1,
                    "owner": "operator",
                    "status": "running",
                    "spent_points": 12_840,
                    "members_awarded": 311,
                    "awards": 402,
                    "created_at": "2026-12-04T09:00:00Z",
                    "started_at": "2026-12-05T00:00:02Z",
                    "stopped_at": None,
                    "warnings": [],
                }
            ]
        }
    )

    id: int = Field(description="The campaign's id")
    name: str = Field(description="Its name")
    funder_partner_id: int = Field(description="The partner whose minter issues its points")
    owner: Literal["operator", "partner"] = Field(description="Who wrote it")
    trigger: dict[str, Any] = Field(description="type and params")
    conditions: dict[str, Any] = Field(description="Its conditions")
    effects: list[dict[str, Any]] = Field(description="Its effects")
    limits: dict[str, Any] = Field(description="Its limits")
    holdout_bp: int = Field(description="The control group's share, basis points")
    starts_at: datetime | None = Field(description="Fires from")
    ends_at: datetime | None = Field(description="Fires until")
    status: Literal["draft", "running", "paused", "stopped"] = Field(description="Where it stands")
    spent_points: int = Field(description="Points given so far (never above budget_points)")
    members_awarded: int = Field(description="Members given points so far")
    awards: int = Field(description="Awards so far")
    created_at: datetime = Field(description="Written")
    started_at: datetime | None = Field(description="First started")
    stopped_at: datetime | None = Field(description="Stopped")
    warnings: list[str] = Field(default_factory=list, description="E.g. a holdout of 0: no control group")


class CampaignList(BaseModel):
    """Campaigns, oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"campaigns": []}]})

    campaigns: list[CampaignPublic] = Field(description="Oldest first")


class CampaignSimulation(BaseModel):
    """What the campaign would have done on the last N days of purchases."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"days": 30, "purchases": 1840, "members": 912, "treatment_members": 821, "points": 36_800,
                 "cost": "368.000000"}
            ]
        }
    )  # fmt: skip

    days: int = Field(description="The days looked at")
    purchases: int = Field(description="Purchases the trigger fired on")
    members: int = Field(description="Distinct members exposed (both arms)")
    treatment_members: int = Field(description="Of them, in the treatment arm")
    points: int = Field(description="Points the treatment arm would have been given within the limits")
    cost: str = Field(description="Their cost at the funder's issue price, in the settlement token")


class CampaignResults(BaseModel):
    """Both arms measured (loyalty/campaigns/stats.py's result) and when the measurement window closes."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"campaign_id": 4, "window_days": 14, "window_closes_at": None, "result": {}}]}
    )

    campaign_id: int = Field(description="The campaign")
    window_days: int = Field(description="COALITION_CAMPAIGN_WINDOW_DAYS")
    window_closes_at: datetime | None = Field(description="The last exposure's window end (None: no exposure yet)")
    result: dict[str, Any] = Field(
        description="status (collecting, measured, no_control), verdict, per arm members, conversions, revenue, "
        "points; the intervals, the sample-ratio check, incremental revenue, points cost, return on points"
    )
