"""Answer bodies of the analytics routes (gateway/routes/analytics.py): the KPIs of a period and the
RFM segments. Definitions: gateway/services/analytics.py ``DEFINITIONS``, loyalty/rfm.py."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalty.rfm import SCORE_RULE, SEGMENT_RULE, SEGMENTS

COHORT_EXAMPLE = {"cohort": "2026-10", "members": 120, "active": [80, 41, 35]}
FLOW_EXAMPLE = {"earned_at": 1, "redeemed_at": 2, "points": 1520.5}
SHARED_EXAMPLE = {"a": 1, "b": 2, "members": 310}
MOVE_EXAMPLE = {"from_tier": "Member", "to_tier": "Silver", "members": 12}
KPIS_EXAMPLE: dict[str, Any] = {
    "from": "2026-11-01",
    "to": "2026-11-30",
    "partner_id": None,
    "churn_days": 90,
    "members_enrolled": 5_400,
    "members_new": 310,
    "active_30d": 2_100,
    "active_90d": 3_900,
    "purchases": 8_450,
    "buyers": 2_100,
    "repeat_purchase_rate": 0.62,
    "average_basket": {"EUR": "42.80"},
    "purchase_frequency": 4.02,
    "points_issued": 361_000,
    "points_redeemed": 120_400,
    "points_reversed": 3_100,
    "points_expired": 8_000,
    "redemption_rate": 0.3335,
    "breakage_rate": 0.0222,
    "outstanding_points": 2_450_000,
    "outstanding_value_low": 19_600_000_000,
    "outstanding_value_high": 23_275_000_000,
    "churn_rate": 0.28,
    "clv": {"EUR": "1845.27"},
    "cohorts": [COHORT_EXAMPLE],
    "tiers": {"Member": 4_100, "Silver": 1_000, "Gold": 300},
    "tier_moves": [MOVE_EXAMPLE],
    "flow": [FLOW_EXAMPLE],
    "shared_members": [SHARED_EXAMPLE],
}
MEMBER_EXAMPLE = {
    "customer_id": 42,
    "day": "2026-11-30",
    "recency_days": 3,
    "frequency": 14,
    "monetary": "612.4000",
    "r": 5,
    "f": 4,
    "m": 4,
    "segment": "Champions",
}
RFM_EXAMPLE: dict[str, Any] = {
    "scope": "partner",
    "partner_id": 1,
    "day": "2026-11-30",
    "members": 5_120,
    "changes": 214,
    "sizes": {s: 100 + 10 * i for i, s in enumerate(SEGMENTS)},
    "score_rule": SCORE_RULE,
    "segment_rule": SEGMENT_RULE,
    "member": MEMBER_EXAMPLE,
}


def _examples(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]}, populate_by_name=True)


class CohortPublic(BaseModel):
    """Members enrolled in one month and how many of them bought in each month since."""

    model_config = _examples(COHORT_EXAMPLE)

    cohort: str = Field(description="the enrolment month, YYYY-MM (UTC)")
    members: int = Field(description="members enrolled in it (not erased)")
    active: list[int] = Field(description="members of the cohort with a counted purchase in month 0, 1, 2 ...")


class FlowPublic(BaseModel):
    """Points earned at one partner and redeemed at another (or the same) in the period."""

    model_config = _examples(FLOW_EXAMPLE)

    earned_at: int = Field(description="the partner where the points were earned")
    redeemed_at: int = Field(description="the partner where they were redeemed")
    points: float = Field(description="points, split pro rata over where each wallet earned (not rounded)")


class SharedPublic(BaseModel):
    """Customers two partners share (both have a ref of them)."""

    model_config = _examples(SHARED_EXAMPLE)

    a: int = Field(description="a partner (the lower id)")
    b: int = Field(description="the other partner")
    members: int = Field(description="customers with a ref at both")


class TierMovePublic(BaseModel):
    """Tier changes of the period from one tier to another."""

    model_config = _examples(MOVE_EXAMPLE)

    from_tier: str = Field(description="the tier before")
    to_tier: str = Field(description="the tier after")
    members: int = Field(description="how many changes")


class KpisPublic(BaseModel):
    """The program's KPIs over a period of UTC days, for one partner or the coalition (definitions:
    the README, "Analytics: RFM and KPIs")."""

    model_config = _examples(KPIS_EXAMPLE)

    start: str = Field(alias="from", description="the first day, YYYY-MM-DD (UTC)")
    end: str = Field(alias="to", description="the last day, YYYY-MM-DD (UTC)")
    partner_id: int | None = Field(description="the partner whose figures these are; null: the coalition")
    churn_days: int = Field(description="a member without a counted purchase for this many days has churned")
    members_enrolled: int = Field(description="members not erased enrolled before the period's end")
    members_new: int = Field(description="members not erased enrolled in the period")
    active_30d: int = Field(description="members with a counted purchase in the 30 days before the period's end")
    active_90d: int = Field(description="members with a counted purchase in the 90 days before the period's end")
    purchases: int = Field(description="counted purchases in the period (confirmed, net of refunds above zero)")
    buyers: int = Field(description="members with a counted purchase in the period")
    repeat_purchase_rate: float | None = Field(description="buyers with two purchases or more / buyers")
    average_basket: dict[str, str] = Field(description="net amount per counted purchase, per currency")
    purchase_frequency: float | None = Field(description="counted purchases / buyers")
    points_issued: int = Field(description="points earned in the period")
    points_redeemed: int = Field(description="points redeemed in the period")
    points_reversed: int = Field(description="points clawed back by refunds in the period")
    points_expired: int | None = Field(description="points expired in the period; null for a partner")
    redemption_rate: float | None = Field(description="points redeemed / points issued")
    breakage_rate: float | None = Field(description="points expired / points issued; null for a partner")
    outstanding_points: int = Field(description="points outstanding at the period's end")
    outstanding_value_low: int | None = Field(description="their value at the lowest reimbursement rate in force")
    outstanding_value_high: int | None = Field(description="their value at the highest one")
    churn_rate: float | None = Field(description="members who churned / members with a counted purchase")
    clv: dict[str, str] = Field(description="customer lifetime value per currency (formula: the README)")
    cohorts: list[CohortPublic] = Field(description="retention of the period's enrolment months")
    tiers: dict[str, int] = Field(description="members per tier held")
    tier_moves: list[TierMovePublic] = Field(description="tier changes of the period")
    flow: list[FlowPublic] = Field(description="points earned at A and redeemed at B in the period")
    shared_members: list[SharedPublic] = Field(description="customers two partners share")


class MemberRfmPublic(BaseModel):
    """A member's values, scores and segment in the latest snapshot."""

    model_config = _examples(MEMBER_EXAMPLE)

    customer_id: int = Field(description="the coalition's id of the member")
    day: str = Field(description="the snapshot's day, YYYY-MM-DD")
    recency_days: int = Field(description="days from the last counted purchase to the snapshot's day")
    frequency: int = Field(description="counted purchases")
    monetary: str = Field(description="net amount in the partner's currency; coalition-wide, net points earned")
    r: int = Field(description="recency score, 1..5")
    f: int = Field(description="frequency score, 1..5")
    m: int = Field(description="monetary score, 1..5")
    segment: str = Field(description="the named segment")


class RfmPublic(BaseModel):
    """The segments' sizes in the latest daily RFM snapshot, and one member's scores when asked."""

    model_config = _examples(RFM_EXAMPLE)

    scope: Literal["coalition", "partner"] = Field(description="whose members were scored")
    partner_id: int | None = Field(description="the partner; null coalition-wide")
    day: str | None = Field(description="the snapshot's day; null before the first one")
    members: int = Field(description="members scored")
    changes: int = Field(description="members whose segment changed since the previous snapshot")
    sizes: dict[str, int] = Field(description="members per segment (all eleven named)")
    score_rule: str = Field(description="how the scores are computed (ties included)")
    segment_rule: str = Field(description="how the scores map to segments")
    member: MemberRfmPublic | None = Field(description="the member asked for; null when not asked")
