"""The gateway's handle on the chain: web3, the contracts of the address book, the operator key."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from gateway.settings import GatewaySettings, get_settings
from network.contracts import CoalitionContracts
from network.deployments import load_address_book
from network.keys import signer


@dataclass
class Chain:
    w3: Web3
    contracts: CoalitionContracts
    operator: LocalAccount
    admin: LocalAccount | None  # local mode only: mints test stablecoins


def connect(settings: GatewaySettings) -> Chain:
    w3 = Web3(HTTPProvider(settings.rpc_url, request_kwargs={"timeout": settings.rpc_timeout_s}))
    contracts = CoalitionContracts(w3, load_address_book(settings.chain_id))
    operator = signer("operator", settings, dev_index=1)
    admin = signer("admin", settings, dev_index=0) if settings.mode == "local" else None
    return Chain(w3, contracts, operator, admin)


@lru_cache
def get_chain() -> Chain:
    return connect(get_settings())
