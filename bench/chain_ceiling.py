"""The chain's ceiling: pre-built, pre-signed ``earnBatch`` transactions sent straight to anvil.

    .venv/bin/python -m bench.chain_ceiling [--batches 20] [--batch-size 1000] [--connections 1]
                                            [--port 8901] [--state-interval 0] [--erc20]

No gateway, no outbox, no sender: how many purchases per second the node itself mints. On its
own anvil (``tests.network.harness.make_harness``, the settings of the tests and of
``bench.earn_throughput``: automine, gas limit 60M, no periodic state dump unless
``--state-interval``), a new partner is onboarded with fresh minter and treasury keys (the
minter key is what the registry's ``activePartnerOf`` requires), and every transaction is
built and signed before the clock starts: ``batches`` x ``earnBatch`` of ``batch_size``
purchases, each for a new customer address, seqs 1..N, on consecutive nonces. The clock then
runs from the first ``eth_sendRawTransaction`` (no send waits for a receipt: every transaction
is in flight at once, sent over ``connections`` keep-alive connections) until every receipt has
been read back and is successful; the minted total is then checked on chain (``totalSupply``
and ``isMinted`` of the first and last seq). "to last mined" is the same clock stopped when the
last transaction was seen mined, before the receipts (1,000 logs each) are read: reading them
costs the node about as much as mining them.

anvil 1.7's automine sometimes misses a transaction that arrives while it mines a block (more
often with several connections): the run then calls ``evm_mine`` after 50 ms without a new
block while the pool holds a transaction, and reports how many times ("nudges").

Also timed, apart: building and signing the transactions (eth-abi-free calldata plus
eth-account signing, one core), the figure to set against web3.py's contract encoding.

``--erc20`` adds the same measurement for a plain OpenZeppelin 5 ERC-20 whose
``mintBatch(bytes32[])`` mints ``amount`` to ``address`` per word (compiled here from the
source below, deployed on the same node): what an ERC-20 mint costs without the coalition's
bookkeeping (seq bitmap, Merkle root, issuance reserve, events).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector

from bench.earn_throughput import POINTS, machine, new_customers, new_partner, text_table
from network.contracts import encode_earn_batch_items
from network.deployments import PROJECT_ROOT
from network.errors import ChainError
from network.sender import batch_gas
from tests.network.harness import Harness, make_harness

GWEI = 10**9
IS_MINTED = function_signature_to_4byte_selector("isMinted(uint32,uint256)")
TOTAL_SUPPLY = function_signature_to_4byte_selector("totalSupply()")
MINT_BATCH = function_signature_to_4byte_selector("mintBatch(bytes32[])")

PLAIN_ERC20 = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
/// A plain OpenZeppelin ERC-20 with a batch mint: one word is address (160 bits) | amount (96).
contract PlainBatchMint is ERC20 {
    address private immutable minter;
    constructor() ERC20("Plain", "PLN") { minter = msg.sender; }
    function mintBatch(bytes32[] calldata words) external {
        require(msg.sender == minter, "not minter");
        for (uint256 i = 0; i < words.length; ++i) {
            uint256 w = uint256(words[i]);
            _mint(address(uint160(w >> 96)), w & type(uint96).max);
        }
    }
}
"""


