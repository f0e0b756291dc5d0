"""The tables of the partner, customer and operator side, in the same store and migration history as the chain's."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,  # redemptions and rewards
    ForeignKey,
    Index,  # refunds and webhooks
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

import network.store.chain_tables  # noqa: F401  (refunds reference the reversal outbox's table)
from network.store.base import Base, UTCDateTime, utcnow


class Partner(Base):
    """A partner merchant. ``id`` is its id in the on-chain registry."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(120))
    minter: Mapped[str] = mapped_column(String(42), unique=True)
    treasury: Mapped[str] = mapped_column(String(42))
    api_key_prefix: Mapped[str] = mapped_column(String(24), unique=True)
    api_key_hash: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    points_per_unit: Mapped[Decimal] = mapped_column(Numeric(18, 6))
    issue_price: Mapped[int] = mapped_column(BigInteger)
    reimbursement_rate: Mapped[int] = mapped_column(BigInteger)
    issuance_limit: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # prices scheduled on chain, in force after the registry's notice: issue_price, reimbursement_rate, effective_at
    scheduled_rerate: Mapped[dict | None] = mapped_column(JSON)
    next_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PartnerOnboarding(Base):
    """An onboarding under way (or done): written, with the minter's keystore, before the chain is
    touched, so that a crash leaves it resumable (gateway/services/onboarding.py)."""

    __tablename__ = "partner_onboardings"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    minter: Mapped[str] = mapped_column(String(42), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done
    partner_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # held by the request onboarding it until then: another one at the same name is refused (409);
    # a crashed request's hold expires, and posting the same body again resumes it
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Purchase(Base):
    """A purchase as the partner posted it, the earn rule applied, and its outbox entry."""

    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint("partner_id", "purchase_id", name="uq_purchases_partner_purchase"),
        UniqueConstraint("partner_id", "seq", name="uq_purchases_partner_seq"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    purchase_id: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    customer_wallet: Mapped[str] = mapped_column(String(42), index=True)
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 4))
    currency: Mapped[str] = mapped_column(String(3))
    points: Mapped[int] = mapped_column(BigInteger)
    rule: Mapped[dict] = mapped_column(JSON)
    purchased_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox_purchases.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    notified_status: Mapped[str | None] = mapped_column(String(16))  # final status an event announced (write-once)
    # issue 16 (migration 0020): the lines and tenders as posted (null: posted without), and which
    # rule gave which points (loyalty/earning.py Entry.as_json; null: accepted before rule sets)
    lines: Mapped[list | None] = mapped_column(JSON)
    paid_with: Mapped[dict | None] = mapped_column(JSON)
    breakdown: Mapped[list | None] = mapped_column(JSON)


