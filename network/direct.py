"""One-off transactions, signed locally and waited for: deployment, onboarding, operator
actions and tests. Purchases never go this way; they go through the batching sender."""

from __future__ import annotations

import json
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from network.contracts import ARTIFACTS, load_abi
from network.deployments import AddressBook
from network.errors import ChainError
from network.revert import decode_revert

ESTIMATE_MARGIN = 10_000  # gas above 110% of an estimate: unused gas is not paid


def transact(
    w3: Web3,
    account: LocalAccount,
    fn: ContractFunction | None = None,
    *,
    to: str | None = None,
    data: bytes = b"",
    value: int = 0,
    gas: int | None = None,
    timeout_s: float = 60,
) -> TxReceipt:
    """Signs and sends one transaction (a contract function, or raw ``to``/``data``), waits for
    its receipt and raises ChainError with the decoded reason if it reverts."""
    tx: dict[str, Any] = {"from": account.address, "value": value, "chainId": w3.eth.chain_id}
    if fn is not None:
        try:
            tx = fn.build_transaction(tx | ({"gas": gas} if gas else {}))
        except Exception as exc:
            raise ChainError(f"{fn.fn_name} would revert: {decode_revert(exc)}") from exc
    else:
        tx |= {"to": to, "data": data, "gas": gas or w3.eth.estimate_gas(tx | {"to": to, "data": data})}
    if not gas:  # an estimate is exact at the time it ran; points expiry makes gas depend on the block's time
        tx["gas"] = int(tx["gas"]) * 11 // 10 + ESTIMATE_MARGIN
    tx["nonce"] = w3.eth.get_transaction_count(account.address, "pending")
    signed = account.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout_s)
    if receipt["status"] != 1:
        raise ChainError(f"transaction {signed.hash.to_0x_hex()} reverted")
    return receipt


def deploy_contract(w3: Web3, account: LocalAccount, name: str, *args: Any) -> str:
    bytecode = json.loads((ARTIFACTS / f"{name}.json").read_text())["bytecode"]
    factory = w3.eth.contract(abi=load_abi(name), bytecode=bytecode)
    tx = factory.constructor(*args).build_transaction({"from": account.address, "chainId": w3.eth.chain_id})
    tx["nonce"] = w3.eth.get_transaction_count(account.address, "pending")
    signed = account.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), 60)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise ChainError(f"deployment of {name} failed")
    return receipt["contractAddress"]


def deploy_coalition(w3: Web3, admin: LocalAccount, operator: LocalAccount) -> AddressBook:
    """The same deployment as ``scripts/deploy.py``, with web3.py (for tools and tests)."""
    start = w3.eth.block_number + 1
    registry = deploy_contract(w3, admin, "PartnerRegistry", admin.address, operator.address)
    token = deploy_contract(w3, admin, "SettlementToken", admin.address)
    clearing = deploy_contract(w3, admin, "Clearing", token, registry, admin.address, operator.address)
    points = deploy_contract(w3, admin, "CoalitionPoints", registry, clearing, admin.address, operator.address)
    transact(w3, admin, w3.eth.contract(address=clearing, abi=load_abi("Clearing")).functions.bindPoints(points))
    return AddressBook(
        chain_id=w3.eth.chain_id,
        contracts={
            "PartnerRegistry": registry,
            "SettlementToken": token,
            "Clearing": clearing,
            "CoalitionPoints": points,
        },
        deployed_at_block=start,
        admin=admin.address,
        operator=operator.address,
    )
