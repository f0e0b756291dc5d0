"""The chain layer's tables: the earn and reversal outboxes, sent transactions, indexed events."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from network.store.base import Base, UTCDateTime, utcnow


class PurchaseStatus(enum.StrEnum):
    QUEUED = "queued"  # accepted, waiting for a batch
    HELD = "held"  # accepted, waiting for the partner's issuance headroom (funds or limit) to return
    SENT = "sent"  # in a signed transaction that is not yet confirmed
    MINTED = "minted"  # confirmed: minted by this system's transaction
    SKIPPED = "skipped"  # confirmed: the contract had minted this seq before
    FAILED = "failed"  # will not be minted; see error


class TxStatus(enum.StrEnum):
    PENDING = "pending"  # signed, stored, maybe broadcast, no receipt yet
    MINED = "mined"  # receipt seen, fewer confirmations than required
    CONFIRMED = "confirmed"  # receipt with enough confirmations, succeeded
    REVERTED = "reverted"  # receipt with enough confirmations, failed
    REPLACED = "replaced"  # another transaction with the same nonce was mined
    DROPPED = "dropped"  # gone from the chain (e.g. a node restart lost it); its items were re-queued


class OutboxPurchase(Base):
    """A purchase to mint: written when it is accepted, so that a crash cannot lose it."""

    __tablename__ = "outbox_purchases"
    __table_args__ = (
        UniqueConstraint("partner_id", "seq", name="uq_outbox_partner_seq"),
        Index("ix_outbox_status_partner", "status", "partner_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    customer: Mapped[str] = mapped_column(String(42))
    points: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[PurchaseStatus] = mapped_column(
        Enum(PurchaseStatus, native_enum=False, length=16), default=PurchaseStatus.QUEUED
    )
    tx_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # first held for lack of headroom
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ChainTransaction(Base):
    """A signed transaction: stored (hash and raw bytes) before it is broadcast, so that the
    same bytes are resent after a crash, never re-signed with another nonce."""

    __tablename__ = "chain_txs"
    __table_args__ = (Index("ix_chain_txs_sender_status", "sender", "status", "nonce"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw_tx: Mapped[bytes] = mapped_column(LargeBinary)
    max_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    max_priority_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[TxStatus] = mapped_column(Enum(TxStatus, native_enum=False, length=16), default=TxStatus.PENDING)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    broadcast_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ChainEvent(Base):
    """A decoded contract event, written once per (chain, block, log index)."""

    __tablename__ = "chain_events"
    __table_args__ = (
        UniqueConstraint("chain_id", "block_number", "log_index", name="uq_chain_events_position"),
        Index("ix_chain_events_name_block", "name", "block_number"),
        Index("ix_chain_events_partner", "partner_id", "name"),
        Index("ix_chain_events_customer", "customer"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    block_time: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66), index=True)
    log_index: Mapped[int] = mapped_column(Integer)
    contract: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(48))
    partner_id: Mapped[int | None] = mapped_column(Integer)
    customer: Mapped[str | None] = mapped_column(String(42))
    args: Mapped[dict] = mapped_column(JSON)


class LedgerEntry(Base):
    """One movement of a customer's points, derived from the indexed events (an `Earned` batch
    gives one entry per purchase): what a customer's history shows."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("chain_id", "block_number", "log_index", "item", name="uq_ledger_position"),
        Index("ix_ledger_customer_block", "customer", "block_number"),
        Index("ix_ledger_partner_kind_block", "partner_id", "kind", "block_number"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_time: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    item: Mapped[int] = mapped_column(Integer)  # position inside the event (purchase index), else 0
    kind: Mapped[str] = mapped_column(String(16))  # earned | redeemed | reversed | restored | sent | received | expired
    customer: Mapped[str] = mapped_column(String(42))
    partner_id: Mapped[int | None] = mapped_column(Integer)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger)  # signed: + earned/received, - redeemed/reversed/sent/expired
    rate: Mapped[int | None] = mapped_column(BigInteger)  # issue price or reimbursement rate carried by the event
    ref: Mapped[str | None] = mapped_column(String(66))  # batch id, redemption ref, counterparty


class IndexedBlock(Base):
    """Hashes of the recently indexed blocks, to notice a reorg (or a node that lost blocks)."""

    __tablename__ = "indexed_blocks"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66))


class IndexerCheckpoint(Base):
    """The last block whose events are all in the store."""

    __tablename__ = "indexer_checkpoints"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ReversalStatus(enum.StrEnum):
    QUEUED = "queued"  # accepted, waiting for the partner's sender
    SENT = "sent"  # in a signed transaction that is not yet confirmed
    CONFIRMED = "confirmed"  # reversed on chain
    FAILED = "failed"  # will not be reversed; see error (e.g. the customer spent the points)


class OutboxReversal(Base):
    """Points of one minted purchase to claw back (a full or partial refund)."""

    __tablename__ = "outbox_reversals"
    __table_args__ = (Index("ix_outbox_reversals_status_partner", "status", "partner_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(Integer)
    purchase_outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox_purchases.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    customer: Mapped[str] = mapped_column(String(42))
    points: Mapped[int] = mapped_column(BigInteger)  # points to reverse (≤ the purchase's)
    status: Mapped[ReversalStatus] = mapped_column(
        Enum(ReversalStatus, native_enum=False, length=16), default=ReversalStatus.QUEUED
    )
    tx_id: Mapped[int | None] = mapped_column(ForeignKey("chain_txs.id"), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
