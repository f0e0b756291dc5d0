"""Stateful property test of the whole coalition: points, registry and clearing together.

A hypothesis ``RuleBasedStateMachine`` drives random sequences of earns (single and batch, with
duplicate references), redemptions (the customer's own transaction and EIP-712 signatures),
refund clawbacks proven with Merkle proofs, suspensions, re-rates, deposits, withdrawals and
period settlements, against a Python model of the coalition. Each rule predicts its exact
outcome before it touches the chain (which custom error with which arguments, or which events),
and after every step the invariants compare the model with the chain.

brownie's own ``state_machine`` fixture is broken in brownie 1.22's compiled wheel, so the
machine runs through ``hypothesis.stateful.run_state_machine_as_test``; each example starts by
reverting the chain to the snapshot taken after the module fixtures set the coalition up.
A predicted revert is checked with ``eth_call`` (``fn.call``), which fails with the same custom
error as a transaction would, without mining a block; the invariants read the chain in one
JSON-RPC batch per step.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from brownie import accounts, chain, web3
from eth_utils import keccak
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from network.purchases import decode_purchase, encode_purchase, merkle_proof, merkle_root
from network.signatures import RedeemConsent, sign_redeem
from scripts.onboarding import USD

EXAMPLES = 200
STEPS = 20

# Three partners whose bounds are small enough to be hit: A is bound by its deposit (2,000 points
# at 0.01), B by its deposit too (600 points at 0.025) and reimburses more than it charges, C by
# its issuance limit (1,500 points at 0.004; its deposit is larger).
PARTNERS = (
    {"issue_price": 10_000, "reimbursement_rate": 8_000, "issuance_limit": 10**6 * USD, "deposit": 20 * USD},
    {"issue_price": 25_000, "reimbursement_rate": 30_000, "issuance_limit": 10**6 * USD, "deposit": 15 * USD},
    {"issue_price": 4_000, "reimbursement_rate": 3_000, "issuance_limit": 6 * USD, "deposit": 40 * USD},
)
TREASURY_RESERVE = 10**6 * USD  # minted to each treasury (and approved to Clearing) for top-ups
CUSTOMERS = 4
FIRST_SEQ = 240  # fresh seqs start just below a bitmap word boundary (256)
FAR_DEADLINE = 2**40
PRICES = (4_000, 10_000, 25_000)  # what a re-rate picks from
RATES = (0, 3_000, 8_000, 30_000)
ACTIVE, SUSPENDED = 1, 2  # IPartnerRegistry.PartnerStatus

Failure = tuple[str, tuple]  # a custom error's name and arguments


# ------------------------------------------------------------------------------------------ setup


@dataclass
class World:
    """What the machine works with: set up once per module, before the snapshot."""

    coalition: Any
    reverts_with: Any
    minters: list
    treasuries: list
    pids: list[int]
    customers: list
    relayer: Any
    operator_funds: int
    clearing_balance: int
    settled_through: int
    next_batch_id: int
    stats: Counter = field(default_factory=Counter)  # what the runs reached, over all examples


@pytest.fixture(scope="module")
def world(
    coalition,
    make_partner,
    operator_float,
    reverts_with,
    partner_a,
    treasury_a,
    partner_b,
    treasury_b,
    partner_c,
    treasury_c,
):
    minters, treasuries = [partner_a, partner_b, partner_c], [treasury_a, treasury_b, treasury_c]
    pids = [make_partner(m, t, **cfg) for m, t, cfg in zip(minters, treasuries, PARTNERS, strict=True)]
    c = coalition
    for t in treasuries:
        c.token.mint(t, TREASURY_RESERVE, {"from": c.admin})
        c.token.approve(c.clearing, 2**256 - 1, {"from": t})
    # customers sign redemptions, so they are local keys (fixed ones, so that examples replay alike)
    customers = [accounts.add(keccak(b"coalition-invariants-customer-%d" % i)) for i in range(CUSTOMERS)]
    for customer in customers:
        accounts[0].transfer(customer, 10**18)  # gas for their own redeem transactions
    return World(
        coalition=c,
        reverts_with=reverts_with,
        minters=minters,
        treasuries=treasuries,
        pids=pids,
        customers=customers,
        relayer=accounts[6],
        operator_funds=c.clearing.operatorFunds(),
        clearing_balance=c.token.balanceOf(c.clearing),
        settled_through=c.clearing.settledThroughBlock(),
        next_batch_id=c.points.nextBatchId(),
    )


class ChainReader:
    """Runs many view calls in one JSON-RPC batch: one round trip per invariant check."""

    def __init__(self) -> None:
        self.uri = web3.provider.endpoint_uri
        self.session = requests.Session()

    @staticmethod
    def _encode(fn: Any, args: tuple) -> str:
        # every view read here takes integers and addresses only: one 32-byte word each
        words = (int(a, 16) if isinstance(a, str) else int(a) for a in args)
        return fn.signature + "".join(f"{w:064x}" for w in words)

    @staticmethod
    def _decode(fn: Any, result: str) -> Any:
        outputs = fn.abi["outputs"]
        kind = outputs[0]["type"]
        if len(outputs) == 1 and (kind in ("bool", "int256") or kind.startswith("uint")):
            value = int(result, 16)
            if kind == "bool":
                return value != 0
            if kind == "int256" and value >= 2**255:
                return value - 2**256
            return value
        return fn.decode_output(result)  # structs

    def read(self, calls: list[tuple[Any, tuple]]) -> list:
        payload = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "eth_call",
                "params": [{"to": fn._address, "data": self._encode(fn, args)}, "latest"],
            }
            for i, (fn, args) in enumerate(calls)
        ]
        replies = {r["id"]: r for r in self.session.post(self.uri, json=payload, timeout=60).json()}
        out = []
        for i, (fn, args) in enumerate(calls):
            reply = replies[i]
            assert "error" not in reply, f"{fn.abi['name']}{args}: {reply['error']}"
            out.append(self._decode(fn, reply["result"]))
        return out


# ------------------------------------------------------------------------------------------ model


@dataclass
class PartnerModel:
    index: int
    pid: int
    minter: Any
    treasury: Any
    issue_price: int
    rate: int
    limit: int
    funds: int
    active: bool = True
    next_seq: int = FIRST_SEQ
    seqs_seen: list[int] = field(default_factory=list)  # in first-seen order, to pick duplicates from
    # the current (unsettled) period, each value at the price carried by its event
    issued: int = 0  # Σ points × issuePrice of its Earned events
    reversed: int = 0  # Σ points × issuePrice of its Reversed events
    redeemed: int = 0  # Σ points × reimbursementRate of its Redeemed events
    touched: bool = False  # emitted an Earned, Reversed or Redeemed event in the period

    @property
    def exposure(self) -> int:
        """The value of its issuance not yet settled: what Clearing.exposureOf must say."""
        return self.issued - self.reversed

    @property
    def free_funds(self) -> int:
        return self.funds if self.exposure <= 0 else max(self.funds - self.exposure, 0)


@dataclass
class Mint:
    """A minted purchase, as its batch's Earned event records it."""

    pid: int
    batch_id: int
    words: list[bytes]  # the batch's minted words (Earned.purchases)
    index: int
    customer: str
    seq: int
    points: int
    issue_price: int
    reversed: int = 0

    @property
    def word(self) -> bytes:
        return self.words[self.index]


