"""Customers in the gateway's in-process tests: their keys, and ``Api``, the
app with two partners (A and B) that tests/gateway/test_customers_unit.py and
test_custodial_release_unit.py drive."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from gateway import auth
from gateway.settings import GatewaySettings
from network.store import LedgerEntry, Partner
from tests.fakes import CHAIN_ID
from tests.wallets import sign


def customer_key(label: str) -> LocalAccount:
    return Account.from_key(keccak(text=f"customer {label}"))


@dataclass
class Api:
    client: TestClient
    sessions: sessionmaker[Session]
    settings: GatewaySettings
    balances: dict[str, int]
    a: dict[str, str]  # partner A's auth header
    b: dict[str, str]

    def link(self, headers: dict[str, str], ref: str, account: LocalAccount) -> httpx.Response:
        challenge = self.client.post(
            f"/v1/customers/{ref}/wallet-challenge", json={"wallet": account.address}, headers=headers
        )
        assert challenge.status_code == 201, challenge.text
        message = challenge.json()["message"]
        return self.client.put(
            f"/v1/customers/{ref}/wallet",
            json={"message": message, "signature": sign(account, message)},
            headers=headers,
        )

    def sign_in(self, account: LocalAccount) -> dict[str, str]:
        message = self.client.post("/v1/auth/challenge", json={"address": account.address}).json()["message"]
        answer = self.client.post("/v1/auth/session", json={"message": message, "signature": sign(account, message)})
        assert answer.status_code == 201, answer.text
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def ledger(self, wallet: str, partner_id: int, points: int, kind: str = "earned") -> None:
        with self.sessions() as session:
            n = session.query(LedgerEntry).count()
            session.add(
                LedgerEntry(
                    chain_id=CHAIN_ID, block_number=10 + n, block_time=1_700_000_000 + n, tx_hash="0x" + "ab" * 32,
                    log_index=n, item=0, kind=kind, customer=wallet, partner_id=partner_id, seq=n, points=points,
                )
            )  # fmt: skip
            session.commit()


def partner_headers(sessions: sessionmaker[Session], partner_id: int, name: str) -> dict[str, str]:
    key = auth.new_api_key()
    with sessions() as session:
        session.add(
            Partner(
                id=partner_id, name=name, minter=Account.create().address, treasury=Account.create().address,
                api_key_prefix=key.prefix, api_key_hash=key.hash, currency="EUR", points_per_unit=1,
                issue_price=10_000, reimbursement_rate=8_000, issuance_limit=10**12,
            )
        )  # fmt: skip
        session.commit()
    return {"Authorization": f"Bearer {key.key}"}
