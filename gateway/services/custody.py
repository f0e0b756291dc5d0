"""Custodial wallets: a key the gateway holds for a customer who has no wallet of their own.

The key is sealed at rest (AES-GCM, gateway/secrets_box.py, bound to the wallet's address);
only the ciphertext and the nonce are stored. A custodial wallet can be *released*: its key is
handed to the customer as an encrypted JSON keystore (their password), and from then on
``custodial_account`` returns None, so the gateway never signs for that address again. The
points stay where they are: the address is now the customer's own.

A custodial wallet belongs to its custodian, the partner that created it for its own customer
ref: only for that partner does the gateway sign with it, and only that partner may release it.
For any other partner the address is answered as any wallet whose key the gateway does not hold.

A release takes two calls and a notice period, as a bank would not hand an account over on a
phone call: the custodian's API key alone can spend only the daily limit, and must not take the
whole balance at once. The first call records the request: the key can be collected from
``now + custodial_release_notice_s`` (72 h by default), the partner is told by a webhook
(``customer.custodial_release_requested``) and the operator by an alert, so that a request the
partner did not make (a stolen API key) is cancelled in time. A call before then is refused
(:class:`ReleaseNotYet`); the first call after it gets the keystore, once. A request not
collected within :data:`RELEASE_COLLECT_WINDOW` of its availability lapses: an old request
never lets a later caller take the key without a new notice. The rule itself is
:func:`release_step`, a pure function.

While a release is pending the custodian may still spend within the daily limit: the notice
protects the balance from a stolen key, which can spend that limit anyway, so stopping it
would only let anyone with the key freeze a customer's points by asking for a release.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from coincurve import PublicKey
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from sqlalchemy import update
from sqlalchemy.orm import Session

from gateway.secrets_box import Sealed, derive_many, open_sealed, seal
from gateway.services import customer_records
from gateway.settings import GatewaySettings
from network.store import CustodialWallet, OperatorAlert, Partner, utcnow
from network.store.events import record

PURPOSE = "custodial-wallet"
DERIVED = "custodial-wallet-derived"  # the purpose of the imported wallets' derived keys
# how long a release stays collectable once its notice is over; after it, a new request (and a
# new notice) is needed
RELEASE_COLLECT_WINDOW = timedelta(days=7)


def _secrets_key(settings: GatewaySettings) -> str:
    if not settings.secrets_key:
        raise RuntimeError("COALITION_SECRETS_KEY must be set to hold custodial wallets")
    return settings.secrets_key


def create_custodial_wallet(session: Session, settings: GatewaySettings, *, partner_id: int) -> str:
    """Makes a new key held for ``partner_id``'s customer, stores it sealed, enrols the address
    as a new customer's wallet, and returns its checksummed address (not committed)."""
    account: LocalAccount = Account.create()
    sealed = seal(_secrets_key(settings), PURPOSE, bytes(account.key), aad=account.address.encode())
    session.add(
        CustodialWallet(
            address=account.address, partner_id=partner_id, key_ciphertext=sealed.ciphertext, key_nonce=sealed.nonce
        )
    )
    session.flush()
    customer_records.customer_of_wallet(session, wallet=account.address)
    return account.address


def new_custodial_keys(settings: GatewaySettings, *, partner_id: int, count: int) -> list[dict[str, Any]]:
    """``count`` new keys held for ``partner_id``'s customers, as rows of ``custodial_wallets``
    (not inserted): the bulk import's path, ≈ 60 µs a key. Each key is *derived* rather than
    sealed: a random 32-byte salt is stored (``key_ciphertext``, with an empty ``key_nonce``
    marking the kind) and the key is HMAC-SHA256 of it under a key derived from the secrets key
    (gateway/secrets_box.py ``derive_many``), so the database alone gives no key, as with a sealed
    one, without an AES-GCM seal per key (most of a key's cost); the address is computed by
    libsecp256k1 directly. :func:`_decrypt` opens both kinds."""
    rows: list[dict[str, Any]] = []
    now = utcnow()
    while len(rows) < count:
        salts = [secrets.token_bytes(32) for _ in range(count - len(rows))]
        for salt, key in zip(salts, derive_many(_secrets_key(settings), DERIVED, salts), strict=True):
            try:
                public = PublicKey.from_secret(key).format(compressed=False)[1:]
            except ValueError:  # not a valid secp256k1 scalar (odds 2**-128): another salt
                continue
            address = _checksummed(keccak(public)[-20:])
            rows.append(
                {
                    "address": address,
                    "partner_id": partner_id,
                    "key_ciphertext": salt,
                    "key_nonce": b"",
                    "created_at": now,
                }
            )
    return rows


