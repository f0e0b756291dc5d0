"""Customers as entities: find or create them by wallet or by a partner's ref, link a partner's
ref to a wallet, keep their profile and their consents.

The rules:

- A wallet belongs to at most one customer (``customer_wallets.address`` is a primary key). Two
  transactions enrolling the same new wallet at once end with one customer: the second one's
  insert does nothing (``ON CONFLICT DO NOTHING``) and it takes the first one's customer.
- :func:`link` points a partner's ref at a wallet and at that wallet's customer. A wallet of
  nobody yet joins the customer the ref named before (the same person, moving to a new wallet,
  e.g. their own after a custodial one), or else becomes a new customer's. A link never names
  another customer than its wallet's (a foreign key on both columns holds it).
- A consent is a history: :func:`record_consent` adds a row, never updates one; the latest row of
  a (channel, partner) scope is in force (loyalty/customers.py has the rule).
- The profile and consents are personal data: they stay in the store, nothing of the chain
  layer reads them, and purchases stay keyed by wallet (the hot path resolves no customer).

Nothing here commits: the change is part of the caller's transaction, with what caused it.
:func:`_enrolled` and :func:`_linked` are the one place where a customer is created and where a
ref is linked, each with its domain event (``customer.enrolled``, ``customer.linked``: network/store/events.py).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from enum import Enum
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loyalty.customers import ConsentChange, check_consent, check_profile, in_force
from network.store import Customer, CustomerConsent, CustomerLink, CustomerProfile, CustomerWallet, Partner, utcnow
from network.store.bulk import bulk_insert_ids, insert_ignoring_conflicts
from network.store.events import event_row, record, record_many


class CustomerNotFound(LookupError):
    """No customer has this id."""


class PartnerNotFound(LookupError):
    """A consent names a partner that does not exist."""


class WalletOfAnotherCustomer(Exception):
    """The wallet belongs to another customer already (a wallet belongs to at most one)."""

    def __init__(self, wallet: str, customer_id: int) -> None:
        super().__init__(f"wallet {wallet} belongs to customer {customer_id} already")
        self.wallet = wallet
        self.customer_id = customer_id


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # a profile field left as it is
Kept = Literal[_Keep.KEEP]


# --- finding


def find_by_wallet(session: Session, *, wallet: str) -> Customer | None:
    """The customer ``wallet`` belongs to, if any."""
    return session.scalar(
        select(Customer)
        .join(CustomerWallet, CustomerWallet.customer_id == Customer.id)
        .where(CustomerWallet.address == wallet)
    )


def find_link(session: Session, *, partner_id: int, ref: str) -> CustomerLink | None:
    """``partner_id``'s link of its customer ``ref``, if any."""
    return session.scalar(select(CustomerLink).where(CustomerLink.partner_id == partner_id, CustomerLink.ref == ref))


def find_by_ref(session: Session, *, partner_id: int, ref: str) -> Customer | None:
    """The customer ``partner_id`` knows as ``ref``, if the ref is linked."""
    link = find_link(session, partner_id=partner_id, ref=ref)
    return None if link is None else session.get(Customer, link.customer_id)


def get(session: Session, *, customer_id: int) -> Customer:
    """The customer ``customer_id``; :class:`CustomerNotFound` if there is none."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFound(f"no customer {customer_id}")
    return customer


def wallets_of(session: Session, *, customer_id: int) -> list[str]:
    """The customer's wallets, oldest first."""
    rows = session.scalars(
        select(CustomerWallet.address)
        .where(CustomerWallet.customer_id == customer_id)
        .order_by(CustomerWallet.created_at, CustomerWallet.address)
    )
    return list(rows)


# --- enrolling and linking


def customer_of_wallet(session: Session, *, wallet: str, joining: int | None = None) -> Customer:
    """The customer ``wallet`` belongs to; a wallet of nobody joins the customer ``joining``, or
    (None) becomes a new customer's. Not committed."""
    found = find_by_wallet(session, wallet=wallet)
    if found is not None:
        return found
    if joining is not None:
        customer = get(session, customer_id=joining)
        owner = _claim(session, wallet, customer.id)
        return customer if owner == customer.id else get(session, customer_id=owner)
    customer = Customer(created_at=utcnow())
    session.add(customer)
    session.flush()
    owner = _claim(session, wallet, customer.id)
    if owner != customer.id:  # enrolled meanwhile by a concurrent transaction: that customer it is
        session.delete(customer)
        session.flush()
        return get(session, customer_id=owner)
    _enrolled(session, customer=customer, wallet=wallet)
    return customer


