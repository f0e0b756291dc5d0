"""The Python model of the coalition that test_invariants.py's state machine runs against.

The model is the record of what the coalition's contracts must hold after the steps so far
(partners, their keys, funds, exposures, pending credits, prices and scheduled changes; purchases
minted and reversed with their batches' refund deadlines; balances; redemption nonces; settled
periods; the notice period, the refund window; each holder's expiry time and the expiry policy)
and the prediction of what the next step does:
which purchases of an earn are minted and which are skipped, which custom error a call reverts
with and with which arguments, which lines a period settles. Nothing here touches the chain; the
state machine sends the transactions, checks their events against the model's predictions and
records them here.

Time: a predicted revert is checked with ``eth_call``, which runs at the latest block's timestamp
(``now``); a transaction runs at that time or later. The rules pass ``now`` in, and the model's
predictions for time-bound checks (a batch's refund deadline, a change's notice) are exact for
that time. Expiry is recorded at each transaction's own time (its block's), so the points a
transaction expires are known exactly once it is mined; a transaction predicted to go through is not
sent while a holder it spends from is within EXPIRY_MARGIN of its expiry time.

It imports no brownie module: the partners' minter and treasury accounts are kept as they are
given, customers are addresses, and the reads of the chain stay in test_invariants.py.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak

from network.purchases import decode_purchase, encode_purchase
from scripts.onboarding import USD

# Three partners whose bounds are small enough to be hit: A is bound by its deposit (2,000 points
# at 0.01), B by its deposit too (600 points at 0.025) and reimburses more than it charges, C by
# its issuance limit (1,500 points at 0.004; its deposit is larger).
PARTNERS = (
    {"issue_price": 10_000, "reimbursement_rate": 8_000, "issuance_limit": 10**6 * USD, "deposit": 20 * USD},
    {"issue_price": 25_000, "reimbursement_rate": 30_000, "issuance_limit": 10**6 * USD, "deposit": 15 * USD},
    {"issue_price": 4_000, "reimbursement_rate": 3_000, "issuance_limit": 6 * USD, "deposit": 40 * USD},
)
CUSTOMERS = 4
FIRST_SEQ = 240  # fresh seqs start just below a bitmap word boundary (256)
FAR_DEADLINE = 2**40
ACTIVE, SUSPENDED = 1, 2  # IPartnerRegistry.PartnerStatus
DAY = 86_400
NOTICE = 7 * DAY  # PartnerRegistry's default notice period
MIN_NOTICE, MAX_NOTICE = DAY, 90 * DAY
REFUND_WINDOW = 120 * DAY  # CoalitionPoints' default refund window
MIN_REFUND_WINDOW, MAX_REFUND_WINDOW = 14 * DAY, 365 * DAY
EXPIRY_WINDOW = 730 * DAY  # CoalitionPoints' default expiry window
MIN_EXPIRY_WINDOW, MAX_EXPIRY_WINDOW = 30 * DAY, 3650 * DAY
EXPIRY_NOTICE = 90 * DAY
# a transaction may run a little after the latest block's time (where predictions are made): one
# predicted to spend a holder's points is not sent this close to the holder's expiry time
EXPIRY_MARGIN = 600

Failure = tuple[str, tuple]  # a custom error's name and arguments


@dataclass
class Activity:
    """One event of a partner not settled yet, with its value (at the rate the event carries)."""

    block: int
    issued: int = 0  # Earned: points × issuePrice
    reversed: int = 0  # Reversed: points × issuePrice of the purchase's batch
    redeemed: int = 0  # Redeemed: points × reimbursementRate
    restored: int = 0  # Restored: points × the reimbursementRate of the capture they reverse
    of_settled: bool = False  # a reversal of a purchase whose issuance was settled already


@dataclass
class Scheduled:
    """A change the operator scheduled: new prices (value: (price, rate)) or a new account."""

    value: Any
    effective_at: int


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
    activity: list[Activity] = field(default_factory=list)  # its events not settled yet, in order
    rerate: Scheduled | None = None
    new_treasury: Scheduled | None = None
    new_minter: Scheduled | None = None

    @property
    def exposure(self) -> int:
        """The value issued or restored and not settled yet (reversals do not lower it): Clearing.exposureOf."""
        return sum(a.issued + a.restored for a in self.activity)

    @property
    def pending(self) -> int:
        """The value reversed and not settled yet, a credit the next settlement pays: pendingCreditOf."""
        return sum(a.reversed for a in self.activity)

    @property
    def free_funds(self) -> int:
        return max(self.funds - self.exposure, 0)

    @property
    def headroom(self) -> int:
        """What its minter key may still issue: the lower of funds and limit, less the exposure."""
        return max(min(self.funds, self.limit) - self.exposure, 0)

    @property
    def registry_entry(self) -> tuple:
        """(minter, status, treasury, issuePrice, reimbursementRate, issuanceLimit): PartnerRegistry.partner."""
        status = ACTIVE if self.active else SUSPENDED
        return (self.minter, status, self.treasury, self.issue_price, self.rate, self.limit)

    def scheduled(self, kind: str) -> Scheduled | None:
        return {"rerate": self.rerate, "treasury": self.new_treasury, "minter": self.new_minter}[kind]


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
    block: int
    refund_deadline: int  # the batch's: its block's time + the refund window then
    reversed: int = 0

    @property
    def word(self) -> bytes:
        return self.words[self.index]


@dataclass
class Capture:
    """A till capture (captureWithSignature): a redemption its partner may restore after a refund."""

    pid: int
    customer: str
    ref: bytes
    points: int
    rate: int  # the reimbursement rate its Redeemed event carried
    restored: int = 0


@dataclass
class RestorePlan:
    """What a restore sends and what it must do."""

    capture: Capture
    owner: PartnerModel  # whose capture it is
    caller: Any
    ref: bytes  # the ref it names (the capture's, or one never captured)
    points: int
    failure: Failure | None


@dataclass
class Settlement:
    """A settled period, as its events reported it."""

    period_id: int
    from_block: int
    to_block: int
    statement_hash: bytes
    nets: list[int]  # PartnerSettled.net of each line
    operator_net: int  # PeriodSettled.operatorNet


@dataclass
class EarnPlan:
    """What an earn (single or batch) sends and what it must do."""

    words: list[bytes]  # every purchase word sent, duplicates included
    new: list[tuple[bytes, str, int, int]]  # (word, customer, seq, points) of each purchase to mint
    dups: list[tuple[int, int, str, int]]  # (pid, seq, customer, points) of each duplicate: a PurchaseSkipped
    total: int  # the points minted
    exposure: int  # the partner's exposure once they are
    failure: Failure | None  # what it reverts with (None: it goes through)


@dataclass
class ReversalPlan:
    """What a reversal sends and what it must do."""

    mint: Mint
    owner: PartnerModel  # who minted the purchase
    caller: Any  # the key that sends the reversal
    price: int  # the issue price it claims for the purchase's batch
    points: int
    failure: Failure | None


class CoalitionModel:
    """The coalition as it must be after the steps so far, and what the next step must do."""

    def __init__(
        self,
        *,
        pids: list[int],
        minters: list,
        treasuries: list,
        spare_minters: list,
        spare_treasuries: list,
        customers: list[str],
        next_batch_id: int,
        operator_funds: int,
        clearing_balance: int,
        settled_through: int,
    ) -> None:
        self.partners = [
            PartnerModel(
                index=i,
                pid=pid,
                minter=minters[i],
                treasury=treasuries[i],
                issue_price=cfg["issue_price"],
                rate=cfg["reimbursement_rate"],
                limit=cfg["issuance_limit"],
                funds=cfg["deposit"],
            )
            for i, (pid, cfg) in enumerate(zip(pids, PARTNERS, strict=True))
        ]
        self.by_pid = {p.pid: p for p in self.partners}
        self.minter_keys = list(minters) + list(spare_minters)  # every key a partner may mint with
        self.treasury_keys = list(treasuries) + list(spare_treasuries)
        self.customers = customers  # addresses
        self.balances = {a: 0 for a in customers}
        self.expires_at = {a: 0 for a in customers}  # CoalitionPoints.expiresAtOf
        self.expired = 0  # points burned by expiry
        self.expirations: list[tuple[str, int, int]] = []  # (holder, points, expiresAt) of each expiry, in order
        self.expiry_window = EXPIRY_WINDOW
        self.pending_window: Scheduled | None = None
        self.earned = self.redeemed = self.reversed = self.restored = 0  # points
        self.captures: dict[tuple[int, str, bytes], Capture] = {}  # (pid, customer, ref) -> its capture
        self.capture_list: list[Capture] = []
        self.seen: list[tuple[int, int]] = []  # every (pid, seq) of an earn attempt, in first-seen order
        self.seen_set: set[tuple[int, int]] = set()
        self.mints: dict[tuple[int, int], Mint] = {}  # (pid, seq) -> its first (and only) mint
        self.mint_list: list[Mint] = []
        self.batch_deadlines: dict[int, int] = {}  # batchId -> refund deadline
        self.chain_minted: Counter = Counter()  # (pid, seq) -> Σ points in the words of Earned events
        self.skips_expected: list[tuple] = []  # (pid, seq, customer, points) of every duplicate sent
        self.skips_emitted: list[tuple] = []  # the PurchaseSkipped events the chain emitted
        self.next_batch_id = next_batch_id
        self.nonces_used: dict[str, list[int]] = defaultdict(list)
        self.nonces_tried: list[tuple[str, int]] = []  # (customer, nonce) of every signed redeem tried
        self.operator_funds = operator_funds
        self.clearing_balance = clearing_balance
        self.settled_through = settled_through
        self.settlements: list[Settlement] = []
        self.refund_window = REFUND_WINDOW
        self.notice = NOTICE
        self.shorter_notice: Scheduled | None = None  # a shorter notice, in force from its time

    # ------------------------------------------------------------------------------ keys

    def partner_of_key(self, key: Any) -> PartnerModel | None:
        """The partner whose minter key this is (PartnerRegistry.partnerIdOf), if any."""
        return next((p for p in self.partners if p.minter == key), None)

    def free_minter(self, pick: int) -> Any:
        """A key of the pool that no partner holds now (the pool has more keys than partners)."""
        free = [k for k in self.minter_keys if self.partner_of_key(k) is None]
        return free[pick % len(free)]

    def _minter_failure(self, key: Any) -> Failure | None:
        """What PartnerRegistry._checkFreeMinter reverts with (None: the key is free)."""
        holder = self.partner_of_key(key)
        return ("PartnerRegistryMinterTaken", (key, holder.pid)) if holder else None

    # ------------------------------------------------------------------------------ earn

    def _see(self, key: tuple[int, int]) -> None:
        if key not in self.seen_set:
            self.seen_set.add(key)
            self.seen.append(key)
            self.by_pid[key[0]].seqs_seen.append(key[1])

    def plan_earn(self, p: PartnerModel, items: list[tuple]) -> EarnPlan:
        """The words of the drawn (customer, seq case, pick, points) items, and what sending them does."""
        words, new, dups, in_batch = [], [], [], []
        for cust, case, pick, pts in items:
            customer = self.customers[cust]
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

        total = sum(n[3] for n in new)
        exposure = p.exposure + total * p.issue_price
        return EarnPlan(words, new, dups, total, exposure, self.issue_failure(p, total))

    def issue_failure(self, p: PartnerModel, points: int) -> Failure | None:
        """What minting `points` new points with the partner's key reverts with (None: it mints).
        Both bounds hold whatever happened before (reversals included)."""
        exposure = p.exposure + points * p.issue_price
        if not p.active:
            return ("PartnerRegistryNotActive", (p.pid,))
        if points and exposure > p.funds:
            return ("ClearingIssuanceOverFunds", (p.pid, exposure, p.funds))
        if points and exposure > p.limit:
            return ("ClearingIssuanceOverLimit", (p.pid, exposure, p.limit))
        return None

    def record_skips(self, plan: EarnPlan, skipped: list[tuple]) -> None:
        """An earn went through: the duplicates it sent, and the PurchaseSkipped events it emitted."""
        self.skips_expected += plan.dups
        self.skips_emitted += skipped

    def record_earn(
        self, p: PartnerModel, plan: EarnPlan, minted_words: list[bytes], block: int, time: int
    ) -> list[tuple[str, int, int]]:
        """An earn minted its new purchases, in one batch whose Earned event carries minted_words,
        in a block of this number and time. Returns the expiries it made (points of its customers
        that had expired, burned before their new points arrived)."""
        # what the chain minted per reference, from the event's words (not from the model's list)
        for w in minted_words:
            d = decode_purchase(w)
            self.chain_minted[(p.pid, d.seq)] += d.points
        deadline = time + self.refund_window
        expiries = []
        for i, (_, customer, seq, pts) in enumerate(plan.new):
            m = Mint(p.pid, self.next_batch_id, minted_words, i, customer, seq, pts, p.issue_price, block, deadline)
            self.mints[(p.pid, seq)] = m
            self.mint_list.append(m)
            expiries += self.move(customer, pts, time)
        self.batch_deadlines[self.next_batch_id] = deadline
        self.earned += plan.total
        p.activity.append(Activity(block, issued=plan.total * p.issue_price))
        self.next_batch_id += 1
        return expiries

    # ------------------------------------------------------------------------------ redeem

    def holder(self, cust: int) -> int:
        """A customer (an index) who holds points if there is one (most redemptions should be possible)."""
        everyone = range(len(self.customers))
        holders = [i for i in everyone if self.balances[self.customers[i]] > 0] or list(everyone)
        return holders[cust % len(holders)]

    @staticmethod
    def amount(balance: int, case: str, pick: int) -> int:
        if case == "zero":
            return 0
        if case == "more than held":
            return balance + 1 + pick % 50
        if case == "all":
            return balance
        return 1 + pick % max(balance, 1)

    def redeem_failure(self, customer: str, p: PartnerModel, amount: int, now: int) -> Failure | None:
        """What _redeem reverts with at time `now`, in the contract's order of checks (None: it burns)."""
        if amount == 0:
            return ("CoalitionPointsZeroPoints", ())
        if not p.active:
            return ("PartnerRegistryNotActive", (p.pid,))
        return self.spend_failure(customer, amount, now)

    def record_redeem(self, customer: str, p: PartnerModel, amount: int, block: int, time: int) -> None:
        assert not self.move(customer, -amount, time), "points that expired are never spent"
        self.redeemed += amount
        p.activity.append(Activity(block, redeemed=amount * p.rate))

    def consent(self, who: int, case: str, nonce: int, pick: int) -> tuple[int, int, int]:
        """(signer, deadline, nonce) of customer who's consent in this case; signer is a customer's index."""
        signer, deadline, used = who, FAR_DEADLINE, self.nonces_used[self.customers[who]]
        if case == "other signer":
            signer = (who + 1) % CUSTOMERS
        elif case == "expired":
            deadline = 1
        elif case == "replayed nonce" and used:
            nonce = used[pick % len(used)]
        return signer, deadline, nonce

    def signed_redeem_failure(
        self, who: int, signer: int, p: PartnerModel, amount: int, nonce: int, deadline: int, now: int
    ) -> Failure | None:
        """What redeemWithSignature reverts with (None: it burns and uses the nonce)."""
        customer = self.customers[who]
        if deadline == 1:
            return ("CoalitionPointsExpiredSignature", (deadline,))
        if signer != who:
            return ("CoalitionPointsInvalidSigner", (self.customers[signer], customer))
        if nonce in self.nonces_used[customer]:
            return ("CoalitionPointsNonceUsed", (customer, nonce))
        return self.redeem_failure(customer, p, amount, now)  # the nonce stays unused then

    def capture_failure(
        self, who: int, signer: int, p: PartnerModel, amount: int, nonce: int, deadline: int, ref: bytes, now: int
    ) -> Failure | None:
        """What captureWithSignature reverts with at time `now`: a signed redemption's checks, then a
        ref this partner and customer captured before."""
        failure = self.signed_redeem_failure(who, signer, p, amount, nonce, deadline, now)
        customer = self.customers[who]
        if failure is None and (p.pid, customer, ref) in self.captures:
            return ("CoalitionPointsCaptureRefUsed", (p.pid, customer, ref))
        return failure

    def record_capture(self, customer: str, p: PartnerModel, amount: int, ref: bytes, block: int, time: int) -> None:
        self.record_redeem(customer, p, amount, block, time)
        c = Capture(p.pid, customer, ref, amount, p.rate)
        self.captures[(p.pid, customer, ref)] = c
        self.capture_list.append(c)

    # ------------------------------------------------------------------------------ restore

    def plan_restore(self, pick: int, case: str, amount: int, other: int, fresh_ref: bytes) -> RestorePlan:
        """Which capture a restore gives back (part of), by which key, how many points, and what it does."""
        c = self.capture_list[pick % len(self.capture_list)]
        owner = self.by_pid[c.pid]
        caller, ref = owner.minter, c.ref
        remaining = c.points - c.restored
        if case == "by another partner":
            caller = self.partners[(owner.index + other) % len(self.partners)].minter
        elif case == "by a key of no partner":
            caller = self.free_minter(other)
        elif case == "never captured":  # e.g. an ordinary redemption's ref
            ref = fresh_ref
        if case == "more than left":
            points = remaining + 1 + amount % 20
        elif case == "zero":
            points = 0
        elif case == "rest" or remaining <= 1:
            points = remaining
        else:
            points = 1 + amount % (remaining - 1)
        sender = self.partner_of_key(caller)
        if points == 0:
            failure: Failure | None = ("CoalitionPointsZeroPoints", ())
        elif sender is None:
            failure = ("PartnerRegistryUnknownMinter", (caller,))
        elif not sender.active:
            failure = ("PartnerRegistryNotActive", (sender.pid,))
        elif (sender.pid, c.customer, ref) not in self.captures:
            failure = ("CoalitionPointsNotRestorable", (sender.pid, c.customer, ref))
        elif points > remaining:  # over-restoration, across any number of partial ones
            failure = ("CoalitionPointsRestoreExceedsCapture", (c.pid, ref, remaining, points))
        else:
            exposure = owner.exposure + points * c.rate
            if exposure > owner.funds:
                failure = ("ClearingIssuanceOverFunds", (owner.pid, exposure, owner.funds))
            elif exposure > owner.limit:
                failure = ("ClearingIssuanceOverLimit", (owner.pid, exposure, owner.limit))
            else:
                failure = None
        return RestorePlan(c, owner, caller, ref, points, failure)

    def record_restore(self, plan: RestorePlan, block: int, time: int) -> list[tuple[str, int, int]]:
        """A restore minted its points back at that time; returns the expiry it made (the customer's
        points that had expired, burned before the restored ones arrived), if any."""
        c, points = plan.capture, plan.points
        c.restored += points
        expiries = self.move(c.customer, points, time)
        self.restored += points
        plan.owner.activity.append(Activity(block, restored=points * c.rate))  # at the capture's rate
        return expiries

    # ------------------------------------------------------------------------------ reverse

    def plan_reversal(self, pick: int, case: str, amount: int, other: int, now: int) -> ReversalPlan:
        """Which earlier purchase a reversal claws back, by which key, how many points, and what it
        does at time `now`."""
        m = self.mint_list[pick % len(self.mint_list)]
        owner = self.by_pid[m.pid]
        caller, price = owner.minter, m.issue_price
        remaining = m.points - m.reversed
        if case == "by another partner":
            caller = self.partners[(owner.index + other) % len(self.partners)].minter
        elif case == "by a key of no partner":  # e.g. the partner's key before a rotation
            caller = self.free_minter(other)
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
        balance = self.live_balance(m.customer, now)

        sender = self.partner_of_key(caller)
        if sender is None:
            failure = ("PartnerRegistryUnknownMinter", (caller,))
        elif not sender.active:
            failure = ("PartnerRegistryNotActive", (sender.pid,))
        elif sender is not owner or price != m.issue_price:
            failure = ("CoalitionPointsUnknownPurchase", (sender.pid, m.batch_id))
        elif now > m.refund_deadline:
            failure = ("CoalitionPointsRefundWindowClosed", (m.batch_id, m.refund_deadline))
        elif points == 0:
            failure = ("CoalitionPointsZeroPoints", ())
        elif m.reversed + points > m.points:  # over-reversal, across any number of partial ones
            failure = ("CoalitionPointsReversalExceedsPurchase", (m.pid, m.seq, m.points, m.reversed + points))
        elif balance < points:  # the customer spent them already
            failure = ("ERC20InsufficientBalance", (m.customer, balance, points))
        else:
            failure = None
        return ReversalPlan(m, owner, caller, price, points, failure)

    def record_reversal(self, plan: ReversalPlan, block: int, time: int) -> None:
        m, points = plan.mint, plan.points
        m.reversed += points
        assert not self.move(m.customer, -points, time), "points that expired are never clawed back"
        self.reversed += points
        value = points * m.issue_price  # at the price it was issued at
        plan.owner.activity.append(Activity(block, reversed=value, of_settled=m.block <= self.settled_through))

    # ------------------------------------------------------------------------------ expiry

    def due(self, holder: str, time: int) -> int:
        """The points of the holder that have expired at that time (CoalitionPoints.expiredPointsOf)."""
        return self.balances[holder] if time > self.expires_at[holder] else 0

    def live_balance(self, holder: str, time: int) -> int:
        """What the holder can spend at that time: its balance less what has expired."""
        return self.balances[holder] - self.due(holder, time)

    def near_expiry(self, holder: str, now: int) -> bool:
        """Whether a transaction sent now to spend the holder's points might run after their expiry."""
        return self.balances[holder] > 0 and 0 <= self.expires_at[holder] - now < EXPIRY_MARGIN

    def spend_failure(self, holder: str, amount: int, now: int) -> Failure | None:
        """What spending `amount` of the holder's points at time `now` reverts with (None: it can)."""
        live = self.live_balance(holder, now)
        return ("ERC20InsufficientBalance", (holder, live, amount)) if live < amount else None

    def expire(self, holder: str, time: int) -> list[tuple[str, int, int]]:
        """Burns the holder's expired points at that time, if any: [(holder, points, expiresAt)] or []."""
        points = self.due(holder, time)
        if not points:
            return []
        expiry = (holder, points, self.expires_at[holder])
        self.balances[holder], self.expires_at[holder] = 0, 0
        self.expired += points
        self.expirations.append(expiry)
        return [expiry]

    def move(self, holder: str, delta: int, time: int) -> list[tuple[str, int, int]]:
        """The holder's points move by `delta` at that time (received: > 0, spent: < 0): expired points
        burn first, then a movement pushes the holder's expiry to now + window if that is later.
        Returns the expiry it made, if any."""
        expiries = self.expire(holder, time)
        self.balances[holder] += delta
        assert self.balances[holder] >= 0, f"{holder} spent more than it held"
        if delta:
            self.expires_at[holder] = max(self.expires_at[holder], time + self.expiry_window)
        return expiries

    def transfer(self, sender: str, to: str, amount: int, time: int) -> list[tuple[str, int, int]]:
        return self.move(sender, -amount, time) + self.move(to, amount, time)

    @staticmethod
    def expiry_window_failure(window: int) -> Failure | None:
        if window < MIN_EXPIRY_WINDOW or window > MAX_EXPIRY_WINDOW:
            return ("CoalitionPointsExpiryWindowOutOfBounds", (window,))
        return None

    def apply_window_failure(self, now: int) -> Failure | None:
        s = self.pending_window
        if s is None:
            return ("CoalitionPointsNoExpiryWindowScheduled", ())
        if now < s.effective_at:
            return ("CoalitionPointsExpiryNoticeNotOver", (s.effective_at,))
        return None

    # ------------------------------------------------------------------------------ registry

    @staticmethod
    def record_status_change(p: PartnerModel) -> None:
        """The operator suspended the active partner, or reactivated the suspended one."""
        p.active = not p.active

    def notice_at(self, time: int) -> int:
        """PartnerRegistry.noticePeriod() at that time."""
        s = self.shorter_notice
        return s.value if s and time >= s.effective_at else self.notice

    @staticmethod
    def notice_failure(notice: int) -> Failure | None:
        if notice < MIN_NOTICE or notice > MAX_NOTICE:
            return ("PartnerRegistryNoticeOutOfBounds", (notice,))
        return None

    def record_notice(self, notice: int, time: int) -> int:
        """The operator set the notice period at that time; returns the time it is in force from."""
        current = self.notice_at(time)
        if notice >= current:
            self.notice, self.shorter_notice = notice, None
            return time
        self.notice, self.shorter_notice = current, Scheduled(notice, time + current)
        return time + current

    def schedule_failure(self, kind: str, value: Any) -> Failure | None:
        return self._minter_failure(value) if kind == "minter" else None

    def record_scheduled(self, p: PartnerModel, kind: str, value: Any, time: int) -> int:
        """The operator scheduled a change at that time; returns the time it may apply from."""
        s = Scheduled(value, time + self.notice_at(time))
        if kind == "rerate":
            p.rerate = s
        elif kind == "treasury":
            p.new_treasury = s
        else:
            p.new_minter = s
        return s.effective_at

    def apply_failure(self, p: PartnerModel, kind: str, now: int) -> Failure | None:
        """What applying the partner's scheduled change of this kind at time `now` reverts with."""
        s = p.scheduled(kind)
        if s is None:
            return ("PartnerRegistryNothingScheduled", (p.pid,))
        if now < s.effective_at:
            return ("PartnerRegistryNoticeNotOver", (p.pid, s.effective_at))
        return self._minter_failure(s.value) if kind == "minter" else None

    @staticmethod
    def record_applied(p: PartnerModel, kind: str) -> None:
        s = p.scheduled(kind)
        assert s is not None
        if kind == "rerate":
            p.issue_price, p.rate = s.value
            p.rerate = None
        elif kind == "treasury":
            p.treasury, p.new_treasury = s.value, None
        else:
            p.minter, p.new_minter = s.value, None

    @staticmethod
    def record_cancelled(p: PartnerModel) -> None:
        p.rerate = p.new_treasury = p.new_minter = None

    def own_change_failure(self, p: PartnerModel, kind: str, sender: Any, value: Any) -> Failure | None:
        """What setTreasury / setMinter (kind) by `sender` reverts with (None: the change is made)."""
        if sender != p.treasury:
            return ("PartnerRegistryNotTreasury", (p.pid, sender))
        return self._minter_failure(value) if kind == "minter" else None

    @staticmethod
    def record_own_change(p: PartnerModel, kind: str, value: Any) -> None:
        if kind == "treasury":
            p.treasury = value
        else:
            p.minter = value

    @staticmethod
    def refund_window_failure(window: int) -> Failure | None:
        if window < MIN_REFUND_WINDOW or window > MAX_REFUND_WINDOW:
            return ("CoalitionPointsRefundWindowOutOfBounds", (window,))
        return None

    # ------------------------------------------------------------------------------ clearing

    def record_deposit(self, p: PartnerModel, amount: int) -> None:
        p.funds += amount
        self.clearing_balance += amount

    @staticmethod
    def withdrawal(p: PartnerModel, case: str, pick: int, sender: Any) -> tuple[int, Failure | None]:
        """The amount a withdrawal of this case asks for, and what it reverts with (None: it pays)."""
        free = p.free_funds
        if case == "more than free" or free == 0:
            amount = free + 1 + pick
        else:
            amount = free if case == "all free" else 1 + pick % free
        if sender != p.treasury:
            return amount, ("ClearingNotTreasury", (p.pid, sender))
        if amount > free:
            return amount, ("ClearingInsufficientFreeFunds", (p.pid, free, amount))
        return amount, None

    def record_withdrawal(self, p: PartnerModel, amount: int) -> None:
        p.funds -= amount
        self.clearing_balance -= amount

    def statement(self, to_block: int) -> tuple[int, int, list[tuple[int, int, int, int, int]]]:
        """(periodId, fromBlock, lines) of the next period through to_block, from the model's own
        record: (partnerId, issuedValue, reversedValue, redeemedValue, restoredValue) of each partner
        with events."""
        lines = []
        for p in self.partners:
            period = [a for a in p.activity if a.block <= to_block]
            if period:
                sums = (
                    sum(a.issued for a in period),
                    sum(a.reversed for a in period),
                    sum(a.redeemed for a in period),
                    sum(a.restored for a in period),
                )
                lines.append((p.pid, *sums))
        return len(self.settlements) + 1, self.settled_through + 1, lines

    @staticmethod
    def statement_hash(period_id: int, lines: list[tuple[int, int, int, int, int]]) -> bytes:
        return keccak(json.dumps({"period": period_id, "lines": lines}).encode())

    def settle_outcome(self, lines: list[tuple[int, int, int, int, int]]) -> tuple[Failure | None, int]:
        """What settling these lines reverts with (None: it settles), and the operator's net.
        No partner can make it fail: each line's issued plus restored value is within the partner's
        exposure, its reversed value within its pending credit, and its debit within its funds."""
        operator_net = 0
        for pid, issued, reversed_, redeemed, restored in lines:
            p = self.by_pid[pid]
            net = redeemed + reversed_ - issued - restored
            assert issued + restored <= p.exposure and reversed_ <= p.pending and -net <= p.funds, (
                f"partner {pid} cannot pay"
            )
            operator_net -= net
        if operator_net < 0 and -operator_net > self.operator_funds:
            return ("ClearingInsufficientOperatorFunds", (self.operator_funds, -operator_net)), operator_net
        return None, operator_net

    def record_settlement(self, settlement: Settlement, operator_net: int) -> list[Activity]:
        """A period settled: settlement as its events reported it, operator_net as settle_outcome
        predicted it. Returns the events it settled."""
        self.settlements.append(settlement)
        settled = []
        for p in self.partners:
            period = [a for a in p.activity if a.block <= settlement.to_block]
            p.activity = [a for a in p.activity if a.block > settlement.to_block]
            p.funds += sum(a.redeemed + a.reversed - a.issued - a.restored for a in period)
            settled += period
        self.operator_funds += operator_net
        self.settled_through = settlement.to_block
        return settled

    # ------------------------------------------------------------------------------ invariants' expectations

    @property
    def supply(self) -> int:
        """What CoalitionPoints.totalSupply must say."""
        return self.earned - self.redeemed - self.reversed + self.restored - self.expired

    def minted_points(self, pid: int, seq: int) -> int:
        """The points the Earned events may have minted for a reference: its first mint's, once."""
        first = self.mints.get((pid, seq))
        return first.points if first else 0

    def nonce_used(self, customer: str, nonce: int) -> bool:
        """A redemption nonce is used exactly when its signed redemption went through."""
        return nonce in self.nonces_used[customer]
