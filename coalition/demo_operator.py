"""The operator's side of ``coalition demo``: partners onboarded and funded, their earning rules
and the tier ladder put in force, the settlement run, through the operator API; the chain read
and written directly where the operator holds a key (local chain only)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import redis
from web3 import HTTPProvider, Web3

from coalition import program
from coalition.processes import LocalNetwork
from coalition.program import ShopPlan
from coalition.simulator import Reward, Shop
from gateway.operator_key import operator_key_held
from gateway.settings import GatewaySettings
from network.contracts import CoalitionContracts
from network.deployments import AddressBook, load_address_book
from network.direct import transact
from network.keys import dev_account
from network.store import IndexerCheckpoint, open_store

USD = 10**6  # cUSD has 6 decimals


class Operator:
    """The operator API and the chain, as the demo uses them."""

    def __init__(self, settings: GatewaySettings, net: LocalNetwork) -> None:
        self.settings = settings
        self.net = net
        self.http = httpx.Client(
            base_url=net.url, headers={"Authorization": f"Bearer {settings.operator_token}"}, timeout=60
        )
        self.w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": settings.rpc_timeout_s}))
        self.book: AddressBook = load_address_book(settings.chain_id, settings.deployments_dir)
        self.contracts = CoalitionContracts(self.w3, self.book)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        if r.is_error:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json()

    def onboard(self, plan: ShopPlan, run_id: str) -> Shop:
        treasury = Web3.to_checksum_address(Web3.keccak(text=f"demo-treasury-{run_id}-{plan.kind}")[:20])
        body = {
            "name": f"{plan.kind} {run_id}",
            "treasury": treasury,
            "currency": "EUR",
            "points_per_unit": plan.points_per_unit,
            "issue_price": plan.issue_price,
            "reimbursement_rate": plan.reimbursement_rate,
            "issuance_limit": 10**9 * USD,
            "deposit": 100_000 * USD,
        }
        created = self.call("POST", "/v1/operator/partners", json=body)
        rewards = [Reward(f"{sku}-{run_id}", name, points, stock) for sku, name, points, stock in plan.rewards]
        return Shop(
            body["name"],
            created["id"],
            created["api_key"],
            "EUR",
            Decimal(plan.points_per_unit),
            plan.catalogue,
            frozenset({plan.excluded}),
            rewards,
        )

    def fund_operator(self, amount: int) -> None:
        """The operator's float in Clearing, from which it pays partners owed a positive net:
        cUSD minted by the admin (local chain), approved and deposited by the operator."""
        admin, operator = dev_account(0, self.settings), dev_account(1, self.settings)
        c = self.contracts
        transact(self.w3, admin, c.token.functions.mint(operator.address, amount))
        client = redis.Redis.from_url(self.net.redis_url)
        with operator_key_held(client, operator.address, self.settings):  # the gateway signs with it too
            transact(self.w3, operator, c.token.functions.approve(c.clearing.address, amount))
            transact(self.w3, operator, c.clearing.functions.fundOperator(amount))
        client.close()

    def wait_indexed(self, block: int, timeout_s: float = 120) -> None:
        sessions = open_store(self.settings.database_url)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                with sessions() as session:
                    cp = session.get(IndexerCheckpoint, (self.settings.chain_id, "coalition"))
                    if cp is not None and cp.block_number >= block:
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the indexer is not at block {block} after {timeout_s} s")
                time.sleep(0.2)
        finally:
            sessions.kw["bind"].dispose()

    def settle(self, timeout_s: float = 180) -> dict[str, Any]:
        started = self.call("POST", "/v1/operator/settlements")
        deadline = time.monotonic() + timeout_s
        while True:
            period = self.call("GET", f"/v1/operator/settlements/{started['period_id']}")
            if period["status"] == "settled":
                return dict(period)
            if period["status"] == "failed" or time.monotonic() > deadline:
                raise RuntimeError(
                    f"settlement of period {started['period_id']}: {period['status']} {period.get('error')}"
                )
            time.sleep(0.3)

    # ------------------------------------------------------------------ the loyalty program

    def activate_rules(self, partner_id: int, draft: dict[str, Any]) -> dict[str, Any]:
        """Drafts the partner's next rule set and puts it in force; answers the active version."""
        drafted = self.call("POST", f"/v1/operator/partners/{partner_id}/rules", json=draft)
        return dict(self.call("POST", f"/v1/operator/partners/{partner_id}/rules/{drafted['version']}/activate"))

    def ladder(self, wanted: dict[str, Any], timeout_s: float = 60) -> tuple[dict[str, Any], bool]:
        """The tier ladder in force, made ``wanted`` if it is not already (a new version, applied,
        its recalculation of every member waited for); answers it and whether it was applied now."""
        r = self.http.get("/v1/operator/tiers/ladder")
        if r.status_code == 200 and program.ladder_of(r.json()) == wanted:
            return r.json(), False
        if r.status_code != 200 and not r.json().get("type", "").endswith("/tier-ladder-not-set"):
            raise RuntimeError(f"GET /v1/operator/tiers/ladder: {r.status_code} {r.text}")
        proposed = self.call("PUT", "/v1/operator/tiers/ladder", json=wanted)
        run = self.call("POST", "/v1/operator/tiers/recalculations", json={"version": proposed["version"]})
        deadline = time.monotonic() + timeout_s
        while run["status"] == "running":
            if time.monotonic() > deadline:
                raise TimeoutError(f"the tier recalculation {run['id']} is still running after {timeout_s} s")
            time.sleep(0.3)
            run = self.call("GET", f"/v1/operator/tiers/recalculations/{run['id']}")
        return self.call("GET", "/v1/operator/tiers/ladder"), True

    def tier_changes(self, customer_id: int) -> list[dict[str, Any]]:
        """A member's tier changes, oldest first (the operator's view of the member)."""
        return list(self.call("GET", f"/v1/operator/tiers/members/{customer_id}")["changes"])

    def balance_of(self, wallet: str) -> int:
        """A wallet's points on chain."""
        return int(self.contracts.points.functions.balanceOf(Web3.to_checksum_address(wallet)).call())
