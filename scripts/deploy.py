"""Deploys the coalition's contracts and writes the address book for the active chain.

    brownie run scripts/deploy.py                    # local anvil (development network)
    brownie run scripts/deploy.py --network NAME     # asks before any non-local deployment

Roles: the deployer holds DEFAULT_ADMIN_ROLE; the operator (OPERATOR_ACCOUNT, default: anvil's
public development account #1 on a local chain) runs the coalition day to day.
"""

from __future__ import annotations

import os

from brownie import (
    Clearing,
    CoalitionPoints,
    PartnerRegistry,
    SettlementToken,
    accounts,
    chain,
    network,
)

from network.deployments import AddressBook, write_address_book
from network.settings import get_chain_settings
from scripts.onboarding import Coalition

LOCAL_NETWORKS = {"development", "anvil"}


def deploy_contracts(admin, operator) -> Coalition:
    """Deploys the four contracts and binds them; returns brownie's contract objects."""
    tx = {"from": admin}
    registry = PartnerRegistry.deploy(admin, operator, tx)
    token = SettlementToken.deploy(admin, tx)
    clearing = Clearing.deploy(token, registry, admin, operator, tx)
    points = CoalitionPoints.deploy(registry, clearing, admin, operator, tx)
    clearing.bindPoints(points, tx)
    return Coalition(registry, token, clearing, points, admin, operator)


def deploy(admin, operator) -> tuple[Coalition, AddressBook]:
    """Deploys the set and returns it with its (unsaved) address book."""
    start = chain.height + 1
    c = deploy_contracts(admin, operator)
    book = AddressBook(
        chain_id=chain.id,
        contracts={
            "PartnerRegistry": c.registry.address,
            "SettlementToken": c.token.address,
            "Clearing": c.clearing.address,
            "CoalitionPoints": c.points.address,
        },
        deployed_at_block=start,
        admin=admin.address,
        operator=operator.address,
    )
    return c, book


def main() -> AddressBook:
    name = network.show_active()
    print(f"Deploying on network '{name}' (chain id {chain.id})")
    if name in LOCAL_NETWORKS:
        # anvil's public development accounts #0 and #1: well known, never for real funds.
        admin, operator = accounts[0], accounts[1]
    else:
        admin = accounts.load(os.environ["DEPLOYER_ACCOUNT"])
        operator_address = os.environ["OPERATOR_ADDRESS"]
        if input(f"Deploy to {name} from {admin.address}, operator {operator_address}? [y/N] ").lower() != "y":
            raise SystemExit("aborted")
        operator = accounts.at(operator_address, force=True)
    _, book = deploy(admin, operator)
    path = write_address_book(book, get_chain_settings().deployments_dir)
    for contract, address in book.contracts.items():
        print(f"  {contract:<16} {address}")
    print(f"Address book written to {path}")
    return book
