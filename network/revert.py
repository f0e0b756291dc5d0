"""Turns a revert into a readable reason: the contracts' custom errors with their arguments."""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector

from network.contracts import abi_type, load_abi
from network.deployments import CONTRACT_NAMES


@cache
def _errors() -> dict[bytes, tuple[str, list[dict[str, Any]]]]:
    table: dict[bytes, tuple[str, list[dict[str, Any]]]] = {}
    for name in CONTRACT_NAMES:
        for item in load_abi(name):
            if item["type"] == "error":
                signature = f"{item['name']}({','.join(abi_type(i) for i in item['inputs'])})"
                table[function_signature_to_4byte_selector(signature)] = (item["name"], item["inputs"])
    return table


def decode_error_data(data: bytes) -> str:
    """``Name(arg=value, …)`` for a custom error's revert data, or the raw hex."""
    if len(data) < 4:
        return "reverted without data"
    found = _errors().get(data[:4])
    if found is None:
        return f"reverted with unknown data 0x{data.hex()}"
    name, inputs = found
    values = abi_decode([abi_type(i) for i in inputs], data[4:])
    shown = ", ".join(
        f"{i['name']}={v.hex() if isinstance(v, bytes) else v}" for i, v in zip(inputs, values, strict=True)
    )
    return f"{name}({shown})"


def decode_revert(exc: BaseException) -> str:
    """The reason behind a web3 exception raised by a reverted call."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return decode_error_data(bytes.fromhex(data[2:]))
    if isinstance(data, (bytes, bytearray)):
        return decode_error_data(bytes(data))
    return str(exc) or type(exc).__name__
