"""Prints the gas table of the coalition contracts (`make gas`).

Each figure is the gas used by one transaction on a fresh local anvil; batch figures are
divided by the batch size. Customers in a batch are new holders (the costly case: a new
balance slot) unless the row says otherwise. Fails if an earn in a batch of 1,000 to new holders
costs more than EARN_1000_LIMIT per purchase (issue 13's bound on what the security fixes may cost),
or if an earn in a batch of 1,000 costs more than EXPIRY_BUDGET per purchase over its cost before
points expired (issue 17: the expiry policy may cost the hot path at most that), or if a redemption
in a batch of 100 costs more than REDEEM_BATCH_LIMIT (issue 22), its customer's nonce word in use
(sequential nonces, the gateway's: network/signatures.py SEQUENTIAL_NONCE_BASE).
"""

from __future__ import annotations

import time

from brownie import accounts, chain, network, web3
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from network.purchases import encode_purchase, merkle_proof
from network.relayer import batch_calldata
from network.signatures import SEQUENTIAL_NONCE_BASE, RedeemConsent, compact_signature, sign_redeem
from scripts.deploy import deploy_contracts
from scripts.onboarding import USD, fund_operator, onboard_partner

# anvil's public development accounts (well known; local chains only)
ADMIN, OPERATOR = 0, 1
EARN_1000_LIMIT = 28_000  # gas per purchase, in a batch of 1,000 to new holders
# gas per purchase of an earn in a batch of 1,000 before expiry (main at f9b996c, measured by this
# script), and what expiry may add to it
BEFORE_EXPIRY = {"earn, batch of 1,000 (new holders)": 26_924, "earn, batch of 1,000 (returning holders)": 9_826}
EXPIRY_BUDGET = 1_000
REDEEM_BATCH_LIMIT = 35_000  # gas per redemption in a batch of 100, the customers' nonce words in use
REDEEM_BATCH_ROW = "redeem batch of 100, sequential nonces (word in use)"


def customer_address(i: int) -> str:
    return to_checksum_address(keccak(b"gas-table-customer" + i.to_bytes(8, "big"))[12:])


