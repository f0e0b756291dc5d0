"""Referrals: each referred member's referral, qualified (and paid) or rejected, with an audit trail.

One idempotent pass (:func:`run`, beat task ``gateway.tasks.referrals.qualify``) does it all, at the
chain's time:

1. **Opens** a referral for every member enrolled with another member's code
   (``members.referred_by_id``, however they enrolled: a partner's API, an import, ``/me``) that has
   none yet, funded by the partner the member first enrolled at; audit line ``enrolled``.
2. **Decides** each pending one (loyalty/campaigns/referrals.py): self-referral (shared wallet,
   e-mail or phone) and a refunded first purchase reject; a first purchase confirmed whose batch's
   refund deadline (``CoalitionPoints.refundDeadlineOf``) has passed on chain qualifies, unless the
   referrer's cap (``COALITION_REFERRAL_CAP``) is reached. A decision is taken once (a conditional
   update from pending), written with its audit line and a ``referral.qualified`` or
   ``referral.rejected`` domain event in the same transaction.
3. **Pays** a qualified referral: for the referrer and the new member, points
   (``COALITION_REFERRAL_REFERRER_POINTS``, ``..._REFEREE_POINTS``) queued in the funding partner's
   earn outbox under a sequence number of their own, like a purchase's (network/outbox.py): the
   partner's minter mints them within its prefunded bound, its settlement counts them as its
   issuance, and ``referral_awards`` says which (partner, seq) was which referral's bonus. A
   unique constraint per referral and beneficiary makes a second award impossible. A referral of
   a member enrolled on ``/me`` is funded by ``COALITION_REFERRAL_FUNDING_PARTNER_ID``; without
   it, it is qualified and recorded (``unfunded``), not paid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from gateway.settings import WorkerSettings
from loyalty.campaigns.referrals import Contacts, Decision, FirstPurchase, decide, self_referral
from network.outbox import enqueue
from network.store import (
    CustomerProfile,
    CustomerWallet,
    Member,
    MemberEnrolment,
    OutboxPurchase,
    OutboxReversal,
    Partner,
    Purchase,
    PurchaseStatus,
    Referral,
    ReferralAward,
    ReferralEvent,
    Refund,
    ReversalStatus,
    utcnow,
)
from network.store.events import record

PENDING, QUALIFIED, REJECTED = "pending", "qualified", "rejected"
CONFIRMED = (PurchaseStatus.MINTED, PurchaseStatus.SKIPPED)
BATCH = 500  # pending referrals read at once


@dataclass(frozen=True)
class RunResult:
    opened: int
    qualified: int
    rejected: int
    awards: int


@dataclass(frozen=True)
class AwardView:
    role: str
    points: int
    partner_id: int
    seq: int
    status: str  # the outbox item's: queued | held | sent | minted | skipped | failed


@dataclass(frozen=True)
class ReferralView:
    id: int
    referrer_id: int
    referee_id: int
    partner_id: int | None
    status: str
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    events: list[dict[str, Any]]
    awards: list[AwardView]


# --- the pass


def run(session: Session, settings: WorkerSettings, *, now_s: int, refund_deadline: Callable[[int], int]) -> RunResult:
    """Opens, decides and pays (see the module); ``now_s``: the chain's latest block time,
    ``refund_deadline(batch_id)``: the batch's refund deadline from the chain. Not committed."""
    opened = open_new(session)
    deadlines = cache(refund_deadline)  # one chain call per batch in a run
    qualified = rejected = awards = 0
    after = 0
    while True:  # every pending referral, a chunk at a time (those still waiting stay pending)
        chunk = list(
            session.scalars(
                select(Referral)
                .where(Referral.status == PENDING, Referral.id > after)
                .order_by(Referral.id)
                .limit(BATCH)
            )
        )
        if not chunk:
            break
        after = chunk[-1].id
        for referral in chunk:
            decision = _decision(session, settings, referral, now_s=now_s, refund_deadline=deadlines)
            if decision.verdict == "wait" or not _decided(session, referral, decision):
                continue
            if decision.verdict == "reject":
                rejected += 1
                continue
            qualified += 1
            awards += pay(session, settings, referral)
    session.flush()
    return RunResult(opened, qualified, rejected, awards)


