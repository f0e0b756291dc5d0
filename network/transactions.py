"""The one driver of a signing key's transactions on one chain, from signing to confirmation.

What the transactions carry (an earn batch's purchases, a reversal, ...) is not this module's
business: each kind of transaction (``ChainTransaction.kind``) has a flow that owns it, and the
driver calls that flow's hooks (``TxFlow``) when one of its transactions is confirmed, reverted,
replaced, lost (its mined block gone from the chain) or dropped (its nonce went to another
transaction); the flow moves what it carries accordingly. A new signed flow adds a kind and
its hooks, nothing else.

- Every transaction is signed once and stored (hash and raw bytes) before it is broadcast; after
  a crash the same bytes are sent again, never re-signed under a new nonce.
- Nonces are tracked locally and re-synchronised from the chain by ``recover()``: on start, after
  a broadcast the node refused with "nonce too low" (``needs_resync``), and whenever the owner
  sees the node's head go backwards (a restart that lost blocks).
- A transaction and its replacements share a nonce; receipts are read per nonce, raw.
- A transaction left in the pool for ``stuck_after_s`` is re-broadcast if the node forgot it, or
  replaced (same nonce, same calldata, same gas) with fees raised by ``fee_bump_percent`` (>= 10 %).
- Receipts are followed to ``confirmations`` (``follow_receipts``); a transaction of a nonce
  carrying other calldata than the mined one (a second driver signed it) is dropped.
- The node's answer to a broadcast is read in one place, ``send_raw``: "already known" is no
  error, "nonce too low" asks for ``recover()``, "underpriced" waits for the next fee bump.
- Every RPC call goes through ``rpc()``, which retries ``TransientRpcError`` (the chain
  handle's one transient error, network/node.py) with backoff.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, NamedTuple, Protocol, TypeVar

from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak
from hexbytes import HexBytes
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer, sessionmaker
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import RPCEndpoint

from network.errors import ChainError, TransientRpcError
from network.receipts import Receipt, block_hashes, read_receipts
from network.revert import decode_revert
from network.settings import ChainSettings
from network.store import ChainTransaction, TxStatus, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")
GWEI = 10**9
OPEN = (TxStatus.PENDING, TxStatus.MINED)
FINAL = (TxStatus.CONFIRMED, TxStatus.REVERTED)


class Sent(enum.Enum):
    """What the node said to a signed transaction's bytes (``send_raw``)."""

    SENT = "sent"  # taken into its pool
    KNOWN = "known"  # it has them already (a resend)
    NONCE_USED = "nonce used"  # its nonce is taken on chain: by these bytes or by another transaction
    UNDERPRICED = "underpriced"  # a replacement whose fees are not enough above the one it replaces


class Signed(NamedTuple):
    """A signed transaction: its hash and the raw bytes that are stored, then sent (again)."""

    tx_hash: str
    raw_tx: bytes


def sign_transaction(
    account: LocalAccount, *, chain_id: int, nonce: int, to: str, data: bytes, gas: int, max_fee: int, priority: int
) -> Signed:
    """Signs an EIP-1559 call of ``to`` with no value: the one shape of every transaction the
    system's keys send (earn batches, reversals, settlements, relayed burns)."""
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonce,
            "to": to,
            "value": 0,
            "data": data,
            "gas": gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": priority,
        }
    )
    return Signed(signed.hash.to_0x_hex(), bytes(signed.raw_transaction))


def send_raw(w3: Web3, raw: bytes) -> Sent:
    """Broadcasts signed bytes and says what the node made of them: the one place where the
    node's refusals ("already known", "nonce too low", "underpriced") are read. Any other
    refusal is a ChainError; an unreachable node a TransientRpcError. Sent raw: web3's request
    formatting of a 32 kB batch costs milliseconds."""
    reply = w3.provider.make_request(RPCEndpoint("eth_sendRawTransaction"), ["0x" + raw.hex()])
    error = reply.get("error")
    if not error:
        return Sent.SENT
    message = str(error.get("message", error) if isinstance(error, dict) else error).lower()
    if "already known" in message or "already imported" in message:
        return Sent.KNOWN
    if "nonce too low" in message or "nonce is too low" in message:
        return Sent.NONCE_USED
    if "underpriced" in message:
        return Sent.UNDERPRICED
    raise ChainError(f"the node refused transaction 0x{keccak(raw).hex()}: {error}")


