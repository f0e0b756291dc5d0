"""What the dashboard's member pages show and do: the members, a page of them at a time or those
a search finds (a partner's ref, an email, a wallet); one customer's profile, consents with their
history, wallets, tier and progress, recent purchases with their breakdown, and erasures; a CSV
upload read for the import.

The work is the operator API's (gateway/services/members.py, customer_records.py, gdpr.py,
member_import.py, tiers.py), with the same rules; this module only reads what a page shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.policy import HTTP

from eth_utils import to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.errors import NotFound, TierLadderNotSet
from gateway.services import churn, custody, customer_records, members, purchases, tiers
from gateway.services.churn import MemberChurn
from gateway.services.members import ConsentView
from gateway.services.tiers import MemberTier
from network.store import (
    CustomerErasure,
    CustomerLink,
    CustomerProfile,
    CustomerWallet,
    Member,
    Partner,
    Purchase,
    TierState,
)

PAGE_SIZE = 50
RECENT_PURCHASES = 20
FOUND_AT_MOST = 50
WALLET = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One customer of the list: their partners' refs (partner id, ref), tier, enrolment."""

    customer_id: int
    refs: tuple[tuple[int, str], ...]
    tier: str | None
    enrolled_at: datetime | None  # None: a customer who never enrolled (found by a search)
    erased: bool


@dataclass(frozen=True, slots=True)
class MemberList:
    """A page of members (``query`` empty) or what a search found (``found_by``: wallet, email, ref)."""

    query: str
    partner_id: int | None
    found_by: str
    rows: list[MemberRow]
    total: int
    next_after: int | None  # the cursor of the next page (None: the last page)
    partners: dict[int, str]


@dataclass(frozen=True, slots=True)
class PurchaseSeen:
    purchase: Purchase
    status: str


@dataclass(frozen=True, slots=True)
class MemberPage:
    """Everything the member's page shows about the customer ``customer_id``."""

    customer_id: int
    created_at: datetime
    member: Member | None
    profile: CustomerProfile | None
    consents_in_force: list[ConsentView]
    consent_history: list[ConsentView]
    wallets: list[tuple[str, bool]]  # (address, custodial)
    links: list[CustomerLink]
    tier: MemberTier | None  # None: no ladder in force
    purchases: list[PurchaseSeen]
    erasures: list[CustomerErasure]
    partners: dict[int, str]
    churn: MemberChurn | None = None  # the latest churn score and its explanation (gateway/services/churn.py)

    @property
    def erased(self) -> bool:
        return bool(self.erasures) or (self.member is not None and self.member.erased_at is not None)


def partner_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Partner.id, Partner.name).order_by(Partner.id)).tuples().all())


def search(session: Session, *, query: str, partner_id: int | None) -> tuple[str, list[int]]:
    """The customers ``query`` names: a wallet (0x + 40 hex digits, any case), an email (has an
    @; any case), or else a partner's ref (at ``partner_id``, or at any partner). Answers (what it was read
    as, the customers' ids)."""
    q = query.strip()
    if WALLET.fullmatch(q):
        owner = session.scalar(
            select(CustomerWallet.customer_id).where(CustomerWallet.address == to_checksum_address(q.lower()))
        )
        return "wallet", [] if owner is None else [owner]
    if "@" in q:
        ids = session.scalars(
            select(CustomerProfile.customer_id)
            .where(func.lower(CustomerProfile.email) == q.lower())
            .limit(FOUND_AT_MOST)
        )
        return "email", list(ids)
    where = [CustomerLink.ref == q]
    if partner_id is not None:
        where.append(CustomerLink.partner_id == partner_id)
    ids = session.scalars(select(CustomerLink.customer_id).where(*where).distinct().limit(FOUND_AT_MOST))
    return "ref", list(ids)


def member_list(
    session: Session, *, query: str = "", partner_id: int | None = None, after: int | None = None,
    limit: int = PAGE_SIZE,
) -> MemberList:  # fmt: skip
    """The members by enrolment (customer id), ``limit`` after the cursor ``after``; or, with a
    ``query``, the customers it finds (members or not)."""
    total = int(session.scalar(select(func.count()).select_from(Member)) or 0)
    found_by, next_after = "", None
    if query.strip():
        found_by, ids = search(session, query=query, partner_id=partner_id)
    else:
        page = select(Member.customer_id).order_by(Member.customer_id).limit(limit + 1)
        if after is not None:
            page = page.where(Member.customer_id > after)
        ids = list(session.scalars(page))
        if len(ids) > limit:
            ids = ids[:limit]
            next_after = ids[-1]
    return MemberList(query.strip(), partner_id, found_by, rows_of(session, ids), total, next_after,
                      partner_names(session))  # fmt: skip


