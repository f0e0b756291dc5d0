"""Redemptions on the real stack (tests/e2e/stack.py): earning, rewards, customers' consents, and the
chain's own record of burns, read independently of the gateway."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import event_abi_to_log_topic

from network.deployments import PROJECT_ROOT
from network.signatures import RedeemConsent, sign_redeem
from tests.e2e.stack import OnboardedPartner, Stack

CAST = PROJECT_ROOT / "toolchain" / "bin" / "cast"


def cast_balance(stack: Stack, wallet: str) -> int:
    """The balance as foundry's cast reads it, independent of our bindings."""
    out = subprocess.run(
        [
            str(CAST),
            "call",
            stack.harness.contracts.points.address,
            "balanceOf(address)(uint256)",
            wallet,
            "--rpc-url",
            f"http://127.0.0.1:{stack.harness.node.port}",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return int(out.split()[0])


def earn(stack: Stack, partner: OnboardedPartner, purchase_id: str, wallet: str, amount: str) -> None:
    r = stack.post_purchase(partner, purchase_id, wallet, amount=amount)
    assert r.status_code == 202, r.text
    stack.wait_purchase(partner, purchase_id, timeout_s=60)


def add_reward(stack: Stack, partner: OnboardedPartner, sku: str, points: int, stock: int) -> None:
    body = {"sku": sku, "name": sku.title(), "points": points, "stock": stock}
    r = stack.http.post("/v1/rewards", headers=partner.headers, json=body)
    assert r.status_code == 201, r.text


def consent_body(
    stack: Stack,
    partner: OnboardedPartner,
    customer: LocalAccount,
    redemption_id: str,
    sku: str,
    *,
    signer: LocalAccount | None = None,
) -> dict[str, Any]:
    """Asks the gateway for the typed data, has ``signer`` (default: the customer) sign it as
    a wallet would, and returns the redemption body with that consent."""
    ask = {"redemption_id": redemption_id, "sku": sku, "quantity": 1, "customer": {"wallet": customer.address}}
    r = stack.http.post("/v1/redemptions/consent", headers=partner.headers, json=ask)
    assert r.status_code == 200, r.text
    prepared = r.json()
    signature = Account.sign_typed_data((signer or customer).key, full_message=prepared["typed_data"]).signature
    consent = {"nonce": int(prepared["nonce"]), "deadline": prepared["deadline"], "signature": "0x" + signature.hex()}
    return {**ask, "consent": consent}


def local_consent_body(
    stack: Stack,
    partner: OnboardedPartner,
    customer: LocalAccount,
    redemption_id: str,
    sku: str,
    points: int,
    **kw: int,
) -> dict[str, Any]:
    """The same consent signed without asking the gateway (the domain from the address book)."""
    from gateway.services.redemptions import redeem_ref

    chain_id = stack.harness.settings.chain_id
    nonce, deadline = kw.get("nonce", 1), kw.get("deadline", int(time.time()) + 600)
    ref = bytes.fromhex(redeem_ref(chain_id, partner.id, redemption_id)[2:])
    consent = RedeemConsent(customer.address, partner.id, points, ref, nonce, deadline)
    signature = sign_redeem(
        customer.key, consent, chain_id=chain_id, points_address=stack.harness.contracts.points.address
    )
    return {
        "redemption_id": redemption_id,
        "sku": sku,
        "customer": {"wallet": customer.address},
        "consent": {"nonce": nonce, "deadline": deadline, "signature": "0x" + signature.hex()},
    }


def redeemed_events(stack: Stack, partner_id: int) -> list[dict[str, Any]]:
    """``Redeemed`` logs of the partner, decoded from the chain (not from our store)."""
    points = stack.harness.contracts.points
    abi = next(i for i in points.abi if i.get("type") == "event" and i.get("name") == "Redeemed")
    logs = stack.harness.w3.eth.get_logs(
        {
            "address": points.address,
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": ["0x" + event_abi_to_log_topic(abi).hex(), "0x" + partner_id.to_bytes(32, "big").hex()],
        }
    )
    return [dict(points.events.Redeemed().process_log(log)["args"]) for log in logs]