@dataclass
class Settlement:
    """A settled period, as its events reported it."""

    period_id: int
    from_block: int
    to_block: int
    statement_hash: bytes
    nets: list[int]  # PartnerSettled.net of each line
    operator_net: int  # PeriodSettled.operatorNet


def cases(*weighted: tuple[str, int]) -> st.SearchStrategy[str]:
    """A case by name; the common one first (hypothesis draws and shrinks towards the first)."""
    return st.sampled_from([name for name, weight in weighted for _ in range(weight)])


customer_st = st.integers(0, CUSTOMERS - 1)
partner_st = st.integers(0, len(PARTNERS) - 1)
pick_st = st.integers(0, 2**16)  # picks an element or an amount, modulo what there is
points_st = st.one_of(st.integers(1, 120), st.integers(121, 900))
seq_st = cases(("next", 6), ("jump", 1), ("seen before", 2), ("repeat in batch", 1))
purchase_st = st.tuples(customer_st, seq_st, pick_st, points_st)  # (customer, seq case, pick, points)
amount_st = cases(("some", 5), ("all", 2), ("more than held", 1), ("zero", 1))
signature_st = cases(("valid", 6), ("other signer", 1), ("expired", 1), ("replayed nonce", 1))
reversal_st = cases(("partial", 4), ("rest", 2), ("more than left", 1), ("by another partner", 1), ("other price", 1))
withdrawal_st = cases(("some", 2), ("all free", 1), ("more than free", 1))