def _checksummed(raw: bytes) -> str:
    """The EIP-55 form of a 20-byte address (eth_utils' to_checksum_address, without its input checks)."""
    hex_address = raw.hex()
    digest = keccak(text=hex_address).hex()
    return "0x" + "".join(c.upper() if digest[i] in "89abcdef" else c for i, c in enumerate(hex_address))


def is_custodial(session: Session, address: str) -> bool:
    """Whether the gateway holds this address's key (and has not released it)."""
    wallet = session.get(CustodialWallet, address)
    return wallet is not None and wallet.released_at is None


def custodial_account(
    session: Session, settings: GatewaySettings, address: str, *, partner_id: int
) -> LocalAccount | None:
    """The key of a custodial wallet the gateway may still sign for on behalf of ``partner_id``;
    None when the address is not custodial, its key was released to the customer, or another
    partner is its custodian."""
    wallet = session.get(CustodialWallet, address)
    if wallet is None or wallet.released_at is not None or wallet.partner_id != partner_id:
        return None
    return _decrypt(settings, wallet)


def _decrypt(settings: GatewaySettings, wallet: CustodialWallet) -> LocalAccount:
    if not wallet.key_nonce:  # a derived key (new_custodial_keys): the stored bytes are its salt
        key = derive_many(_secrets_key(settings), DERIVED, [wallet.key_ciphertext])[0]
    else:
        sealed = Sealed(ciphertext=wallet.key_ciphertext, nonce=wallet.key_nonce)
        key = open_sealed(_secrets_key(settings), PURPOSE, sealed, aad=wallet.address.encode())
    account: LocalAccount = Account.from_key(key)
    if account.address != wallet.address:
        raise RuntimeError(f"custodial wallet {wallet.address}: the stored key is for another address")
    return account


ReleaseStep = Literal["request", "wait", "hand-over", "released"]


def release_step(*, released_at: datetime | None, available_at: datetime | None, now: datetime) -> ReleaseStep:
    """What a release call does now: record a new request (none stands, or it lapsed), wait
    (before ``available_at``), hand the key over (from ``available_at`` for
    :data:`RELEASE_COLLECT_WINDOW`), or nothing (``released`` already)."""
    if released_at is not None:
        return "released"
    if available_at is None or now >= available_at + RELEASE_COLLECT_WINDOW:
        return "request"
    if now < available_at:
        return "wait"
    return "hand-over"


def pending_release(wallet: CustodialWallet | None, now: datetime) -> datetime | None:
    """When a standing release request of ``wallet`` can be (or could be since) collected; None
    when none stands (never asked, cancelled, lapsed, released)."""
    if wallet is None:
        return None
    step = release_step(released_at=wallet.released_at, available_at=wallet.release_available_at, now=now)
    return wallet.release_available_at if step in ("wait", "hand-over") else None


class AlreadyReleased(Exception):
    """The key was handed over already: the gateway holds no usable key for this address."""


class ReleaseNotYet(Exception):
    """The release was asked for; the key is handed over from ``available_at``."""

    def __init__(self, address: str, available_at: datetime) -> None:
        super().__init__(
            f"the release of {address} was asked for; its key is handed over from {available_at.isoformat()}"
            " (DELETE the release to cancel it)"
        )
        self.available_at = available_at


@dataclass(frozen=True)
class ReleaseRequested:
    """The first call's outcome: nothing handed over; the key can be collected from ``available_at``."""

    wallet: str
    requested_at: datetime
    available_at: datetime


@dataclass(frozen=True)
class KeyReleased:
    wallet: str
    keystore: dict[str, Any]


def _locked_wallet(session: Session, address: str, partner_id: int) -> CustodialWallet:
    """The custodian's wallet row, written first (a no-op update) and then read again, so that
    every release call on one wallet is serialized until its commit (PostgreSQL's row lock,
    SQLite's write lock) and decides on what the previous one committed. LookupError when the
    address is not a custodial wallet of ``partner_id``."""
    session.execute(
        update(CustodialWallet)
        .where(CustodialWallet.address == address, CustodialWallet.partner_id == partner_id)
        .values(partner_id=partner_id)
        .execution_options(synchronize_session=False)
    )
    wallet = session.get(CustodialWallet, address, populate_existing=True)
    if wallet is None or wallet.partner_id != partner_id:
        raise LookupError(f"{address} is not a custodial wallet")
    return wallet


