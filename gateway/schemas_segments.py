"""Bodies of the operator's segment routes (gateway/routes/segments.py). The condition language:
loyalty/segments.py and the README's "Segments" section."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CONDITION_EXAMPLE: dict[str, Any] = {
    "all": [
        {"field": "tier", "op": "in", "value": ["Gold", "Platinum"]},
        {"field": "rfm_segment", "op": "in", "value": ["At risk", "Can't lose them"]},
        {"not": {"field": "last_purchase", "op": "within_days", "value": 60, "partner_id": 1}},
        {"field": "consent", "op": "=", "value": True, "channel": "email"},
    ]
}
EXPIRY_EXAMPLE: dict[str, Any] = {
    "any": [
        {"field": "next_expiry", "op": "within_days", "value": 30},
        {
            "all": [
                {"field": "country", "op": "=", "value": "PL"},
                {"field": "points_balance", "op": ">=", "value": 500},
            ]
        },
    ]
}
CONDITION = Field(
    description="The condition tree: {all: [...]}, {any: [...]}, {not: {...}} or a leaf {field, op, value} "
    "(the README's Segments section lists the fields and operators)"
)
SEGMENT_EXAMPLE: dict[str, Any] = {
    "name": "Gold at risk",
    "description": "Gold and Platinum members slipping away who read email",
    "condition": CONDITION_EXAMPLE,
}


class SegmentBody(BaseModel):
    """A segment to save: its name (unique), description and condition."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                SEGMENT_EXAMPLE,
                {"name": "Points expiring", "description": "", "condition": EXPIRY_EXAMPLE},
            ]
        },
    )

    name: str = Field(
        min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f]+$", description="The segment's name, unique"
    )
    description: str = Field(default="", max_length=2_000, pattern=r"^[^\x00]*$", description="What it is for")
    condition: dict[str, Any] = CONDITION


class SegmentPreviewBody(BaseModel):
    """A condition to count the members of, without saving it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"condition": EXPIRY_EXAMPLE}]})

    condition: dict[str, Any] = CONDITION


class SegmentPublic(BaseModel):
    """A saved segment."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    **SEGMENT_EXAMPLE,
                    "owner": "operator",
                    "created_at": "2026-11-30T09:12:00Z",
                    "updated_at": "2026-11-30T09:12:00Z",
                }
            ]
        }
    )

    id: int = Field(description="The segment's id")
    name: str = Field(description="Its name, unique")
    description: str = Field(description="What it is for")
    condition: dict[str, Any] = CONDITION
    owner: str = Field(description="Who owns it: operator")
    created_at: datetime = Field(description="When it was created")
    updated_at: datetime = Field(description="When it was last changed")


class SegmentList(BaseModel):
    """Every saved segment, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"segments": [SegmentPublic.model_config["json_schema_extra"]["examples"][0]]}]}  # type: ignore[index]
    )

    segments: list[SegmentPublic] = Field(description="The segments")


class SegmentCount(BaseModel):
    """How many members, not erased, a condition holds for now."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"count": 1_284}]})

    count: int = Field(description="The number of members")


class SegmentMembers(BaseModel):
    """The members of a segment now: their number and a page of customer ids, ascending."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"count": 1_284, "customer_ids": [17, 42, 108], "next_cursor": 108}]}
    )

    count: int = Field(description="The number of members")
    customer_ids: list[int] = Field(description="A page of their customer ids, ascending")
    next_cursor: int | None = Field(description="Give it as `cursor` for the next page; null: this was the last")
