"""Stateful property test of the whole coalition: points, registry and clearing together.

A hypothesis ``RuleBasedStateMachine`` drives random sequences of earns (single and batch, with
duplicate references), redemptions (the customer's own transaction and EIP-712 signatures),
till captures (signed redemptions that their partner may restore) and their restorations after a
refund (never more than the capture burned, at the capture's rate), refund clawbacks proven with
Merkle proofs (within and after their batch's refund deadline),
suspensions, issuance limits, re-rates and treasury and minter changes (scheduled by the operator
and applied after the notice, or made at once by the partner's treasury), notice periods, refund
windows, time travel, deposits, withdrawals, period settlements (through the last block or an
earlier one) and a thief's attempts to mint all that a minter key can, against a Python model of
the coalition (coalition_model.py). Each rule has the model predict its exact outcome before it
touches the chain (which custom error with which arguments, or which events), and after every
step the invariants compare the model with the chain. The one the issue asks for: what one key can
take out of the system never exceeds the partner's free funds (a minter key can issue at most its
headroom, and headroom plus exposure never exceed the funds; a reversal frees neither headroom nor
funds; no partner can make a settlement revert).

Transfers between customers, sweeps of expired points and expiry windows (scheduled by the operator,
applied after their notice) are steps too, and expiry has invariants of its own: the supply is the
sum of the balances after any sequence of steps and clock moves; no point expires before its holder's expiry
time (every ``Expired`` event's ``expiresAt`` is before its block's time, and the model, which
expires nothing early, predicts every one of them); a sweep burns exactly what is due; no step
(an expiry window's change included) ever moves a holder's expiry time earlier, except to zero when
its points expired.

brownie's own ``state_machine`` fixture is broken in brownie 1.22's compiled wheel, so the
machine runs through ``hypothesis.stateful.run_state_machine_as_test``; each example starts by
reverting the chain to the snapshot taken after the module fixtures set the coalition up and
seeded it (each partner issued a batch, and a period settled them: settled purchases that a
stolen key may try to reverse), and from a copy of the model taken then. A predicted revert is
checked with ``eth_call`` (``fn.call``), which fails with the same custom error as a transaction
would, without mining a block, at the latest block's time; the invariants read the chain in one
JSON-RPC batch per step.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from brownie import ZERO_ADDRESS, accounts, chain, web3
from coalition_model import (
    CUSTOMERS,
    DAY,
    EXPIRY_NOTICE,
    EXPIRY_WINDOW,
    MAX_EXPIRY_WINDOW,
    MAX_NOTICE,
    MAX_REFUND_WINDOW,
    MIN_EXPIRY_WINDOW,
    MIN_NOTICE,
    MIN_REFUND_WINDOW,
    PARTNERS,
    CoalitionModel,
    Failure,
    PartnerModel,
    Scheduled,
    Settlement,
)
from eth_utils import keccak
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from network.purchases import encode_purchase, merkle_proof, merkle_root
from network.signatures import RedeemConsent, sign_redeem
from scripts.onboarding import USD

EXAMPLES = 200
STEPS = 20

TREASURY_RESERVE = 10**6 * USD  # minted to each treasury (and approved to Clearing) for top-ups
PRICES = (4_000, 10_000, 25_000)  # what a re-rate picks from
RATES = (0, 3_000, 8_000, 30_000)
# a transaction may run a little after the latest block's time (where eth_call runs): a reversal
# predicted to pass is not sent this close to its batch's refund deadline
DEADLINE_MARGIN = 600
KINDS = ("rerate", "treasury", "minter")  # the changes the operator schedules


# ------------------------------------------------------------------------------------------ setup


@dataclass
class World:
    """What the machine works with: set up once per module, before the snapshot."""

    coalition: Any
    reverts_with: Any
    minters: list
    treasuries: list
    spare_minters: list  # keys a partner's minter may be rotated to
    spare_treasuries: list
    customers: list
    relayer: Any
    model: CoalitionModel  # the coalition at the snapshot, which every example starts from
    stats: Counter = field(default_factory=Counter)  # what the runs reached, over all examples

    def fresh_model(self) -> CoalitionModel:
        """A copy of the model at the snapshot (the accounts it holds are shared, not copied)."""
        keep = self.minters + self.treasuries + self.spare_minters + self.spare_treasuries
        return copy.deepcopy(self.model, memo={id(a): a for a in keep})


def seed(c: Any, model: CoalitionModel) -> None:
    """Each partner issues a batch of purchases, one per customer, and a period settles them: every
    example starts with settled purchases that a (stolen) minter key may try to reverse."""
    for p in model.partners:
        plan = model.plan_earn(p, [(i, "next", 0, 40 + 20 * i) for i in range(CUSTOMERS)])
        tx = c.points.earnBatch(plan.words, {"from": p.minter})
        minted = [bytes(w) for w in tx.events["Earned"]["purchases"]]
        assert not model.record_earn(p, plan, minted, tx.block_number, tx.timestamp)
    to_block = chain.height
    period_id, from_block, lines = model.statement(to_block)
    statement_hash = model.statement_hash(period_id, lines)
    tx = c.clearing.settle(period_id, from_block, to_block, statement_hash, lines, {"from": c.operator})
    nets = [e["net"] for e in tx.events["PartnerSettled"]]
    _, operator_net = model.settle_outcome(lines)
    model.record_settlement(
        Settlement(period_id, from_block, to_block, statement_hash, nets, operator_net), operator_net
    )


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
    spare_minters, spare_treasuries = [accounts[11], accounts[12]], [accounts[13]]
    pids = [make_partner(m, t, **cfg) for m, t, cfg in zip(minters, treasuries, PARTNERS, strict=True)]
    c = coalition
    for t in treasuries + spare_treasuries:
        c.token.mint(t, TREASURY_RESERVE, {"from": c.admin})
        c.token.approve(c.clearing, 2**256 - 1, {"from": t})
    # customers sign redemptions, so they are local keys (fixed ones, so that examples replay alike)
    customers = [accounts.add(keccak(b"coalition-invariants-customer-%d" % i)) for i in range(CUSTOMERS)]
    for customer in customers:
        accounts[0].transfer(customer, 10**18)  # gas for their own redeem transactions
    model = CoalitionModel(
        pids=pids,
        minters=minters,
        treasuries=treasuries,
        spare_minters=spare_minters,
        spare_treasuries=spare_treasuries,
        customers=[c.address for c in customers],
        next_batch_id=c.points.nextBatchId(),
        operator_funds=c.clearing.operatorFunds(),
        clearing_balance=c.token.balanceOf(c.clearing),
        settled_through=c.clearing.settledThroughBlock(),
    )
    seed(c, model)
    return World(
        coalition=c,
        reverts_with=reverts_with,
        minters=minters,
        treasuries=treasuries,
        spare_minters=spare_minters,
        spare_treasuries=spare_treasuries,
        customers=customers,
        relayer=accounts[6],
        model=model,
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

    def request(self, method: str, params: list) -> Any:
        """One raw JSON-RPC request (brownie's own helpers snapshot the chain on every time travel)."""
        payload = {"jsonrpc": "2.0", "id": 0, "method": method, "params": params}
        reply = self.session.post(self.uri, json=payload, timeout=60).json()
        assert "error" not in reply, f"{method}{params}: {reply['error']}"
        return reply["result"]

    def now(self) -> int:
        """The latest block's time: the time at which eth_call runs."""
        return int(self.request("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def travel(self, seconds: int) -> None:
        """Moves the chain's clock forward and mines a block at the new time."""
        self.request("evm_increaseTime", [seconds])
        self.request("evm_mine", [])

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
path_st = cases(("redeem", 2), ("till capture", 2), ("till capture, a ref captured before", 1))
restore_st = cases(
    ("partial", 4),
    ("rest", 2),
    ("more than left", 1),
    ("zero", 1),
    ("by another partner", 1),
    ("by a key of no partner", 1),
    ("never captured", 1),
)
reversal_st = cases(
    ("partial", 4),
    ("rest", 2),
    ("more than left", 1),
    ("by another partner", 1),
    ("by a key of no partner", 2),
    ("other price", 1),
)
withdrawal_st = cases(("some", 2), ("all free", 1), ("more than free", 1), ("by the operator", 1))
operator_st = cases(
    ("limit as onboarded", 2),
    ("suspend or reactivate", 2),
    ("limit below the exposure", 1),
    ("limit at the exposure", 1),
    ("limit of one cUSD", 1),
)
# the clock moves by a notice period, past the default refund window, a day, past any refund window,
# or past the default expiry window
travel_st = st.sampled_from((8 * DAY, 130 * DAY, 130 * DAY, DAY, 400 * DAY, EXPIRY_WINDOW + DAY))
notice_st = st.sampled_from((DAY, 30 * DAY, 3 * DAY, 7 * DAY, MIN_NOTICE - 1, MAX_NOTICE + 1))
window_st = st.sampled_from((14 * DAY, 120 * DAY, 365 * DAY, 30 * DAY, MIN_REFUND_WINDOW - 1, MAX_REFUND_WINDOW + 1))
expiry_window_st = st.sampled_from(
    (30 * DAY, 200 * DAY, EXPIRY_WINDOW, MAX_EXPIRY_WINDOW, MIN_EXPIRY_WINDOW - 1, MAX_EXPIRY_WINDOW + 1)
)


class CoalitionMachine(RuleBasedStateMachine):
    world: World  # set by the test before it runs the machine

    def __init__(self) -> None:
        super().__init__()
        chain.revert()  # back to the coalition as the module fixtures set it up and seeded it (and re-snapshot)
        w = self.w = self.world
        self.c = w.coalition
        self.reader = ChainReader()
        self.chain_id = chain.id
        self.model = w.fresh_model()
        self.partners = self.model.partners
        self.refs = 0
        self.version = 0  # bumped by every step: the invariants' chain reads are cached per step
        self._read_version = -1
        self._read: dict = {}
        self.chain_expirations: list[tuple[str, int, int]] = []  # every Expired event, in order
        self.expiry_floor = dict(self.model.expires_at)  # each holder's expiry time when last read
        self.expiries_seen: Counter = Counter()  # each holder's Expired events when last read
        w.stats["runs"] += 1

    # ------------------------------------------------------------------------------ helpers

    def _step(self, name: str) -> None:
        self.version += 1
        self.w.stats["steps"] += 1
        self.w.stats[f"rule {name}"] += 1

    def _send(self, fn: Any, *args: Any, sender: Any) -> Any:
        """Sends a transaction; keeps its Expired events, each checked against its block's time and
        the burn (a Transfer to the zero address) just before it."""
        tx = fn(*args, {"from": sender, "_skip_undo": True}, silent=True)
        logs = [(e.name, dict(e)) for e in tx.events if e.name in ("Transfer", "Expired")]
        for i, (name, e) in enumerate(logs):
            if name == "Expired":
                assert e["expiresAt"] < tx.timestamp, "points expired before their holder's expiry time"
                assert logs[i - 1] == ("Transfer", {"from": e["holder"], "to": ZERO_ADDRESS, "value": e["points"]})
                self.chain_expirations.append((e["holder"], e["points"], e["expiresAt"]))
        return tx

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

    def _bounds(self, p: PartnerModel) -> tuple[int, int, int, int]:
        """(exposureOf, pendingCreditOf, headroomOf, freeFundsOf) of a partner, in one round trip."""
        clearing = self.c.clearing
        calls = [(fn, (p.pid,)) for fn in (clearing.exposureOf, clearing.pendingCreditOf, clearing.headroomOf)]
        return tuple(self.reader.read([*calls, (clearing.freeFundsOf, (p.pid,))]))

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
        mints = [(e["to"], e["value"]) for e in self._events(tx, "Transfer") if e["from"] == ZERO_ADDRESS]
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
        expiries = self.model.record_earn(p, plan, minted_words, tx.block_number, tx.timestamp)
        assert self.chain_expirations[len(self.chain_expirations) - len(expiries) :] == expiries
        self.w.stats["earn minted, expired points burned first"] += bool(expiries)
        self.w.stats["earn minted"] += 1
        self.w.stats["earn minted, duplicates skipped"] += bool(plan.dups)
        self.w.stats["earn minted, with a pending credit"] += p.pending > 0

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

    def _redeemed(
        self, tx: Any, customer: str, p: PartnerModel, amount: int, ref: bytes, capture: bool = False
    ) -> None:
        e = tx.events["Redeemed"]
        assert (e["partnerId"], e["customer"], bytes(e["ref"]), e["points"], e["reimbursementRate"]) == (
            p.pid,
            customer,
            ref,
            amount,
            p.rate,
        )
        if capture:
            self.model.record_capture(customer, p, amount, ref, tx.block_number, tx.timestamp)
        else:
            self.model.record_redeem(customer, p, amount, tx.block_number, tx.timestamp)

    def _expiring(self, holder: str, now: int) -> bool:
        """Whether a step that spends the holder's points must not be sent now (see EXPIRY_MARGIN)."""
        if self.model.near_expiry(holder, now):
            self.w.stats["skipped, at its holder's expiry"] += 1
            return True
        return False

    @rule(cust=customer_st, partner=partner_st, case=amount_st, pick=pick_st)
    def redeem(self, cust: int, partner: int, case: str, pick: int) -> None:
        """A customer burns its own points at a partner, in its own transaction."""
        self._step("redeem")
        account, p = self.w.customers[self.model.holder(cust)], self.partners[partner]
        amount = self.model.amount(self.model.balances[account.address], case, pick)
        args = (p.pid, amount, self._ref())
        now = self.reader.now()
        failure = self.model.redeem_failure(account.address, p, amount, now)
        if failure:
            self.w.stats["revert, expired points redeemed"] += self.model.due(account.address, now) > 0
            return self._reverts(self.c.points.redeem, *args, sender=account, failure=failure)
        if self._expiring(account.address, now):
            return None
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
        path=path_st,
    )
    def redeem_with_signature(
        self, cust: int, partner: int, case: str, pick: int, signature: str, nonce: int, path: str
    ) -> None:
        """A relayer burns a customer's points with the customer's EIP-712 consent: a redemption, or a
        till capture (restorable; one per partner, customer and ref)."""
        self._step("redeem_with_signature")
        model, p = self.model, self.partners[partner]
        who = model.holder(cust)
        customer = self.w.customers[who].address
        amount = model.amount(model.balances[customer], case, pick)
        signer, deadline, nonce = model.consent(who, signature, nonce, pick)
        ref = self._ref()
        earlier = [c.ref for c in model.capture_list if (c.pid, c.customer) == (p.pid, customer)]
        if path == "till capture, a ref captured before" and earlier:
            ref = earlier[pick % len(earlier)]
        consent = RedeemConsent(customer, p.pid, amount, ref, nonce, deadline)
        key = self.w.customers[signer].private_key
        sig = sign_redeem(key, consent, chain_id=self.chain_id, points_address=self.c.points.address)
        args = (customer, p.pid, amount, ref, nonce, deadline, sig)
        model.nonces_tried.append((customer, nonce))
        now = self.reader.now()
        if path == "redeem":
            fn = self.c.points.redeemWithSignature
            failure = model.signed_redeem_failure(who, signer, p, amount, nonce, deadline, now)
        else:
            fn = self.c.points.captureWithSignature
            failure = model.capture_failure(who, signer, p, amount, nonce, deadline, ref, now)
        if failure:
            return self._reverts(fn, *args, sender=self.w.relayer, failure=failure)
        if self._expiring(customer, now):
            return None
        tx = self._send(fn, *args, sender=self.w.relayer)
        self._redeemed(tx, customer, p, amount, ref, capture=path != "redeem")
        model.nonces_used[customer].append(nonce)
        self.w.stats["redeem with signature ok" if path == "redeem" else "till capture ok"] += 1
        return None

    # ------------------------------------------------------------------------------ restore

    @precondition(lambda self: self.model.capture_list)
    @rule(pick=pick_st, case=restore_st, amount=pick_st, other=st.integers(1, len(PARTNERS) - 1))
    def restore(self, pick: int, case: str, amount: int, other: int) -> None:
        """A key mints back (part of) a till capture after a refund: never more than the capture
        burned, at the capture's own rate, reserved against the partner's funds like issuance."""
        self._step("restore")
        plan = self.model.plan_restore(pick, case, amount, other, self._ref())
        c, owner = plan.capture, plan.owner
        refund_ref = self._ref()
        args = (plan.ref, c.customer, plan.points, refund_ref)
        fn = self.c.points.restore
        if plan.failure:
            return self._reverts(fn, *args, sender=plan.caller, failure=plan.failure)
        tx = self._send(fn, *args, sender=plan.caller)
        e = tx.events["Restored"]
        assert (
            e["partnerId"],
            e["customer"],
            bytes(e["ref"]),
            bytes(e["refundRef"]),
            e["points"],
            e["reimbursementRate"],
        ) == (c.pid, c.customer, c.ref, refund_ref, plan.points, c.rate)
        reserved = tx.events["IssuanceReserved"]
        value = plan.points * c.rate  # at the capture's rate, whatever the rate is now
        assert (reserved["value"], reserved["exposure"]) == (value, owner.exposure + value)
        assert [(t["from"], t["to"], t["value"]) for t in tx.events["Transfer"] if t["from"] == ZERO_ADDRESS] == [
            (ZERO_ADDRESS, c.customer, plan.points)
        ]
        expiries = self.model.record_restore(plan, tx.block_number, tx.timestamp)
        assert self.chain_expirations[len(self.chain_expirations) - len(expiries) :] == expiries
        stats = self.w.stats
        stats["restore, full" if c.restored == c.points else "restore, partial"] += 1
        stats["restore, at a rate since re-rated"] += c.rate != owner.rate
        return None

    # ------------------------------------------------------------------------------ reverse

    @precondition(lambda self: self.model.mint_list)
    @rule(pick=pick_st, case=reversal_st, amount=pick_st, other=st.integers(1, len(PARTNERS) - 1))
    def reverse(self, pick: int, case: str, amount: int, other: int) -> None:
        """A key claws back (part of) an earlier purchase, proven by its batch's Earned words."""
        self._step("reverse")
        now = self.reader.now()
        plan = self.model.plan_reversal(pick, case, amount, other, now)
        m, owner, points = plan.mint, plan.owner, plan.points
        args = (m.batch_id, m.word, plan.price, merkle_proof(m.words, m.index), points)
        fn = self.c.points.reverse
        if plan.failure:
            return self._reverts(fn, *args, sender=plan.caller, failure=plan.failure)
        if m.refund_deadline - now < DEADLINE_MARGIN:  # the transaction might run after the deadline
            self.w.stats["reverse skipped, at its deadline"] += 1
            return None
        if self._expiring(m.customer, now):
            return None

        before = self._bounds(owner)
        tx = self._send(fn, *args, sender=plan.caller)
        e = tx.events["Reversed"]
        assert (e["partnerId"], e["customer"], e["batchId"], e["seq"], e["points"], e["issuePrice"]) == (
            m.pid,
            m.customer,
            m.batch_id,
            m.seq,
            points,
            m.issue_price,
        )
        recorded = tx.events["ReversalRecorded"]
        value = points * m.issue_price  # at the price it was issued at, whatever the price is now
        assert (recorded["partnerId"], recorded["value"], recorded["pendingCredit"]) == (
            m.pid,
            value,
            owner.pending + value,
        )
        exposure, pending, headroom, free = self._bounds(owner)
        assert (exposure, pending) == (before[0], before[1] + value), "a reversal is a pending credit"
        assert (headroom, free) == before[2:], "a reversal frees neither headroom nor funds"
        stats = self.w.stats
        stats["reverse, of a settled purchase"] += m.block <= self.model.settled_through
        self.model.record_reversal(plan, tx.block_number, tx.timestamp)
        stats["reverse, full" if m.reversed == m.points else "reverse, partial"] += 1
        stats["reverse, at a price since re-rated"] += m.issue_price != owner.issue_price
        return None

    # ------------------------------------------------------------------------------ a thief with a minter key

    @rule(partner=partner_st)
    def thief_mints_all_it_can(self, partner: int) -> None:
        """Whoever holds a partner's minter key can mint its headroom's worth of points, and not one
        point more, whatever was reversed, settled or withdrawn before (eth_call: nothing is minted)."""
        self._step("thief_mints_all_it_can")
        p, earn = self.partners[partner], self.c.points.earn
        can = p.headroom // p.issue_price
        word = encode_purchase(self.model.customers[0], p.next_seq + 1, can + 1)  # a seq never sent
        failure = self.model.issue_failure(p, can + 1)
        assert failure is not None, "one point beyond the headroom must not be minted"
        self._reverts(earn, word, sender=p.minter, failure=failure)
        if p.active and can:
            word = encode_purchase(self.model.customers[0], p.next_seq + 1, can)
            assert earn.call(word, {"from": p.minter}) == self.model.next_batch_id
            self.w.stats["thief mints exactly its headroom"] += 1
        stale = self.model.free_minter(partner)  # e.g. a key rotated out: it mints nothing
        self._reverts(earn, word, sender=stale, failure=("PartnerRegistryUnknownMinter", (stale,)))

    # ------------------------------------------------------------------------------ registry

    @rule(partner=partner_st, case=operator_st)
    def operator_acts_at_once(self, partner: int, case: str) -> None:
        """The operator suspends an active partner or reactivates a suspended one, or sets its
        issuance limit: at once, since each only stops or bounds new issuance."""
        self._step("operator_acts_at_once")
        p = self.partners[partner]
        registry, operator = self.c.registry, self.c.operator
        if case == "suspend or reactivate":
            if p.active:
                tx = self._send(registry.suspend, p.pid, sender=operator)
                assert tx.events["PartnerSuspended"]["partnerId"] == p.pid
            else:
                tx = self._send(registry.reactivate, p.pid, sender=operator)
                assert tx.events["PartnerReactivated"]["partnerId"] == p.pid
            return self.model.record_status_change(p)
        limit = {
            "limit as onboarded": PARTNERS[p.index]["issuance_limit"],
            "limit below the exposure": max(p.exposure - 1, 0),
            "limit at the exposure": p.exposure,
            "limit of one cUSD": USD,
        }[case]
        tx = self._send(registry.setIssuanceLimit, p.pid, limit, sender=operator)
        e = tx.events["PartnerRerated"]
        assert (e["partnerId"], e["issuePrice"], e["reimbursementRate"], e["issuanceLimit"]) == (
            p.pid,
            p.issue_price,
            p.rate,
            limit,
        )
        p.limit = limit
        return None

    @rule(
        partner=partner_st,
        kind=cases(("rerate", 2), ("treasury", 2), ("minter", 2), ("cancel", 1)),
        price=st.sampled_from(PRICES),
        rate=st.sampled_from(RATES),
        pick=pick_st,
    )
    def schedule_change(self, partner: int, kind: str, price: int, rate: int, pick: int) -> None:
        """The operator schedules new prices, a new treasury or a new minter key for a partner, or
        cancels every change scheduled for it."""
        self._step("schedule_change")
        p, model, registry = self.partners[partner], self.model, self.c.registry
        if kind == "cancel":
            tx = self._send(registry.cancelScheduled, p.pid, sender=self.c.operator)
            assert tx.events["PartnerChangesCancelled"]["partnerId"] == p.pid
            return model.record_cancelled(p)
        if kind == "rerate":
            fn, value, args = registry.scheduleRerate, (price, rate), (price, rate)
        elif kind == "treasury":
            fn, value = registry.scheduleTreasury, model.treasury_keys[pick % len(model.treasury_keys)]
            args = (value,)
        else:  # mostly a free key, sometimes another partner's
            fn = registry.scheduleMinter
            value = model.partners[pick % len(PARTNERS)].minter if pick % 4 == 0 else model.free_minter(pick)
            args = (value,)
        failure = model.schedule_failure(kind, value)
        if failure:
            return self._reverts(fn, p.pid, *args, sender=self.c.operator, failure=failure)
        tx = self._send(fn, p.pid, *args, sender=self.c.operator)
        effective_at = model.record_scheduled(p, kind, value, tx.timestamp)
        name = {"rerate": "PartnerRerateScheduled", "treasury": "PartnerTreasuryChangeScheduled"}.get(
            kind, "PartnerMinterChangeScheduled"
        )
        assert tx.events[name]["effectiveAt"] == effective_at, "a change applies after the notice in force"
        self.w.stats[f"scheduled {kind}"] += 1
        return None

    @precondition(lambda self: any(p.scheduled(k) for p in self.partners for k in KINDS))
    @rule(
        partner=partner_st,
        kind=st.sampled_from(KINDS),
        case=cases(("a scheduled one, once due", 3), ("a scheduled one, now", 2), ("any", 1)),
        pick=pick_st,
    )
    def apply_change(self, partner: int, kind: str, case: str, pick: int) -> None:
        """Anyone applies a scheduled change: it goes through once the notice is over (the clock is
        moved there first in the "once due" case), not before."""
        self._step("apply_change")
        model = self.model
        scheduled = [(p, k) for p in model.partners for k in KINDS if p.scheduled(k)]
        p = self.partners[partner]
        if case != "any":
            p, kind = scheduled[pick % len(scheduled)]
        now = self.reader.now()
        if case == "a scheduled one, once due" and now < p.scheduled(kind).effective_at:
            self.reader.travel(p.scheduled(kind).effective_at - now)
            now = self.reader.now()
        registry = self.c.registry
        fn = {"rerate": registry.applyRerate, "treasury": registry.applyTreasury}.get(kind, registry.applyMinter)
        failure = model.apply_failure(p, kind, now)
        if failure:
            return self._reverts(fn, p.pid, sender=self.w.relayer, failure=failure)
        tx = self._send(fn, p.pid, sender=self.w.relayer)
        model.record_applied(p, kind)
        if kind == "rerate":
            e = tx.events["PartnerRerated"]
            assert (e["issuePrice"], e["reimbursementRate"]) == (p.issue_price, p.rate)
        elif kind == "treasury":
            assert tx.events["PartnerTreasuryChanged"]["newTreasury"] == p.treasury
        else:
            assert tx.events["PartnerMinterChanged"]["newMinter"] == p.minter
        self.w.stats[f"applied {kind}"] += 1
        return None

    @rule(
        partner=partner_st,
        kind=st.sampled_from(("minter", "treasury")),
        case=cases(("own", 4), ("operator", 1)),
        pick=pick_st,
    )
    def treasury_changes_at_once(self, partner: int, kind: str, case: str, pick: int) -> None:
        """The partner's treasury rotates its minter key or replaces itself, at once; no one else can."""
        self._step("treasury_changes_at_once")
        p, model, registry = self.partners[partner], self.model, self.c.registry
        sender = p.treasury if case == "own" else self.c.operator
        if kind == "treasury":
            fn, value = registry.setTreasury, model.treasury_keys[pick % len(model.treasury_keys)]
        else:
            fn = registry.setMinter
            value = model.partners[pick % len(PARTNERS)].minter if pick % 4 == 0 else model.free_minter(pick)
        failure = model.own_change_failure(p, kind, sender, value)
        if failure:
            return self._reverts(fn, p.pid, value, sender=sender, failure=failure)
        self._send(fn, p.pid, value, sender=sender)
        model.record_own_change(p, kind, value)
        self.w.stats[f"treasury changed its {kind}"] += 1
        return None

    @rule(which=st.sampled_from(("notice", "refund window")), notice=notice_st, window=window_st)
    def operator_sets_a_period(self, which: str, notice: int, window: int) -> None:
        """The operator sets the notice period (a longer one in force at once, a shorter one after the
        current notice) or the refund window of the batches minted from now on, within bounds."""
        self._step("operator_sets_a_period")
        model, operator = self.model, self.c.operator
        if which == "refund window":
            fn = self.c.points.setRefundWindow
            failure = model.refund_window_failure(window)
            if failure:
                return self._reverts(fn, window, sender=operator, failure=failure)
            tx = self._send(fn, window, sender=operator)
            assert tx.events["RefundWindowChanged"]["refundWindow"] == window
            model.refund_window = window
            return None
        fn = self.c.registry.setNoticePeriod
        failure = model.notice_failure(notice)
        if failure:
            return self._reverts(fn, notice, sender=operator, failure=failure)
        tx = self._send(fn, notice, sender=operator)
        effective_at = model.record_notice(notice, tx.timestamp)
        e = tx.events["NoticePeriodChanged"]
        assert (e["notice"], e["effectiveAt"]) == (notice, effective_at)
        self.w.stats["notice shortened, in force later" if effective_at > tx.timestamp else "notice set"] += 1
        return None

    @rule(seconds=travel_st)
    def time_passes(self, seconds: int) -> None:
        """Days go by: notices come due, refund windows close, points expire."""
        self._step("time_passes")
        self.reader.travel(seconds)

    # ------------------------------------------------------------------------------ transfers and expiry

    @rule(cust=customer_st, to=customer_st, case=amount_st, pick=pick_st)
    def transfer(self, cust: int, to: int, case: str, pick: int) -> None:
        """A customer sends points to another (or to itself): activity on both sides; points that
        expired are burned first, never sent."""
        self._step("transfer")
        model = self.model
        account = self.w.customers[model.holder(cust)]
        sender, recipient = account.address, model.customers[to]
        amount = model.amount(model.balances[sender], case, pick)
        now = self.reader.now()
        fn = self.c.points.transfer
        failure = model.spend_failure(sender, amount, now)
        if failure:
            self.w.stats["revert, expired points sent"] += model.due(sender, now) > 0
            return self._reverts(fn, recipient, amount, sender=account, failure=failure)
        if self._expiring(sender, now):
            return None
        tx = self._send(fn, recipient, amount, sender=account)
        expiries = model.transfer(sender, recipient, amount, tx.timestamp)
        assert self.chain_expirations[len(self.chain_expirations) - len(expiries) :] == expiries
        assert tx.events["Transfer"][-1] == {"from": sender, "to": recipient, "value": amount}
        self.w.stats["transfer, recipient's expired points burned first" if expiries else "transfer ok"] += 1
        return None

    @rule(picks=st.lists(st.integers(0, CUSTOMERS), min_size=1, max_size=6))
    def sweep(self, picks: list[int]) -> None:
        """Anyone sweeps a list of holders (repeats, and an address that holds nothing, included): it
        burns exactly the points that are due, and no others."""
        self._step("sweep")
        model = self.model
        holders = [model.customers[i] if i < CUSTOMERS else self.w.relayer.address for i in picks]
        tx = self._send(self.c.points.expire, holders, sender=self.w.relayer)
        expected = []
        for holder in holders:
            if holder in model.balances:
                expected += model.expire(holder, tx.timestamp)
        assert self.chain_expirations[len(self.chain_expirations) - len(expected) :] == expected
        assert tx.return_value == sum(points for _, points, _ in expected)
        self.w.stats["sweep burned" if expected else "sweep, nothing due"] += 1
        return None

    @rule(
        case=cases(("schedule", 3), ("apply once due", 2), ("apply now", 1), ("cancel", 1)),
        window=expiry_window_st,
    )
    def expiry_policy(self, case: str, window: int) -> None:
        """The operator schedules or cancels an expiry window; anyone applies it, once its notice is
        over (the clock is moved there first in the "once due" case), not before."""
        self._step("expiry_policy")
        model, points, operator = self.model, self.c.points, self.c.operator
        if case == "schedule":
            failure = model.expiry_window_failure(window)
            if failure:
                return self._reverts(points.scheduleExpiryWindow, window, sender=operator, failure=failure)
            tx = self._send(points.scheduleExpiryWindow, window, sender=operator)
            model.pending_window = Scheduled(window, tx.timestamp + EXPIRY_NOTICE)
            e = tx.events["ExpiryWindowScheduled"]
            assert (e["window"], e["effectiveAt"]) == (window, model.pending_window.effective_at)
            self.w.stats["expiry window scheduled"] += 1
            return None
        if case == "cancel":
            failure = None if model.pending_window else ("CoalitionPointsNoExpiryWindowScheduled", ())
            if failure:
                return self._reverts(points.cancelExpiryWindow, sender=operator, failure=failure)
            self._send(points.cancelExpiryWindow, sender=operator)
            model.pending_window = None
            return None
        now = self.reader.now()
        if case == "apply once due" and model.pending_window and now < model.pending_window.effective_at:
            self.reader.travel(model.pending_window.effective_at - now)
            now = self.reader.now()
        failure = model.apply_window_failure(now)
        if failure:
            return self._reverts(points.applyExpiryWindow, sender=self.w.relayer, failure=failure)
        tx = self._send(points.applyExpiryWindow, sender=self.w.relayer)
        assert model.pending_window is not None
        shorter = model.pending_window.value < model.expiry_window
        model.expiry_window, model.pending_window = model.pending_window.value, None
        assert tx.events["ExpiryWindowChanged"]["window"] == model.expiry_window
        self.w.stats["expiry window applied, shorter" if shorter else "expiry window applied"] += 1
        return None

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
        sender = self.c.operator if case == "by the operator" else p.treasury
        amount, failure = self.model.withdrawal(p, case, pick, sender)
        fn = self.c.clearing.withdraw
        if failure:
            return self._reverts(fn, p.pid, amount, sender=sender, failure=failure)
        tx = self._send(fn, p.pid, amount, sender=sender)
        assert (tx.events["Withdrawn"]["partnerId"], tx.events["Withdrawn"]["amount"]) == (p.pid, amount)
        self.model.record_withdrawal(p, amount)
        self.w.stats["withdraw ok"] += 1
        self.w.stats["withdraw ok, all free funds"] += p.free_funds == 0
        return None

    def _statement_from_logs(self, from_block: int, to_block: int) -> list[tuple[int, int, int, int, int]]:
        """The period's lines as anyone recomputes them from the points contract's logs."""
        # imported here: brownie hashes the source of a test module's top-level imports that lie in
        # the project (.venv included) and cannot read this one, a compiled extension
        from brownie.network.event import _decode_logs

        logs = web3.eth.get_logs({"address": self.c.points.address, "fromBlock": from_block, "toBlock": to_block})
        values: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # issued, reversed, redeemed, restored
        for e in _decode_logs(logs):
            if e.name == "Earned":
                values[e["partnerId"]][0] += e["points"] * e["issuePrice"]
            elif e.name == "Reversed":
                values[e["partnerId"]][1] += e["points"] * e["issuePrice"]
            elif e.name == "Redeemed":
                values[e["partnerId"]][2] += e["points"] * e["reimbursementRate"]
            elif e.name == "Restored":
                values[e["partnerId"]][3] += e["points"] * e["reimbursementRate"]
        return [(pid, *values[pid]) for pid in sorted(values)]

    @rule(
        case=cases(("through the last block", 3), ("through an earlier block", 2)),
        drain=cases(("as is", 2), ("every free fund withdrawn first", 1)),
        pick=pick_st,
    )
    def settle(self, case: str, drain: str, pick: int) -> None:
        """The operator settles the period since the last one, from the model's own record; events
        after the period's last block (a late reversal) are left to the next period. No partner can
        make it revert, even when every treasury has just withdrawn all the free funds it could."""
        self._step("settle")
        model = self.model
        if drain != "as is":
            for p in model.partners:
                if amount := p.free_funds:
                    self._send(self.c.clearing.withdraw, p.pid, amount, sender=p.treasury)
                    model.record_withdrawal(p, amount)
        latest = web3.eth.block_number  # settle runs in the next block, so toBlock < block.number
        from_block = model.settled_through + 1
        to_block = latest if case == "through the last block" else from_block + pick % (latest - from_block + 1)
        period_id, from_block, lines = model.statement(to_block)
        assert self._statement_from_logs(from_block, to_block) == lines, "the statement is what the events say"
        statement_hash = model.statement_hash(period_id, lines)
        args = (period_id, from_block, to_block, statement_hash, lines)
        failure, operator_net = model.settle_outcome(lines)
        if failure:
            return self._reverts(self.c.clearing.settle, *args, sender=self.c.operator, failure=failure)

        tx = self._send(self.c.clearing.settle, *args, sender=self.c.operator)
        settled = [
            (
                e["periodId"],
                e["partnerId"],
                e["issuedValue"],
                e["reversedValue"],
                e["redeemedValue"],
                e["restoredValue"],
                e["net"],
            )
            for e in self._events(tx, "PartnerSettled")
        ]
        assert settled == [(period_id, pid, i, v, r, o, r + v - i - o) for pid, i, v, r, o in lines]
        e = tx.events["PeriodSettled"]
        assert (e["periodId"], e["fromBlock"], e["toBlock"], bytes(e["statementHash"])) == (
            period_id,
            from_block,
            to_block,
            statement_hash,
        )
        settlement = Settlement(
            period_id, from_block, to_block, statement_hash, [s[6] for s in settled], e["operatorNet"]
        )
        stats = self.w.stats
        stats["settle, a partner whose free funds were all withdrawn pays its debit"] += any(
            model.by_pid[pid].free_funds == 0 and issued + restored > reversed_ + redeemed
            for pid, issued, reversed_, redeemed, restored in lines
        )
        events = model.record_settlement(settlement, operator_net)
        stats["settle, with lines" if lines else "settle, empty period"] += 1
        stats["settle, a line with a reversal credit"] += any(line[2] for line in lines)
        stats["settle, a line with a restoration"] += any(line[4] for line in lines)
        stats["settle, later events left to the next period"] += any(p.activity for p in model.partners)
        stats["reverse of a settled purchase credited by a later settlement"] += sum(a.of_settled for a in events)
        stats["settle, operator pays"] += operator_net < 0
        return None

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

        now = self.reader.now()  # the time of the latest block, at which the reads below run
        add("supply", c.points.totalSupply)
        add("next batch", c.points.nextBatchId)
        add("refund window", c.points.refundWindow)
        add("notice", c.registry.noticePeriod)
        add("expiry window", c.points.expiryWindow)
        add("pending expiry window", c.points.pendingExpiryWindow)
        for a in model.balances:
            add(("balance", a), c.points.balanceOf, a)
            add(("expires at", a), c.points.expiresAtOf, a)
            add(("expired points", a), c.points.expiredPointsOf, a)
        for p in model.partners:
            add(("exposure", p.pid), c.clearing.exposureOf, p.pid)
            add(("pending", p.pid), c.clearing.pendingCreditOf, p.pid)
            add(("headroom", p.pid), c.clearing.headroomOf, p.pid)
            add(("free", p.pid), c.clearing.freeFundsOf, p.pid)
            add(("funds", p.pid), c.clearing.fundsOf, p.pid)
            add(("partner", p.pid), c.registry.partner, p.pid)
            add(("rerate", p.pid), c.registry.pendingRerate, p.pid)
            add(("treasury", p.pid), c.registry.pendingTreasury, p.pid)
            add(("minter", p.pid), c.registry.pendingMinter, p.pid)
            add(("minted", p.pid, p.next_seq + 1), c.points.isMinted, p.pid, p.next_seq + 1)  # never sent
        for key in model.minter_keys:
            add(("partner of", key.address), c.registry.partnerIdOf, key.address)
        add("operator funds", c.clearing.operatorFunds)
        add("clearing balance", c.token.balanceOf, c.clearing.address)
        add("next period", c.clearing.nextPeriodId)
        add("settled through", c.clearing.settledThroughBlock)
        for pid, seq in model.seen:
            add(("minted", pid, seq), c.points.isMinted, pid, seq)
        for pid, seq in model.mints:
            add(("reversed", pid, seq), c.points.reversedPoints, pid, seq)
        for batch_id in model.batch_deadlines:
            add(("deadline", batch_id), c.points.refundDeadlineOf, batch_id)
        for s in model.settlements:
            add(("period", s.period_id), c.clearing.period, s.period_id)
        for customer, nonce in model.nonces_tried:
            add(("nonce", customer, nonce), c.points.redeemNonceUsed, customer, nonce)
        for capture in model.capture_list:
            ref = int.from_bytes(capture.ref, "big")
            add(
                ("restorable", capture.pid, capture.customer, ref),
                c.points.restorableOf,
                capture.pid,
                capture.customer,
                ref,
            )
        self._read = dict(zip(keys, self.reader.read(calls), strict=True))
        self._read["now"] = now
        self._read_version = self.version
        return self._read

    @invariant()
    def supply_is_the_balances_and_earned_minus_redeemed_minus_reversed(self) -> None:
        s, model = self.chain_state(), self.model
        balances = {a: s[("balance", a)] for a in model.balances}
        assert balances == model.balances
        assert s["supply"] == sum(balances.values()) == model.supply

    @invariant()
    def points_expire_by_the_policy_and_never_early(self) -> None:
        """Each holder's expiry time is the model's (the latest of its movements' times plus the window
        then in force), never moved earlier but to zero by an expiry; what has expired is the model's;
        every expiry the chain made is one the model predicted, in order."""
        s, model = self.chain_state(), self.model
        expiries = Counter(holder for holder, _, _ in self.chain_expirations)
        for a in model.balances:
            expires_at = s[("expires at", a)]
            assert expires_at == model.expires_at[a], f"expiresAtOf({a})"
            burned = expiries[a] > self.expiries_seen[a]
            assert expires_at >= self.expiry_floor[a] or (expires_at == 0 and burned), f"{a}'s expiry moved earlier"
            self.expiry_floor[a], self.expiries_seen[a] = expires_at, expiries[a]
            assert s[("expired points", a)] == model.due(a, s["now"]), f"expiredPointsOf({a})"
        assert self.chain_expirations == model.expirations
        assert s["expiry window"] == model.expiry_window
        pending = model.pending_window
        assert tuple(s["pending expiry window"]) == ((pending.value, pending.effective_at) if pending else (0, 0))

    @invariant()
    def one_key_takes_out_no_more_than_the_partners_free_funds(self) -> None:
        """A partner's minter key can issue at most its headroom, its treasury withdraw at most its
        free funds, and neither exceeds what the partner's funds hold beyond its unsettled issuance."""
        s = self.chain_state()
        for p in self.model.partners:
            funds, exposure, headroom, free = (s[(k, p.pid)] for k in ("funds", "exposure", "headroom", "free"))
            limit = s[("partner", p.pid)][5]
            assert exposure <= funds, f"partner {p.pid}: its funds no longer cover its unsettled issuance"
            assert headroom + exposure <= funds, f"partner {p.pid}: its minter key can issue beyond its funds"
            assert headroom <= free, f"partner {p.pid}: its minter key can issue beyond its free funds"
            assert headroom == max(min(funds, limit) - exposure, 0)
            assert free == max(funds - exposure, 0)
            assert (exposure, s[("pending", p.pid)], headroom, funds) == (p.exposure, p.pending, p.headroom, p.funds)

    @invariant()
    def registry_holds_the_terms_keys_and_scheduled_changes(self) -> None:
        s, model = self.chain_state(), self.model
        for p in model.partners:
            assert tuple(s[("partner", p.pid)]) == p.registry_entry
            rerate, treasury, minter = p.rerate, p.new_treasury, p.new_minter
            assert tuple(s[("rerate", p.pid)]) == ((*rerate.value, rerate.effective_at) if rerate else (0, 0, 0))
            for key, scheduled in (("treasury", treasury), ("minter", minter)):
                account, effective_at = s[(key, p.pid)]
                assert (account, effective_at) == (
                    (scheduled.value, scheduled.effective_at) if scheduled else (ZERO_ADDRESS, 0)
                )
        for key in model.minter_keys:
            holder = model.partner_of_key(key)
            assert s[("partner of", key.address)] == (holder.pid if holder else 0)
        assert s["notice"] == model.notice_at(s["now"])
        assert s["refund window"] == model.refund_window

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
        for batch_id, deadline in model.batch_deadlines.items():
            assert s[("deadline", batch_id)] == deadline, f"batch {batch_id}'s refund deadline"
        # every duplicate sent produced its PurchaseSkipped event (and, checked in the rule, no mint)
        assert model.skips_emitted == model.skips_expected
        # a redemption nonce is used exactly when its signed redemption went through
        for customer, nonce in model.nonces_tried:
            assert s[("nonce", customer, nonce)] == model.nonce_used(customer, nonce)

    @invariant()
    def no_capture_is_restored_beyond_what_it_burned(self) -> None:
        """Per till capture: restored <= captured, and the chain keeps the rest restorable at the
        capture's own rate."""
        s = self.chain_state()
        for c in self.model.capture_list:
            assert c.restored <= c.points
            key = ("restorable", c.pid, c.customer, int.from_bytes(c.ref, "big"))
            assert tuple(s[key]) == (c.points - c.restored, c.rate), f"restorableOf({c.pid}, {c.customer}, {c.ref!r})"

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
        "revert CoalitionPointsRefundWindowClosed",
        "revert PartnerRegistryUnknownMinter",
        "reverse of a settled purchase credited by a later settlement",
        "thief mints exactly its headroom",
        "settle, with lines",
        "settle, a line with a reversal credit",
        "settle, later events left to the next period",
        "settle, a partner whose free funds were all withdrawn pays its debit",
        "applied rerate",
        "applied treasury",
        "applied minter",
        "revert PartnerRegistryNoticeNotOver",
        "revert PartnerRegistryNotTreasury",
        "revert PartnerRegistryMinterTaken",
        "treasury changed its minter",
        "treasury changed its treasury",
        "notice shortened, in force later",
        "withdraw ok",
        "revert ClearingNotTreasury",
        "transfer ok",
        "sweep burned",
        "sweep, nothing due",
        "earn minted, expired points burned first",
        "revert, expired points redeemed",
        "expiry window applied, shorter",
        "revert CoalitionPointsExpiryNoticeNotOver",
        "revert CoalitionPointsExpiryWindowOutOfBounds",
    ):
        assert stats[case] > 0, f"never reached: {case}"
