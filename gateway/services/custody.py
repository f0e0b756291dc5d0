"""Custodial wallets: a key the gateway holds for a customer who has no wallet of their own.

The key is sealed at rest (AES-GCM, gateway/secrets_box.py, bound to the wallet's address);
only the ciphertext and the nonce are stored. A custodial wallet can be *released*: its key is
handed to the customer as an encrypted JSON keystore (their password), and from then on
``custodial_account`` returns None, so the gateway never signs for that address again. The
points stay where they are: the address is now the customer's own.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
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


def create_custodial_wallet(session: Session, settings: GatewaySettings) -> str:
    """Makes a new key, stores it sealed, and returns its checksummed address (not committed)."""
    account: LocalAccount = Account.create()
    sealed = seal(_secrets_key(settings), PURPOSE, bytes(account.key), aad=account.address.encode())
    session.add(CustodialWallet(address=account.address, key_ciphertext=sealed.ciphertext, key_nonce=sealed.nonce))
    session.flush()
    return account.address


def is_custodial(session: Session, address: str) -> bool:
    """Whether the gateway holds (or held, before release) this address's key."""
    return session.get(CustodialWallet, address) is not None


def custodial_account(session: Session, settings: GatewaySettings, address: str) -> LocalAccount | None:
    """The key of a custodial wallet the gateway may still sign for; None when the address is
    not custodial or its key was released to the customer."""
    wallet = session.get(CustodialWallet, address)
    if wallet is None or wallet.released_at is not None:
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
    session: Session, settings: GatewaySettings, address: str, password: str, *, kdf: str = "scrypt"
) -> dict[str, Any]:
    """Hands the key over as an encrypted JSON keystore (the customer's password) and marks the
    wallet released (not committed: the caller commits, and only then returns the keystore).

    Locks the row where the database can, so that two concurrent releases cannot both succeed.
    """
    wallet = session.get(CustodialWallet, address, with_for_update=True)
    if wallet is None:
        raise LookupError(f"{address} is not a custodial wallet")
    if wallet.released_at is not None:
        raise AlreadyReleased(f"{address} was released on {wallet.released_at.isoformat()}")
    account = _decrypt(settings, wallet)
    keystore: dict[str, Any] = Account.encrypt(account.key, password, kdf=kdf)
    wallet.released_at = utcnow()
    session.flush()
    return keystore
