"""EIP-712 consent of a customer to burn points at a partner (`CoalitionPoints.Redeem`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

DOMAIN_NAME = "Coalition Points"
DOMAIN_VERSION = "1"
REDEEM_TYPES = {
    "Redeem": [
        {"name": "customer", "type": "address"},
        {"name": "partnerId", "type": "uint32"},
        {"name": "points", "type": "uint256"},
        {"name": "ref", "type": "bytes32"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


@dataclass(frozen=True, slots=True)
class RedeemConsent:
    """What the customer signs."""

    customer: str
    partner_id: int
    points: int
    ref: bytes
    nonce: int
    deadline: int

    def message(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "partnerId": self.partner_id,
            "points": self.points,
            "ref": self.ref,
            "nonce": self.nonce,
            "deadline": self.deadline,
        }


def domain(chain_id: int, points_address: str) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": points_address,
    }


def sign_redeem(private_key: bytes | str, consent: RedeemConsent, *, chain_id: int, points_address: str) -> bytes:
    """The customer's 65-byte signature of ``consent`` for the points contract on ``chain_id``."""
    signed = Account.sign_typed_data(private_key, domain(chain_id, points_address), REDEEM_TYPES, consent.message())
    return bytes(signed.signature)


def recover_redeem_signer(signature: bytes, consent: RedeemConsent, *, chain_id: int, points_address: str) -> str:
    """The address that signed ``consent`` (what the contract will compare to the customer)."""
    message = encode_typed_data(domain(chain_id, points_address), REDEEM_TYPES, consent.message())
    return Account.recover_message(message, signature=signature)
