"""Request and response bodies of the customer API (gateway/routes/customers.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import EXAMPLE_TX, EXAMPLE_WALLET, Address, BreakdownEntry, Strict
from gateway.services.wallet_auth import MAX_MESSAGE_CHARS

EXAMPLE_MESSAGE = (
    "gateway.example.com wants you to sign in with your Ethereum account:\n"
    f"{EXAMPLE_WALLET}\n\nSign in to the coalition loyalty network\n\nURI: https://gateway.example.com\n"
    "Version: 1\nChain ID: 31337\nNonce: 8d2f0a61c4b7e93f\nIssued At: 2026-11-23T10:00:00Z\n"
    "Expiration Time: 2026-11-23T10:10:00Z"
)
EXAMPLE_SIGNATURE = "0x" + "4f" * 64 + "1b"


class WalletChallengeCreate(Strict):
    """The wallet the customer says is theirs: they prove it by signing the challenge."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"wallet": EXAMPLE_WALLET}]})

    wallet: Address = Field(description="The customer's wallet, EIP-55 checksummed")


class AuthChallengeCreate(Strict):
    """The wallet to sign in with."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"address": EXAMPLE_WALLET}]})

    address: Address = Field(description="The customer's wallet, EIP-55 checksummed")


class ChallengePublic(BaseModel):
    """A message to sign with the wallet, once, before it expires."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"message": EXAMPLE_MESSAGE, "nonce": "8d2f0a61c4b7e93f", "expires_at": "2026-11-23T10:10:00Z"}
            ]
        }
    )

    message: str = Field(description="EIP-4361 text: the wallet signs it as is with personal_sign (EIP-191)")
    nonce: str = Field(description="The challenge's nonce (also in the message)")
    expires_at: datetime = Field(description="After this the challenge is refused: ask for a new one")


class SignedMessage(Strict):
    """A challenge's message as issued, and the wallet's signature of it."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message": EXAMPLE_MESSAGE, "signature": EXAMPLE_SIGNATURE}]}
    )

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS, description="The challenge's message, unchanged")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte personal_sign signature")


class CustomerPublic(BaseModel):
    """The partner's customer reference and the wallet it is linked to."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ref": "loyalty-0042",
                    "wallet": EXAMPLE_WALLET,
                    "custodial": True,
                    "released": False,
                    "release_available_at": None,
                    "linked_at": "2026-11-01T08:00:00Z",
                }
            ]
        }
    )

    ref: str = Field(description="The partner's own reference of the customer")
    wallet: str = Field(description="The wallet the ref is linked to")
    custodial: bool = Field(description="the gateway holds the key (until it is released)")
    released: bool = Field(description="a custodial wallet whose key was handed to the customer")
    release_available_at: datetime | None = Field(
        default=None, description="a release was asked for: its key can be collected from then (None: none stands)"
    )
    linked_at: datetime = Field(description="When the link was made (UTC)")


class BalancePublic(BaseModel):
    """A wallet's points."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"wallet": EXAMPLE_WALLET, "points": 1250}]})

    wallet: str = Field(description="The wallet")
    points: int = Field(description="from the chain: the token's balanceOf")


HISTORY_ENTRY_EXAMPLE = {
    "kind": "earned",
    "points": 63,
    "partner_id": 3,
    "partner_name": "Corner Bakery",
    "seq": 17,
    "ref": None,
    "block_number": 1234,
    "block_time": 1795428007,
    "tx_hash": EXAMPLE_TX,
    "purchase_id": "order-1042",
    "breakdown": [
        {"rule": "base", "version": 1, "kind": "base", "points": 42},
        {"rule": "wine-x2", "version": 1, "kind": "multiplier", "points": 21},
    ],
}


class HistoryEntry(BaseModel):
    """One movement of the wallet's points, from the chain's events."""

    model_config = ConfigDict(json_schema_extra={"examples": [HISTORY_ENTRY_EXAMPLE]})

    kind: Literal["earned", "redeemed", "reversed", "restored", "sent", "received", "expired"] = Field(
        description="earned (a purchase), redeemed (a reward, or points paid at a till), reversed (a refund's "
        "clawback), restored (points paid at a till given back by the purchase's refund), sent / received (a "
        "transfer between wallets), expired (the whole balance, burned after the expiry window of inactivity)"
    )
    points: int = Field(description="signed: + earned/restored/received, - redeemed/reversed/sent/expired")
    partner_id: int | None = Field(description="The partner of an earn, redemption or clawback; null for a transfer")
    partner_name: str | None = Field(description="Its name")
    seq: int | None = Field(description="The partner's sequence number of the purchase (earned, reversed)")
    ref: str | None = Field(
        description="The redemption's ref (for restored: the till capture's), or a transfer's other wallet; else null"
    )
    block_number: int = Field(description="The block of the event")
    block_time: int = Field(description="The block's time, Unix seconds")
    tx_hash: str = Field(description="The transaction of the event")
    purchase_id: str | None = Field(default=None, description="The partner's id of the purchase (earned); else null")
    breakdown: list[BreakdownEntry] | None = Field(
        default=None,
        description="Of an earn: which rule gave (or a cap took) how many points; null for an earn by the "
        "partner's rate alone, and for other movements",
    )


class HistoryPublic(BaseModel):
    """A page of a wallet's movements, newest first, and its balance."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"wallet": EXAMPLE_WALLET, "balance": 1250, "entries": [HISTORY_ENTRY_EXAMPLE], "next_cursor": 1187}
            ]
        }
    )

    wallet: str = Field(description="The wallet")
    balance: int = Field(description="the wallet's whole balance, from the chain")
    entries: list[HistoryEntry] = Field(description="The movements of this page, newest first")
    next_cursor: int | None = Field(description="Pass it as `cursor` for the next page; null: this is the last")