def main() -> list[tuple[str, int, int]]:
    print(f"Gas table on network '{network.show_active()}' (chain id {chain.id})")
    c = deploy_contracts(accounts[ADMIN], accounts[OPERATOR])
    minter, treasury = accounts[2], accounts[3]
    partner = onboard_partner(c, minter, treasury, deposit=10**7 * USD, issuance_limit=10**9 * USD)
    rows: list[tuple[str, int, int]] = []
    seq = 0

    def batch(n: int, first_customer: int) -> tuple[list[bytes], object]:
        nonlocal seq
        words = [encode_purchase(customer_address(first_customer + i), seq + i, 100) for i in range(n)]
        seq += n
        tx = c.points.earnBatch(words, {"from": minter})
        return words, tx

    tx = c.points.earn(encode_purchase(customer_address(10**6), seq, 100), {"from": minter})
    seq += 1
    rows.append(("earn, one purchase (new holder)", 1, tx.gas_used))
    tx = c.points.earn(encode_purchase(customer_address(10**6), seq, 100), {"from": minter})
    seq += 1
    rows.append(("earn, one purchase (existing holder)", 1, tx.gas_used))
    for n in (100, 1000):
        _, tx = batch(n, seq)
        rows.append((f"earn, batch of {n:,} (new holders)", n, tx.gas_used))
    # the customers of the 1,000-batch again: their balance slots exist already
    returning = [encode_purchase(customer_address(seq - 1000 + i), seq + i, 100) for i in range(1000)]
    seq += 1000
    tx = c.points.earnBatch(returning, {"from": minter})
    rows.append(("earn, batch of 1,000 (returning holders)", 1000, tx.gas_used))
    dup = c.points.earnBatch(returning[:100], {"from": minter})
    rows.append(("earn, batch of 100, all duplicates (skipped)", 100, dup.gas_used))

    # redeem: a customer with a key of its own (a fresh local account, not a development one)
    customer = accounts.add()
    c.points.earn(encode_purchase(customer.address, seq, 1_000), {"from": minter})
    seq += 1
    accounts[0].transfer(customer, 10**17)
    tx = c.points.redeem(partner, 100, b"\x01" * 32, {"from": customer})
    rows.append(("redeem (customer's own transaction)", 1, tx.gas_used))
    consent = RedeemConsent(customer.address, partner, 100, b"\x02" * 32, nonce=7, deadline=int(time.time()) + 3600)
    signature = sign_redeem(customer.private_key, consent, chain_id=chain.id, points_address=c.points.address)
    tx = c.points.redeemWithSignature(
        consent.customer, partner, 100, consent.ref, consent.nonce, consent.deadline, signature, {"from": minter}
    )
    rows.append(("redeem with signature (EIP-712, relayed)", 1, tx.gas_used))
    # the same, a random nonce (a fresh bitmap word: before issue 22) and then the next one in order
    # of the gateway's sequential nonces (the customer's word in use: after)
    for name, nonce in (
        ("redeem with signature, random nonce (fresh word)", 0x5EED << 40),
        ("redeem with signature, sequential nonce (word's 1st)", SEQUENTIAL_NONCE_BASE),
        ("redeem with signature, sequential nonce (word in use)", SEQUENTIAL_NONCE_BASE + 1),
    ):
        consent = RedeemConsent(customer.address, partner, 100, keccak(name.encode()), nonce, int(time.time()) + 3600)
        signature = sign_redeem(customer.private_key, consent, chain_id=chain.id, points_address=c.points.address)
        tx = c.points.redeemWithSignature(
            consent.customer, partner, 100, consent.ref, consent.nonce, consent.deadline, signature, {"from": minter}
        )
        rows.append((name, 1, tx.gas_used))
    seq = redeem_batch_rows(c, partner, minter, seq, rows)
    # a till capture (restorable: one more storage slot) and a refund's restoration of part of it
    consent = RedeemConsent(customer.address, partner, 100, b"\x04" * 32, nonce=8, deadline=int(time.time()) + 3600)
    signature = sign_redeem(customer.private_key, consent, chain_id=chain.id, points_address=c.points.address)
    tx = c.points.captureWithSignature(
        consent.customer, partner, 100, consent.ref, consent.nonce, consent.deadline, signature, {"from": minter}
    )
    rows.append(("till capture with signature (restorable redemption)", 1, tx.gas_used))
    tx = c.points.restore(consent.ref, customer.address, 60, b"\x05" * 32, {"from": minter})
    rows.append(("restore, a refund gives back part of a capture", 1, tx.gas_used))

    # reverse one purchase of the 1,000-batch
    earned = c.points.earnBatch(
        [encode_purchase(customer_address(5000 + i), seq + i, 100) for i in range(1000)], {"from": minter}
    )
    batch_words = list(earned.events["Earned"]["purchases"])
    seq += 1000
    proof = merkle_proof(batch_words, 500)
    tx = c.points.reverse(earned.events["Earned"]["batchId"], batch_words[500], 10_000, proof, 40, {"from": minter})
    rows.append(("reverse (refund clawback, proof in a batch of 1,000)", 1, tx.gas_used))
    tx = c.points.reverse(earned.events["Earned"]["batchId"], batch_words[500], 10_000, proof, 10, {"from": minter})
    rows.append(("reverse, a second partial refund of the same purchase", 1, tx.gas_used))

    # settle a period with 10 partners: each line settles the partner's whole exposure and credit
    fund_operator(c, 10**6 * USD)
    ids = [partner]
    for k in range(9):
        m, t = accounts[4 + k], accounts[13]  # development accounts; one treasury may serve several
        pid = onboard_partner(c, m, t)
        c.points.earn(encode_purchase(customer_address(9000 + k), k, 100), {"from": m})
        ids.append(pid)
    chain.mine()
    lines = [(pid, c.clearing.exposureOf(pid), c.clearing.pendingCreditOf(pid), 5 * USD, 0) for pid in sorted(ids)]
    tx = c.clearing.settle(
        1, c.clearing.settledThroughBlock() + 1, chain.height - 1, b"\x03" * 32, lines, {"from": c.operator}
    )
    rows.append(("settle a period, 10 partners", 1, tx.gas_used))

    rows += registry_rows(c, partner, treasury)
    rows += expiry_rows(c, accounts[14], seq)  # the partner's minter key since registry_rows
    print_table(rows)
    per_purchase = {name: gas / n for name, n, gas in rows}
    if per_purchase["earn, batch of 1,000 (new holders)"] > EARN_1000_LIMIT:
        raise SystemExit(
            f"an earn in a batch of 1,000 costs {per_purchase['earn, batch of 1,000 (new holders)']:,.0f} gas "
            f"per purchase: over {EARN_1000_LIMIT:,}"
        )
    if per_purchase[REDEEM_BATCH_ROW] > REDEEM_BATCH_LIMIT:
        per = per_purchase[REDEEM_BATCH_ROW]
        raise SystemExit(f"a redemption in a batch of 100 costs {per:,.0f} gas: over {REDEEM_BATCH_LIMIT:,}")
    for name, before in BEFORE_EXPIRY.items():
        print(
            f"{name}: {per_purchase[name]:,.0f} gas per purchase, {per_purchase[name] - before:+,.0f} over {before:,}"
        )
        if per_purchase[name] > before + EXPIRY_BUDGET:
            raise SystemExit(
                f"{name} costs {per_purchase[name] - before:+,.0f} gas per purchase: over +{EXPIRY_BUDGET:,}"
            )
    return rows