class Reward(Base):
    """A reward of a partner's catalogue: ``stock`` is what is left to redeem (None: unlimited);
    a redemption reserves its quantity with one conditional UPDATE, so stock never goes negative."""

    __tablename__ = "rewards"
    __table_args__ = (UniqueConstraint("partner_id", "sku", name="uq_rewards_partner_sku"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    points: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Redemption(Base):
    """A customer's spend of points on a reward: the consent, the reserved stock, the relayer's
    burn (``tx_hash``: its ``burn`` transaction in ``chain_txs``, stored there with its signed
    bytes before it is broadcast; the mined one once burned), then the voucher. ``status``:
    accepted -> burning -> burned -> fulfilled, or failed (stock released)."""

    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("partner_id", "redemption_id", name="uq_redemptions_partner_redemption"),
        UniqueConstraint("customer_wallet", "nonce", name="uq_redemptions_wallet_nonce"),
        Index("ix_redemptions_status_updated", "status", "updated_at"),
        Index("ix_redemptions_wallet_status", "customer_wallet", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    redemption_id: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    # None: the burn of a points hold captured at the till (network/store/points_payments.py)
    reward_id: Mapped[int | None] = mapped_column(ForeignKey("rewards.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    stock_reserved: Mapped[bool] = mapped_column(Boolean)  # False: the reward had unlimited stock
    customer_wallet: Mapped[str] = mapped_column(String(42))
    customer_ref: Mapped[str | None] = mapped_column(String(64))
    custodial: Mapped[bool] = mapped_column(Boolean, default=False)
    ref: Mapped[str] = mapped_column(String(66), unique=True)  # bytes32 of the Redeemed event
    nonce: Mapped[str] = mapped_column(String(78))  # uint256 in decimal
    deadline: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    failure_reason: Mapped[str | None] = mapped_column(Text)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    tx_nonce: Mapped[int | None] = mapped_column(BigInteger)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    voucher_code: Mapped[str | None] = mapped_column(String(40), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    burned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- redemptions and rewards (tables above this line; migration 0003)


class WebhookEndpoint(Base):
    """A partner's URL that receives signed event notifications; the signing secret is kept
    encrypted (AES-GCM under a key derived from ``secrets_key``), never in plain text."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_partner_status", "partner_id", "status"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(200))
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | deleted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: written in the transaction of the change it reports, sent
    later (and again, with backoff) by the webhook task until the endpoint answers 2xx."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_event_id", "event_id"),  # migration 0015: the webhook consumer's check
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    partner_id: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Refund(Base):
    """A refund of (part of) a confirmed purchase: its points are clawed back on chain by the
    issuing partner's minter through a reversal in the outbox (network/reversals.py)."""

    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("partner_id", "refund_id", name="uq_refunds_partner_refund"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    purchase_pk: Mapped[int] = mapped_column(ForeignKey("purchases.id"), index=True)
    refund_id: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))
    points: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200))
    reversal_id: Mapped[int] = mapped_column(ForeignKey("outbox_reversals.id"), unique=True)
    notified_status: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- refunds and webhooks (tables above this line; migration 0004)


class CustodialWallet(Base):
    """A wallet whose key the gateway holds for a customer who has none, sealed with the
    secrets key (gateway/secrets_box.py). ``partner_id``: the custodian, the partner that created
    it for its own customer ref, the only one for which the gateway signs with it.
    ``released_at`` set: the key was handed to the customer and the gateway never signs with it
    again. ``release_requested_at``/``release_available_at``: the custodian asked for the release,
    which hands the key over from ``release_available_at`` on (gateway/services/custody.py); both
    None when nothing was asked or the request was cancelled."""

    __tablename__ = "custodial_wallets"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))  # migration 0008 custody_sessions
    key_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    release_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # migration 0011
    release_available_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WalletChallenge(Base):
    """An EIP-4361 message handed out for signing; its nonce is single use and expires."""

    __tablename__ = "wallet_challenges"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))  # link (a partner's customer ref) | session (the customer)
    address: Mapped[str] = mapped_column(String(42))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    ref: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # index: migration 0008
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CustomerSession(Base):
    """A customer's bearer token after signing in with their wallet; only its hash is kept."""

    __tablename__ = "customer_sessions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    wallet: Mapped[str] = mapped_column(String(42), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # index: migration 0008
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # how the customer proved who they are: "wallet" (an EIP-4361 signature) or "link" (a sign-in
    # link the custodian partner asked for; read-only, shorter). Migration 0013 sign_in_links.
    via: Mapped[str] = mapped_column(String(8), default="wallet", server_default="wallet")


class SignInLink(Base):
    """A one-time sign-in link a custodian partner asked for its custodial customer: only the
    SHA-256 of its token is kept; it opens one read-only customer session, once, before it expires."""

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    wallet: Mapped[str] = mapped_column(String(42))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    ref: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- customers and custody (tables above this line; migration 0005)


class SettlementPeriod(Base):
    """A settlement period (``period_id`` = its id in ``Clearing``): the block range, the
    statement and its hash, and the settle transaction, signed and stored before broadcast so
    that a rerun after a crash resends the same bytes or finds their receipt."""

    __tablename__ = "settlement_periods"

    period_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    from_block: Mapped[int] = mapped_column(BigInteger)
    to_block: Mapped[int] = mapped_column(BigInteger)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | operator
    status: Mapped[str] = mapped_column(String(16), default="computing")  # computing|submitted|settled|failed
    statement: Mapped[dict | None] = mapped_column(JSON)
    statement_csv: Mapped[str | None] = mapped_column(Text)
    statement_hash: Mapped[str | None] = mapped_column(String(66))
    operator_net: Mapped[str | None] = mapped_column(String(80))  # a decimal string: may exceed 64 bits
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    raw_tx: Mapped[bytes | None] = mapped_column(LargeBinary)
    tx_nonce: Mapped[int | None] = mapped_column(BigInteger)
    settled_block: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # failed attempts at this period
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a failed period is retried then
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ReconciliationReport(Base):
    """One comparison of the store with the chain at one block; ``differences`` lists each
    mismatch (customer balance, total supply, partner exposure)."""

    __tablename__ = "reconciliation_reports"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    ok: Mapped[bool] = mapped_column(Boolean)
    customers_checked: Mapped[int] = mapped_column(Integer)
    partners_checked: Mapped[int] = mapped_column(Integer)
    total_supply: Mapped[str] = mapped_column(String(80))
    differences: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class OperatorAlert(Base):
    """Something the operator must look at (a reconciliation difference, a failed settlement)."""

    __tablename__ = "operator_alerts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


# --- settlement and reconciliation (tables above this line; migration 0006)


class OperatorSession(Base):
    """A dashboard sign-in with the operator token: the cookie is a random token, only its hash
    is kept; ``credential`` binds it to the operator token and secrets key in force (rotating
    either ends it). Deleted at logout, so a copied cookie stops working there."""

    __tablename__ = "operator_sessions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    credential: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- custodian partner, operator sessions (above this line; migration 0008 custody_sessions)
