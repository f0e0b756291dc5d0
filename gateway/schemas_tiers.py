"""Request and answer bodies of the tier routes (gateway/routes/tiers.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Multiplier = Annotated[str, Field(pattern=r"^[0-9]{1,4}(\.[0-9]{1,6})?$", examples=["1.5"])]
LADDER_EXAMPLE = {
    "tiers": [
        {"name": "Member", "threshold": 0, "multiplier": "1"},
        {"name": "Silver", "threshold": 1000, "multiplier": "1.25"},
        {"name": "Gold", "threshold": 5000, "multiplier": "1.5"},
        {"name": "Platinum", "threshold": 15000, "multiplier": "2"},
    ],
    "policy": {"window": "rolling_12_months", "review": {"kind": "anniversary"}, "grace_days": 30},
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TierIn(Strict):
    """A rung of the ladder."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Silver", "threshold": 1000, "multiplier": "1.25"}]}
    )

    name: str = Field(min_length=1, max_length=64, description="The tier's name, unique on the ladder")
    threshold: int = Field(ge=0, lt=2**63, description="Qualifying points that reach it (the first tier: 0)")
    multiplier: Multiplier = Field(default="1", description="Its earn multiplier, a decimal string")


class ReviewIn(Strict):
    """When members are reviewed: on the anniversary of their last tier change, or each year on a fixed date."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"kind": "fixed_date", "month": 1, "day": 1}]}
    )

    kind: Literal["anniversary", "fixed_date"] = Field(description="anniversary or fixed_date")
    month: int | None = Field(default=None, ge=1, le=12, description="fixed_date: the month")
    day: int | None = Field(default=None, ge=1, le=31, description="fixed_date: the day (29 February is refused)")


class PolicyIn(Strict):
    """How qualifying points are counted and when a member can move down."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"window": "rolling_12_months", "review": {"kind": "anniversary"}, "grace_days": 30}]
        },
    )

    window: Literal["rolling_12_months", "calendar_year"] = Field(
        default="rolling_12_months", description="rolling 12 months, or the calendar year (reviewed on 1 January)"
    )
    review: ReviewIn = Field(default_factory=lambda: ReviewIn(kind="anniversary"), description="When reviews fall")
    grace_days: int = Field(default=0, ge=0, le=180, description="Days after a review before its verdict falls")


class LadderIn(Strict):
    """The ladder, from the bottom tier up, and its policy."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [LADDER_EXAMPLE]})

    tiers: list[TierIn] = Field(min_length=1, max_length=32, description="The tiers from the bottom up")
    policy: PolicyIn = Field(default_factory=PolicyIn, description="Window, review and grace")


class LadderPublic(BaseModel):
    """A version of the ladder."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **LADDER_EXAMPLE,
                    "version": 3,
                    "status": "active",
                    "created_at": "2026-11-20T09:00:00Z",
                    "activated_at": "2026-11-20T09:05:00Z",
                }
            ]
        }
    )

    version: int = Field(description="The version: PUT writes a new one")
    status: Literal["proposed", "active", "retired"] = Field(description="proposed until applied; one is active")
    tiers: list[TierIn] = Field(description="The tiers from the bottom up")
    policy: PolicyIn = Field(description="Window, review and grace")
    created_at: datetime = Field(description="When it was written")
    activated_at: datetime | None = Field(description="When it was applied; null while proposed")


class MovePublic(BaseModel):
    """A member a ladder change would move."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"customer_id": 42, "from_tier": "Member", "to_tier": "Silver"}]}
    )

    customer_id: int = Field(description="The member")
    from_tier: str = Field(description="Their tier in force now")
    to_tier: str = Field(description="Their tier on the proposed ladder")


class DryRunPublic(BaseModel):
    """What applying a ladder now would do; nothing is changed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "summary": "412 of 10,000 members would move up, 37 down, 9,551 unchanged; 1,200 not yet "
                    "qualified to keep their tier at their next review (now 800)",
                    "up": 412,
                    "down": 37,
                    "unchanged": 9551,
                    "before": {"Member": 8000, "Silver": 1500, "Gold": 500},
                    "after": {"Member": 7700, "Silver": 1700, "Gold": 600},
                    "at_risk_before": 800,
                    "at_risk_after": 1200,
                    "moving_up": [{"customer_id": 42, "from_tier": "Member", "to_tier": "Silver"}],
                    "moving_down": [{"customer_id": 7, "from_tier": "Gold", "to_tier": "Silver"}],
                    "listed_at_most": 1000,
                }
            ]
        }
    )

    summary: str = Field(description="The counts in a sentence")
    up: int = Field(description="Members who would move up")
    down: int = Field(description="Members who would move down (only a removed tier moves anyone down at once)")
    unchanged: int = Field(description="Members who would keep their tier")
    before: dict[str, int] = Field(description="Members per tier now")
    after: dict[str, int] = Field(description="Members per tier on the proposed ladder")
    at_risk_before: int = Field(description="Members not yet qualified to keep their tier at their next review, now")
    at_risk_after: int = Field(description="The same on the proposed ladder")
    moving_up: list[MovePublic] = Field(description="Who would move up (the first listed_at_most)")
    moving_down: list[MovePublic] = Field(description="Who would move down (the first listed_at_most)")
    listed_at_most: int = Field(description="How many members each list shows at most")


