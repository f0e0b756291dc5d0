"""Signing keys: encrypted JSON keystores (eth-account) with the password from the environment,
or, in local mode only, anvil's public development accounts."""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from network.errors import SigningKeyError
from network.settings import ChainSettings

# anvil's (and hardhat's) public development accounts, derived from the well-known mnemonic
# "test test test ... junk". Everyone knows these keys: local chains only, never real funds.
ANVIL_DEV_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
ANVIL_DEV_ADDRESSES = frozenset(Account.from_key(k).address for k in ANVIL_DEV_KEYS)


def dev_account(index: int, settings: ChainSettings) -> LocalAccount:
    """anvil's public development account ``index`` (0: admin, 1: operator, 2+: partners, …).
    Refused outside local mode."""
    if settings.mode != "local":
        raise SigningKeyError(
            f"anvil development account #{index} requested in mode '{settings.mode}'; "
            "outside local mode every key comes from an encrypted keystore"
        )
    return Account.from_key(ANVIL_DEV_KEYS[index])


def load_keystore(path: Path, password: str) -> LocalAccount:
    """Decrypts an eth-account JSON keystore file."""
    if not path.exists():
        raise SigningKeyError(f"keystore {path} not found")
    try:
        key = Account.decrypt(json.loads(path.read_text()), password)
    except ValueError as exc:
        raise SigningKeyError(f"cannot decrypt {path}: {exc}") from exc
    return Account.from_key(key)


def write_keystore(account: LocalAccount, password: str, path: Path) -> Path:
    """Encrypts ``account`` into ``path`` (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(Account.encrypt(account.key, password)))
    path.chmod(0o600)
    return path


def signer(name: str, settings: ChainSettings, *, dev_index: int | None = None) -> LocalAccount:
    """The key called ``name``: ``<keystore_dir>/<name>.json`` decrypted with the keystore
    password, or in local mode with no such file, anvil's development account ``dev_index``."""
    path = settings.keystore_dir / f"{name}.json"
    if path.exists():
        if not settings.keystore_password:
            raise SigningKeyError(f"{path} exists but COALITION_KEYSTORE_PASSWORD is not set")
        account = load_keystore(path, settings.keystore_password)
        if settings.mode != "local" and account.address in ANVIL_DEV_ADDRESSES:
            raise SigningKeyError(f"{path} holds a public anvil development key; not usable in mode '{settings.mode}'")
        return account
    if dev_index is None or settings.mode != "local":
        raise SigningKeyError(f"no keystore for '{name}' at {path}")
    return dev_account(dev_index, settings)