def release_custodial_wallet(
    session: Session,
    settings: GatewaySettings,
    address: str,
    password: str,
    *,
    partner_id: int,
    ref: str,
    kdf: str = "scrypt",
    now: datetime | None = None,
) -> ReleaseRequested | KeyReleased:
    """One release call of the custodian ``partner_id`` for its customer ``ref`` (see the
    module's docstring): records a request (:class:`ReleaseRequested`, with the partner's
    webhook event and the operator's alert), or hands the key over as an encrypted JSON keystore
    (the customer's ``password``) and marks the wallet released (:class:`KeyReleased`). Raises
    :class:`ReleaseNotYet` before the notice is over, :class:`AlreadyReleased` after a release,
    LookupError when the address is not a custodial wallet of ``partner_id``.

    Not committed: the caller commits, and only then answers. The hand-over is one conditional
    UPDATE on the request it read, so that of two concurrent calls only one gets the key.
    """
    now = now or utcnow()
    wallet = _locked_wallet(session, address, partner_id)
    step = release_step(released_at=wallet.released_at, available_at=wallet.release_available_at, now=now)
    if step == "released":
        raise AlreadyReleased(f"{address} was released to its customer already")
    if step == "wait":
        assert wallet.release_available_at is not None
        raise ReleaseNotYet(address, wallet.release_available_at)
    if step == "request":
        return _record_request(session, settings, wallet, partner_id=partner_id, ref=ref, now=now)
    account = _decrypt(settings, wallet)
    marked = session.execute(
        update(CustodialWallet)
        .where(
            CustodialWallet.address == address,
            CustodialWallet.released_at.is_(None),
            CustodialWallet.release_available_at == wallet.release_available_at,
        )
        .values(released_at=now)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyReleased(f"{address} was released to its customer already")
    keystore: dict[str, Any] = Account.encrypt(account.key, password, kdf=kdf)
    data = {"ref": ref, "wallet": address, "released_at": _iso(now)}
    record(session, "customer.custodial_wallet_released", payload=data, partner_id=partner_id, customer_wallet=address)
    return KeyReleased(wallet=address, keystore=keystore)


def _record_request(
    session: Session, settings: GatewaySettings, wallet: CustodialWallet, *, partner_id: int, ref: str, now: datetime
) -> ReleaseRequested:
    available_at = now + timedelta(seconds=settings.custodial_release_notice_s)
    when = _iso(available_at)
    wallet.release_requested_at, wallet.release_available_at = now, available_at
    data = {"ref": ref, "wallet": wallet.address, "requested_at": _iso(now), "available_at": when}
    record(
        session,
        "customer.custodial_release_requested",
        payload=data,
        partner_id=partner_id,
        customer_wallet=wallet.address,
    )
    partner = session.get(Partner, partner_id)
    name = partner.name if partner is not None else f"#{partner_id}"
    session.add(
        OperatorAlert(
            kind="custodial-release-requested",
            message=(
                f"partner {name} (id {partner_id}) asked to release custodial wallet {wallet.address} of its "
                f"customer {ref!r}: its key is handed over from {when} unless the partner cancels"
            ),
            details={"partner_id": partner_id, "ref": ref, "wallet": wallet.address, "available_at": when},
        )
    )
    session.flush()
    return ReleaseRequested(wallet=wallet.address, requested_at=now, available_at=available_at)


def cancel_release(session: Session, address: str, *, partner_id: int) -> None:
    """Withdraws a standing release request of the custodian ``partner_id`` (none standing:
    nothing to do). Raises AlreadyReleased once the key was handed over, LookupError when the
    address is not a custodial wallet of ``partner_id``. Not committed."""
    wallet = _locked_wallet(session, address, partner_id)
    if wallet.released_at is not None:
        raise AlreadyReleased(f"{address} was released to its customer already: there is nothing to cancel")
    wallet.release_requested_at = wallet.release_available_at = None
    session.flush()


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def custodian_name(session: Session, address: str) -> str | None:
    """The name of the partner the gateway holds (or held) ``address``'s key for; None for a
    wallet that was never custodial."""
    wallet = session.get(CustodialWallet, address)
    if wallet is None or wallet.partner_id is None:
        return None
    custodian = session.get(Partner, wallet.partner_id)
    return custodian.name if custodian is not None else None
