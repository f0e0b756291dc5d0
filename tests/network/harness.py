"""A real coalition on a real anvil for the chain-layer tests and benchmarks: a node on its own
port, the contracts deployed with web3.py, partners onboarded and funded, a fresh store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session, sessionmaker
from web3 import HTTPProvider, Web3

from network.contracts import CoalitionContracts
from network.deployments import AddressBook
from network.direct import deploy_coalition, transact
from network.keys import dev_account
from network.node import AnvilNode
from network.settings import ChainSettings
from network.store import open_store

USD = 10**6


@dataclass
class Harness:
    node: AnvilNode
    settings: ChainSettings
    w3: Web3
    book: AddressBook
    contracts: CoalitionContracts
    sessions: sessionmaker[Session]
    admin: LocalAccount
    operator: LocalAccount

    def onboard(self, minter: LocalAccount, treasury: LocalAccount, *, issue_price: int = 10_000,
                reimbursement_rate: int = 8_000, deposit: int = 10**7 * USD, limit: int = 10**9 * USD) -> int:
        c = self.contracts
        transact(self.w3, self.operator, c.registry.functions.onboard(
            minter.address, treasury.address, issue_price, reimbursement_rate, limit))
        partner_id = c.partner_id_of(minter.address)
        if deposit:
            transact(self.w3, self.admin, c.token.functions.mint(treasury.address, deposit))
            transact(self.w3, treasury, c.token.functions.approve(c.clearing.address, deposit))
            transact(self.w3, treasury, c.clearing.functions.deposit(partner_id, deposit))
        return partner_id


def make_harness(tmp: Path, port: int, **settings_overrides: object) -> Harness:
    settings = ChainSettings(
        mode="local", anvil_port=port, anvil_state_file=tmp / "anvil-state.json",
        database_url=f"sqlite:///{tmp / 'store.db'}", **settings_overrides,
    )
    node = AnvilNode.from_settings(settings, log_file=tmp / "anvil.log").start()
    w3 = Web3(HTTPProvider(node.url, request_kwargs={"timeout": settings.rpc_timeout_s}))
    admin, operator = dev_account(0, settings), dev_account(1, settings)
    book = deploy_coalition(w3, admin, operator)
    return Harness(node, settings, w3, book, CoalitionContracts(w3, book), open_store(settings.database_url),
                   admin, operator)