def customers_of_wallets(session: Session, *, wallets: Collection[str]) -> dict[str, int]:
    """Each wallet's customer id; the wallets of nobody become new customers' (one each), in bulk:
    one INSERT of customers, one of their wallets (a wallet claimed meanwhile by a concurrent
    transaction keeps that customer, and the customer made for it here is deleted unused), one of
    their ``customer.enrolled`` events. What :func:`customer_of_wallet` does for one wallet, for a
    consumer of thousands. Not committed."""
    owners = _owners(session, wallets)
    missing = sorted(set(wallets) - owners.keys())
    if not missing:
        return owners
    now = utcnow()
    connection = session.connection()
    ids = bulk_insert_ids(connection, Customer.__table__, [{"created_at": now} for _ in missing])
    rows = [{"address": w, "customer_id": i, "created_at": now} for w, i in zip(missing, ids, strict=True)]
    insert_ignoring_conflicts(connection, CustomerWallet.__table__, rows)
    claimed = _owners(session, missing)
    made = dict(zip(missing, ids, strict=True))
    unused = [made[w] for w in missing if claimed[w] != made[w]]
    if unused:
        session.execute(delete(Customer).where(Customer.id.in_(unused)))
    events = [
        event_row("customer.enrolled", payload={"customer_id": made[w], "wallet": w}, customer_wallet=w, at=now)
        for w in missing
        if claimed[w] == made[w]
    ]
    record_many(session, events)
    return owners | claimed


def _owners(session: Session, wallets: Collection[str]) -> dict[str, int]:
    ordered, found = sorted(wallets), {}
    for start in range(0, len(ordered), 5_000):
        rows = session.execute(
            select(CustomerWallet.address, CustomerWallet.customer_id).where(
                CustomerWallet.address.in_(ordered[start : start + 5_000])
            )
        )
        found.update({address: customer_id for address, customer_id in rows})
    return found


def add_wallet(session: Session, *, customer_id: int, wallet: str) -> Customer:
    """Gives ``wallet`` to the customer ``customer_id`` (nothing to do if it is theirs already).
    Raises :class:`WalletOfAnotherCustomer` if another customer has it, :class:`CustomerNotFound`.
    Not committed."""
    customer = get(session, customer_id=customer_id)
    owner = find_by_wallet(session, wallet=wallet)
    owner_id = owner.id if owner is not None else _claim(session, wallet, customer.id)
    if owner_id != customer.id:
        raise WalletOfAnotherCustomer(wallet, owner_id)
    return customer


def link(session: Session, *, partner_id: int, ref: str, wallet: str) -> CustomerLink:
    """Links ``partner_id``'s customer ``ref`` to ``wallet`` (a new link, or the ref's link moved
    to this wallet), and to the wallet's customer (see the module's rule). Answers the link,
    flushed, not committed."""
    current = find_link(session, partner_id=partner_id, ref=ref)
    customer = customer_of_wallet(session, wallet=wallet, joining=None if current is None else current.customer_id)
    if current is None:
        current = CustomerLink(partner_id=partner_id, ref=ref, wallet=wallet, customer_id=customer.id)
        session.add(current)
        session.flush()
        _linked(session, link=current, previous_wallet=None)
    elif (current.wallet, current.customer_id) != (wallet, customer.id):
        previous = current.wallet
        current.wallet, current.customer_id = wallet, customer.id
        session.flush()
        _linked(session, link=current, previous_wallet=previous)
    return current


def _claim(session: Session, wallet: str, customer_id: int) -> int:
    """Gives ``wallet`` to ``customer_id`` unless it has a customer already; answers the
    wallet's customer. One statement that does nothing on a conflict, so two concurrent claims
    of one wallet never fail: the later one reads the earlier one's customer."""
    values = {"address": wallet, "customer_id": customer_id, "created_at": utcnow()}
    session.flush()  # what the ORM holds goes first, as session.execute would
    insert_ignoring_conflicts(session.connection(), CustomerWallet.__table__, [values])
    owner = session.scalar(select(CustomerWallet.customer_id).where(CustomerWallet.address == wallet))
    assert owner is not None
    return owner