def rows_of(session: Session, ids: list[int]) -> list[MemberRow]:
    """The list's rows of the customers ``ids``, in that order."""
    if not ids:
        return []
    refs: dict[int, list[tuple[int, str]]] = {}
    for cid, pid, ref in session.execute(
        select(CustomerLink.customer_id, CustomerLink.partner_id, CustomerLink.ref)
        .where(CustomerLink.customer_id.in_(ids))
        .order_by(CustomerLink.id)
    ):
        refs.setdefault(cid, []).append((pid, ref))
    tier = dict(
        session.execute(select(TierState.customer_id, TierState.tier).where(TierState.customer_id.in_(ids)))
        .tuples()
        .all()
    )
    enrolled = {m.customer_id: m for m in session.scalars(select(Member).where(Member.customer_id.in_(ids)))}
    erased = set(session.scalars(select(CustomerErasure.customer_id).where(CustomerErasure.customer_id.in_(ids))))
    return [
        MemberRow(
            customer_id=cid,
            refs=tuple(refs.get(cid, ())),
            tier=tier.get(cid),
            enrolled_at=enrolled[cid].enrolled_at if cid in enrolled else None,
            erased=cid in erased or (cid in enrolled and enrolled[cid].erased_at is not None),
        )
        for cid in ids
    ]


def member_page(session: Session, *, customer_id: int, now: datetime) -> MemberPage:
    """The customer ``customer_id``'s page (NotFound if there is none), tier as of ``now``."""
    try:
        customer = customer_records.get(session, customer_id=customer_id)
    except customer_records.CustomerNotFound as exc:
        raise NotFound(str(exc)) from exc
    wallets = customer_records.wallets_of(session, customer_id=customer_id)
    history = members.consents_of(session, customer_id=customer_id)
    latest: dict[tuple[str, int | None], ConsentView] = {}
    for change in history:
        latest[(change.channel, change.partner_id)] = change
    try:
        tier: MemberTier | None = tiers.tier_of(session, customer_id=customer_id, now=now)
    except TierLadderNotSet:
        tier = None
    bought = session.scalars(
        select(Purchase).where(Purchase.customer_wallet.in_(wallets)).order_by(Purchase.id.desc()).limit(RECENT_PURCHASES)
    ) if wallets else []  # fmt: skip
    return MemberPage(
        customer_id=customer.id,
        created_at=customer.created_at,
        member=session.get(Member, customer_id),
        profile=customer_records.profile(session, customer_id=customer_id),
        consents_in_force=sorted(latest.values(), key=lambda c: (c.partner_id or 0, c.channel)),
        consent_history=history,
        wallets=[(w, custody.is_custodial(session, w)) for w in wallets],
        links=list(session.scalars(select(CustomerLink).where(CustomerLink.customer_id == customer_id)
                                   .order_by(CustomerLink.id))),
        tier=tier,
        purchases=[PurchaseSeen(p, purchases.status_of(session, p)[0]) for p in bought],
        erasures=list(session.scalars(select(CustomerErasure).where(CustomerErasure.customer_id == customer_id)
                                      .order_by(CustomerErasure.id))),
        partners=partner_names(session),
        churn=churn.explain(session, customer_id=customer_id),
    )  # fmt: skip


def read_upload(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a ``multipart/form-data`` body (a file's content as its text, UTF-8 with or
    without a BOM); empty for anything else. Read with the standard library's MIME parser: the
    dashboard needs no multipart package for one form."""
    if not content_type.lower().startswith("multipart/form-data"):
        return {}
    message = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=HTTP)
    if not message.is_multipart():
        return {}
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name in fields:
            continue
        payload = part.get_payload(decode=True)
        fields[name] = payload.decode("utf-8-sig", errors="replace") if isinstance(payload, bytes) else ""
    return fields
