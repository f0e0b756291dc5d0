"""Redemptions in the gateway's in-process tests: customers' keys, rewards, signed consents, the store."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import redemptions as service
from network.signatures import RedeemConsent, sign_redeem
from network.store import Redemption, Reward
from tests.fakes import CHAIN_ID, POINTS_ADDRESS
from tests.gateway.partners import PartnerKey


def customer_key(label: str) -> LocalAccount:
    return Account.from_key(keccak(f"unit-customer-{label}".encode()))


def add_reward(
    client: TestClient, partner: PartnerKey, sku: str = "COFFEE", points: int = 10, stock: int | None = 5
) -> dict[str, Any]:
    r = client.post(
        "/v1/rewards", headers=partner.headers, json={"sku": sku, "name": sku, "points": points, "stock": stock}
    )
    assert r.status_code == 201, r.text
    return r.json()


def signed_body(
    partner: PartnerKey,
    customer: LocalAccount,
    redemption_id: str,
    *,
    points: int,
    sku: str = "COFFEE",
    quantity: int = 1,
    nonce: int = 1,
    deadline: int | None = None,
    signer: LocalAccount | None = None,
) -> dict[str, Any]:
    """A redemption body with the customer's EIP-712 consent (or ``signer``'s: a forgery)."""
    deadline = deadline or int(time.time()) + 600
    ref = bytes.fromhex(service.redeem_ref(CHAIN_ID, partner.id, redemption_id)[2:])
    consent = RedeemConsent(customer.address, partner.id, points, ref, nonce, deadline)
    signature = sign_redeem((signer or customer).key, consent, chain_id=CHAIN_ID, points_address=POINTS_ADDRESS)
    return {
        "redemption_id": redemption_id,
        "sku": sku,
        "quantity": quantity,
        "customer": {"wallet": customer.address},
        "consent": {"nonce": nonce, "deadline": deadline, "signature": "0x" + signature.hex()},
    }


def stock_of(sessions: sessionmaker[Session], partner_id: int, sku: str) -> int | None:
    with sessions() as session:
        return session.scalar(select(Reward.stock).where(Reward.partner_id == partner_id, Reward.sku == sku))


def redemptions_of(sessions: sessionmaker[Session], partner_id: int) -> list[Redemption]:
    with sessions() as session:
        return list(session.scalars(select(Redemption).where(Redemption.partner_id == partner_id)))


def run_concurrently(app: FastAPI, requests: list[tuple[str, dict[str, str], dict[str, Any]]]) -> list[httpx.Response]:
    """Sends every request at once through the ASGI app (sync routes run in its thread pool)."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://unit", timeout=60) as c:
            calls = (c.post(path, headers=headers, json=body) for path, headers, body in requests)
            return await asyncio.wait_for(asyncio.gather(*calls), timeout=60)

    return asyncio.run(run())