def redeem_batch_rows(c, partner: int, minter, seq: int, rows: list[tuple[str, int, int]]) -> int:
    """Batches of 100 signed redemptions by 100 customers (a key each, points earned before): their
    first consents (a fresh nonce word each), their next ones (the word in use, as the gateway's
    sequential nonces leave it), the same again (each skipped: its nonce used), and till captures.
    Sent as raw calldata, as the relayer builds it (network/relayer.py). Returns the next seq."""
    keys = [Account.from_key(keccak(b"gas-table-redeemer" + i.to_bytes(8, "big"))) for i in range(100)]
    c.points.earnBatch([encode_purchase(k.address, seq + i, 1_000) for i, k in enumerate(keys)], {"from": minter})
    seq += len(keys)
    deadline = int(time.time()) + 3600

    def items(nonce: int, tag: bytes, capture: bool = False, forged: bool = False) -> list[tuple]:
        out = []
        for i, k in enumerate(keys):
            consent = RedeemConsent(k.address, partner, 10, keccak(tag + bytes.fromhex(k.address[2:])), nonce, deadline)
            signer = keys[(i + 1) % len(keys)] if forged else k  # forged: another customer's key
            signature = sign_redeem(signer.key, consent, chain_id=chain.id, points_address=c.points.address)
            r, vs = compact_signature(signature)
            out.append((k.address, partner, capture, 10, consent.ref, nonce, deadline, r, vs))
        return out

    def send(batch: list[tuple]):
        # eth_sendTransaction and a receipt wait, not brownie's transfer: its check for dropped
        # transactions gives up on a 4M-gas one mined late on a loaded machine
        data = "0x" + batch_calldata(batch).hex()
        tx_hash = web3.eth.send_transaction(
            {"from": minter.address, "to": c.points.address, "data": data, "gas": 10**7}
        )
        web3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        return chain.get_transaction(tx_hash.hex() if isinstance(tx_hash, bytes) else tx_hash)

    tx = send(items(SEQUENTIAL_NONCE_BASE, b"first"))
    assert len(tx.events["Redeemed"]) == 100
    rows.append(("redeem batch of 100, each a fresh nonce word", 100, tx.gas_used))
    second = items(SEQUENTIAL_NONCE_BASE + 1, b"second")
    tx = send(second)
    assert len(tx.events["Redeemed"]) == 100
    rows.append((REDEEM_BATCH_ROW, 100, tx.gas_used))
    tx = send(second)
    assert len(tx.events["RedemptionSkipped"]) == 100
    rows.append(("redeem batch of 100, all skipped (nonce used)", 100, tx.gas_used))
    tx = send(items(SEQUENTIAL_NONCE_BASE + 2, b"forged", forged=True))
    assert len(tx.events["RedemptionSkipped"]) == 100
    rows.append(("redeem batch of 100, all skipped (bad signature)", 100, tx.gas_used))
    tx = send(items(SEQUENTIAL_NONCE_BASE + 2, b"capture", capture=True))  # the forged ones left it unused
    assert len(tx.events["Redeemed"]) == 100
    rows.append(("till captures, batch of 100, sequential nonces", 100, tx.gas_used))
    return seq


