"""Customers' wallets in the tests: a message signed as a wallet signs it (personal_sign, EIP-191)."""

from __future__ import annotations

from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount


def sign(account: LocalAccount, message: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=message)).signature.hex().removeprefix("0x")