def open_new(session: Session) -> int:
    """A pending referral (and its ``enrolled`` line) for each referred member without one."""
    has = exists().where(Referral.referee_id == Member.customer_id)
    rows = session.execute(
        select(Member.customer_id, Member.referred_by_id, Member.enrolled_at)
        .where(Member.referred_by_id.is_not(None), ~has)
        .order_by(Member.customer_id)
    ).all()
    for customer_id, referrer_id, enrolled_at in rows:
        partner_id = session.scalar(
            select(MemberEnrolment.partner_id)
            .where(MemberEnrolment.customer_id == customer_id)
            .order_by(MemberEnrolment.id)
            .limit(1)
        )
        referral = Referral(
            referee_id=customer_id, referrer_id=referrer_id, partner_id=partner_id, status=PENDING,
            created_at=enrolled_at,
        )  # fmt: skip
        session.add(referral)
        session.flush()
        _audit(session, referral, "enrolled", detail={"partner_id": partner_id})
    return len(rows)


def _contacts(session: Session, customer_id: int) -> Contacts:
    wallets = session.scalars(select(CustomerWallet.address).where(CustomerWallet.customer_id == customer_id))
    profile = session.get(CustomerProfile, customer_id)
    return Contacts.of(
        list(wallets), None if profile is None else profile.email, None if profile is None else profile.phone
    )