class Rpc:
    """JSON-RPC over one keep-alive connection, raw (no web3 formatting)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self._id = 0

    def call(self, method: str, params: list[Any]) -> Any:
        self._id += 1
        reply = self.http.post(self.url, json={"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        body = reply.json()
        if "error" in body:
            raise ChainError(f"{method}: {body['error']}")
        return body["result"]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        replies = sorted(self.http.post(self.url, json=body).json(), key=lambda r: r["id"])
        for r in replies:
            if "error" in r:
                raise ChainError(f"batch call {r['id']}: {r['error']}")
        return [r["result"] for r in replies]


def sign_all(
    h: Harness, account: LocalAccount, to: str, calldatas: list[bytes], gas: list[int]
) -> list[tuple[str, str]]:
    """Signs one EIP-1559 transaction per calldata on consecutive nonces: (hash, raw hex)."""
    w3 = h.w3
    nonce = w3.eth.get_transaction_count(account.address, "pending")
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
    signed = []
    for i, (data, g) in enumerate(zip(calldatas, gas, strict=True)):
        s = account.sign_transaction(
            {
                "type": 2,
                "chainId": h.settings.chain_id,
                "nonce": nonce + i,
                "to": to,
                "value": 0,
                "data": data,
                "gas": g,
                # Generous: with several batches in flight anvil packs two 27M-gas batches in a
                # block, above its 30M target, and the base fee climbs ~10 % a block.
                "maxFeePerGas": 4 * base_fee + 50 * GWEI,
                "maxPriorityFeePerGas": GWEI,
            }
        )
        signed.append((s.hash.to_0x_hex(), "0x" + bytes(s.raw_transaction).hex()))
    return signed


def blast(url: str, signed: list[tuple[str, str]], connections: int) -> dict[str, Any]:
    """Sends every raw transaction (``connections`` connections, each sending its share in nonce
    order), waits until all are mined, reads every receipt back. Times all of it."""
    shares = [signed[i::connections] for i in range(connections)]
    clients = [Rpc(url) for _ in range(connections + 1)]
    poller = clients[-1]
    errors: list[BaseException] = []
    lock = threading.Lock()

    def send(k: int) -> None:
        try:
            for _hash, raw in shares[k]:
                clients[k].call("eth_sendRawTransaction", [raw])
        except BaseException as exc:  # reported after the run
            with lock:
                errors.append(exc)

    # Warm the connections (not timed): the first request of each opens its socket.
    for c in clients:
        c.call("eth_chainId", [])
    t0 = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(send, range(connections)))
    sent_s = time.perf_counter() - t0
    if errors:
        raise errors[0]
    pending = [h for h, _ in signed]
    receipts: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 120
    nudges = 0
    head, head_seen = poller.call("eth_blockNumber", []), time.monotonic()
    while pending:
        # The newest pending hash is asked alone first: its receipt is small to ask for when
        # still null, and once it is there the whole batch is read in one request.
        if poller.call("eth_getTransactionReceipt", [pending[-1]]) is None:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"{len(pending)} transactions not mined after 120 s")
            block = poller.call("eth_blockNumber", [])
            if block != head:
                head, head_seen = block, now
            elif now - head_seen > 0.05 and int(poller.call("txpool_status", [])["pending"], 16):
                # anvil 1.7's automine can miss a transaction that arrives while it mines a
                # block (the block after is empty); it then waits for the next arrival. Counted.
                poller.call("evm_mine", [])
                nudges += 1
                head_seen = now
            time.sleep(0.002)
            continue
        mined_s = time.perf_counter() - t0
        for tx_hash, r in zip(
            pending, poller.batch([("eth_getTransactionReceipt", [x]) for x in pending]), strict=True
        ):
            if r is not None:
                receipts[tx_hash] = r
        pending = [x for x in pending if x not in receipts]
    seconds = time.perf_counter() - t0
    failed = [x for x, r in receipts.items() if int(r["status"], 16) != 1]
    if failed:
        raise ChainError(f"{len(failed)} transactions reverted, e.g. {failed[0]}")
    return {
        "seconds": seconds,
        "sent_s": sent_s,
        "mined_s": mined_s,
        "gas": sum(int(r["gasUsed"], 16) for r in receipts.values()),
        "blocks": len({r["blockNumber"] for r in receipts.values()}),
        "evm_mine_nudges": nudges,
    }


def _uint(rpc: Rpc, to: str, data: bytes) -> int:
    return int(rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"]), 16)


def coalition_ceiling(h: Harness, batches: int, batch_size: int, connections: int) -> dict[str, Any]:
    minter, partner_id = new_partner(h)
    points = h.contracts.points.address
    rpc = Rpc(h.node.url)
    supply_before = _uint(rpc, points, TOTAL_SUPPLY)
    n = batches * batch_size
    customers = new_customers(n)
    block_gas = int(h.w3.eth.get_block("latest")["gasLimit"])
    t0 = time.perf_counter()
    calldatas = [
        encode_earn_batch_items(
            (customers[b * batch_size + i], b * batch_size + i + 1, POINTS) for i in range(batch_size)
        )
        for b in range(batches)
    ]
    signed = sign_all(h, minter, points, calldatas, [batch_gas(batch_size, block_gas)] * batches)
    prepare_s = time.perf_counter() - t0
    timing = blast(h.node.url, signed, connections)
    minted = _uint(rpc, points, TOTAL_SUPPLY) - supply_before
    if minted != n * POINTS:
        raise ChainError(f"total supply grew by {minted}, expected {n * POINTS}")
    for seq in (1, n):
        arg = partner_id.to_bytes(32, "big") + seq.to_bytes(32, "big")
        if _uint(rpc, points, IS_MINTED + arg) != 1:
            raise ChainError(f"seq {seq} is not minted")
    return _row("coalition earnBatch", n, batch_size, batches, connections, prepare_s, timing, minted_points=minted)


def erc20_ceiling(h: Harness, batches: int, batch_size: int, connections: int) -> dict[str, Any]:
    """The same run against a plain OpenZeppelin ERC-20 batch mint."""
    address = deploy_plain_erc20(h)
    rpc = Rpc(h.node.url)
    n = batches * batch_size
    customers = new_customers(n)
    t0 = time.perf_counter()
    calldatas = []
    for b in range(batches):
        words = [
            ((int(c, 16) << 96) | POINTS).to_bytes(32, "big") for c in customers[b * batch_size : (b + 1) * batch_size]
        ]
        calldatas.append(MINT_BATCH + (32).to_bytes(32, "big") + len(words).to_bytes(32, "big") + b"".join(words))
    signed = sign_all(h, h.admin, address, calldatas, [min(100_000 + 30_000 * batch_size, 30_000_000)] * batches)
    prepare_s = time.perf_counter() - t0
    timing = blast(h.node.url, signed, connections)
    minted = _uint(rpc, address, TOTAL_SUPPLY)
    if minted != n * POINTS:
        raise ChainError(f"plain ERC-20 total supply is {minted}, expected {n * POINTS}")
    return _row(
        "plain OZ ERC-20 mintBatch", n, batch_size, batches, connections, prepare_s, timing, minted_points=minted
    )


def deploy_plain_erc20(h: Harness) -> str:
    import solcx  # only for --erc20

    solc = PROJECT_ROOT / "toolchain" / "solc" / "solc-v0.8.30"
    out = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {"PlainBatchMint.sol": {"content": PLAIN_ERC20}},
            "settings": {
                "optimizer": {"enabled": True, "runs": 200},
                "remappings": ["@openzeppelin=node_modules/@openzeppelin"],
                "outputSelection": {"*": {"*": ["evm.bytecode.object"]}},
            },
        },
        solc_binary=solc,
        allow_paths=[str(PROJECT_ROOT)],
        base_path=str(PROJECT_ROOT),
    )
    bytecode = out["contracts"]["PlainBatchMint.sol"]["PlainBatchMint"]["evm"]["bytecode"]["object"]
    w3 = h.w3
    signed = h.admin.sign_transaction(
        {
            "chainId": h.settings.chain_id,
            "nonce": w3.eth.get_transaction_count(h.admin.address, "pending"),
            "data": "0x" + bytecode,
            "gas": 3_000_000,
            "maxFeePerGas": 2 * int(w3.eth.get_block("latest").get("baseFeePerGas") or 0) + GWEI,
            "maxPriorityFeePerGas": GWEI,
            "value": 0,
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), 60)
    if receipt["status"] != 1:
        raise ChainError("deploying the plain ERC-20 failed")
    return str(receipt["contractAddress"])


def _row(
    way: str,
    n: int,
    batch_size: int,
    batches: int,
    connections: int,
    prepare_s: float,
    timing: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "way": way,
        "purchases": n,
        "batch_size": batch_size,
        "batches": batches,
        "connections": connections,
        "seconds": round(timing["seconds"], 3),
        "ceiling_mints_per_s": round(n / timing["seconds"], 1),
        "mined_s": round(timing["mined_s"], 3),
        "mined_mints_per_s": round(n / timing["mined_s"], 1),
        "sent_s": round(timing["sent_s"], 3),
        "gas_per_purchase": round(timing["gas"] / n),
        "blocks": timing["blocks"],
        "evm_mine_nudges": timing["evm_mine_nudges"],
        "prepare_s": round(prepare_s, 3),
        "encode_sign_per_s": round(n / prepare_s, 1),
        **extra,
    }


def run(
    *,
    port: int,
    batches: int = 20,
    batch_size: int = 1000,
    connections: int = 1,
    state_interval_s: int = 0,
    erc20: bool = False,
) -> dict[str, Any]:
    """Starts its own anvil on ``port``, measures, stops it. The top-level keys are those of the
    coalition run; ``rows`` holds every run (the plain ERC-20 one with ``erc20``)."""
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bench-ceiling-") as tmp:
        h = make_harness(Path(tmp), port, anvil_state_interval_s=state_interval_s, stuck_after_s=600)
        try:
            rows = [coalition_ceiling(h, batches, batch_size, connections)]
            if erc20:
                rows.append(erc20_ceiling(h, batches, batch_size, connections))
        finally:
            h.node.stop()
    info["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    dump = f"state dump every {state_interval_s} s" if state_interval_s else "no periodic state dump"
    node = f"anvil (automine, gas limit {h.settings.anvil_gas_limit:,}, {dump})"
    return {**rows[0], "rows": rows, "machine": info, "node": node}


def table(rows: list[dict[str, Any]]) -> str:
    cols = [
        ("way", "way", "<"),
        ("purchases", "mints", ">"),
        ("batch_size", "batch", ">"),
        ("seconds", "s", ">"),
        ("ceiling_mints_per_s", "mints/s", ">"),
        ("mined_mints_per_s", "mints/s to last mined", ">"),
        ("gas_per_purchase", "gas/mint", ">"),
        ("blocks", "blocks", ">"),
        ("encode_sign_per_s", "encode+sign/s", ">"),
    ]
    return text_table(rows, cols)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--connections", type=int, default=1, help="connections sending at once (more: anvil's automine misses more)"
    )
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument("--state-interval", type=int, default=0, help="anvil --state-interval (production: 1)")
    parser.add_argument("--erc20", action="store_true", help="also a plain OpenZeppelin ERC-20 batch mint")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = run(
        port=args.port,
        batches=args.batches,
        batch_size=args.batch_size,
        connections=args.connections,
        state_interval_s=args.state_interval,
        erc20=args.erc20,
    )
    info = result["machine"]
    print(
        f"machine: {info['cores']} cores ({info['cpu']}), Python {info['python']}, load average "
        f"{info['load_avg_1m']} -> {info['load_avg_1m_at_end']}; node: {result['node']}"
    )
    print("all transactions built and signed before the clock; clock = first send to last receipt read\n")
    print(table(result["rows"]))
    for r in result["rows"]:
        print(
            f"{r['way']}: sent in {r['sent_s']} s, last mined at {r['mined_s']} s, "
            f"encode+sign {r['prepare_s']} s (not timed); evm_mine nudges (automine missed a "
            f"transaction): {r['evm_mine_nudges']}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
