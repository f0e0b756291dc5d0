"""Request and response bodies of the customer API (gateway/routes/customers.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

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


class ReleasedWallet(BaseModel):
    wallet: str
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