class Unstuck(NamedTuple):
    """What one pass over the stuck transactions did."""

    rebroadcast: int
    replaced: int


class TxFlow(Protocol):
    """The hooks of the flow that owns one kind of transaction. Each runs inside the session
    (and database transaction) of the change, before it commits, and must not commit itself.
    ``group`` / ``carried`` are transactions of one nonce: one and its fee replacements."""

    def on_confirmed(
        self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction, receipt: Receipt
    ) -> None:
        """``mined`` (one of ``carried``) succeeded and has its confirmations."""

    def on_reverted(self, session: Session, carried: list[ChainTransaction], mined: ChainTransaction) -> None:
        """``mined`` reverted and has its confirmations; ``mined.error`` holds the decoded reason."""

    def on_replaced(self, session: Session, old: ChainTransaction, new: ChainTransaction) -> None:
        """``new`` (same nonce and calldata, higher fees) replaces the stuck ``old``."""

    def on_lost(self, session: Session, group: list[ChainTransaction]) -> None:
        """The mined transaction of ``group`` is gone from the chain (the node lost its block):
        the group's newest is pending again and is resent."""

    def on_dropped(self, session: Session, group: list[ChainTransaction], why: str) -> None:
        """None of ``group`` will be mined: its nonce went to another transaction."""