class RecalculationCreate(Strict):
    """The proposed version to apply."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 3}]})

    version: int = Field(ge=1, lt=2**31, description="A version PUT wrote (status proposed)")


class RecalculationPublic(BaseModel):
    """A ladder change being applied to every member, in chunks, resumable."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 2,
                    "from_version": 2,
                    "to_version": 3,
                    "status": "running",
                    "at": "2026-11-20T09:05:00Z",
                    "members_done": 5000,
                    "members_total": 10000,
                    "moved_up": 200,
                    "moved_down": 0,
                    "changed": 200,
                    "finished_at": None,
                }
            ]
        }
    )

    id: int = Field(description="The run")
    from_version: int | None = Field(description="The ladder in force before; null for the first one")
    to_version: int = Field(description="The ladder applied")
    status: Literal["running", "done", "superseded"] = Field(description="superseded: a later ladder was applied")
    at: datetime = Field(description="The instant every member is recalculated at")
    members_done: int = Field(description="Members recalculated so far")
    members_total: int = Field(description="Members to recalculate (with a tier or a qualifying movement)")
    moved_up: int = Field(description="Members moved up so far")
    moved_down: int = Field(description="Members moved down so far")
    changed: int = Field(description="Members whose tier in force changed so far")
    finished_at: datetime | None = Field(description="When it was done")


class ManualTierSet(Strict):
    """A tier set by hand, always with an end date."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"tier": "Gold", "until": "2027-03-31T00:00:00Z"}]}
    )

    tier: str = Field(min_length=1, max_length=64, description="A tier of the ladder in force")
    until: datetime = Field(description="When it ends (ISO 8601 with a zone); the earned tier applies from then")


class MovementPublic(BaseModel):
    """Qualifying points that will leave the window before the next review."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"at": "2026-01-10T12:00:00Z", "points": 400}]})

    at: datetime = Field(description="When they count (a refund: its purchase's time)")
    points: int = Field(description="Points (negative for a refund)")


PROGRESS_EXAMPLE = {
    "customer_id": 42,
    "customer_ref": "loyalty-0042",
    "tier": "Silver",
    "earned": "Silver",
    "multiplier": "1.25",
    "qualifying_points": 3200,
    "next_tier": "Gold",
    "points_to_next": 1800,
    "review_at": "2027-05-02T10:00:00Z",
    "decided_at": "2027-06-01T10:00:00Z",
    "points_to_keep": 0,
    "points_leaving": 400,
    "leaving": [{"at": "2026-01-10T12:00:00Z", "points": 400}],
    "manual_until": None,
    "ladder_version": 3,
}


class TierProgressPublic(BaseModel):
    """A member's tier and what it takes to move up or to keep it."""

    model_config = ConfigDict(json_schema_extra={"examples": [PROGRESS_EXAMPLE]})

    customer_id: int | None = Field(description="The coalition's id of the member; null for a wallet of no member yet")
    customer_ref: str | None = Field(default=None, description="Your ref of the member (partner API only)")
    tier: str = Field(description="The tier in force")
    earned: str = Field(description="The tier the member's points give (below a manual tier, or the same)")
    multiplier: str = Field(description="The earn multiplier of the tier in force, a decimal string")
    qualifying_points: int = Field(description="Qualifying points in the window now")
    next_tier: str | None = Field(description="The tier above; null at the top")
    points_to_next: int | None = Field(description="Qualifying points still missing for it; null at the top")
    review_at: datetime | None = Field(description="The next review of the earned tier; null at the bottom")
    decided_at: datetime | None = Field(description="When the review's verdict falls (review + grace)")
    points_to_keep: int = Field(description="Points still needed by decided_at to keep the earned tier")
    points_leaving: int = Field(description="Today's qualifying points that leave the window by the review")
    leaving: list[MovementPublic] = Field(description="Those points, oldest first")
    manual_until: datetime | None = Field(description="The end of a tier set by hand; null without one")
    ladder_version: int = Field(description="The ladder version in force")


class TierChangePublic(BaseModel):
    """A change of the member's tier in force."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from_tier": "Silver",
                    "to_tier": "Gold",
                    "reason": "qualified",
                    "at": "2026-11-23T10:00:07Z",
                    "event_id": "evt_5f0c3b2a9d8e4f6a8b7c6d5e4f3a2b1c",
                }
            ]
        }
    )

    from_tier: str = Field(description="Before")
    to_tier: str = Field(description="After")
    reason: str = Field(description="qualified, review, manual, manual_ended or ladder")
    at: datetime = Field(description="When it took effect")
    event_id: str = Field(description="The tier.changed event that told it")


class MemberTierPublic(TierProgressPublic):
    """The operator's view of a member's tier: the progress, and the changes, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **PROGRESS_EXAMPLE,
                    "customer_ref": None,
                    "changes": [
                        {
                            "from_tier": "Member",
                            "to_tier": "Silver",
                            "reason": "qualified",
                            "at": "2026-05-02T10:00:00Z",
                            "event_id": "evt_5f0c3b2a9d8e4f6a8b7c6d5e4f3a2b1c",
                        }
                    ],
                }
            ]
        }
    )

    changes: list[TierChangePublic] = Field(description="The latest changes of the tier in force, newest first")
