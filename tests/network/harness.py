"""A real coalition on a real anvil for the chain-layer tests and benchmarks: a node on its own
port, the contracts deployed with web3.py, partners onboarded and funded, a fresh store."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from network.contracts import CoalitionContracts
from network.deployments import PROJECT_ROOT, AddressBook, write_address_book
from network.direct import deploy_coalition, transact
from network.keys import dev_account
from network.node import AnvilNode, chain_handle
from network.settings import ChainSettings
from tests.stores import migrated_store

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
    tmp: Path | None = None  # the harness's own directory: store, anvil state and log, address book

    @property
    def deployments_dir(self) -> Path:
        """Where :meth:`write_address_book` puts the address book (``COALITION_DEPLOYMENTS_DIR``)."""
        if self.tmp is None:
            raise ValueError("this harness has no directory of its own")
        return self.tmp / "deployments"

    def write_address_book(self, directory: Path | None = None) -> Path:
        """Writes ``<directory>/<chain_id>.json`` (default: :attr:`deployments_dir`) so that a
        process started with ``COALITION_DEPLOYMENTS_DIR=<directory>`` finds the contracts."""
        return write_address_book(self.book, directory or self.deployments_dir)

    def process_env(self, **settings: object) -> dict[str, str]:
        """Environment for a ``python -m network ...`` process on this harness's node and store:
        the inherited environment without any ``COALITION_*`` variable, then this harness's
        settings, then ``settings`` (names of ChainSettings fields, e.g. ``batch_max_size=50``)."""
        assert self.tmp is not None, "this harness has no directory of its own"
        env = {k: v for k, v in os.environ.items() if not k.startswith("COALITION_")}
        values: dict[str, object] = {
            "mode": "local",
            "anvil_port": self.node.port,
            "chain_id": self.settings.chain_id,
            "database_url": self.settings.database_url,
            "deployments_dir": self.deployments_dir,
            "keystore_dir": self.tmp / "keystore",  # empty: --key NAME falls back to --dev-index
            "anvil_state_file": self.settings.anvil_state_file,
            **{name: getattr(self.settings, name) for name in _SENDER_SETTINGS},
            **settings,
        }
        env.update({f"COALITION_{k.upper()}": str(v) for k, v in values.items() if v is not None})
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        return env

    def onboard(
        self,
        minter: LocalAccount,
        treasury: LocalAccount,
        *,
        issue_price: int = 10_000,
        reimbursement_rate: int = 8_000,
        deposit: int = 10**7 * USD,
        limit: int = 10**9 * USD,
    ) -> int:
        c = self.contracts
        transact(
            self.w3,
            self.operator,
            c.registry.functions.onboard(minter.address, treasury.address, issue_price, reimbursement_rate, limit),
        )
        partner_id = c.partner_id_of(minter.address)
        if deposit:
            transact(self.w3, self.admin, c.token.functions.mint(treasury.address, deposit))
            transact(self.w3, treasury, c.token.functions.approve(c.clearing.address, deposit))
            transact(self.w3, treasury, c.clearing.functions.deposit(partner_id, deposit))
        return partner_id


def spawn_python(args: list[str], *, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``python <args>`` from the project root, with stdout and stderr appended to ``log_path``."""
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, *args], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def make_harness(tmp: Path, port: int, *, database_url: str | None = None, **settings_overrides: object) -> Harness:
    """A coalition deployed on a new anvil on ``port``, its store migrated: ``database_url``
    (an empty database), by default a new SQLite file in ``tmp``."""
    settings = ChainSettings(
        mode="local",
        anvil_port=port,
        anvil_state_file=tmp / "anvil-state.json",
        database_url=database_url or f"sqlite:///{tmp / 'store.db'}",
        **settings_overrides,
    )
    node = AnvilNode.from_settings(settings, log_file=tmp / "anvil.log").start()
    try:
        w3 = chain_handle(node.url, timeout_s=settings.rpc_timeout_s)
        admin, operator = dev_account(0, settings), dev_account(1, settings)
        book = deploy_coalition(w3, admin, operator)
        h = Harness(
            node,
            settings,
            w3,
            book,
            CoalitionContracts(w3, book),
            migrated_store(settings.database_url),
            admin,
            operator,
            tmp,
        )
        h.write_address_book()
    except BaseException:
        node.stop()  # never leave an anvil behind holding the port
        raise
    return h


_SENDER_SETTINGS = (
    "confirmations",
    "batch_max_size",
    "batch_max_wait_s",
    "max_in_flight",
    "stuck_after_s",
    "fee_bump_percent",
    "rpc_timeout_s",
    "rpc_retries",
)
