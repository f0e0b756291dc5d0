"""Operator API: the coalition's liability over time (gateway/services/liability.py): per business
day, the points outstanding net of expiry and their value at the reimbursement rates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from gateway.deps import ChainDep, OperatorDep, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.services import liability
from gateway.services.date_range import RangeError
from loyalty.expiry import BREAKAGE_RULE
from loyalty.liability import VALUE_RULE

router = APIRouter(prefix="/v1/operator", tags=["operator"], responses=problem_responses("rate-limited"))

FROM = Query(
    alias="from",
    max_length=10,
    description="YYYY-MM-DD, a day of the display zone; default: 29 days before `to`",
    examples=["2026-11-05"],
)
TO = Query(alias="to", max_length=10, description="YYYY-MM-DD; default: today", examples=["2026-12-04"])
DAY_EXAMPLE = {
    "day": "2026-12-04",
    "outstanding": 41_250,
    "issued": 5_310,
    "redeemed": 1_200,
    "reversed": 90,
    "restored": 0,
    "expired": 740,
    "rate_low": 8_000,
    "rate_high": 9_500,
    "value_low": 330_000_000,
    "value_high": 391_875_000,
}


class LiabilityDayPublic(BaseModel):
    """One business day: what moved in it, and at its end the points outstanding and their value."""

    model_config = ConfigDict(json_schema_extra={"examples": [DAY_EXAMPLE]})

    day: str = Field(description="YYYY-MM-DD, a day of the report's time zone")
    outstanding: int = Field(description="points outstanding at the day's end: the total supply, net of expiry")
    issued: int = Field(description="points minted by purchases (Earned) in the day")
    redeemed: int = Field(description="points burned for rewards or payments (Redeemed) in the day")
    reversed: int = Field(description="points clawed back by refunds (Reversed) in the day")
    restored: int = Field(description="points paid at a till given back by a refund (Restored) in the day")
    expired: int = Field(description="points expired (Expired) in the day: breakage, the operator's")
    rate_low: int | None = Field(description="the lowest reimbursement rate of the partners active at the day's end")
    rate_high: int | None = Field(description="the highest one; null with no active partner")
    value_low: int | None = Field(description="outstanding x rate_low, settlement-token base units")
    value_high: int | None = Field(description="outstanding x rate_high, settlement-token base units")


class LiabilityReport(BaseModel):
    """The liability per business day of a range, from the chain's events as indexed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from": "2026-12-04",
                    "to": "2026-12-04",
                    "time_zone": "Europe/Berlin",
                    "rule": VALUE_RULE,
                    "breakage_rule": BREAKAGE_RULE,
                    "days": [DAY_EXAMPLE],
                }
            ]
        },
        populate_by_name=True,
    )

    start: str = Field(alias="from", description="the first day, YYYY-MM-DD")
    end: str = Field(alias="to", description="the last day, YYYY-MM-DD")
    time_zone: str = Field(description="the IANA zone whose days these are (the dashboard's display zone)")
    rule: str = Field(description="how the points outstanding and their value are computed")
    breakage_rule: str = Field(description="whose money expired points are")
    days: list[LiabilityDayPublic] = Field(description="one entry per day of the range, oldest first")


@router.get(
    "/liability",
    response_model=LiabilityReport,
    response_model_by_alias=True,
    responses=problem_responses("unauthorized", "validation-error"),
)
def liability_report(
    _: OperatorDep,
    settings: SettingsDep,
    session: SessionDep,
    chain: ChainDep,
    start: Annotated[str | None, FROM] = None,
    end: Annotated[str | None, TO] = None,
) -> LiabilityReport:
    """The points outstanding at the end of each day of ``from..to`` (at most 366 days of the display
    zone), net of expiry, their value between the lowest and the highest reimbursement rate in force,
    and what moved each day. Anyone can recompute it from the chain (``coalition/crosscheck.py``)."""
    tz = settings.display_timezone
    try:
        days = liability.requested(session, chain_id=chain.contracts.book.chain_id, tz=tz, start=start, end=end)
    except RangeError as exc:
        session.commit()
        raise RequestValidationError([{"loc": ("query", "from"), "msg": str(exc), "type": "value_error"}]) from exc
    return LiabilityReport(
        start=days[0].day,
        end=days[-1].day,
        time_zone=tz,
        rule=VALUE_RULE,
        breakage_rule=BREAKAGE_RULE,
        days=[
            LiabilityDayPublic(
                day=d.day,
                outstanding=d.outstanding,
                issued=d.issued,
                redeemed=d.redeemed,
                reversed=d.reversed,
                restored=d.restored,
                expired=d.expired,
                rate_low=d.rate_low,
                rate_high=d.rate_high,
                value_low=d.value_low,
                value_high=d.value_high,
            )
            for d in days
        ],
    )
