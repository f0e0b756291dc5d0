"""Request and response bodies of the customer API (gateway/routes/customers.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import Address, Strict
from gateway.services.wallet_auth import MAX_MESSAGE_CHARS


class WalletChallengeCreate(Strict):
    wallet: Address


class AuthChallengeCreate(Strict):
    address: Address


class ChallengePublic(BaseModel):
    message: str = Field(description="EIP-4361 text: the wallet signs it as is with personal_sign (EIP-191)")
    nonce: str
    expires_at: datetime


class SignedMessage(Strict):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte personal_sign signature")


class CustomerPublic(BaseModel):
    ref: str
    wallet: str
    custodial: bool = Field(description="the gateway holds the key (until it is released)")
    released: bool = Field(description="a custodial wallet whose key was handed to the customer")
    release_available_at: datetime | None = Field(
        default=None, description="a release was asked for: its key can be collected from then (None: none stands)"
    )
    linked_at: datetime


class BalancePublic(BaseModel):
    wallet: str
    points: int = Field(description="from the chain: the token's balanceOf")


class HistoryEntry(BaseModel):
    kind: str = Field(description="earned | redeemed | reversed | sent | received")
    points: int = Field(description="signed: + earned/received, - redeemed/reversed/sent")
    partner_id: int | None
    partner_name: str | None
    seq: int | None
    ref: str | None
    block_number: int
    block_time: int
    tx_hash: str


class HistoryPublic(BaseModel):
    wallet: str
    balance: int = Field(description="the wallet's whole balance, from the chain")
    entries: list[HistoryEntry]
    next_cursor: int | None


class ReleaseRequest(Strict):
    password: str = Field(min_length=8, max_length=128, description="the customer's; encrypts the keystore")


class ReleasePending(BaseModel):
    """The answer of the first release call (202): the request is recorded, nothing is handed over."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "wallet": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                    "status": "release-pending",
                    "available_at": "2026-01-04T09:30:00Z",
                }
            ]
        }
    )

    wallet: str
    status: Literal["release-pending"] = "release-pending"
    available_at: datetime = Field(description="call again from then (with the customer's password) for the keystore")


class ReleasedWallet(BaseModel):
    """The answer of a release call after the notice (200): the key, once."""

    wallet: str
    status: Literal["released"] = "released"
    keystore: dict[str, Any] = Field(description="Web3 Secret Storage (v3) JSON, encrypted with the password")


class SessionPublic(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer <token>' to /v1/me; shown once")
    wallet: str
    expires_at: datetime


class MeLink(BaseModel):
    partner_id: int
    partner_name: str
    ref: str


class MePublic(BaseModel):
    wallet: str
    custodial: bool
    links: list[MeLink]


class SignInLinkPublic(BaseModel):
    """A one-time sign-in link for a custodial customer: hand the URL to that customer only (it
    opens their points, read-only, once)."""

    url: str = Field(
        description="opens /me signed in as the customer, once; the token is in the fragment (#…), "
        "which browsers send to no server",
        examples=["https://gateway.example/me/link#sl_3q2-7wEXAMPLEtokenEXAMPLEtoken0123456789ab"],
    )
    wallet: str = Field(
        description="the custodial wallet the session will show",
        examples=["0x71C7656EC7ab88b098defB751B7401B5f6d8976F"],
    )
    expires_at: datetime = Field(description="the link cannot be opened after this (UTC)")
