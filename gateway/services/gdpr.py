"""A customer's data under the GDPR: everything held about them, as JSON (the right of access
and portability), and the erasure of their personal data (the right to erasure).

**What is personal here**: the profile (email, phone, birthday, locale, time zone, attributes),
the consents' sources, the partners' refs (a partner's own identifier of the person: often a
card number or an email, and always a key to the partner's own files), the sign-in sessions and
challenges, the refund reasons partners wrote, and any copy of a ref in the domain events, the
webhook deliveries and the operator's alerts.

**What stays**: the ledger. A wallet address, the amounts and points of every purchase, refund
and redemption, and every settlement figure are on chain or derived from it; the chain cannot
forget, and settlement must still recompute. With the profile and refs gone, nothing in the
store ties those to a person. The customer's row, wallets and custodial key stay (the points are
still theirs), and so do the consent rows (channel, scope, given or withdrawn, when), their
source replaced by ``erased``: proof of what was consented, about nobody in particular.

**Erasure** (:func:`erase`): every ref of the customer becomes a random pseudonym
(``erased-<24 hex>``, the same one wherever that ref was copied, so a partner's history keeps its
shape), never derivable from the ref, and the idempotency hash of each request that named it a
random value; the profile and enrolment requests are deleted, sessions,
challenges and sign-in links too; the referral code is retired. It is irreversible, recorded in
``customer_erasures`` (who asked, when, how many rows of each kind: never the data) and announced
by the domain event ``customer.erased``. Nothing of the ledger changes.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from gateway.services import customer_records
from gateway.timeutil import as_utc
from network.store import (
    CustodialWallet,
    CustomerConsent,
    CustomerErasure,
    CustomerLink,
    CustomerProfile,
    CustomerSession,
    DomainEvent,
    Member,
    MemberEnrolment,
    Message,
    OperatorAlert,
    Partner,
    PointsHold,
    Purchase,
    Redemption,
    Refund,
    SignInLink,
    TierChangeRecord,
    TierMovement,
    TierState,
    WalletChallenge,
    WebhookDelivery,
    utcnow,
)
from network.store.events import record

ERASED = "erased"
REQUESTERS = ("customer", "operator")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return None  # keys, signatures: not the customer's data to read here
    return value


def _row(obj: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    return {c: _plain(getattr(obj, c)) for c in columns}


def data_of(session: Session, *, customer_id: int) -> dict[str, Any]:
    """Everything held about the customer ``customer_id`` (CustomerNotFound otherwise), as JSON:
    the profile, member and enrolments, consents' history, wallets, partners' refs, purchases,
    refunds, redemptions, points holds, sessions and erasures."""
    customer = customer_records.get(session, customer_id=customer_id)
    wallets = customer_records.wallets_of(session, customer_id=customer_id)
    names = dict(session.execute(select(Partner.id, Partner.name)).tuples().all())
    profile = session.get(CustomerProfile, customer_id)
    member = session.get(Member, customer_id)
    custodial = {
        w.address: w for w in session.scalars(select(CustodialWallet).where(CustodialWallet.address.in_(wallets)))
    }
    purchases = list(
        session.scalars(select(Purchase).where(Purchase.customer_wallet.in_(wallets)).order_by(Purchase.id))
    )
    refunds = session.scalars(
        select(Refund).where(Refund.purchase_pk.in_([p.id for p in purchases])).order_by(Refund.id)
    )
    redemptions = session.scalars(
        select(Redemption).where(Redemption.customer_wallet.in_(wallets)).order_by(Redemption.id)
    )
    by_pk = {p.id: p for p in purchases}
    return {
        "customer": {"id": customer.id, "created_at": _plain(customer.created_at)},
        "member": None
        if member is None
        else _row(member, ("referral_code", "referred_by_code", "enrolled_at", "erased_at")),
        "profile": None
        if profile is None
        else _row(profile, ("email", "phone", "birthday", "locale", "time_zone", "attributes", "updated_at")),
        "consents": [
            _row(c, ("channel", "partner_id", "granted", "source", "recorded_at", "text_shown", "confirmed_at"))
            | {"partner_name": names.get(c.partner_id) if c.partner_id else None}
            for c in session.scalars(
                select(CustomerConsent).where(CustomerConsent.customer_id == customer_id).order_by(CustomerConsent.id)
            )
        ],
        "enrolments": [
            _row(e, ("partner_id", "ref", "source", "created_at"))
            for e in session.scalars(
                select(MemberEnrolment).where(MemberEnrolment.customer_id == customer_id).order_by(MemberEnrolment.id)
            )
        ],
        "wallets": [
            {
                "address": w,
                "custodial": w in custodial,
                "custodian_partner_id": custodial[w].partner_id if w in custodial else None,
                "released_at": _plain(custodial[w].released_at) if w in custodial else None,
            }
            for w in wallets
        ],
        "links": [
            _row(link, ("partner_id", "ref", "wallet", "created_at")) | {"partner_name": names.get(link.partner_id)}
            for link in session.scalars(
                select(CustomerLink).where(CustomerLink.customer_id == customer_id).order_by(CustomerLink.id)
            )
        ],
        "purchases": [
            _row(
                p,
                (
                    "partner_id",
                    "purchase_id",
                    "seq",
                    "customer_wallet",
                    "customer_ref",
                    "amount",
                    "currency",
                    "points",
                    "qualifying_points",
                    "purchased_at",
                    "created_at",
                    "lines",
                    "paid_with",
                    "breakdown",
                ),
            )
            | {"partner_name": names.get(p.partner_id)}
            for p in purchases
        ],
        "refunds": [
            _row(r, ("partner_id", "refund_id", "amount", "points", "reason", "created_at"))
            | {"purchase_id": by_pk[r.purchase_pk].purchase_id}
            for r in refunds
        ],
        "redemptions": [
            _row(
                r,
                (
                    "partner_id",
                    "redemption_id",
                    "sku",
                    "quantity",
                    "points",
                    "customer_wallet",
                    "customer_ref",
                    "status",
                    "voucher_code",
                    "created_at",
                ),
            )
            | {"partner_name": names.get(r.partner_id)}
            for r in redemptions
        ],
        "points_holds": [
            _row(h, ("partner_id", "hold_id", "customer_wallet", "customer_ref", "points", "status", "expires_at"))
            for h in session.scalars(
                select(PointsHold).where(PointsHold.customer_wallet.in_(wallets)).order_by(PointsHold.id)
            )
        ],
        "sessions": [
            _row(s, ("wallet", "via", "created_at", "expires_at"))
            for s in session.scalars(select(CustomerSession).where(CustomerSession.wallet.in_(wallets)))
        ],
        "tier": _tier_of(session, customer_id),
        "erasures": [
            _row(e, ("requested_by", "erased", "erased_at"))
            for e in session.scalars(select(CustomerErasure).where(CustomerErasure.customer_id == customer_id))
        ],
    }


def _tier_of(session: Session, customer_id: int) -> dict[str, Any]:
    """The member's tier as stored (null before any ladder counted them), every change of it, and
    every movement of their qualifying points (which purchase or refund, at which partner)."""
    state = session.get(TierState, customer_id)
    changes = select(TierChangeRecord).where(TierChangeRecord.customer_id == customer_id)
    movements = select(TierMovement).where(TierMovement.customer_id == customer_id)
    return {
        "state": None
        if state is None
        else _row(state, ("ladder_version", "tier", "earned", "since", "manual_tier", "manual_until", "review_at")),
        "changes": [
            _row(c, ("from_tier", "to_tier", "reason", "at", "ladder_version"))
            for c in session.scalars(changes.order_by(TierChangeRecord.id))
        ],
        "qualifying_movements": [
            _row(m, ("points", "kind", "at", "counts_at", "source", "partner_id"))
            for m in session.scalars(movements.order_by(TierMovement.id))
        ],
    }


def erasure(session: Session, *, erasure_id: int) -> CustomerErasure | None:
    """An erasure done (who asked, when, how many rows of each kind: never the data), or None."""
    return session.get(CustomerErasure, erasure_id)


def new_pseudonym() -> str:
    """A random stand-in for an erased ref: nothing can derive it from the ref, or the ref from it."""
    return f"{ERASED}-{secrets.token_hex(12)}"


REF_KEYS = ("ref", "customer_ref")  # where a payload holds a partner's ref of a customer
FREE_TEXT_KEYS = ("reason",)  # a refund's reason, as the partner wrote it


def _scrub(value: Any, refs: dict[str, str], *, free_text: bool) -> Any:
    """``value`` (a JSON document) with every erased ref (a string under a key of
    :data:`REF_KEYS`, at any depth) replaced by its pseudonym, and (``free_text``: a refund's
    event) the partner's free text under :data:`FREE_TEXT_KEYS` removed."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in REF_KEYS and isinstance(v, str):
                out[k] = refs.get(v, v)
            elif free_text and k in FREE_TEXT_KEYS:
                out[k] = None
            else:
                out[k] = _scrub(v, refs, free_text=free_text)
        return out
    if isinstance(value, list):
        return [_scrub(v, refs, free_text=free_text) for v in value]
    return value


