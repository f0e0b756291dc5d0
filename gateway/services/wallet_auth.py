"""Proving control of a wallet: EIP-4361 ("Sign-In with Ethereum") challenges, and customer sessions.

The gateway writes the message (domain and URI from ``settings.public_url``, the chain id, a
random single-use nonce, an expiry) and stores it. The wallet signs it with ``personal_sign``
(EIP-191). Verification parses the message, finds the stored challenge by its nonce, requires
the message to be exactly the one issued (so no field can be altered), checks domain, chain,
expiry and single use, and recovers the signer, which must be the message's address. Then it
either links a partner's customer ref to the wallet, or opens a customer session: a random
bearer token, stored as its SHA-256 hash only, that expires, or ends at logout (its row deleted).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from gateway.errors import (
    ChallengeExpired,
    ChallengeMismatch,
    ChallengeUnknown,
    ChallengeUsed,
    Unauthorized,
    WalletSignatureInvalid,
)
from gateway.settings import GatewaySettings
from gateway.timeutil import as_utc
from network.store import CustomerSession, WalletChallenge, utcnow

MAX_MESSAGE_CHARS = 2_000
SESSION_TOKEN_PREFIX = "cs_"

_MESSAGE = re.compile(
    r"^(?P<domain>[^\s/]+) wants you to sign in with your Ethereum account:\n"
    r"(?P<address>0x[0-9a-fA-F]{40})\n\n"
    r"(?P<statement>[^\n]+)\n\n"
    r"URI: (?P<uri>[^\s]+)\n"
    r"Version: (?P<version>1)\n"
    r"Chain ID: (?P<chain_id>[0-9]{1,20})\n"
    r"Nonce: (?P<nonce>[A-Za-z0-9]{8,32})\n"
    r"Issued At: (?P<issued_at>[^\n]+)\n"
    r"Expiration Time: (?P<expiration_time>[^\n]+)$"
)


@dataclass(frozen=True)
class SiweMessage:
    """The fields of an EIP-4361 message, as this gateway writes them."""

    domain: str
    address: str
    statement: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime

    def text(self) -> str:
        return (
            f"{self.domain} wants you to sign in with your Ethereum account:\n{self.address}\n\n{self.statement}\n\n"
            f"URI: {self.uri}\nVersion: 1\nChain ID: {self.chain_id}\nNonce: {self.nonce}\n"
            f"Issued At: {_iso(self.issued_at)}\nExpiration Time: {_iso(self.expiration_time)}"
        )


def _iso(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_message(text: str) -> SiweMessage:
    """Parses a message of the form this gateway issues; anything else is ChallengeUnknown."""
    match = _MESSAGE.match(text) if len(text) <= MAX_MESSAGE_CHARS else None
    if match is None:
        raise ChallengeUnknown("the message is not an EIP-4361 message as this gateway issues them")
    try:
        issued = datetime.fromisoformat(match["issued_at"])
        expires = datetime.fromisoformat(match["expiration_time"])
    except ValueError as exc:
        raise ChallengeUnknown("the message's Issued At / Expiration Time are not RFC 3339 times") from exc
    return SiweMessage(
        domain=match["domain"],
        address=match["address"],
        statement=match["statement"],
        uri=match["uri"],
        chain_id=int(match["chain_id"]),
        nonce=match["nonce"],
        issued_at=as_utc(issued),
        expiration_time=as_utc(expires),
    )


def gateway_domain(settings: GatewaySettings) -> str:
    """The EIP-4361 domain: the authority (host[:port]) of the gateway's public URL."""
    return urlsplit(settings.public_url).netloc


def issue_challenge(
    session: Session,
    settings: GatewaySettings,
    *,
    address: str,
    statement: str,
    purpose: str,
    partner_id: int | None = None,
    ref: str | None = None,
) -> WalletChallenge:
    """Writes and stores a new message for ``address`` to sign (not committed)."""
    now = utcnow().replace(microsecond=0)
    message = SiweMessage(
        domain=gateway_domain(settings),
        address=address,
        statement=statement,
        uri=settings.public_url,
        chain_id=settings.chain_id,
        nonce=secrets.token_hex(16),  # 128 bits, alphanumeric as EIP-4361 requires
        issued_at=now,
        expiration_time=now + timedelta(seconds=settings.wallet_challenge_ttl_s),
    )
    challenge = WalletChallenge(
        nonce=message.nonce,
        purpose=purpose,
        address=address,
        partner_id=partner_id,
        ref=ref,
        message=message.text(),
        expires_at=message.expiration_time,
    )
    session.add(challenge)
    session.flush()
    return challenge


