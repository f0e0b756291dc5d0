"""Customers as entities: a customer, the wallets that are theirs, each partner's ref of them, their
profile and their consents (migration 0014 customer_entities).

A customer has an internal id. A wallet (custodial or the customer's own) belongs to at most one
customer: ``customer_wallets.address`` is its primary key. A partner's ref is a
:class:`CustomerLink` to one wallet of one customer; the pair (wallet, customer) is a foreign key
into ``customer_wallets``, so a link always names the wallet's own customer. The profile and the
consents are personal data: they live here only, never on chain, and nothing of the chain layer
reads them; deleting a customer's profile and consents erases them without touching the ledger.
Consents are a history (one row per change, never updated); the latest row of a scope is in force.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

import network.store.tables  # noqa: F401  (links and consents reference the partners' table)
from network.store.base import Base, UTCDateTime, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class Customer(Base):
    """A person of the coalition, whatever wallets and partner refs they have."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CustomerWallet(Base):
    """A wallet of a customer (custodial or their own): a wallet belongs to at most one customer."""

    __tablename__ = "customer_wallets"
    __table_args__ = (UniqueConstraint("address", "customer_id", name="uq_customer_wallets_address_customer"),)

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CustomerLink(Base):
    """A partner's own customer reference, linked to a wallet of a customer: the points it earns
    go to ``wallet``, which is one of ``customer_id``'s (the foreign key on both holds it)."""

    __tablename__ = "customer_links"
    __table_args__ = (
        UniqueConstraint("partner_id", "ref", name="uq_customer_links_partner_ref"),
        ForeignKeyConstraint(
            ["wallet", "customer_id"],
            ["customer_wallets.address", "customer_wallets.customer_id"],
            name="fk_customer_links_wallet_customer",
            onupdate="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    ref: Mapped[str] = mapped_column(String(64))
    wallet: Mapped[str] = mapped_column(String(42), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    customer_id: Mapped[int] = mapped_column(_ID, index=True)


class CustomerProfile(Base):
    """What a customer told about themselves (all optional); ``attributes``: a partner's or the
    program's own fields, a JSON object."""

    __tablename__ = "customer_profiles"

    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(16))  # E.164
    birthday: Mapped[date | None] = mapped_column(Date)
    locale: Mapped[str | None] = mapped_column(String(35))  # BCP 47
    time_zone: Mapped[str | None] = mapped_column(String(64))  # IANA
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CustomerConsent(Base):
    """One change of a consent: to be contacted on ``channel`` (email | sms | push) by
    ``partner_id`` (None: by the coalition itself), given or withdrawn at ``recorded_at``, and
    how it was collected (``source``). Never updated: the latest row of a scope is in force."""

    __tablename__ = "customer_consents"
    __table_args__ = (Index("ix_customer_consents_customer_id", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    customer_id: Mapped[int] = mapped_column(_ID, ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(8))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the words the customer was shown when consenting (migration 0024), and for an email grant
    # the time its address was confirmed (double opt-in): null on a grant still to be confirmed
    text_shown: Mapped[str | None] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
