"""Buying and redeeming on the real stack for the settlement tests (tests/e2e/stack.py)."""

from __future__ import annotations

from typing import Any

from network.direct import transact
from network.signatures import RedeemConsent, sign_redeem
from tests.e2e.stack import OnboardedPartner, Stack


def buy(stack: Stack, p: OnboardedPartner, purchase_id: str, wallet: str, amount: str) -> dict[str, Any]:
    r = stack.post_purchase(p, purchase_id, wallet, amount=amount)
    assert r.status_code == 202, r.text
    return r.json()


def redeem(stack: Stack, customer: Any, partner_id: int, points: int, nonce: int) -> None:
    """The customer's signed consent, relayed by the admin (the chain does not care who relays)."""
    h = stack.harness
    deadline = int(h.w3.eth.get_block("latest")["timestamp"]) + 600  # the chain's clock (the test moves it on)
    consent = RedeemConsent(
        customer.address, partner_id, points, f"r-{nonce}".encode().ljust(32, b"\0"), nonce, deadline
    )
    signature = sign_redeem(customer.key, consent, chain_id=h.book.chain_id, points_address=h.contracts.points.address)
    fn = h.contracts.points.functions.redeemWithSignature(
        customer.address, partner_id, points, consent.ref, nonce, consent.deadline, signature
    )
    transact(h.w3, h.admin, fn)
