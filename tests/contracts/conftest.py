"""Fixtures of the contract tests: a fresh coalition per test, accounts named by role.

All accounts come from anvil's public development set (well known; local chains only),
except customers who must sign (EIP-712), which are fresh local keys.
"""

from __future__ import annotations

import itertools

import brownie
import pytest
from brownie import accounts, chain, web3

from network.purchases import encode_purchase
from scripts.deploy import deploy_contracts
from scripts.onboarding import USD, Coalition, fund_operator, onboard_partner

ISSUE_PRICE = 10_000  # 0.01 cUSD per point
REIMBURSEMENT_RATE = 8_000  # 0.008 cUSD per point redeemed
DAY = 86_400
NOTICE = 7 * DAY  # PartnerRegistry's default notice period
REFUND_WINDOW = 120 * DAY  # CoalitionPoints' default refund window
STATEMENT = b"\x5a" * 32


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    pass


@pytest.fixture(scope="module")
def admin():
    return accounts[0]


@pytest.fixture(scope="module")
def operator():
    return accounts[1]


@pytest.fixture(scope="module")
def partner_a():
    return accounts[2]


@pytest.fixture(scope="module")
def treasury_a():
    return accounts[3]


@pytest.fixture(scope="module")
def partner_b():
    return accounts[4]


@pytest.fixture(scope="module")
def treasury_b():
    return accounts[5]


@pytest.fixture(scope="module")
def partner_c():
    """A third minter key, for partners onboarded inside a test (make_partner)."""
    return accounts[9]


@pytest.fixture(scope="module")
def treasury_c():
    return accounts[10]


@pytest.fixture(scope="module")
def new_key():
    """A key that no partner holds (a minter key's replacement)."""
    return accounts[11]


@pytest.fixture(scope="module")
def customer():
    """A customer with a key of its own (needed to sign redemptions)."""
    return accounts.add()


@pytest.fixture(scope="module")
def other_customer():
    return accounts[7]


@pytest.fixture(scope="module")
def stranger():
    return accounts[8]


@pytest.fixture(scope="module")
def coalition(admin, operator) -> Coalition:
    return deploy_contracts(admin, operator)


@pytest.fixture(scope="module")
def registry(coalition):
    return coalition.registry


@pytest.fixture(scope="module")
def points(coalition):
    return coalition.points


@pytest.fixture(scope="module")
def clearing(coalition):
    return coalition.clearing


@pytest.fixture(scope="module")
def token(coalition):
    return coalition.token


@pytest.fixture(scope="module")
def make_partner(coalition):
    """Onboards and funds a partner: make_partner(minter, treasury, issue_price=…, deposit=…)."""

    def make(minter, treasury, **kwargs) -> int:
        kwargs.setdefault("issue_price", ISSUE_PRICE)
        kwargs.setdefault("reimbursement_rate", REIMBURSEMENT_RATE)
        return onboard_partner(coalition, minter, treasury, **kwargs)

    return make


@pytest.fixture(scope="module")
def pid_a(make_partner, partner_a, treasury_a):
    return make_partner(partner_a, treasury_a)


@pytest.fixture(scope="module")
def pid_b(make_partner, partner_b, treasury_b):
    return make_partner(partner_b, treasury_b)


@pytest.fixture(scope="module")
def operator_float(coalition):
    fund_operator(coalition, 100_000 * USD)
    return 100_000 * USD


@pytest.fixture(scope="module")
def settle_period(clearing, operator):
    """settle_period(lines, to_block=None): the operator settles the next period, from the block
    after the last settled one up to `to_block` (default: the last mined block).
    Each line is (partnerId, issuedValue, reversedValue, redeemedValue[, restoredValue]): restoredValue
    0 if left out."""

    def settle(lines, to_block=None):
        lines = [tuple(line) + (0,) * (5 - len(line)) for line in lines]
        start = clearing.settledThroughBlock() + 1
        end = chain.height if to_block is None else to_block
        return clearing.settle(clearing.nextPeriodId(), start, end, STATEMENT, lines, {"from": operator})

    return settle


@pytest.fixture(scope="session")
def advance():
    """advance(seconds): moves the chain's clock forward and mines a block at the new time."""

    def move(seconds: int) -> None:
        chain.sleep(seconds)
        chain.mine()

    return move


@pytest.fixture(scope="session")
def next_block_at():
    """next_block_at(timestamp): the next block (the next transaction's) is mined at exactly that time."""

    def set_next(timestamp: int) -> None:
        web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])

    return set_next


@pytest.fixture
def seqs():
    """Fresh purchase sequence numbers."""
    return itertools.count(1)


@pytest.fixture
def purchase(seqs):
    """purchase(customer, points, seq=None) -> the 32-byte purchase word."""

    def make(customer, points, seq=None) -> bytes:
        return encode_purchase(str(customer), next(seqs) if seq is None else seq, points)

    return make


def _as_decoded(arg) -> str:
    """An error argument as brownie prints it after decoding a custom error with the ABI."""
    arg = getattr(arg, "address", arg)  # accounts and contracts
    if isinstance(arg, str) and arg.startswith("0x") and len(arg) == 42:
        return arg.lower()
    if isinstance(arg, bytes):
        return str(bytes(arg))
    return str(arg)


@pytest.fixture(scope="session")
def reverts_with():
    """reverts_with("ErrorName", *args): expects a revert with exactly that custom error.

    brownie 1.22 decodes a custom error with the selectors of every loaded ABI into
    ``"ErrorName: arg1, arg2"`` (addresses lower-case, bytes as Python bytes); an error it does
    not know stays ``"Unknown typed error: 0x..."``, which this never matches.
    """

    def expect(error: str, *args):
        return brownie.reverts(f"{error}: {', '.join(_as_decoded(a) for a in args)}")

    return expect