class CoalitionMachine(RuleBasedStateMachine):
    world: World  # set by the test before it runs the machine

    def __init__(self) -> None:
        super().__init__()
        chain.revert()  # back to the coalition as the module fixtures set it up (and re-snapshot)
        w = self.w = self.world
        self.c = w.coalition
        self.reader = ChainReader()
        self.chain_id = chain.id
        self.partners = [
            PartnerModel(
                index=i,
                pid=pid,
                minter=w.minters[i],
                treasury=w.treasuries[i],
                issue_price=cfg["issue_price"],
                rate=cfg["reimbursement_rate"],
                limit=cfg["issuance_limit"],
                funds=cfg["deposit"],
            )
            for i, (pid, cfg) in enumerate(zip(w.pids, PARTNERS, strict=True))
        ]
        self.by_pid = {p.pid: p for p in self.partners}
        self.balances = {c.address: 0 for c in w.customers}
        self.earned = self.redeemed = self.reversed = 0  # points
        self.seen: list[tuple[int, int]] = []  # every (pid, seq) of an earn attempt, in first-seen order
        self.seen_set: set[tuple[int, int]] = set()
        self.mints: dict[tuple[int, int], Mint] = {}  # (pid, seq) -> its first (and only) mint
        self.mint_list: list[Mint] = []
        self.chain_minted: Counter = Counter()  # (pid, seq) -> Σ points in the words of Earned events
        self.skips_expected: list[tuple] = []  # (pid, seq, customer, points) of every duplicate sent
        self.skips_emitted: list[tuple] = []  # the PurchaseSkipped events the chain emitted
        self.next_batch_id = w.next_batch_id
        self.nonces_used: dict[str, list[int]] = defaultdict(list)
        self.nonces_tried: list[tuple[str, int]] = []  # (customer, nonce) of every signed redeem tried
        self.operator_funds = w.operator_funds
        self.clearing_balance = w.clearing_balance
        self.settled_through = w.settled_through
        self.settlements: list[Settlement] = []
        self.refs = 0
        self.version = 0  # bumped by every step: the invariants' chain reads are cached per step
        self._read_version = -1
        self._read: dict = {}
        w.stats["runs"] += 1

    # ------------------------------------------------------------------------------ helpers

    def _step(self, name: str) -> None:
        self.version += 1
        self.w.stats["steps"] += 1
        self.w.stats[f"rule {name}"] += 1

    def _send(self, fn: Any, *args: Any, sender: Any) -> Any:
        return fn(*args, {"from": sender, "_skip_undo": True}, silent=True)

    def _reverts(self, fn: Any, *args: Any, sender: Any, failure: Failure) -> None:
        """The call must revert with exactly this custom error and arguments (eth_call: no block)."""
        error, error_args = failure
        with self.w.reverts_with(error, *error_args):
            fn.call(*args, {"from": sender})
        self.w.stats[f"revert {error}"] += 1

    def _ref(self) -> bytes:
        self.refs += 1
        return keccak(b"ref-%d" % self.refs)

    @staticmethod
    def _events(tx: Any, name: str) -> list:
        return list(tx.events[name]) if name in tx.events else []

    def _see(self, key: tuple[int, int]) -> None:
        if key not in self.seen_set:
            self.seen_set.add(key)
            self.seen.append(key)
            self.by_pid[key[0]].seqs_seen.append(key[1])

    # ------------------------------------------------------------------------------ earn

    def _earn(self, p: PartnerModel, items: list[tuple], single: bool) -> None:
        words, new, dups, in_batch = [], [], [], []
        for cust, case, pick, pts in items:
            customer = self.w.customers[cust].address
            if case == "seen before" and p.seqs_seen:  # minted (so a duplicate), or only attempted
                seq = p.seqs_seen[pick % len(p.seqs_seen)]
            elif case == "repeat in batch" and in_batch:
                seq = in_batch[pick % len(in_batch)]
            elif case == "jump":  # across bitmap words
                p.next_seq += 1 + pick % 300
                seq = p.next_seq
            else:
                p.next_seq += 1
                seq = p.next_seq
            word = encode_purchase(customer, seq, pts)
            words.append(word)
            if (p.pid, seq) in self.mints or seq in in_batch:
                dups.append((p.pid, seq, customer, pts))
            else:
                new.append((word, customer, seq, pts))
            in_batch.append(seq)
        for seq in in_batch:
            self._see((p.pid, seq))

        fn, arg = (self.c.points.earn, words[0]) if single else (self.c.points.earnBatch, words)
        total = sum(n[3] for n in new)
        exposure = p.exposure + total * p.issue_price
        if not p.active:
            failure = ("PartnerRegistryNotActive", (p.pid,))
        elif new and exposure > 0 and exposure > p.funds:
            failure = ("ClearingIssuanceOverFunds", (p.pid, exposure, p.funds))
        elif new and exposure > 0 and exposure > p.limit:
            failure = ("ClearingIssuanceOverLimit", (p.pid, exposure, p.limit))
        else:
            failure = None
        if failure:
            return self._reverts(fn, arg, sender=p.minter, failure=failure)

        tx = self._send(fn, arg, sender=p.minter)
        skipped = [(e["partnerId"], e["seq"], e["customer"], e["points"]) for e in self._events(tx, "PurchaseSkipped")]
        assert skipped == dups, "every duplicate, and only they, is skipped with a PurchaseSkipped event"
        self.skips_expected += dups
        self.skips_emitted += skipped
        self.w.stats["purchases skipped"] += len(dups)
        mints = [(e["to"], e["value"]) for e in self._events(tx, "Transfer")]
        assert mints == [(n[1], n[3]) for n in new], "a Transfer per new purchase, none for a duplicate"
        if not new:
            assert "Earned" not in tx.events and "IssuanceReserved" not in tx.events
            self.w.stats["earn of duplicates only"] += 1
            return

        earned = tx.events["Earned"]
        minted_words = [bytes(w) for w in earned["purchases"]]
        assert (earned["partnerId"], earned["batchId"], earned["issuePrice"], earned["points"]) == (
            p.pid,
            self.next_batch_id,
            p.issue_price,
            total,
        )
        assert minted_words == [n[0] for n in new]
        assert bytes(earned["root"]) == merkle_root(minted_words)
        reserved = tx.events["IssuanceReserved"]
        assert (reserved["value"], reserved["exposure"]) == (total * p.issue_price, exposure)
        # what the chain minted per reference, from the event's words (not from the model's list)
        for w in minted_words:
            d = decode_purchase(w)
            self.chain_minted[(p.pid, d.seq)] += d.points
        for i, (_, customer, seq, pts) in enumerate(new):
            m = Mint(p.pid, self.next_batch_id, minted_words, i, customer, seq, pts, p.issue_price)
            self.mints[(p.pid, seq)] = m
            self.mint_list.append(m)
            self.balances[customer] += pts
        self.earned += total
        p.issued += total * p.issue_price
        p.touched = True
        self.next_batch_id += 1
        self.w.stats["earn minted"] += 1
        self.w.stats["earn minted, duplicates skipped"] += bool(dups)

    @rule(partner=partner_st, item=purchase_st)
    def earn(self, partner: int, item: tuple) -> None:
        """A partner mints the points of one purchase."""
        self._step("earn")
        self._earn(self.partners[partner], [item], single=True)

    @rule(partner=partner_st, items=st.lists(purchase_st, min_size=1, max_size=20))
    def earn_batch(self, partner: int, items: list[tuple]) -> None:
        """A partner mints a batch; seqs minted before, or repeated in it, are skipped."""
        self._step("earn_batch")
        self._earn(self.partners[partner], items, single=False)

    # ------------------------------------------------------------------------------ redeem

    def _customer(self, cust: int) -> Any:
        """A customer who holds points if there is one (most redemptions should be possible)."""
        holders = [c for c in self.w.customers if self.balances[c.address] > 0] or self.w.customers
        return holders[cust % len(holders)]

    @staticmethod
    def _amount(balance: int, case: str, pick: int) -> int:
        if case == "zero":
            return 0
        if case == "more than held":
            return balance + 1 + pick % 50
        if case == "all":
            return balance
        return 1 + pick % max(balance, 1)

    def _redeem_failure(self, customer: str, p: PartnerModel, amount: int) -> Failure | None:
        """What _redeem reverts with, in the contract's order of checks (None: it burns)."""
        if amount == 0:
            return ("CoalitionPointsZeroPoints", ())
        if not p.active:
            return ("PartnerRegistryNotActive", (p.pid,))
        if self.balances[customer] < amount:
            return ("ERC20InsufficientBalance", (customer, self.balances[customer], amount))
        return None

    def _redeemed(self, tx: Any, customer: str, p: PartnerModel, amount: int, ref: bytes) -> None:
        e = tx.events["Redeemed"]
        assert (e["partnerId"], e["customer"], bytes(e["ref"]), e["points"], e["reimbursementRate"]) == (
            p.pid,
            customer,
            ref,
            amount,
            p.rate,
        )
        self.balances[customer] -= amount
        self.redeemed += amount
        p.redeemed += amount * p.rate
        p.touched = True

    @rule(cust=customer_st, partner=partner_st, case=amount_st, pick=pick_st)
    def redeem(self, cust: int, partner: int, case: str, pick: int) -> None:
        """A customer burns its own points at a partner, in its own transaction."""
        self._step("redeem")
        account, p = self._customer(cust), self.partners[partner]
        amount = self._amount(self.balances[account.address], case, pick)
        args = (p.pid, amount, self._ref())
        failure = self._redeem_failure(account.address, p, amount)
        if failure:
            return self._reverts(self.c.points.redeem, *args, sender=account, failure=failure)
        tx = self._send(self.c.points.redeem, *args, sender=account)
        self._redeemed(tx, account.address, p, amount, args[2])
        self.w.stats["redeem ok"] += 1

    @rule(
        cust=customer_st,
        partner=partner_st,
        case=amount_st,
        pick=pick_st,
        signature=signature_st,
        nonce=st.integers(0, 2**256 - 1),
    )
    def redeem_with_signature(self, cust: int, partner: int, case: str, pick: int, signature: str, nonce: int) -> None:
        """A relayer burns a customer's points with the customer's EIP-712 consent."""
        self._step("redeem_with_signature")
        account, p = self._customer(cust), self.partners[partner]
        customer = account.address
        amount = self._amount(self.balances[customer], case, pick)
        signer, deadline, used = account, FAR_DEADLINE, self.nonces_used[customer]
        if signature == "other signer":
            signer = self.w.customers[(self.w.customers.index(account) + 1) % CUSTOMERS]
        elif signature == "expired":
            deadline = 1
        elif signature == "replayed nonce" and used:
            nonce = used[pick % len(used)]
        ref = self._ref()
        consent = RedeemConsent(customer, p.pid, amount, ref, nonce, deadline)
        sig = sign_redeem(signer.private_key, consent, chain_id=self.chain_id, points_address=self.c.points.address)
        args = (customer, p.pid, amount, ref, nonce, deadline, sig)
        fn = self.c.points.redeemWithSignature
        self.nonces_tried.append((customer, nonce))
        if deadline == 1:
            failure = ("CoalitionPointsExpiredSignature", (deadline,))
        elif signer is not account:
            failure = ("CoalitionPointsInvalidSigner", (signer.address, customer))
        elif nonce in used:
            failure = ("CoalitionPointsNonceUsed", (customer, nonce))
        else:
            failure = self._redeem_failure(customer, p, amount)  # the nonce stays unused then
        if failure:
            return self._reverts(fn, *args, sender=self.w.relayer, failure=failure)
        tx = self._send(fn, *args, sender=self.w.relayer)
        self._redeemed(tx, customer, p, amount, ref)
        used.append(nonce)
        self.w.stats["redeem with signature ok"] += 1

    # ------------------------------------------------------------------------------ reverse

    @precondition(lambda self: self.mint_list)
    @rule(pick=pick_st, case=reversal_st, amount=pick_st, other=st.integers(1, len(PARTNERS) - 1))
    def reverse(self, pick: int, case: str, amount: int, other: int) -> None:
        """A partner claws back (part of) an earlier purchase, proven by its batch's Earned words."""
        self._step("reverse")
        m = self.mint_list[pick % len(self.mint_list)]
        owner = self.by_pid[m.pid]
        caller, price = owner, m.issue_price
        remaining = m.points - m.reversed
        if case == "by another partner":
            caller = self.partners[(owner.index + other) % len(self.partners)]
        elif case == "other price":  # not the one of its Earned event (e.g. the price after a re-rate)
            price += 1
        if case == "more than left":
            points = remaining + 1 + amount % 20
        elif case == "rest":
            points = remaining
        elif remaining > 1:
            points = 1 + amount % (remaining - 1)
        else:
            points = max(remaining, 1)
        balance = self.balances[m.customer]
        args = (m.batch_id, m.word, price, merkle_proof(m.words, m.index), points)
        fn = self.c.points.reverse

        if not caller.active:
            failure = ("PartnerRegistryNotActive", (caller.pid,))
        elif caller is not owner or price != m.issue_price:
            failure = ("CoalitionPointsUnknownPurchase", (caller.pid, m.batch_id))
        elif points == 0:
            failure = ("CoalitionPointsZeroPoints", ())
        elif m.reversed + points > m.points:  # over-reversal, across any number of partial ones
            failure = ("CoalitionPointsReversalExceedsPurchase", (m.pid, m.seq, m.points, m.reversed + points))
        elif balance < points:  # the customer spent them already
            failure = ("ERC20InsufficientBalance", (m.customer, balance, points))
        else:
            failure = None
        if failure:
            return self._reverts(fn, *args, sender=caller.minter, failure=failure)

        tx = self._send(fn, *args, sender=caller.minter)
        e = tx.events["Reversed"]
        assert (e["partnerId"], e["customer"], e["batchId"], e["seq"], e["points"], e["issuePrice"]) == (
            m.pid,
            m.customer,
            m.batch_id,
            m.seq,
            points,
            m.issue_price,
        )
        released = tx.events["IssuanceReleased"]
        value = points * m.issue_price  # at the price it was issued at, whatever the price is now
        assert (released["value"], released["exposure"]) == (value, owner.exposure - value)
        m.reversed += points
        self.balances[m.customer] -= points
        self.reversed += points
        owner.reversed += value
        owner.touched = True
        stats = self.w.stats
        stats["reverse, full" if m.reversed == m.points else "reverse, partial"] += 1
        stats["reverse, at a price since re-rated"] += m.issue_price != owner.issue_price
        stats["reverse, of a settled purchase (exposure < 0)"] += owner.exposure < 0

    # ------------------------------------------------------------------------------ registry

    @rule(partner=partner_st)
    def suspend_or_reactivate(self, partner: int) -> None:
        """The operator suspends an active partner, or reactivates a suspended one."""
        self._step("suspend_or_reactivate")
        p = self.partners[partner]
        registry, operator = self.c.registry, self.c.operator
        if p.active:
            tx = self._send(registry.suspend, p.pid, sender=operator)
            assert tx.events["PartnerSuspended"]["partnerId"] == p.pid
        else:
            tx = self._send(registry.reactivate, p.pid, sender=operator)
            assert tx.events["PartnerReactivated"]["partnerId"] == p.pid
        p.active = not p.active

    @rule(partner=partner_st, price=st.sampled_from(PRICES), rate=st.sampled_from(RATES))
    def rerate(self, partner: int, price: int, rate: int) -> None:
        """New prices apply to new events only (the issuance limit stays)."""
        self._step("rerate")
        p = self.partners[partner]
        self._send(self.c.registry.rerate, p.pid, price, rate, p.limit, sender=self.c.operator)
        p.issue_price, p.rate = price, rate

    # ------------------------------------------------------------------------------ clearing

    @rule(partner=partner_st, amount=st.integers(1, 30 * USD))
    def deposit(self, partner: int, amount: int) -> None:
        """The treasury adds to the partner's funds."""
        self._step("deposit")
        p = self.partners[partner]
        tx = self._send(self.c.clearing.deposit, p.pid, amount, sender=p.treasury)
        assert (tx.events["Deposited"]["partnerId"], tx.events["Deposited"]["amount"]) == (p.pid, amount)
        p.funds += amount
        self.clearing_balance += amount

    @rule(partner=partner_st, case=withdrawal_st, pick=st.integers(0, 10 * USD))
    def withdraw(self, partner: int, case: str, pick: int) -> None:
        """The treasury takes out free funds; the funds backing unsettled issuance stay."""
        self._step("withdraw")
        p = self.partners[partner]
        free = p.free_funds
        if case == "more than free" or free == 0:
            amount = free + 1 + pick
        else:
            amount = free if case == "all free" else 1 + pick % free
        fn = self.c.clearing.withdraw
        if amount > free:
            return self._reverts(
                fn, p.pid, amount, sender=p.treasury, failure=("ClearingInsufficientFreeFunds", (p.pid, free, amount))
            )
        tx = self._send(fn, p.pid, amount, sender=p.treasury)
        assert (tx.events["Withdrawn"]["partnerId"], tx.events["Withdrawn"]["amount"]) == (p.pid, amount)
        p.funds -= amount
        self.clearing_balance -= amount
        self.w.stats["withdraw ok"] += 1

    def _statement_from_logs(self, from_block: int, to_block: int) -> list[tuple[int, int, int]]:
        """The period's lines as anyone recomputes them from the points contract's logs."""
        # imported here: brownie hashes the source of a test module's top-level imports that lie in
        # the project (.venv included) and cannot read this one, a compiled extension
        from brownie.network.event import _decode_logs

        logs = web3.eth.get_logs({"address": self.c.points.address, "fromBlock": from_block, "toBlock": to_block})
        issued: dict[int, int] = defaultdict(int)
        redeemed: dict[int, int] = defaultdict(int)
        for e in _decode_logs(logs):
            if e.name == "Earned":
                issued[e["partnerId"]] += e["points"] * e["issuePrice"]
            elif e.name == "Reversed":
                issued[e["partnerId"]] -= e["points"] * e["issuePrice"]
            elif e.name == "Redeemed":
                redeemed[e["partnerId"]] += e["points"] * e["reimbursementRate"]
        return [(pid, issued[pid], redeemed[pid]) for pid in sorted(set(issued) | set(redeemed))]

    @rule()
    def settle(self) -> None:
        """The operator settles everything since the last period, from the model's own record."""
        self._step("settle")
        lines = [(p.pid, p.issued - p.reversed, p.redeemed) for p in self.partners if p.touched]
        period_id = len(self.settlements) + 1
        from_block = self.settled_through + 1
        to_block = web3.eth.block_number  # settle runs in the next block, so toBlock < block.number
        assert self._statement_from_logs(from_block, to_block) == lines, "the statement is what the events say"
        statement_hash = keccak(json.dumps({"period": period_id, "lines": lines}).encode())
        args = (period_id, from_block, to_block, statement_hash, lines)

        failure, operator_net = None, 0
        for pid, issued, redeemed in lines:
            net, funds = redeemed - issued, self.by_pid[pid].funds
            if net < 0 and -net > funds:
                failure = failure or ("ClearingPartnerCannotPay", (pid, funds, net))
            operator_net -= net
        if not failure and operator_net < 0 and -operator_net > self.operator_funds:
            failure = ("ClearingInsufficientOperatorFunds", (self.operator_funds, -operator_net))
        if failure:
            return self._reverts(self.c.clearing.settle, *args, sender=self.c.operator, failure=failure)

        tx = self._send(self.c.clearing.settle, *args, sender=self.c.operator)
        settled = [
            (e["periodId"], e["partnerId"], e["issuedValue"], e["redeemedValue"], e["net"])
            for e in self._events(tx, "PartnerSettled")
        ]
        assert settled == [(period_id, pid, i, r, r - i) for pid, i, r in lines]
        e = tx.events["PeriodSettled"]
        assert (e["periodId"], e["fromBlock"], e["toBlock"], bytes(e["statementHash"])) == (
            period_id,
            from_block,
            to_block,
            statement_hash,
        )
        self.settlements.append(
            Settlement(period_id, from_block, to_block, statement_hash, [s[4] for s in settled], e["operatorNet"])
        )
        for pid, issued, redeemed in lines:
            p = self.by_pid[pid]
            p.funds += redeemed - issued
            p.issued = p.reversed = p.redeemed = 0
            p.touched = False
        self.operator_funds += operator_net
        self.settled_through = to_block
        stats = self.w.stats
        stats["settle, with lines" if lines else "settle, empty period"] += 1
        stats["settle, a line with negative issuance"] += any(issued < 0 for _, issued, _ in lines)
        stats["settle, operator pays"] += operator_net < 0

    # ------------------------------------------------------------------------------ invariants

    def chain_state(self) -> dict:
        """Everything the invariants compare, read in one batch (once per step)."""
        if self._read_version == self.version:
            return self._read
        c = self.c
        calls, keys = [], []

        def add(key: Any, fn: Any, *args: Any) -> None:
            keys.append(key)
            calls.append((fn, args))

        add("supply", c.points.totalSupply)
        add("next batch", c.points.nextBatchId)
        for a in self.balances:
            add(("balance", a), c.points.balanceOf, a)
        for p in self.partners:
            add(("exposure", p.pid), c.clearing.exposureOf, p.pid)
            add(("funds", p.pid), c.clearing.fundsOf, p.pid)
            add(("partner", p.pid), c.registry.partner, p.pid)
            add(("minted", p.pid, p.next_seq + 1), c.points.isMinted, p.pid, p.next_seq + 1)  # never sent
        add("operator funds", c.clearing.operatorFunds)
        add("clearing balance", c.token.balanceOf, c.clearing.address)
        add("next period", c.clearing.nextPeriodId)
        add("settled through", c.clearing.settledThroughBlock)
        for pid, seq in self.seen:
            add(("minted", pid, seq), c.points.isMinted, pid, seq)
        for pid, seq in self.mints:
            add(("reversed", pid, seq), c.points.reversedPoints, pid, seq)
        for s in self.settlements:
            add(("period", s.period_id), c.clearing.period, s.period_id)
        for customer, nonce in self.nonces_tried:
            add(("nonce", customer, nonce), c.points.redeemNonceUsed, customer, nonce)
        self._read = dict(zip(keys, self.reader.read(calls), strict=True))
        self._read_version = self.version
        return self._read

    @invariant()
    def supply_is_the_balances_and_earned_minus_redeemed_minus_reversed(self) -> None:
        s = self.chain_state()
        balances = {a: s[("balance", a)] for a in self.balances}
        assert balances == self.balances
        assert s["supply"] == sum(balances.values()) == self.earned - self.redeemed - self.reversed

    @invariant()
    def no_partner_is_above_its_bound(self) -> None:
        s = self.chain_state()
        for p in self.partners:
            exposure, funds, info = s[("exposure", p.pid)], s[("funds", p.pid)], s[("partner", p.pid)]
            status, issue_price, rate, limit = info[1], info[3], info[4], info[5]
            if exposure > 0:
                assert exposure <= min(funds, limit), f"partner {p.pid} issued beyond its funds or limit"
            assert exposure == p.exposure, f"partner {p.pid}: exposure is not the unsettled issuance value"
            assert funds == p.funds
            assert (status, issue_price, rate, limit) == (
                ACTIVE if p.active else SUSPENDED,
                p.issue_price,
                p.rate,
                p.limit,
            )

    @invariant()
    def no_reference_is_minted_twice(self) -> None:
        s = self.chain_state()
        assert s["next batch"] == self.next_batch_id
        for pid, seq in self.seen:  # minted, skipped as duplicates, or only in reverted earns
            first = self.mints.get((pid, seq))
            assert s[("minted", pid, seq)] == (first is not None), f"isMinted({pid}, {seq})"
            # what the Earned events minted for the reference: the points of its first mint, once
            assert self.chain_minted[(pid, seq)] == (first.points if first else 0), f"({pid}, {seq}) minted twice"
        for p in self.partners:
            assert not s[("minted", p.pid, p.next_seq + 1)]
        for (pid, seq), m in self.mints.items():
            assert s[("reversed", pid, seq)] == m.reversed <= m.points
        # every duplicate sent produced its PurchaseSkipped event (and, checked in the rule, no mint)
        assert self.skips_emitted == self.skips_expected
        # a redemption nonce is used exactly when its signed redemption went through
        for customer, nonce in self.nonces_tried:
            assert s[("nonce", customer, nonce)] == (nonce in self.nonces_used[customer])

    @invariant()
    def settled_periods_sum_to_zero_and_clearing_holds_every_fund(self) -> None:
        s = self.chain_state()
        assert s["next period"] == len(self.settlements) + 1
        assert s["settled through"] == self.settled_through
        for period in self.settlements:
            assert sum(period.nets) + period.operator_net == 0, f"period {period.period_id} does not sum to zero"
            from_block, to_block, statement_hash, operator_net = s[("period", period.period_id)]
            assert (from_block, to_block, bytes(statement_hash), operator_net) == (
                period.from_block,
                period.to_block,
                period.statement_hash,
                period.operator_net,
            )
        funds = sum(s[("funds", p.pid)] for p in self.partners)
        assert s["clearing balance"] == funds + s["operator funds"]
        assert s["clearing balance"] == self.clearing_balance
        assert s["operator funds"] == self.operator_funds
        self.w.stats["invariant checks"] += 1


def test_coalition_invariants_hold_under_random_operations(world):
    chain.snapshot()  # the coalition as the fixtures set it up; every example reverts to it
    CoalitionMachine.world = world
    world.stats.clear()
    run_state_machine_as_test(
        CoalitionMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
            # no target phase: with a database, it spends the budget shrinking the examples of its
            # "pareto front" (short runs, most of them overrun) instead of generating new ones
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        ),
    )
    stats = world.stats
    print("\n" + "\n".join(f"  {k}: {v}" for k, v in sorted(stats.items())))
    # the runs reached what they are about (guards against strategies that silently stop reaching it)
    for case in (
        "earn minted",
        "earn minted, duplicates skipped",
        "earn of duplicates only",
        "revert ClearingIssuanceOverFunds",
        "revert ClearingIssuanceOverLimit",
        "revert PartnerRegistryNotActive",
        "redeem ok",
        "redeem with signature ok",
        "revert CoalitionPointsNonceUsed",
        "reverse, partial",
        "reverse, full",
        "revert CoalitionPointsReversalExceedsPurchase",
        "settle, with lines",
        "withdraw ok",
    ):
        assert stats[case] > 0, f"never reached: {case}"