def expiry_rows(c, minter, seq: int) -> list[tuple[str, int, int]]:
    """The expiry policy's changes, and the points of 1,100 holders expired: 100 swept, 1,000 burned by
    the earn that next reaches their holders. Last, since the clock moves past every holder's expiry."""
    operator, rows = c.operator, []
    tx = c.points.scheduleExpiryWindow(365 * 86_400, {"from": operator})
    rows.append(("schedule an expiry window (operator)", 1, tx.gas_used))
    chain.sleep(c.points.EXPIRY_NOTICE())
    chain.mine()
    tx = c.points.applyExpiryWindow({"from": operator})
    rows.append(("apply an expiry window after the notice (anyone)", 1, tx.gas_used))
    chain.sleep(c.points.MAX_EXPIRY_WINDOW() + 1)  # past every holder's expiry
    chain.mine()
    # the holders of the batch of 100 (customers 2..101) and of the batches of 1,000 (102..1101)
    tx = c.points.expire([customer_address(2 + i) for i in range(100)], {"from": operator})
    assert len(tx.events["Expired"]) == 100
    rows.append(("expire, a sweep of 100 holders (anyone)", 100, tx.gas_used))
    tx = c.points.expire([customer_address(2 + i) for i in range(100)], {"from": operator})
    rows.append(("expire, a sweep of 100 holders with nothing due", 100, tx.gas_used))
    words = [encode_purchase(customer_address(102 + i), seq + i, 100) for i in range(1000)]
    tx = c.points.earnBatch(words, {"from": minter})
    assert len(tx.events["Expired"]) == 1000
    rows.append(("earn, batch of 1,000 (holders whose points expired)", 1000, tx.gas_used))
    return rows


def registry_rows(c, partner: int, treasury) -> list[tuple[str, int, int]]:
    """The partner's own changes (at once) and the operator's (after the notice)."""
    operator, rows = c.operator, []
    tx = c.registry.setMinter(partner, accounts[14], {"from": treasury})
    rows.append(("rotate the minter key (partner's treasury, at once)", 1, tx.gas_used))
    tx = c.registry.setIssuanceLimit(partner, 10**8 * USD, {"from": operator})
    rows.append(("set an issuance limit (operator, at once)", 1, tx.gas_used))
    tx = c.registry.scheduleRerate(partner, 12_000, 9_000, {"from": operator})
    rows.append(("schedule a re-rate (operator)", 1, tx.gas_used))
    tx = c.registry.scheduleTreasury(partner, accounts[15], {"from": operator})
    rows.append(("schedule a treasury change (operator)", 1, tx.gas_used))
    chain.sleep(c.registry.noticePeriod())
    chain.mine()
    tx = c.registry.applyRerate(partner, {"from": operator})
    rows.append(("apply a re-rate after the notice (anyone)", 1, tx.gas_used))
    tx = c.registry.applyTreasury(partner, {"from": operator})
    rows.append(("apply a treasury change after the notice (anyone)", 1, tx.gas_used))
    return rows


def print_table(rows: list[tuple[str, int, int]]) -> None:
    print()
    print(f"| {'operation':<54} | {'gas (tx)':>10} | {'gas per purchase':>16} |")
    print(f"|{'-' * 56}|{'-' * 11}:|{'-' * 17}:|")
    for name, n, gas in rows:
        per = f"{gas / n:,.0f}" if n > 1 else ""
        print(f"| {name:<54} | {gas:>10,} | {per:>16} |")
    print()
