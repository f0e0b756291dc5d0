"""Thin typed bindings over the coalition's contracts, for the rest of the Python code.

ABIs come from brownie's build artifacts (``build/contracts``, made by ``brownie compile``),
addresses from the address book. Hot paths (batch earns, log decoding) encode and decode with
eth-abi directly instead of web3's per-call contract objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, function_signature_to_4byte_selector
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from network.addresses import checksum
from network.deployments import CONTRACT_NAMES, PROJECT_ROOT, AddressBook
from network.errors import ChainError
from network.purchases import encode_purchase

ARTIFACTS = PROJECT_ROOT / "build" / "contracts"
EARN_BATCH_SELECTOR = function_signature_to_4byte_selector("earnBatch(bytes32[])")


@cache
def load_abi(name: str) -> list[dict[str, Any]]:
    path = ARTIFACTS / f"{name}.json"
    if not path.exists():
        raise ChainError(f"no ABI for {name}: {path} is missing; run `make setup` (brownie compile)")
    return json.loads(path.read_text())["abi"]


def encode_earn_batch(words: list[bytes]) -> bytes:
    """Calldata of ``earnBatch(bytes32[])``: selector, offset, length, the words."""
    return b"".join([EARN_BATCH_SELECTOR, (32).to_bytes(32, "big"), len(words).to_bytes(32, "big"), *words])


_MAX_48 = (1 << 48) - 1
_ZERO_ADDRESS_HEX = "0" * 40


def encode_earn_batch_items(items: Iterable[tuple[str, int, int]]) -> bytes:
    """Calldata of ``earnBatch(bytes32[])`` straight from ``(customer, seq, points)`` triples,
    each checked like :func:`network.purchases.encode_purchase` (ValueError if one does not fit
    a purchase word), built as one hex string: no per-item address objects or integers."""
    parts: list[str] = []
    for customer, seq, points in items:
        if len(customer) != 42 or customer[:2] not in ("0x", "0X"):  # e.g. no 0x: as encode_purchase says
            parts.append(encode_purchase(customer, seq, points).hex())
            continue
        if customer[2:] == _ZERO_ADDRESS_HEX:
            raise ValueError("customer must not be the zero address")
        if not (0 <= seq <= _MAX_48 and 0 < points <= _MAX_48):
            raise ValueError(f"purchase ({customer}, {seq}, {points}) does not fit a purchase word")
        parts.append(f"{customer[2:]}{seq:012x}{points:012x}")
    words = bytes.fromhex("".join(parts))  # ValueError for a customer that is not hex
    if len(words) != 32 * len(parts):  # fromhex skips whitespace: an address with a space in it
        raise ValueError("a customer address is not 40 hex digits")
    return b"".join([EARN_BATCH_SELECTOR, (32).to_bytes(32, "big"), len(parts).to_bytes(32, "big"), words])


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class DecodedLog:
    contract: str
    name: str
    args: dict[str, Any]
    address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


class EventDecoder:
    """Decodes the logs of the coalition's contracts (others are ignored)."""

    def __init__(self, book: AddressBook) -> None:
        self._by_key: dict[tuple[str, bytes], tuple[str, dict[str, Any]]] = {}
        for name in CONTRACT_NAMES:
            address = book.address(name).lower()
            for item in load_abi(name):
                if item["type"] == "event" and not item.get("anonymous"):
                    self._by_key[(address, event_abi_to_log_topic(item))] = (name, item)
        self.addresses = sorted({book.address(n) for n in CONTRACT_NAMES})

    def decode(self, log: Any) -> DecodedLog | None:
        topics = [bytes(HexBytes(t)) for t in log["topics"]]
        if not topics:
            return None
        found = self._by_key.get((str(log["address"]).lower(), topics[0]))
        if found is None:
            return None
        contract, abi = found
        indexed = [i for i in abi["inputs"] if i["indexed"]]
        plain = [i for i in abi["inputs"] if not i["indexed"]]
        args: dict[str, Any] = {}
        for item, topic in zip(indexed, topics[1:], strict=True):
            args[item["name"]] = abi_decode([item["type"]], topic)[0]
        values = abi_decode([abi_type(i) for i in plain], bytes(HexBytes(log["data"])))
        args.update({i["name"]: v for i, v in zip(plain, values, strict=True)})
        args = {
            k: (checksum(v) if isinstance(v, str) and v.startswith("0x") and len(v) == 42 else v)
            for k, v in args.items()
        }
        return DecodedLog(
            contract=contract,
            name=abi["name"],
            args={k: _jsonable(v) for k, v in args.items()},
            address=checksum(str(log["address"])),
            block_number=_int(log["blockNumber"]),
            block_hash=_hex(log["blockHash"]),
            tx_hash=_hex(log["transactionHash"]),
            log_index=_int(log["logIndex"]),
        )


def abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return item["type"]


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = str(value)
    return text if text.startswith("0x") else "0x" + text


class CoalitionContracts:
    """web3 contract objects for the four contracts of an address book."""

    def __init__(self, w3: Web3, book: AddressBook) -> None:
        self.w3 = w3
        self.book = book
        self.points: Contract = self._contract("CoalitionPoints")
        self.registry: Contract = self._contract("PartnerRegistry")
        self.clearing: Contract = self._contract("Clearing")
        self.token: Contract = self._contract("SettlementToken")
        self.decoder = EventDecoder(book)

    def _contract(self, name: str) -> Contract:
        return self.w3.eth.contract(address=self.book.address(name), abi=load_abi(name))

    def partner_id_of(self, minter: str) -> int:
        return int(self.registry.functions.partnerIdOf(minter).call())

    def is_minted(self, partner_id: int, seq: int) -> bool:
        return bool(self.points.functions.isMinted(partner_id, seq).call())

    def issuance_headroom(self, partner_id: int) -> tuple[int, int]:
        """(value the partner may still issue, its issue price now): ``Clearing.headroomOf`` and
        the registry's price, read at the latest block."""
        headroom = int(self.clearing.functions.headroomOf(partner_id).call())
        return headroom, int(self.registry.functions.partner(partner_id).call()[3])
