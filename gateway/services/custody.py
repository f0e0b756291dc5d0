"""Custodial wallets: a key the gateway holds for a customer who has no wallet of their own.

The key is sealed at rest (AES-GCM, gateway/secrets_box.py, bound to the wallet's address);
only the ciphertext and the nonce are stored. A custodial wallet can be *released*: its key is
handed to the customer as an encrypted JSON keystore (their password), and from then on
``custodial_account`` returns None, so the gateway never signs for that address again. The
points stay where they are: the address is now the customer's own.

A custodial wallet belongs to its custodian, the partner that created it for its own customer
ref: only for that partner does the gateway sign with it, and only that partner may release it.
For any other partner the address is answered as any wallet whose key the gateway does not hold.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import update
from sqlalchemy.orm import Session

from gateway.models import CustodialWallet
from gateway.secrets_box import Sealed, open_sealed, seal
from gateway.settings import GatewaySettings
from network.store import utcnow

PURPOSE = "custodial-wallet"


def _secrets_key(settings: GatewaySettings) -> str:
    if not settings.secrets_key:
        raise RuntimeError("COALITION_SECRETS_KEY must be set to hold custodial wallets")
    return settings.secrets_key


def create_custodial_wallet(session: Session, settings: GatewaySettings, *, partner_id: int) -> str:
    """Makes a new key held for ``partner_id``'s customer, stores it sealed, and returns its
    checksummed address (not committed)."""
    account: LocalAccount = Account.create()
    sealed = seal(_secrets_key(settings), PURPOSE, bytes(account.key), aad=account.address.encode())
    session.add(
        CustodialWallet(
            address=account.address, partner_id=partner_id, key_ciphertext=sealed.ciphertext, key_nonce=sealed.nonce
        )
    )
    session.flush()
    return account.address


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
    sealed = Sealed(ciphertext=wallet.key_ciphertext, nonce=wallet.key_nonce)
    key = open_sealed(_secrets_key(settings), PURPOSE, sealed, aad=wallet.address.encode())
    account: LocalAccount = Account.from_key(key)
    if account.address != wallet.address:
        raise RuntimeError(f"custodial wallet {wallet.address}: the stored key is for another address")
    return account


class AlreadyReleased(Exception):
    """The key was handed over already: the gateway holds no usable key for this address."""


def release_custodial_wallet(
    session: Session, settings: GatewaySettings, address: str, password: str, *, partner_id: int, kdf: str = "scrypt"
) -> dict[str, Any]:
    """Hands the key over as an encrypted JSON keystore (the customer's password) and marks the
    wallet released (not committed: the caller commits, and only then returns the keystore).
    Only the custodian ``partner_id`` may; for another the address is not custodial (LookupError).

    Marked with one conditional UPDATE, so that of two concurrent releases only one succeeds.
    """
    wallet = session.get(CustodialWallet, address)
    if wallet is None or wallet.partner_id != partner_id:
        raise LookupError(f"{address} is not a custodial wallet")
    account = _decrypt(settings, wallet) if wallet.released_at is None else None
    marked = session.execute(
        update(CustodialWallet)
        .where(CustodialWallet.address == address, CustodialWallet.released_at.is_(None))
        .values(released_at=utcnow())
    )
    if account is None or marked.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyReleased(f"{address} was released to its customer already")
    keystore: dict[str, Any] = Account.encrypt(account.key, password, kdf=kdf)
    return keystore