class KeyTransactions:
    """The stored transactions, local nonce and fees of one signing key on one chain.

    Owned by the key's only driver, which must call ``recover()`` before the first
    ``sign_next()``. ``flows`` maps each kind of transaction the key signs to the hooks of the
    flow that owns it (``TxFlow``).
    """

    def __init__(
        self,
        *,
        w3: Web3,
        account: LocalAccount,
        to: str,
        kind: str,
        sessions: sessionmaker[Session],
        settings: ChainSettings,
        flows: Mapping[str, TxFlow],
    ) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.to = to
        self.kind = kind
        self.sessions = sessions
        self.settings = settings
        self.chain_id = settings.chain_id
        self.flows = dict(flows)
        self._next_nonce = 0
        self._priority_fee = GWEI
        self._resync = False  # a broadcast said "nonce too low": recover() at the next step

    @property
    def needs_resync(self) -> bool:
        """The node refused a broadcast with "nonce too low": ``recover()`` is due."""
        return self._resync

    # ------------------------------------------------------------------ nonces and recovery

    def recover(self) -> None:
        """Re-synchronises stored transactions and the local nonce with the chain."""
        self._resync = False
        chain_nonce = self.rpc(lambda: self.w3.eth.get_transaction_count(self.address, "latest"))
        with self.sessions() as session, session.begin():
            txs = self._txs(session, (*OPEN, *FINAL), recent_only=True)
            groups = self._unsettled_groups(_by_nonce(txs))
            for (nonce, group), receipt in zip(groups.items(), self.find_receipts(list(groups.values())), strict=True):
                if receipt is not None:
                    continue  # mined and still there: tracked as usual
                if any(t.status in FINAL for t in group):
                    log.warning("nonce %s: its mined transaction is gone from the chain (node lost blocks)", nonce)
                    for t in group:
                        if t.status in (TxStatus.CONFIRMED, TxStatus.REVERTED, TxStatus.MINED):
                            t.status, t.block_number, t.block_hash = TxStatus.PENDING, None, None
                    self._lost(session, group)
                newest = max(group, key=lambda t: t.id)
                if nonce >= chain_nonce:
                    self.broadcast(newest)
                else:
                    # The nonce went to a transaction we do not know: ours will never be mined.
                    for t in group:
                        t.status, t.error = TxStatus.DROPPED, "nonce used by another transaction"
                    self._dropped(session, group, "its transaction was dropped")
            stored_max = max((t.nonce for t in txs if t.status in OPEN), default=-1)
        pending_nonce = self.rpc(lambda: self.w3.eth.get_transaction_count(self.address, "pending"))
        self._next_nonce = max(pending_nonce, stored_max + 1, chain_nonce)

    def _unsettled_groups(self, groups: dict[int, list[ChainTransaction]]) -> dict[int, list[ChainTransaction]]:
        """The nonce groups whose receipts ``recover()`` must read: all but those whose final
        transaction's block is still the chain's block at its height (one small block header
        asked for per block, instead of a receipt of ~0.7 MB per batch)."""
        final = {
            nonce: next(t for t in group if t.status in FINAL)
            for nonce, group in groups.items()
            if any(t.status in FINAL for t in group)
        }
        numbers = sorted({t.block_number for t in final.values() if t.block_number is not None})
        canonical = block_hashes(self.w3, numbers, self.rpc)
        return {
            nonce: group
            for nonce, group in groups.items()
            if nonce not in final
            or final[nonce].block_number is None
            or canonical.get(final[nonce].block_number) != final[nonce].block_hash  # type: ignore[arg-type]
        }

    def in_flight(self, session: Session) -> int:
        """How many nonces have a transaction sent and not yet final."""
        return int(
            session.scalar(
                select(func.count(func.distinct(ChainTransaction.nonce))).where(
                    ChainTransaction.sender == self.address,
                    ChainTransaction.chain_id == self.chain_id,
                    ChainTransaction.status.in_(OPEN),
                )
            )
            or 0
        )

    def open_by_nonce(self, session: Session) -> list[list[ChainTransaction]]:
        """The transactions not yet final, one group per nonce (a transaction and its
        replacements), lowest nonce first."""
        return [group for _nonce, group in sorted(_by_nonce(self._txs(session, OPEN)).items())]

    # ------------------------------------------------------------------ fees and signing

    def refresh_priority_fee(self) -> None:
        """Reads the node's suggested priority fee (1 gwei if the node cannot tell)."""
        try:
            self._priority_fee = max(int(self.rpc(lambda: self.w3.eth.max_priority_fee)), 1)
        except TransientRpcError:
            self._priority_fee = GWEI

    def sign_next(
        self, session: Session, *, data: bytes, gas: int, base_fee: int, kind: str | None = None
    ) -> ChainTransaction:
        """Signs a new transaction on the next free nonce at the current fees and adds it to
        ``session`` (flushed, not committed). Once the caller has committed it, the nonce is
        taken: ``advance_nonce()``, then ``broadcast()``. ``kind`` (stored with it, default the
        key's) tells its owner what it carries, e.g. an earn batch or a reversal."""
        return self._sign(
            session,
            nonce=self._next_nonce,
            data=data,
            gas=gas,
            max_fee=2 * base_fee + self._priority_fee,
            priority=self._priority_fee,
            kind=kind or self.kind,
        )

    def advance_nonce(self) -> None:
        """The transaction of ``sign_next()`` is stored: the next one takes the following nonce."""
        self._next_nonce += 1

    def _sign(
        self,
        session: Session,
        *,
        nonce: int,
        data: bytes,
        gas: int,
        max_fee: int,
        priority: int,
        kind: str,
        replaces: ChainTransaction | None = None,
    ) -> ChainTransaction:
        signed = sign_transaction(
            self.account,
            chain_id=self.chain_id,
            nonce=nonce,
            to=self.to,
            data=data,
            gas=gas,
            max_fee=max_fee,
            priority=priority,
        )
        tx = ChainTransaction(
            chain_id=self.chain_id,
            sender=self.address,
            nonce=nonce,
            kind=kind,
            tx_hash=signed.tx_hash,
            raw_tx=signed.raw_tx,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=priority,
            status=TxStatus.PENDING,
            replaces_id=replaces.id if replaces else None,
        )
        session.add(tx)
        session.flush()
        return tx

    # ------------------------------------------------------------------ broadcasting

    def broadcast(self, tx: ChainTransaction) -> None:
        """Sends the stored bytes of ``tx``; a node that already has them, or that says its
        nonce is used, is no error (the receipt or ``recover()`` tells what became of it)."""
        sent = self.rpc(lambda: send_raw(self.w3, bytes(tx.raw_tx)))
        if sent is Sent.NONCE_USED:
            log.info("nonce %s already used on chain; the receipt or recovery will tell by whom", tx.nonce)
            self._resync = True
        elif sent is Sent.UNDERPRICED:
            log.info("replacement %s underpriced; the next stuck check raises the fee again", tx.tx_hash)
        tx.broadcast_at = utcnow()

    # ------------------------------------------------------------------ stuck transactions

    def handle_stuck(self, session: Session, base_fee: int) -> Unstuck:
        """Re-broadcasts, or replaces with higher fees, every nonce's newest transaction that has
        been pending for ``stuck_after_s``; commits ``session``."""
        rebroadcast = replaced = 0
        cutoff = utcnow() - timedelta(seconds=self.settings.stuck_after_s)
        for _nonce, group in sorted(_by_nonce(self._txs(session, (TxStatus.PENDING,))).items()):
            newest = max(group, key=lambda t: t.id)
            sent_at = newest.broadcast_at
            if sent_at is not None and sent_at.tzinfo is None:
                sent_at = sent_at.replace(tzinfo=cutoff.tzinfo)
            if sent_at is not None and sent_at > cutoff:
                continue
            known = self.rpc(lambda h=newest.tx_hash: self._tx_known(h))
            if not known or sent_at is None:
                self.broadcast(newest)  # the node forgot it (or it was never sent): same bytes again
                rebroadcast += 1
            else:
                self._replace(session, newest, base_fee)
                replaced += 1
        session.commit()
        return Unstuck(rebroadcast=rebroadcast, replaced=replaced)

    def _tx_known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        return True

    def _replace(self, session: Session, old: ChainTransaction, base_fee: int) -> ChainTransaction:
        bump = 100 + self.settings.fee_bump_percent
        priority = max(-(-old.max_priority_fee_per_gas * bump // 100), self._priority_fee)
        max_fee = max(-(-old.max_fee_per_gas * bump // 100), 2 * base_fee + priority)
        fields = decode_raw_transaction(old.raw_tx)
        new = self._sign(
            session,
            nonce=old.nonce,
            data=bytes(fields["data"]),
            gas=int(fields["gas"]),
            max_fee=max_fee,
            priority=priority,
            kind=old.kind,  # a replacement carries what the stuck transaction carried
            replaces=old,
        )
        self._flow(old.kind).on_replaced(session, old, new)
        session.commit()
        log.info(
            "nonce %s stuck: replaced %s by %s (max fee %s -> %s)",
            old.nonce,
            old.tx_hash,
            new.tx_hash,
            old.max_fee_per_gas,
            max_fee,
        )
        self.broadcast(new)
        return new

    # ------------------------------------------------------------------ receipts

    def follow_receipts(self, session: Session, head: int) -> int:
        """Reads the receipts of every open nonce and, for each mined one with
        ``confirmations`` at ``head``, calls its flow's ``on_confirmed`` or ``on_reverted``
        (in a nested transaction with the statuses); commits ``session``. Returns how many
        nonces became final."""
        final = 0
        groups = self.open_by_nonce(session)
        for group, receipt in zip(groups, self.find_receipts(groups), strict=True):
            if receipt is None:
                continue
            mined = next(t for t in group if t.tx_hash == receipt.tx_hash)
            mined.block_number, mined.block_hash, mined.gas_used = (
                receipt.block_number,
                receipt.block_hash,
                receipt.gas_used,
            )
            if head - mined.block_number + 1 < self.settings.confirmations:
                mined.status = TxStatus.MINED
                continue
            with session.begin_nested():
                for t in group:
                    if t is not mined:
                        t.status = TxStatus.REPLACED
                carried, others = same_calldata(group, mined)
                if others:  # two drivers signed this nonce (a lease lost mid-step): theirs never ran
                    log.warning(
                        "nonce %s carried %s; %d other transactions signed on it are dropped",
                        mined.nonce,
                        mined.tx_hash,
                        len(others),
                    )
                    self._dropped(session, others, f"nonce {mined.nonce} carried {mined.tx_hash}: sent again")
                flow = self._flow(mined.kind)
                if receipt.succeeded:
                    mined.status = TxStatus.CONFIRMED
                    flow.on_confirmed(session, carried, mined, receipt)
                else:
                    mined.status = TxStatus.REVERTED
                    mined.error = self.revert_reason(mined)
                    flow.on_reverted(session, carried, mined)
            final += 1
        session.commit()
        return final

    def find_receipts(self, groups: list[list[ChainTransaction]]) -> list[Receipt | None]:
        """The receipt of whichever transaction of each group was mined (None: none yet), read
        raw in JSON-RPC batches (``network.receipts``)."""
        newest_first = [sorted(group, key=lambda t: -t.id) for group in groups]
        found = read_receipts(self.w3, [t.tx_hash for group in newest_first for t in group], self.rpc)
        return [next((found[t.tx_hash] for t in group if t.tx_hash in found), None) for group in newest_first]

    def revert_reason(self, tx: ChainTransaction) -> str:
        """Why the mined ``tx`` reverted: its call replayed on the block before its own."""
        call = {"from": self.address, "to": self.to, "data": bytes(decode_raw_transaction(tx.raw_tx)["data"])}
        try:
            self.w3.eth.call(call, (tx.block_number or 1) - 1)
        except Exception as exc:
            return decode_revert(exc)
        return "reverted (no reason when replayed)"

    # ------------------------------------------------------------------ helpers

    def _flow(self, kind: str) -> TxFlow:
        try:
            return self.flows[kind]
        except KeyError:
            raise ChainError(f"no flow owns transactions of kind {kind!r} (known: {sorted(self.flows)})") from None

    def _lost(self, session: Session, group: list[ChainTransaction]) -> None:
        for kind, txs in _by_kind(group).items():
            self._flow(kind).on_lost(session, txs)

    def _dropped(self, session: Session, group: list[ChainTransaction], why: str) -> None:
        for kind, txs in _by_kind(group).items():
            self._flow(kind).on_dropped(session, txs, why)

    def rpc(self, call: Callable[[], T]) -> T:
        """Runs ``call``, retrying transient RPC failures with backoff."""
        delay = 0.1
        for attempt in range(self.settings.rpc_retries + 1):
            try:
                return call()
            except TransientRpcError as exc:
                if attempt == self.settings.rpc_retries:
                    raise TransientRpcError(f"RPC failed {attempt + 1} times: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _txs(
        self,
        session: Session,
        statuses: tuple[TxStatus, ...],
        *,
        recent_only: bool = False,
    ) -> list[ChainTransaction]:
        # The signed bytes (~32 kB for a batch of 1,000) load only when a resend needs them.
        query = (
            select(ChainTransaction)
            .options(defer(ChainTransaction.raw_tx))
            .where(
                ChainTransaction.sender == self.address,
                ChainTransaction.chain_id == self.chain_id,
                ChainTransaction.status.in_(statuses),
            )
        )
        if recent_only:
            query = query.order_by(ChainTransaction.id.desc()).limit(10 * self.settings.max_in_flight + 64)
        return list(session.scalars(query))


def decode_raw_transaction(raw: bytes) -> dict[str, Any]:
    """The fields of a signed typed transaction (nonce, gas, data, fees, ...)."""
    return TypedTransaction.from_bytes(HexBytes(raw)).as_dict()


def _by_nonce(txs: list[ChainTransaction]) -> dict[int, list[ChainTransaction]]:
    groups: dict[int, list[ChainTransaction]] = defaultdict(list)
    for t in txs:
        groups[t.nonce].append(t)
    return groups


def _by_kind(txs: list[ChainTransaction]) -> dict[str, list[ChainTransaction]]:
    groups: dict[str, list[ChainTransaction]] = defaultdict(list)
    for t in txs:
        groups[t.kind].append(t)
    return groups


def same_calldata(
    group: list[ChainTransaction], mined: ChainTransaction
) -> tuple[list[ChainTransaction], list[ChainTransaction]]:
    """The transactions of one nonce that carry what the mined one carries (itself and its fee
    replacements: the receipt says what became of what they carry), and the others (signed on
    the same nonce by a second driver of the key: what they carry never reached the chain)."""
    if len(group) == 1:
        return group, []
    data = _calldata(mined)
    carried = [t for t in group if t is mined or _calldata(t) == data]
    return carried, [t for t in group if all(t is not c for c in carried)]


def _calldata(tx: ChainTransaction) -> bytes:
    return bytes(decode_raw_transaction(bytes(tx.raw_tx))["data"])
