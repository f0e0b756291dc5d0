"""Stateful property test of the whole coalition: points, registry and clearing together.

A hypothesis ``RuleBasedStateMachine`` drives random sequences of earns (single and batch, with
duplicate references), redemptions (the customer's own transaction and EIP-712 signatures),
refund clawbacks proven with Merkle proofs, suspensions, re-rates, deposits, withdrawals and
period settlements, against a Python model of the coalition (coalition_model.py). Each rule has
the model predict its exact outcome before it touches the chain (which custom error with which
arguments, or which events), and after every step the invariants compare the model with the chain.

brownie's own ``state_machine`` fixture is broken in brownie 1.22's compiled wheel, so the
machine runs through ``hypothesis.stateful.run_state_machine_as_test``; each example starts by
reverting the chain to the snapshot taken after the module fixtures set the coalition up.
A predicted revert is checked with ``eth_call`` (``fn.call``), which fails with the same custom
error as a transaction would, without mining a block; the invariants read the chain in one
JSON-RPC batch per step.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from brownie import accounts, chain, web3
from coalition_model import CUSTOMERS, PARTNERS, CoalitionModel, Failure, PartnerModel, Settlement
from eth_utils import keccak
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from network.purchases import merkle_proof, merkle_root
from network.signatures import RedeemConsent, sign_redeem
from scripts.onboarding import USD

EXAMPLES = 200
STEPS = 20

TREASURY_RESERVE = 10**6 * USD  # minted to each treasury (and approved to Clearing) for top-ups
PRICES = (4_000, 10_000, 25_000)  # what a re-rate picks from
RATES = (0, 3_000, 8_000, 30_000)


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


# ------------------------------------------------------------------------------------------ machine


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
signature_st = cases(("valid", 6), ("other signer", 1), ("expired", 1), ("replayed nonce", 3))
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
        self.model = CoalitionModel(
            pids=w.pids,
            minters=w.minters,
            treasuries=w.treasuries,
            customers=[c.address for c in w.customers],
            next_batch_id=w.next_batch_id,
            operator_funds=w.operator_funds,
            clearing_balance=w.clearing_balance,
            settled_through=w.settled_through,
        )
        self.partners = self.model.partners
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

    # ------------------------------------------------------------------------------ earn

    def _earn(self, p: PartnerModel, items: list[tuple], single: bool) -> None:
        plan = self.model.plan_earn(p, items)
        fn, arg = (self.c.points.earn, plan.words[0]) if single else (self.c.points.earnBatch, plan.words)
        if plan.failure:
            return self._reverts(fn, arg, sender=p.minter, failure=plan.failure)

        tx = self._send(fn, arg, sender=p.minter)
        skipped = [(e["partnerId"], e["seq"], e["customer"], e["points"]) for e in self._events(tx, "PurchaseSkipped")]
        assert skipped == plan.dups, "every duplicate, and only they, is skipped with a PurchaseSkipped event"
        self.model.record_skips(plan, skipped)
        self.w.stats["purchases skipped"] += len(plan.dups)
        mints = [(e["to"], e["value"]) for e in self._events(tx, "Transfer")]
        assert mints == [(n[1], n[3]) for n in plan.new], "a Transfer per new purchase, none for a duplicate"
        if not plan.new:
            assert "Earned" not in tx.events and "IssuanceReserved" not in tx.events
            self.w.stats["earn of duplicates only"] += 1
            return

        earned = tx.events["Earned"]
        minted_words = [bytes(w) for w in earned["purchases"]]
        assert (earned["partnerId"], earned["batchId"], earned["issuePrice"], earned["points"]) == (
            p.pid,
            self.model.next_batch_id,
            p.issue_price,
            plan.total,
        )
        assert minted_words == [n[0] for n in plan.new]
        assert bytes(earned["root"]) == merkle_root(minted_words)
        reserved = tx.events["IssuanceReserved"]
        assert (reserved["value"], reserved["exposure"]) == (plan.total * p.issue_price, plan.exposure)
        self.model.record_earn(p, plan, minted_words)
        self.w.stats["earn minted"] += 1
        self.w.stats["earn minted, duplicates skipped"] += bool(plan.dups)

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

    def _redeemed(self, tx: Any, customer: str, p: PartnerModel, amount: int, ref: bytes) -> None:
        e = tx.events["Redeemed"]
        assert (e["partnerId"], e["customer"], bytes(e["ref"]), e["points"], e["reimbursementRate"]) == (
            p.pid,
            customer,
            ref,
            amount,
            p.rate,
        )
        self.model.record_redeem(customer, p, amount)

    @rule(cust=customer_st, partner=partner_st, case=amount_st, pick=pick_st)
    def redeem(self, cust: int, partner: int, case: str, pick: int) -> None:
        """A customer burns its own points at a partner, in its own transaction."""
        self._step("redeem")
        account, p = self.w.customers[self.model.holder(cust)], self.partners[partner]
        amount = self.model.amount(self.model.balances[account.address], case, pick)
        args = (p.pid, amount, self._ref())
        failure = self.model.redeem_failure(account.address, p, amount)
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
        model, p = self.model, self.partners[partner]
        who = model.holder(cust)
        customer = self.w.customers[who].address
        amount = model.amount(model.balances[customer], case, pick)
        signer, deadline, nonce = model.consent(who, signature, nonce, pick)
        ref = self._ref()
        consent = RedeemConsent(customer, p.pid, amount, ref, nonce, deadline)
        key = self.w.customers[signer].private_key
        sig = sign_redeem(key, consent, chain_id=self.chain_id, points_address=self.c.points.address)
        args = (customer, p.pid, amount, ref, nonce, deadline, sig)
        fn = self.c.points.redeemWithSignature
        model.nonces_tried.append((customer, nonce))
        failure = model.signed_redeem_failure(who, signer, p, amount, nonce, deadline)
        if failure:
            return self._reverts(fn, *args, sender=self.w.relayer, failure=failure)
        tx = self._send(fn, *args, sender=self.w.relayer)
        self._redeemed(tx, customer, p, amount, ref)
        model.nonces_used[customer].append(nonce)
        self.w.stats["redeem with signature ok"] += 1

    # ------------------------------------------------------------------------------ reverse

    @precondition(lambda self: self.model.mint_list)
    @rule(pick=pick_st, case=reversal_st, amount=pick_st, other=st.integers(1, len(PARTNERS) - 1))
    def reverse(self, pick: int, case: str, amount: int, other: int) -> None:
        """A partner claws back (part of) an earlier purchase, proven by its batch's Earned words."""
        self._step("reverse")
        plan = self.model.plan_reversal(pick, case, amount, other)
        m, owner, points = plan.mint, plan.owner, plan.points
        args = (m.batch_id, m.word, plan.price, merkle_proof(m.words, m.index), points)
        fn = self.c.points.reverse
        if plan.failure:
            return self._reverts(fn, *args, sender=plan.caller.minter, failure=plan.failure)

        tx = self._send(fn, *args, sender=plan.caller.minter)
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
        self.model.record_reversal(plan)
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
        self.model.record_status_change(p)

    @rule(partner=partner_st, price=st.sampled_from(PRICES), rate=st.sampled_from(RATES))
    def rerate(self, partner: int, price: int, rate: int) -> None:
        """New prices apply to new events only (the issuance limit stays)."""
        self._step("rerate")
        p = self.partners[partner]
        self._send(self.c.registry.rerate, p.pid, price, rate, p.limit, sender=self.c.operator)
        self.model.record_rerate(p, price, rate)

    # ------------------------------------------------------------------------------ clearing

    @rule(partner=partner_st, amount=st.integers(1, 30 * USD))
    def deposit(self, partner: int, amount: int) -> None:
        """The treasury adds to the partner's funds."""
        self._step("deposit")
        p = self.partners[partner]
        tx = self._send(self.c.clearing.deposit, p.pid, amount, sender=p.treasury)
        assert (tx.events["Deposited"]["partnerId"], tx.events["Deposited"]["amount"]) == (p.pid, amount)
        self.model.record_deposit(p, amount)

    @rule(partner=partner_st, case=withdrawal_st, pick=st.integers(0, 10 * USD))
    def withdraw(self, partner: int, case: str, pick: int) -> None:
        """The treasury takes out free funds; the funds backing unsettled issuance stay."""
        self._step("withdraw")
        p = self.partners[partner]
        amount, failure = self.model.withdrawal(p, case, pick)
        fn = self.c.clearing.withdraw
        if failure:
            return self._reverts(fn, p.pid, amount, sender=p.treasury, failure=failure)
        tx = self._send(fn, p.pid, amount, sender=p.treasury)
        assert (tx.events["Withdrawn"]["partnerId"], tx.events["Withdrawn"]["amount"]) == (p.pid, amount)
        self.model.record_withdrawal(p, amount)
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
        period_id, from_block, lines = self.model.statement()
        to_block = web3.eth.block_number  # settle runs in the next block, so toBlock < block.number
        assert self._statement_from_logs(from_block, to_block) == lines, "the statement is what the events say"
        statement_hash = self.model.statement_hash(period_id, lines)
        args = (period_id, from_block, to_block, statement_hash, lines)
        failure, operator_net = self.model.settle_outcome(lines)
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
        settlement = Settlement(
            period_id, from_block, to_block, statement_hash, [s[4] for s in settled], e["operatorNet"]
        )
        self.model.record_settlement(settlement, lines, operator_net)
        stats = self.w.stats
        stats["settle, with lines" if lines else "settle, empty period"] += 1
        stats["settle, a line with negative issuance"] += any(issued < 0 for _, issued, _ in lines)
        stats["settle, operator pays"] += operator_net < 0

    # ------------------------------------------------------------------------------ invariants

    def chain_state(self) -> dict:
        """Everything the invariants compare, read in one batch (once per step)."""
        if self._read_version == self.version:
            return self._read
        c, model = self.c, self.model
        calls, keys = [], []

        def add(key: Any, fn: Any, *args: Any) -> None:
            keys.append(key)
            calls.append((fn, args))

        add("supply", c.points.totalSupply)
        add("next batch", c.points.nextBatchId)
        for a in model.balances:
            add(("balance", a), c.points.balanceOf, a)
        for p in model.partners:
            add(("exposure", p.pid), c.clearing.exposureOf, p.pid)
            add(("funds", p.pid), c.clearing.fundsOf, p.pid)
            add(("partner", p.pid), c.registry.partner, p.pid)
            add(("minted", p.pid, p.next_seq + 1), c.points.isMinted, p.pid, p.next_seq + 1)  # never sent
        add("operator funds", c.clearing.operatorFunds)
        add("clearing balance", c.token.balanceOf, c.clearing.address)
        add("next period", c.clearing.nextPeriodId)
        add("settled through", c.clearing.settledThroughBlock)
        for pid, seq in model.seen:
            add(("minted", pid, seq), c.points.isMinted, pid, seq)
        for pid, seq in model.mints:
            add(("reversed", pid, seq), c.points.reversedPoints, pid, seq)
        for s in model.settlements:
            add(("period", s.period_id), c.clearing.period, s.period_id)
        for customer, nonce in model.nonces_tried:
            add(("nonce", customer, nonce), c.points.redeemNonceUsed, customer, nonce)
        self._read = dict(zip(keys, self.reader.read(calls), strict=True))
        self._read_version = self.version
        return self._read

    @invariant()
    def supply_is_the_balances_and_earned_minus_redeemed_minus_reversed(self) -> None:
        s, model = self.chain_state(), self.model
        balances = {a: s[("balance", a)] for a in model.balances}
        assert balances == model.balances
        assert s["supply"] == sum(balances.values()) == model.supply

    @invariant()
    def no_partner_is_above_its_bound(self) -> None:
        s = self.chain_state()
        for p in self.model.partners:
            exposure, funds, info = s[("exposure", p.pid)], s[("funds", p.pid)], s[("partner", p.pid)]
            status, issue_price, rate, limit = info[1], info[3], info[4], info[5]
            if exposure > 0:
                assert exposure <= min(funds, limit), f"partner {p.pid} issued beyond its funds or limit"
            assert exposure == p.exposure, f"partner {p.pid}: exposure is not the unsettled issuance value"
            assert funds == p.funds
            assert (status, issue_price, rate, limit) == p.registry_entry

    @invariant()
    def no_reference_is_minted_twice(self) -> None:
        s, model = self.chain_state(), self.model
        assert s["next batch"] == model.next_batch_id
        for pid, seq in model.seen:  # minted, skipped as duplicates, or only in reverted earns
            assert s[("minted", pid, seq)] == ((pid, seq) in model.mints), f"isMinted({pid}, {seq})"
            # what the Earned events minted for the reference: the points of its first mint, once
            assert model.chain_minted[(pid, seq)] == model.minted_points(pid, seq), f"({pid}, {seq}) minted twice"
        for p in model.partners:
            assert not s[("minted", p.pid, p.next_seq + 1)]
        for (pid, seq), m in model.mints.items():
            assert s[("reversed", pid, seq)] == m.reversed <= m.points
        # every duplicate sent produced its PurchaseSkipped event (and, checked in the rule, no mint)
        assert model.skips_emitted == model.skips_expected
        # a redemption nonce is used exactly when its signed redemption went through
        for customer, nonce in model.nonces_tried:
            assert s[("nonce", customer, nonce)] == model.nonce_used(customer, nonce)

    @invariant()
    def settled_periods_sum_to_zero_and_clearing_holds_every_fund(self) -> None:
        s, model = self.chain_state(), self.model
        assert s["next period"] == len(model.settlements) + 1
        assert s["settled through"] == model.settled_through
        for period in model.settlements:
            assert sum(period.nets) + period.operator_net == 0, f"period {period.period_id} does not sum to zero"
            from_block, to_block, statement_hash, operator_net = s[("period", period.period_id)]
            assert (from_block, to_block, bytes(statement_hash), operator_net) == (
                period.from_block,
                period.to_block,
                period.statement_hash,
                period.operator_net,
            )
        funds = sum(s[("funds", p.pid)] for p in model.partners)
        assert s["clearing balance"] == funds + s["operator funds"]
        assert s["clearing balance"] == model.clearing_balance
        assert s["operator funds"] == model.operator_funds
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
