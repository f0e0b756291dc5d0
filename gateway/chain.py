"""The gateway's handle on the chain: web3, the contracts of the address book, the operator key."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3

from network.contracts import CoalitionContracts
from network.deployments import load_address_book
from network.errors import TransientRpcError
from network.keys import signer
from network.node import connect as connect_node
from network.settings import ChainSettings, PerSettings, get_chain_settings

log = logging.getLogger(__name__)


@dataclass
class Chain:
    w3: Web3
    contracts: CoalitionContracts
    operator: LocalAccount
    admin: LocalAccount | None  # local mode only: mints test stablecoins


def connect(settings: ChainSettings) -> Chain:
    """The chain of the settings; refused (ChainMismatchError, naming both ids) when the node
    serves another chain id, TransientRpcError while it cannot be reached (not cached: the next
    call tries again)."""
    w3 = connect_node(settings.rpc_url, settings.chain_id, timeout_s=settings.rpc_timeout_s)
    contracts = CoalitionContracts(w3, load_address_book(settings.chain_id, settings.deployments_dir))
    operator = signer("operator", settings, dev_index=1)
    admin = signer("admin", settings, dev_index=0) if settings.mode == "local" else None
    return Chain(w3, contracts, operator, admin)


# the chain of the chain settings (or of the override in force), connected once per settings
get_chain: PerSettings[ChainSettings, Chain] = PerSettings(get_chain_settings, connect)


def check_chain_id(settings: ChainSettings) -> None:
    """At a process's start outside local mode: a node of another chain is refused at once
    (ChainMismatchError, naming both ids); one that cannot be reached yet is checked again
    when the chain is first used."""
    if settings.mode == "local":
        return
    try:
        connect_node(settings.rpc_url, settings.chain_id, timeout_s=settings.rpc_timeout_s)
    except TransientRpcError as exc:
        log.warning("chain id not checked at start (checked on first use): %s", exc)
