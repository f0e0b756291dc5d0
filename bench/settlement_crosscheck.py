"""The settlement benchmark's cross-check (bench/settlement_curve.py ``--cross-check N``): about
N REAL events, mined on the bench's anvil and stored by the running indexer, then the gateway's
lines for the period (summed by the database; and event by event) compared with
``coalition.crosscheck.recompute_from_chain`` (the chain's logs, no store), and the period
settled over the operator API like the synthesized ones.

The events: earns by five partners' own minter keys (batches of 1 to 3 purchases, one ``Earned``
each), redemptions by the customers themselves (``redeem``), and refund clawbacks (``reverse``).
"""

from __future__ import annotations

import random
import time
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD

from bench.settlement_synth import SynthPartner
from coalition.crosscheck import recompute_from_chain
from gateway.services.onboarding import LOCAL_KEYSTORE_PASSWORD
from gateway.services.period_lines import period_events, period_lines
from loyalty.settlement import partner_lines
from network.keys import load_keystore
from network.purchases import decode_purchase, encode_purchase, merkle_proof
from tests.e2e.stack import Stack

GWEI = 10**9


class Sender:
    """Signs locally with its own nonce count and sends without waiting (anvil mines each at once)."""

    def __init__(self, w3: Web3, account: LocalAccount) -> None:
        self.w3, self.account = w3, account
        self.nonce = w3.eth.get_transaction_count(account.address)
        self.chain_id = w3.eth.chain_id

    def send(self, fn: Any, gas: int) -> str:
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        tx = fn.build_transaction(
            {
                "from": self.account.address,
                "nonce": self.nonce,
                "chainId": self.chain_id,
                "gas": gas,
                "maxFeePerGas": 2 * base_fee + GWEI,
                "maxPriorityFeePerGas": GWEI,
            }
        )
        self.nonce += 1
        return self.w3.eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction).to_0x_hex()


def _receipts(w3: Web3, hashes: list[str]) -> list[Any]:
    receipts = [w3.eth.wait_for_transaction_receipt(h, 60, poll_latency=0.01) for h in hashes]
    failed = [r["transactionHash"].to_0x_hex() for r in receipts if r["status"] != 1]
    assert not failed, f"{len(failed)} transactions reverted, e.g. {failed[:3]}"
    return receipts


def mine_real_events(stack: Stack, partners: list[SynthPartner], n: int, seed: int = 11) -> dict[str, int]:
    """About ``n`` real settlement events (60% earns, 35% redemptions, 5% clawbacks); their counts."""
    h, rng = stack.harness, random.Random(seed)
    w3, points = h.w3, h.contracts.points
    password = stack.env.get("COALITION_KEYSTORE_PASSWORD", LOCAL_KEYSTORE_PASSWORD)
    five = partners[:5]
    minters = {p.id: Sender(w3, load_keystore(stack.tmp / "keys" / f"partner-{p.id}.json", password)) for p in five}
    customers = [Account.from_key(rng.randbytes(32)) for _ in range(40)]
    for c in customers:
        w3.provider.make_request("anvil_setBalance", [c.address, hex(10**21)])
    senders = {c.address: Sender(w3, c) for c in customers}
    n_earn, n_redeem = int(n * 0.60), int(n * 0.35)
    n_reverse = n - n_earn - n_redeem
    seq = {p.id: 10**6 for p in five}  # far from the gateway's own seqs
    hashes: list[tuple[int, str]] = []
    for _ in range(n_earn):
        p = rng.choice(five)
        words = []
        for _ in range(rng.randint(1, 3)):
            seq[p.id] += 1
            words.append(encode_purchase(rng.choice(customers).address, seq[p.id], rng.randint(50, 400)))
        hashes.append((p.id, minters[p.id].send(points.functions.earnBatch(words), 400_000)))
    earned = []
    balance: dict[str, int] = {c.address: 0 for c in customers}
    for pid, receipt in zip((p for p, _ in hashes), _receipts(w3, [t for _, t in hashes]), strict=True):
        for e in points.events.Earned().process_receipt(receipt, errors=DISCARD):
            a = e["args"]
            words = [bytes(w) for w in a["purchases"]]
            earned.append((pid, int(a["batchId"]), int(a["issuePrice"]), words))
            for w in words:
                purchase = decode_purchase(w)
                balance[purchase.customer] += purchase.points
    sent: list[str] = []
    reversed_: set[tuple[int, int]] = set()
    for i in range(n_redeem + n_reverse):
        if i % 8 == 7 and len(reversed_) < n_reverse:
            pid, batch_id, price, words = rng.choice(earned)
            index = rng.randrange(len(words))
            if (batch_id, index) in reversed_:
                continue
            customer = decode_purchase(words[index]).customer
            clawback = min(balance[customer], 10)
            if clawback == 0:
                continue
            reversed_.add((batch_id, index))
            balance[customer] -= clawback
            fn = points.functions.reverse(batch_id, words[index], price, merkle_proof(words, index), clawback)
            sent.append(minters[pid].send(fn, 300_000))
        else:
            customer = max(customers, key=lambda c: balance[c.address] * rng.random())
            spend = min(balance[customer.address], 25 * rng.randint(1, 6))
            if spend == 0:
                continue
            balance[customer.address] -= spend
            fn = points.functions.redeem(rng.choice(five).id, spend, rng.randbytes(32))
            sent.append(senders[customer.address].send(fn, 200_000))
    _receipts(w3, sent)
    return {"earn_txs": n_earn, "other_txs": len(sent), "reversals": len(reversed_)}


def cross_check(stack: Stack, partners: list[SynthPartner], n: int, log: Any = print) -> dict[str, Any]:
    from bench.settlement_curve import settle_over_api

    h = stack.harness
    t0 = time.perf_counter()
    counts = mine_real_events(stack, partners, n)
    head = h.w3.eth.block_number
    stack.wait_indexed(head, timeout_s=300)
    mined_s = time.perf_counter() - t0
    from_block = int(h.contracts.clearing.functions.settledThroughBlock().call()) + 1
    with h.sessions() as session:
        by_sql = period_lines(session, h.book.chain_id, from_block, head)
        by_event = partner_lines(period_events(session, h.book.chain_id, from_block, head))
        events = sum(1 for _ in period_events(session, h.book.chain_id, from_block, head))
    from_chain = recompute_from_chain(h.w3, h.book, from_block, head)
    equal = by_sql == by_event == from_chain
    log(f"cross-check: {events} real events mined and indexed in {mined_s:.1f} s; store == chain: {equal}")
    assert equal, f"store (SQL) {by_sql}\nstore (per event) {by_event}\nchain {from_chain}"
    body, seconds, _post_s = settle_over_api(stack)
    served = body["statement"]["partners"]
    settled = [
        (p["partner_id"], p["issued_value"], p["reversed_value"], p["redeemed_value"], p["restored_value"])
        for p in served
    ] == [line.settle_args for line in from_chain]
    assert settled, "the settled statement differs from recompute_from_chain"
    return {
        "events": events,
        "mined": counts,
        "equal": equal,
        "settled_as_recomputed": settled,
        "settle_seconds": round(seconds, 3),
        "period_id": body["period_id"],
        "blocks": [from_block, head],
    }
