"""EIP-712 consent of a customer to burn points at a partner (`CoalitionPoints.Redeem`), its
cancellation (`CoalitionPoints.CancelRedeem`), and a signature's compact form (EIP-2098) that a
batch of consents carries (`CoalitionPoints.redeemBatchWithSignatures`)."""

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

CANCEL_REDEEM_TYPES = {
    "CancelRedeem": [
        {"name": "customer", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}
# The nonces the gateway hands out (gateway/services/consent_nonces.py): SEQUENTIAL_NONCE_BASE + n, n
# counting up per customer, so that consecutive consents share the contract's bitmap word (256 nonces
# a word) and each after a word's first flips a bit of a slot in use (~5,000 gas) instead of filling a
# fresh one (~22,100). Above the random nonces of before (64 bits), so the two never meet.
SEQUENTIAL_NONCE_BASE = 1 << 64
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


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


def sign_cancel_redeem(
    private_key: bytes | str, customer: str, nonce: int, deadline: int, *, chain_id: int, points_address: str
) -> bytes:
    """The customer's 65-byte signature of a ``CancelRedeem`` of its consent with ``nonce``."""
    message = {"customer": customer, "nonce": nonce, "deadline": deadline}
    signed = Account.sign_typed_data(private_key, domain(chain_id, points_address), CANCEL_REDEEM_TYPES, message)
    return bytes(signed.signature)


def compact_signature(signature: bytes) -> tuple[bytes, bytes]:
    """``(r, vs)``: a 65-byte ``r || s || v`` signature in EIP-2098's compact form (the y parity in
    the top bit of ``s``). ValueError for a signature that is not 65 bytes, whose ``v`` is not
    27/28 (or 0/1), or whose ``s`` is in the upper half (the contract refuses those anyway)."""
    if len(signature) != 65:
        raise ValueError(f"a signature is 65 bytes, not {len(signature)}")
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    parity = v - 27 if v >= 27 else v
    if parity not in (0, 1) or s > SECP256K1_HALF_N:
        raise ValueError("not a canonical signature (v must be 27 or 28, s in the lower half)")
    return r, (s | parity << 255).to_bytes(32, "big")