def _enrolled(session: Session, *, customer: Customer, wallet: str) -> None:
    """A new customer, with their first wallet: the one place customers are created, with its
    ``customer.enrolled`` domain event, in this transaction."""
    payload = {"customer_id": customer.id, "wallet": wallet}
    record(session, "customer.enrolled", payload=payload, customer_wallet=wallet)


def _linked(session: Session, *, link: CustomerLink, previous_wallet: str | None) -> None:
    """A partner's ref newly linked (``previous_wallet`` None) or moved to another wallet: the
    one place links change, with its ``customer.linked`` domain event, in this transaction."""
    payload = {
        "customer_id": link.customer_id,
        "ref": link.ref,
        "wallet": link.wallet,
        "previous_wallet": previous_wallet,
    }
    record(session, "customer.linked", payload=payload, partner_id=link.partner_id, customer_wallet=link.wallet)


# --- profile and consents (personal data: never on chain)


def profile(session: Session, *, customer_id: int) -> CustomerProfile | None:
    """The customer's profile, None if nothing was ever set."""
    return session.get(CustomerProfile, customer_id)


def set_profile(
    session: Session,
    *,
    customer_id: int,
    email: str | Kept | None = KEEP,
    phone: str | Kept | None = KEEP,
    birthday: date | Kept | None = KEEP,
    locale: str | Kept | None = KEEP,
    time_zone: str | Kept | None = KEEP,
    attributes: dict[str, Any] | Kept | None = KEEP,
    today: date | None = None,
) -> CustomerProfile:
    """Sets the given fields of the customer's profile (None clears one, :data:`KEEP` leaves it),
    checked and normalized by loyalty/customers.py (ProfileInvalid otherwise). Raises
    :class:`CustomerNotFound`. Not committed."""
    given = {
        "email": email,
        "phone": phone,
        "birthday": birthday,
        "locale": locale,
        "time_zone": time_zone,
        "attributes": attributes,
    }
    checked = check_profile({k: v for k, v in given.items() if v is not KEEP}, today=today or utcnow().date())
    get(session, customer_id=customer_id)
    row = session.get(CustomerProfile, customer_id)
    if row is None:
        row = CustomerProfile(customer_id=customer_id, attributes={})
        session.add(row)
    for field, value in checked.items():
        setattr(row, field, value)
    row.updated_at = utcnow()
    session.flush()
    return row


def record_consent(
    session: Session,
    *,
    customer_id: int,
    channel: str,
    partner_id: int | None,
    granted: bool,
    source: str,
    at: datetime | None = None,
    text_shown: str | None = None,
    confirmed_at: datetime | None = None,
) -> CustomerConsent:
    """Records that the customer gave (``granted``) or withdrew consent to be contacted on
    ``channel`` by ``partner_id`` (None: the coalition), at ``at`` (now), collected by
    ``source``, with the words shown (``text_shown``) and, for an email grant, when its address
    was confirmed (None: not yet). A new row every time: the history is kept. Raises
    ConsentInvalid, :class:`CustomerNotFound`, :class:`PartnerNotFound`. Not committed."""
    check_consent(channel=channel, source=source, text_shown=text_shown)
    get(session, customer_id=customer_id)
    if partner_id is not None and session.get(Partner, partner_id) is None:
        raise PartnerNotFound(f"no partner {partner_id}")
    row = CustomerConsent(
        customer_id=customer_id,
        channel=channel,
        partner_id=partner_id,
        granted=granted,
        source=source.strip(),
        recorded_at=at or utcnow(),
        text_shown=text_shown.strip() if text_shown is not None else None,
        confirmed_at=confirmed_at,
    )
    session.add(row)
    session.flush()
    return row


def consent_history(session: Session, *, customer_id: int) -> list[ConsentChange]:
    """Every consent change of the customer, in the order recorded."""
    rows = session.scalars(
        select(CustomerConsent).where(CustomerConsent.customer_id == customer_id).order_by(CustomerConsent.id)
    )
    return [
        ConsentChange(
            channel=r.channel,
            partner_id=r.partner_id,
            granted=r.granted,
            source=r.source,
            recorded_at=r.recorded_at,
            confirmed=r.channel != "email" or not r.granted or r.confirmed_at is not None,
            text_shown=r.text_shown,
        )
        for r in rows
    ]


def consents_in_force(session: Session, *, customer_id: int) -> dict[tuple[str, int | None], ConsentChange]:
    """The consent in force per (channel, partner_id): the latest change of each."""
    return in_force(consent_history(session, customer_id=customer_id))