def _mentioning(column: Any, texts: list[str]) -> Any:
    return or_(*(cast(column, String).contains(text) for text in texts))


def erase(session: Session, *, customer_id: int, requested_by: str) -> CustomerErasure:
    """Erases the customer's personal data (see the module's docstring), records the erasure and
    its ``customer.erased`` event; the ledger and every amount stay. Not committed."""
    if requested_by not in REQUESTERS:
        raise ValueError(f"requested_by must be one of {', '.join(REQUESTERS)}")
    customer_records.get(session, customer_id=customer_id)
    wallets = customer_records.wallets_of(session, customer_id=customer_id)
    links = list(session.scalars(select(CustomerLink).where(CustomerLink.customer_id == customer_id)))
    erased: dict[str, int] = {}

    def count(kind: str, n: int) -> None:
        if n:
            erased[kind] = erased.get(kind, 0) + n

    pseudonyms: dict[int, dict[str, str]] = {}  # partner -> ref -> pseudonym
    for link in links:
        if link.ref.startswith(f"{ERASED}-"):
            continue
        alias = new_pseudonym()
        pseudonyms.setdefault(link.partner_id, {})[link.ref] = alias
        for model in (Purchase, Redemption, PointsHold):
            done = session.execute(
                update(model)
                .where(model.partner_id == link.partner_id, model.customer_ref == link.ref)
                # the request's hash covered the ref (a card number can be found again from its hash):
                # a random one instead; a retry of such a request after the erasure is a conflict
                .values(customer_ref=alias, request_hash=secrets.token_hex(32))
                .execution_options(synchronize_session=False)
            )
            count(f"{model.__tablename__}.customer_ref", done.rowcount)  # type: ignore[attr-defined]
        for model in (WalletChallenge, SignInLink):
            done = session.execute(delete(model).where(model.partner_id == link.partner_id, model.ref == link.ref))
            count(model.__tablename__, done.rowcount)  # type: ignore[attr-defined]
        link.ref = alias
        count("customer_links.ref", 1)
    if wallets:
        for model, column in (
            (WalletChallenge, WalletChallenge.address),
            (SignInLink, SignInLink.wallet),
            (CustomerSession, CustomerSession.wallet),
        ):
            done = session.execute(delete(model).where(column.in_(wallets)))
            count(model.__tablename__, done.rowcount)  # type: ignore[attr-defined]
        pks = select(Purchase.id).where(Purchase.customer_wallet.in_(wallets))
        done = session.execute(
            update(Refund)
            .where(Refund.purchase_pk.in_(pks), Refund.reason.is_not(None))
            .values(reason=None)
            .execution_options(synchronize_session=False)
        )
        count("refunds.reason", done.rowcount)  # type: ignore[attr-defined]
    count(
        "customer_profiles",
        session.execute(delete(CustomerProfile).where(CustomerProfile.customer_id == customer_id)).rowcount,
    )  # type: ignore[attr-defined]
    count(
        "member_enrolments",
        session.execute(delete(MemberEnrolment).where(MemberEnrolment.customer_id == customer_id)).rowcount,
    )  # type: ignore[attr-defined]
    done = session.execute(
        update(CustomerConsent)
        .where(CustomerConsent.customer_id == customer_id, CustomerConsent.source != ERASED)
        .values(source=ERASED)
        .execution_options(synchronize_session=False)
    )
    count("customer_consents.source", done.rowcount)  # type: ignore[attr-defined]
    done = session.execute(  # a message's address and variables are the customer's (its kind and log stay)
        update(Message)
        .where(Message.customer_id == customer_id)
        .values(address=None, data={})
        .execution_options(synchronize_session=False)
    )
    count("messages.address", done.rowcount)  # type: ignore[attr-defined]
    member = session.get(Member, customer_id)
    if member is not None:
        if member.referral_code is not None or member.referred_by_code is not None:
            count("members.referral_codes", 1)
        member.referral_code = member.referred_by_code = None
        member.erased_at = utcnow()
    count("copies", _swap_copies(session, wallets, pseudonyms))
    session.flush()
    row = CustomerErasure(customer_id=customer_id, requested_by=requested_by, erased=erased, erased_at=utcnow())
    session.add(row)
    session.flush()
    payload = {"customer_id": customer_id, "erasure_id": row.id, "requested_by": requested_by}
    record(session, "customer.erased", payload=payload)
    return row


