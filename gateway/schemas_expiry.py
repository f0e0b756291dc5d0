"""The expiry schedule of a wallet's points (``GET /v1/customers/{ref}/expiry``, ``GET /v1/me/expiry``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import EXAMPLE_WALLET

EXPIRY_EXAMPLE = {
    "wallet": EXAMPLE_WALLET,
    "points": 1250,
    "expires_at": "2028-12-04T09:12:33Z",
    "expired_points": 0,
    "schedule": [
        {
            "expires_at": "2028-12-04T09:12:33Z",
            "points": 1250,
            "reminders": ["2028-11-04T09:12:33Z", "2028-11-27T09:12:33Z"],
        }
    ],
    "window_days": 730,
    "rule": "Points expire after 730 days without activity: any earn, spend or transfer of points keeps all of "
    "them for 730 days more. One date holds for the whole balance.",
}


class ExpiryDatePublic(BaseModel):
    """One expiry date and the points that expire on it, unless the wallet has activity before."""

    model_config = ConfigDict(json_schema_extra={"examples": EXPIRY_EXAMPLE["schedule"]})

    expires_at: datetime = Field(description="When (UTC): the chain burns the points any time after it")
    points: int = Field(description="The points that expire then")
    reminders: list[datetime] = Field(description="When the points.expiring reminders are sent (UTC)")


class ExpiryPublic(BaseModel):
    """A wallet's points and when they expire, read from the chain (``expiresAtOf``). With expiry
    by inactivity there is one date for the whole balance: the schedule has one entry (none if the
    wallet holds nothing); activity before it moves it out."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXPIRY_EXAMPLE]})

    wallet: str = Field(description="The wallet")
    points: int = Field(description="from the chain: the token's balanceOf")
    expires_at: datetime | None = Field(description="When all of them expire (UTC); null if the wallet holds none")
    expired_points: int = Field(description="Points past their expiry, burned at the next sweep (0 if none)")
    schedule: list[ExpiryDatePublic] = Field(description="Every future expiry date: one with expiry by inactivity")
    window_days: int = Field(description="The expiry window in force: days without activity")
    rule: str = Field(description="The rule, in a sentence")
