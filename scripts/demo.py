"""The coalition in one run (`make demo`): a local chain, two partners, a customer who earns
at one and spends at the other, and the settlement that follows.

    brownie run scripts/demo.py --silent

All keys are anvil's public development accounts (local chains only), except the customer's,
which is a fresh key made for the run so that it can sign its consent to redeem.
"""

from __future__ import annotations

import json
import time

from brownie import accounts, chain, network
from eth_utils import keccak

from network.deployments import write_address_book
from network.purchases import encode_purchase
from network.settings import get_chain_settings
from network.signatures import RedeemConsent, sign_redeem
from scripts.deploy import deploy
from scripts.onboarding import USD, fund_operator, onboard_partner, quiet

GROCERY = {"issue_price": 10_000, "reimbursement_rate": 9_000}  # pays 0.010, gets 0.009 per point
FUEL = {"issue_price": 12_000, "reimbursement_rate": 8_000}  # pays 0.012, gets 0.008 per point


def cusd(units: int) -> str:
    return f"{units / USD:,.6f} cUSD"


def main() -> None:
    print(f"Network: {network.show_active()} (chain id {chain.id}, {network.web3.provider.endpoint_uri})")
    with quiet():
        c, book = deploy(accounts[0], accounts[1])
    path = write_address_book(book, get_chain_settings().deployments_dir)
    with quiet():
        grocery_key, fuel_key = accounts[2], accounts[4]
        grocery = onboard_partner(c, grocery_key, accounts[3], deposit=1_000 * USD, **GROCERY)
        fuel = onboard_partner(c, fuel_key, accounts[5], deposit=1_000 * USD, **FUEL)
        fund_operator(c, 500 * USD)
        alice = accounts.add()  # the customer's own wallet
        bob = accounts[6]

        # Grocery: end-of-day batch of three purchases (seq = the grocery's purchase number).
        basket = [
            encode_purchase(alice.address, 1, 420),
            encode_purchase(bob.address, 2, 75),
            encode_purchase(alice.address, 3, 130),
        ]
        earned = c.points.earnBatch(basket, {"from": grocery_key}).events["Earned"]
        # The POS retries purchase 3 after a timeout: the chain mints it only once.
        retry = c.points.earnBatch([basket[2]], {"from": grocery_key})
        # Fuel station: alice spends 300 points; she signs, the station relays.
        consent = RedeemConsent(
            alice.address, fuel, 300, b"fuel-voucher-0001".ljust(32, b"\0"), nonce=1, deadline=int(time.time()) + 600
        )
        signature = sign_redeem(alice.private_key, consent, chain_id=chain.id, points_address=c.points.address)
        redeemed = c.points.redeemWithSignature(
            alice, fuel, 300, consent.ref, consent.nonce, consent.deadline, signature, {"from": fuel_key}
        ).events["Redeemed"]

    print(f"\nContracts (address book: {path})")
    for name, address in book.contracts.items():
        print(f"  {name:<16} {address}")
    print("\nPartners")
    for pid, name, key in ((grocery, "grocery", grocery_key), (fuel, "fuel station", fuel_key)):
        p = c.registry.partner(pid)
        print(
            f"  #{pid} {name:<13} minter {key.address}  issue {cusd(p['issuePrice'])}/pt  "
            f"reimbursed {cusd(p['reimbursementRate'])}/pt"
        )
    print("\nWhat happened")
    print(f"  grocery batch #{earned['batchId']}: {len(earned['purchases'])} purchases, {earned['points']} points")
    print(
        f"  retried purchase 3: {'skipped (already minted)' if 'PurchaseSkipped' in retry.events else 'MINTED AGAIN'}"
    )
    print(f"  fuel station redemption: {redeemed['points']} points of {redeemed['customer']}")
    print("\nBalances")
    for who, account in (("alice (own wallet)", alice), ("bob", bob)):
        print(f"  {who:<20} {account.address}  {c.points.balanceOf(account):>5} points")
    print(f"  {'total supply':<20} {'':42}  {c.points.totalSupply():>5} points")

    # Settle the period from its events, at the prices they carry.
    lines = [
        (grocery, earned["points"] * earned["issuePrice"], 0),
        (fuel, 0, redeemed["points"] * redeemed["reimbursementRate"]),
    ]
    statement = json.dumps({"period": 1, "lines": lines}, sort_keys=True).encode()
    with quiet():
        chain.mine()
        start, end = c.clearing.settledThroughBlock() + 1, chain.height - 1
        settled = c.clearing.settle(1, start, end, keccak(statement), lines, {"from": c.operator}).events
    print(f"\nSettlement of period 1 (blocks {start}-{end})")
    total = 0
    for line in settled["PartnerSettled"]:
        total += line["net"]
        print(
            f"  partner #{line['partnerId']}: net {cusd(line['net']):>18}   funds now "
            f"{cusd(c.clearing.fundsOf(line['partnerId']))}"
        )
    operator_net = settled["PeriodSettled"]["operatorNet"]
    print(f"  operator:   net {cusd(operator_net):>18}")
    print(f"  nets + operator = {total + operator_net} ({'balanced' if total + operator_net == 0 else 'UNBALANCED'})")