class ReleaseRequest(Strict):
    """The password the keystore is encrypted with: the customer's own, given to them, not kept."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "correct horse battery staple"}]})

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

    wallet: str = Field(description="The custodial wallet")
    status: Literal["release-pending"] = Field(default="release-pending", description="Always release-pending")
    available_at: datetime = Field(description="call again from then (with the customer's password) for the keystore")


class ReleasedWallet(BaseModel):
    """The answer of a release call after the notice (200): the key, once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "wallet": EXAMPLE_WALLET,
                    "status": "released",
                    "keystore": {
                        "address": EXAMPLE_WALLET[2:].lower(),
                        "version": 3,
                        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
                        "crypto": {"cipher": "aes-128-ctr", "kdf": "scrypt", "ciphertext": "…", "mac": "…"},
                    },
                }
            ]
        }
    )

    wallet: str = Field(description="The wallet, now the customer's own")
    status: Literal["released"] = Field(default="released", description="Always released")
    keystore: dict[str, Any] = Field(description="Web3 Secret Storage (v3) JSON, encrypted with the password")


class SessionPublic(BaseModel):
    """A customer session: its token is the customerToken of /v1/me."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "cs_9QmVt2xK7LpW4rN8yB3dF6hJ1sZ0aE5c",
                    "wallet": EXAMPLE_WALLET,
                    "expires_at": "2026-11-24T10:00:00Z",
                }
            ]
        }
    )

    token: str = Field(description="send as 'Authorization: Bearer <token>' to /v1/me; shown once")
    wallet: str = Field(description="The wallet signed in")
    expires_at: datetime = Field(description="After this the token answers 401: sign in again")


class MeLink(BaseModel):
    """A partner the signed-in wallet is a customer of."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"partner_id": 3, "partner_name": "Corner Bakery", "ref": "loyalty-0042"}]}
    )

    partner_id: int = Field(description="The partner's id")
    partner_name: str = Field(description="The partner's name")
    ref: str = Field(description="The partner's reference of the customer")


class MePublic(BaseModel):
    """The signed-in customer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "wallet": EXAMPLE_WALLET,
                    "custodial": False,
                    "links": [{"partner_id": 3, "partner_name": "Corner Bakery", "ref": "loyalty-0042"}],
                }
            ]
        }
    )

    wallet: str = Field(description="The wallet signed in")
    custodial: bool = Field(description="Whether the gateway holds this wallet's key for the customer")
    links: list[MeLink] = Field(description="The partners it is linked at")


class SignInLinkPublic(BaseModel):
    """A one-time sign-in link for a custodial customer: hand the URL to that customer only (it
    opens their points, read-only, once)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://gateway.example.com/me/link#sl_3q2-7wEXAMPLEtokenEXAMPLEtoken0123456789ab",
                    "wallet": "0x71C7656EC7ab88b098defB751B7401B5f6d8976F",
                    "expires_at": "2026-11-23T10:10:00Z",
                }
            ]
        }
    )

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