def _swap_copies(session: Session, wallets: list[str], pseudonyms: dict[int, dict[str, str]]) -> int:
    """Scrubs the copies of the erased refs (each partner's own) and of refund reasons: in the
    domain events of the customer's wallets or naming an erased ref of their partner, the webhook
    deliveries of those events or naming a wallet or such a ref, and the operator's alerts about
    such a ref."""
    changed = 0
    by_partner = [
        (partner_id, refs) for partner_id, refs in pseudonyms.items() if refs
    ]  # a ref means something only at its partner: another partner's "123" is someone else

    def mentions(model: Any, column: Any, extra: Any = None) -> Any:
        clauses = [(model.partner_id == pid) & _mentioning(column, list(refs)) for pid, refs in by_partner]
        if extra is not None:
            clauses.append(extra)
        return or_(*clauses) if clauses else None

    event_ids: set[str] = set()
    where = mentions(DomainEvent, DomainEvent.payload, DomainEvent.customer_wallet.in_(wallets) if wallets else None)
    for event in session.scalars(select(DomainEvent).where(where)) if where is not None else ():
        event_ids.add(event.event_id)
        refs = pseudonyms.get(event.partner_id or 0, {})
        scrubbed = _scrub(event.payload, refs, free_text=event.type.startswith("refund."))
        if scrubbed != event.payload:
            event.payload = scrubbed
            changed += 1
    extra = [WebhookDelivery.event_id.in_(event_ids)] if event_ids else []
    if wallets:
        extra.append(_mentioning(WebhookDelivery.payload, wallets))
    where = mentions(WebhookDelivery, WebhookDelivery.payload, or_(*extra) if extra else None)
    for delivery in session.scalars(select(WebhookDelivery).where(where)) if where is not None else ():
        refs = pseudonyms.get(delivery.partner_id, {})
        scrubbed = _scrub(delivery.payload, refs, free_text=delivery.event_type.startswith("refund."))
        if scrubbed != delivery.payload:
            delivery.payload = scrubbed
            changed += 1
    for partner_id, refs in by_partner:
        where = or_(_mentioning(OperatorAlert.details, list(refs)), _mentioning(OperatorAlert.message, list(refs)))
        for alert in session.scalars(select(OperatorAlert).where(where)):
            if alert.details.get("partner_id") != partner_id:
                continue
            alert.details = _scrub(alert.details, refs, free_text=False)
            for ref, alias in refs.items():
                alert.message = alert.message.replace(ref, alias)
            changed += 1
    return changed