def recover_signer(message: str, signature: str) -> str | None:
    """The address that signed ``message`` with personal_sign, or None if the signature is malformed."""
    try:
        return str(Account.recover_message(encode_defunct(text=message), signature=signature))
    except Exception:
        return None


def verify_challenge(
    session: Session,
    settings: GatewaySettings,
    *,
    message: str,
    signature: str,
    purpose: str,
    partner_id: int | None = None,
    ref: str | None = None,
) -> WalletChallenge:
    """Checks a signed message against the challenge it came from and uses the challenge up
    (not committed: the caller commits together with what the proof allows). Raises one
    problem type per failure, in the order: unknown, mismatch, expired, used, signature."""
    parsed = parse_message(message)
    challenge = session.scalar(select(WalletChallenge).where(WalletChallenge.nonce == parsed.nonce))
    if challenge is None or challenge.purpose != purpose or challenge.partner_id != partner_id:
        raise ChallengeUnknown("no challenge with this nonce was issued here for this purpose")
    if parsed.domain != gateway_domain(settings) or parsed.uri != settings.public_url:
        raise ChallengeMismatch(f"the message is for {parsed.domain!r}, not this gateway")
    if parsed.chain_id != settings.chain_id:
        raise ChallengeMismatch(f"the message is for chain {parsed.chain_id}, this gateway is on {settings.chain_id}")
    if ref is not None and challenge.ref != ref:
        raise ChallengeMismatch("the challenge was issued for another customer reference")
    if message != challenge.message:
        raise ChallengeMismatch("the message differs from the one issued for this nonce")
    if as_utc(challenge.expires_at) <= utcnow():
        raise ChallengeExpired("the challenge has expired; ask for a new one")
    if not is_checksum_address(parsed.address) or recover_signer(message, signature) != parsed.address:
        raise WalletSignatureInvalid("the signature is not the message's address signing this exact message")
    # single use, even under concurrent requests: only one UPDATE finds it unused
    used = session.execute(
        update(WalletChallenge)
        .where(WalletChallenge.id == challenge.id, WalletChallenge.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise ChallengeUsed("this challenge was used already; ask for a new one")
    return challenge


def token_hash(token: str) -> str:
    """SHA-256 of a bearer token: the only form in which tokens are stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session, settings: GatewaySettings, wallet: str, *, via: str = "wallet"
) -> tuple[str, CustomerSession]:
    """A new bearer token for ``wallet`` (returned once; only its hash is stored; not committed).
    ``via="link"``: opened by a one-time sign-in link, it lasts ``sign_in_link_session_ttl_s``."""
    token = SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)
    ttl_s = settings.sign_in_link_session_ttl_s if via == "link" else settings.customer_session_ttl_s
    row = CustomerSession(
        token_hash=token_hash(token),
        wallet=wallet,
        via=via,
        expires_at=utcnow() + timedelta(seconds=ttl_s),
    )
    session.add(row)
    session.flush()
    return token, row


def session_wallet(session: Session, token: str) -> str:
    """The wallet a customer token stands for; Unauthorized if unknown or expired."""
    return customer_session(session, token).wallet


def customer_session(session: Session, token: str) -> CustomerSession:
    """The session a customer token stands for (its wallet, how it was opened); Unauthorized if
    unknown or expired."""
    if not token.startswith(SESSION_TOKEN_PREFIX) or len(token) > 100:
        raise Unauthorized("send 'Authorization: Bearer <customer token>' from POST /v1/auth/session")
    row = session.scalar(select(CustomerSession).where(CustomerSession.token_hash == token_hash(token)))
    if row is None or as_utc(row.expires_at) <= utcnow():
        raise Unauthorized("unknown or expired customer token; sign in again")
    return row


def close_session(session: Session, token: str) -> bool:
    """Ends a customer session at once (logout): its row is deleted, so the token answers 401
    everywhere from the commit on. True if there was one (not committed)."""
    if not token.startswith(SESSION_TOKEN_PREFIX) or len(token) > 100:
        return False
    ended = session.execute(delete(CustomerSession).where(CustomerSession.token_hash == token_hash(token)))
    return bool(ended.rowcount)  # type: ignore[attr-defined]