def first_purchase(session: Session, customer_id: int) -> tuple[Purchase, OutboxPurchase] | None:
    """The customer's first purchase (by acceptance) not failed on chain, and its outbox item."""
    wallets = select(CustomerWallet.address).where(CustomerWallet.customer_id == customer_id)
    row = session.execute(
        select(Purchase, OutboxPurchase)
        .join(OutboxPurchase, OutboxPurchase.id == Purchase.outbox_id)
        .where(Purchase.customer_wallet.in_(wallets), OutboxPurchase.status != PurchaseStatus.FAILED)
        .order_by(Purchase.id)
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def _refunded(session: Session, purchase_pk: int) -> bool:
    """Whether any refund of the purchase is not failed (queued, sent or confirmed)."""
    return (
        session.scalar(
            select(Refund.id)
            .join(OutboxReversal, OutboxReversal.id == Refund.reversal_id)
            .where(Refund.purchase_pk == purchase_pk, OutboxReversal.status != ReversalStatus.FAILED)
            .limit(1)
        )
        is not None
    )


def _decision(
    session: Session,
    settings: WorkerSettings,
    referral: Referral,
    *,
    now_s: int,
    refund_deadline: Callable[[int], int],
) -> Decision:
    reason = self_referral(_contacts(session, referral.referrer_id), _contacts(session, referral.referee_id))
    found = first_purchase(session, referral.referee_id)
    first: FirstPurchase | None = None
    if found is not None:
        purchase, item = found
        referral.first_purchase_pk = purchase.id
        confirmed = item.status in CONFIRMED
        refunded = _refunded(session, purchase.id)
        needs_deadline = confirmed and not refunded and reason is None and item.batch_id is not None
        deadline = refund_deadline(item.batch_id) if needs_deadline and item.batch_id is not None else None
        first = FirstPurchase(confirmed=confirmed, refunded=refunded, refund_deadline=deadline)
    paid = session.scalar(
        select(func.count()).where(Referral.referrer_id == referral.referrer_id, Referral.status == QUALIFIED)
    )
    return decide(first, now_s=now_s, self_reason=reason, referrer_paid=int(paid or 0), cap=settings.referral_cap)


def _decided(session: Session, referral: Referral, decision: Decision) -> bool:
    """Moves the referral from pending to its verdict, once (False: another run did it first),
    with its audit line and domain event."""
    status = QUALIFIED if decision.verdict == "qualify" else REJECTED
    now = utcnow()
    moved = session.execute(
        update(Referral)
        .where(Referral.id == referral.id, Referral.status == PENDING)
        .values(status=status, reason=decision.reason, decided_at=now, first_purchase_pk=referral.first_purchase_pk)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(referral)
    _audit(session, referral, status, reason=decision.reason)
    payload = {
        "referral_id": referral.id,
        "referrer_id": referral.referrer_id,
        "referee_id": referral.referee_id,
        "partner_id": referral.partner_id,
        "reason": decision.reason,
    }
    record(session, f"referral.{status}", payload=payload, partner_id=referral.partner_id)
    return True


def pay(session: Session, settings: WorkerSettings, referral: Referral) -> int:
    """Queues the qualified referral's bonuses in the funder's outbox; returns how many."""
    funder = referral.partner_id or settings.referral_funding_partner_id
    if funder is None:
        _audit(session, referral, "unfunded", reason="no-funding-partner")
        return 0
    first = session.get(Purchase, referral.first_purchase_pk) if referral.first_purchase_pk else None
    referrer_wallets = session.scalars(
        select(CustomerWallet.address)
        .where(CustomerWallet.customer_id == referral.referrer_id)
        .order_by(CustomerWallet.created_at, CustomerWallet.address)
        .limit(1)
    )
    wallets = {
        "referrer": next(iter(referrer_wallets), None),
        "referee": None if first is None else first.customer_wallet,
    }
    beneficiaries = {"referrer": referral.referrer_id, "referee": referral.referee_id}
    amounts = {"referrer": settings.referral_referrer_points, "referee": settings.referral_referee_points}
    made = 0
    for role in ("referrer", "referee"):
        wallet, points = wallets[role], amounts[role]
        if wallet is None or points <= 0:
            _audit(session, referral, "unpaid", reason=f"{role}-no-wallet" if wallet is None else f"{role}-no-points")
            continue
        seq = session.scalar(
            update(Partner)
            .where(Partner.id == funder)
            .values(next_seq=Partner.next_seq + 1)
            .returning(Partner.next_seq)
        )
        if seq is None:
            _audit(session, referral, "unpaid", reason="funder-unknown", detail={"partner_id": funder})
            return made
        item = enqueue(session, partner_id=funder, seq=seq, customer=wallet, points=points)
        session.add(
            ReferralAward(
                referral_id=referral.id, beneficiary_id=beneficiaries[role], role=role, partner_id=funder, seq=seq,
                wallet=wallet, points=points, outbox_id=item.id,
            )
        )  # fmt: skip
        _audit(session, referral, "awarded", detail={"role": role, "partner_id": funder, "seq": seq, "points": points})
        made += 1
    session.flush()
    return made


def _audit(
    session: Session, referral: Referral, kind: str, *, reason: str | None = None, detail: dict[str, Any] | None = None
) -> None:
    session.add(ReferralEvent(referral_id=referral.id, kind=kind, reason=reason, detail=detail or {}))


# --- reading


def _view(session: Session, referral: Referral) -> ReferralView:
    events = session.scalars(
        select(ReferralEvent).where(ReferralEvent.referral_id == referral.id).order_by(ReferralEvent.id)
    )
    awards = session.execute(
        select(ReferralAward, OutboxPurchase.status)
        .join(OutboxPurchase, OutboxPurchase.id == ReferralAward.outbox_id)
        .where(ReferralAward.referral_id == referral.id)
        .order_by(ReferralAward.id)
    ).all()
    return ReferralView(
        id=referral.id,
        referrer_id=referral.referrer_id,
        referee_id=referral.referee_id,
        partner_id=referral.partner_id,
        status=referral.status,
        reason=referral.reason,
        created_at=referral.created_at,
        decided_at=referral.decided_at,
        events=[{"kind": e.kind, "reason": e.reason, "detail": e.detail, "at": e.created_at} for e in events],
        awards=[AwardView(a.role, a.points, a.partner_id, a.seq, str(s)) for a, s in awards],
    )


def audit(
    session: Session, *, referrer_id: int | None = None, status: str | None = None, limit: int = 100, after: int = 0
) -> list[ReferralView]:
    """Referrals with their audit trail and awards, oldest first, after id ``after``."""
    query = select(Referral).where(Referral.id > after).order_by(Referral.id).limit(limit)
    if referrer_id is not None:
        query = query.where(Referral.referrer_id == referrer_id)
    if status is not None:
        query = query.where(Referral.status == status)
    return [_view(session, r) for r in session.scalars(query)]


@dataclass(frozen=True)
class MyReferrals:
    code: str | None
    share_url: str | None
    pending: int
    qualified: int
    rejected: int
    points_earned: int  # as the referrer, queued or minted


def mine(session: Session, *, customer_id: int, public_url: str) -> MyReferrals:
    """The member's own code and share link, and what their referrals became."""
    member = session.get(Member, customer_id)
    code = None if member is None else member.referral_code
    counts = dict(
        session.execute(
            select(Referral.status, func.count()).where(Referral.referrer_id == customer_id).group_by(Referral.status)
        ).all()
    )
    earned = session.scalar(
        select(func.coalesce(func.sum(ReferralAward.points), 0))
        .join(OutboxPurchase, OutboxPurchase.id == ReferralAward.outbox_id)
        .where(
            ReferralAward.beneficiary_id == customer_id,
            ReferralAward.role == "referrer",
            OutboxPurchase.status != PurchaseStatus.FAILED,
        )
    )
    share = None if code is None else f"{public_url.rstrip('/')}/me?referral_code={code}"
    return MyReferrals(
        code=code,
        share_url=share,
        pending=int(counts.get(PENDING, 0)),
        qualified=int(counts.get(QUALIFIED, 0)),
        rejected=int(counts.get(REJECTED, 0)),
        points_earned=int(earned or 0),
    )
