"""Request and response bodies of the consents' grid on /me (gateway/routes/me_members.py) and
of the messages' links (gateway/routes/consent_links.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import Strict
from gateway.schemas_members import EXAMPLE_CONSENT_PUBLIC, MemberConsentPublic
from gateway.services.consent_grid import GridRow

_CELLS = [
    {"channel": "email", "partner_id": None, "state": "granted", "text_shown": "I agree that the coalition may "
     "send me email about my points, rewards and offers. I can change this at any time.", "source": "me"},
    {"channel": "sms", "partner_id": None, "state": "withdrawn", "text_shown": None, "source": "sms-stop"},
    {"channel": "push", "partner_id": None, "state": "unset", "text_shown": None, "source": None},
]  # fmt: skip
EXAMPLE_GRID = [
    {"partner_id": None, "name": "The coalition (all partners)", "cells": _CELLS},
    {
        "partner_id": 1,
        "name": "Grocery",
        "cells": [c | {"partner_id": 1, "state": "pending", "source": "pos"} for c in _CELLS[:1]]
        + [c | {"partner_id": 1} for c in _CELLS[1:]],
    },
]


class ConsentCellPublic(BaseModel):
    """One cell: the consent in force for a channel and a sender."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CELLS[0]]})

    channel: str = Field(description="email | sms | push")
    partner_id: int | None = Field(description="The partner; null: the coalition")
    state: str = Field(
        description="granted | pending (an email grant waiting for the customer's confirmation) | withdrawn | unset"
    )
    text_shown: str | None = Field(description="The words shown when it was given or withdrawn")
    source: str | None = Field(description="How it was collected")


class ConsentRowPublic(BaseModel):
    """A sender: the coalition or a partner the customer has a ref with, and its cells."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_GRID[0]]})

    partner_id: int | None = Field(description="null: the coalition (a withdrawal there stops every partner)")
    name: str = Field(description="The sender's name")
    cells: list[ConsentCellPublic] = Field(description="One per channel")

    @classmethod
    def of(cls, row: GridRow) -> ConsentRowPublic:
        cells = [
            ConsentCellPublic(
                channel=c.channel, partner_id=c.partner_id, state=c.state, text_shown=c.text_shown, source=c.source
            )
            for c in row.cells
        ]
        return cls(partner_id=row.partner_id, name=row.name, cells=cells)


class MyConsentsPublic(BaseModel):
    """The customer's consents: the grid in force and every change, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"grid": EXAMPLE_GRID, "history": [EXAMPLE_CONSENT_PUBLIC]}]}
    )

    grid: list[ConsentRowPublic] = Field(description="The coalition, then each partner, a cell per channel")
    history: list[MemberConsentPublic] = Field(description="Every change, oldest first")


class ConsentCellIn(Strict):
    """A cell to set: allow (``granted``) or stop a channel for a sender."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"channel": "sms", "partner_id": None, "granted": False}]}
    )

    channel: str = Field(max_length=16, description="email | sms | push")
    partner_id: int | None = Field(default=None, ge=1, lt=2**32, description="null: the coalition")
    granted: bool = Field(description="true: allow; false: stop")


class ConsentCellsPut(Strict):
    """The cells to set; a cell already so records nothing. An email allowed waits for the
    customer's confirmation (double opt-in)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"cells": [{"channel": "sms", "partner_id": None, "granted": False},
                           {"channel": "email", "partner_id": 1, "granted": True}]}
            ]
        },
    )  # fmt: skip

    cells: list[ConsentCellIn] = Field(min_length=1, max_length=60, description="1 to 60 cells")


class ConfirmationPublic(BaseModel):
    """An email consent confirmed (double opt-in)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"confirmed": True, "partner_id": 1, "partner_name": "Grocery"}]}
    )

    confirmed: bool = Field(description="true: the address is confirmed; marketing email may go out")
    partner_id: int | None = Field(description="The partner the consent is for; null: the coalition")
    partner_name: str | None = Field(description="Its name")


class UnsubscriptionPublic(BaseModel):
    """Where the consent a link names stands, after an unsubscribe."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"unsubscribed": True, "channel": "email", "partner_id": 1, "partner_name": "Grocery",
                 "whole_channel": False}
            ]
        }
    )  # fmt: skip

    unsubscribed: bool = Field(description="true: the consent the link names is withdrawn")
    channel: str = Field(description="email | sms | push")
    partner_id: int | None = Field(description="The partner whose messages stop; null: the coalition's own")
    partner_name: str | None = Field(description="Its name")
    whole_channel: bool = Field(description="Whether the channel is withdrawn at the coalition's scope (everyone)")
