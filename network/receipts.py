"""Receipts, logs and other reads of many at once, raw: JSON-RPC (batch) requests, no web3
formatting (web3's formatting of every log of a 1,000-purchase batch costs more than the node's
answer)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from web3 import Web3

from network.errors import ChainError

T = TypeVar("T")
RECEIPTS_PER_REQUEST = 16  # a 1,000-purchase batch's receipt is ~0.7 MB


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    succeeded: bool
    logs: list[dict[str, Any]]

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Receipt:
        return cls(
            tx_hash=raw["transactionHash"],
            block_number=int(raw["blockNumber"], 16),
            block_hash=raw["blockHash"],
            gas_used=int(raw["gasUsed"], 16),
            succeeded=int(raw["status"], 16) == 1,
            logs=raw["logs"],
        )


def rpc_batch(w3: Web3, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """The raw replies of ``calls``, in order: one batch request when the provider can, else
    one request each."""
    provider = w3.provider
    batch = getattr(provider, "make_batch_request", None)
    if batch is None or len(calls) == 1:
        return [dict(provider.make_request(method, params)) for method, params in calls]  # type: ignore[arg-type]
    replies = batch(calls)
    if not isinstance(replies, list):  # the node refused the batch as a whole
        raise ChainError(f"batch of {calls[0][0]} failed: {replies}")
    return [dict(r) for r in replies]


def read_receipts(w3: Web3, hashes: list[str], rpc: Callable[[Callable[[], T]], T]) -> dict[str, Receipt]:
    """The receipts of those of ``hashes`` that are mined, by hash, asked for in batches of
    ``RECEIPTS_PER_REQUEST`` through ``rpc`` (the caller's retrying wrapper)."""
    found: dict[str, Receipt] = {}
    for i in range(0, len(hashes), RECEIPTS_PER_REQUEST):
        chunk = hashes[i : i + RECEIPTS_PER_REQUEST]
        replies = rpc(lambda c=chunk: rpc_batch(w3, [("eth_getTransactionReceipt", [h]) for h in c]))  # type: ignore[misc]
        for tx_hash, reply in zip(chunk, replies, strict=True):
            if "error" in reply:
                raise ChainError(f"eth_getTransactionReceipt({tx_hash}) failed: {reply['error']}")
            if reply.get("result"):
                found[tx_hash] = Receipt.from_raw(reply["result"])
    return found


def block_hashes(w3: Web3, numbers: list[int], rpc: Callable[[Callable[[], T]], T]) -> dict[int, str]:
    """The hash of the chain's block at each of ``numbers`` (absent: no such block)."""
    found: dict[int, str] = {}
    for i in range(0, len(numbers), 64):
        chunk = numbers[i : i + 64]
        replies = rpc(lambda c=chunk: rpc_batch(w3, [("eth_getBlockByNumber", [hex(n), False]) for n in c]))  # type: ignore[misc]
        for n, reply in zip(chunk, replies, strict=True):
            if reply.get("result"):
                found[n] = reply["result"]["hash"]
    return found


def read_logs(w3: Web3, start: int, end: int, addresses: list[str]) -> list[dict[str, Any]]:
    """The logs of ``addresses`` in blocks ``start``..``end``, as the node gives them (hex
    strings: ``EventDecoder.decode`` reads them as they are)."""
    query = {"fromBlock": hex(start), "toBlock": hex(end), "address": addresses}
    reply = dict(w3.provider.make_request("eth_getLogs", [query]))  # type: ignore[arg-type]
    if "error" in reply:
        raise ChainError(f"eth_getLogs({start}..{end}) failed: {reply['error']}")
    return list(reply["result"])
