"""Paying with points at the till: a hold of a customer's points (authorised in a card
authorisation's time), captured for a purchase, or released (by the partner, or by beat at its
expiry). The rules (what an amount buys, what is free to hold, what a capture takes) are
loyalty/points_payments.py; the tables network/store/points_payments.py.

Authorise: the consent checked as for a redemption (the customer's EIP-712 ``Redeem`` of exactly
the held points, with the ref of the hold's future burn; or the custodial rule: the custodian
partner naming its own ref, within the custodial daily limit), then, under the wallet's lock, what
the wallet promised (redemptions in flight, open holds) subtracted from its balance on chain: the
hold is stored only if the points are free, so two holds (or a hold and a redemption) never
spend the same points. The balance and the consent's nonce on chain are one batch of two
``eth_call`` (one round trip on a kept-alive connection, network/eth_calls.py), read before the
lock; the hold writes one row.

Refund: a refund of a purchase paid partly with points gives them back in proportion (``give_back``),
recorded against the refund and restored on chain by the partner (``CoalitionPoints.restore`` of
each capture, at the capture's own rate: the reverse of its credit); what the purchase earned is
clawed back as for any refund (gateway/services/refunds.py).

Capture: the hold's points (or a part) become a redemption at the partner, ``hold:<hold_id>``,
with no reward, burned by the relayer like any redemption (gateway/services/burns.py), through
``captureWithSignature`` (a restorable redemption), and settled like any (its ``Redeemed`` event,
reimbursed at the partner's rate). Idempotent on the hold id:
the same capture again answers the same; another purchase is a conflict.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import String, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import (
    CaptureExceedsHold,
    ConsentRequired,
    CustodialLimitReached,
    CustomerNotLinked,
    HoldNotOpen,
    InsufficientPoints,
    InvalidSignature,
    NonceUsed,
    NotFound,
    PartnerSuspended,
    PointsAmountTooSmall,
    SignatureExpired,
)
from gateway.schemas import CustomerRef
from gateway.schemas_points import HoldCapture, HoldConsentRequest, HoldCreate
from gateway.schemas_redemptions import Consent
from gateway.services import custody, customer_records
from gateway.services.consent_nonces import next_nonce
from gateway.services.idempotency import body_hash, same_or_conflict
from gateway.services.redemption_acceptance import CONSENT_REQUIRED, CUSTODIAL_WINDOW, typed_data
from gateway.services.redemptions import PointsView, consent_now, redeem_ref
from gateway.services.wallet_promises import lock_wallet, promised
from gateway.settings import GatewaySettings
from loyalty import points_payments as rules
from network.relayer import CAPTURE_SKU
from network.restores import enqueue_restore, refund_ref
from network.signatures import RedeemConsent, recover_redeem_signer, sign_redeem
from network.store import OutboxRestore, Partner, PointsGiveBack, PointsHold, Purchase, Redemption, Refund

POINTS_PAYMENT_SKU = CAPTURE_SKU  # the sku of a captured hold's redemption: burned by captureWithSignature
CONSENT_MARGIN = timedelta(seconds=60)  # a hold lapses this long before its consent's deadline, to leave the burn time
EXPIRE_BATCH = 1_000
BURN_CLOCK_MARGIN = timedelta(seconds=5)  # the workers' clocks against this one's (burned_at)
_SQLITE_WRITERS: dict[str, threading.Lock] = {}


@contextmanager
def _one_writer(session: Session) -> Iterator[None]:
    """SQLite has one writer at a time: the authorisations of this process wait for each other on
    a mutex instead of SQLite's busy handler, which sleeps 1 to 100 ms between tries (the tail of
    a till's answer). Nothing on PostgreSQL (the wallet's row lock is enough)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    lock = _SQLITE_WRITERS.setdefault(str(bind.url), threading.Lock())
    with lock:
        yield


# a consent's nonce used by a redemption or a hold of the wallet; built once (compiled once)
_NONCE_USED = select(
    or_(
        exists().where(
            Redemption.customer_wallet == bindparam("wallet", type_=String),
            Redemption.nonce == bindparam("nonce", type_=String),
        ),
        exists().where(
            PointsHold.customer_wallet == bindparam("wallet", type_=String),
            PointsHold.nonce == bindparam("nonce", type_=String),
        ),
    )
)


def redemption_id_of(hold_id: str) -> str:
    """The redemption that burns a captured hold's points."""
    return f"hold:{hold_id}"


def find_hold(session: Session, *, partner_id: int, hold_id: str) -> PointsHold | None:
    return session.scalar(select(PointsHold).where(PointsHold.partner_id == partner_id, PointsHold.hold_id == hold_id))


def get_hold(session: Session, *, partner: Partner, hold_id: str) -> PointsHold:
    hold = find_hold(session, partner_id=partner.id, hold_id=hold_id)
    if hold is None:
        raise NotFound(f"no points hold {hold_id!r} of this partner")
    return hold


def redemption_of(session: Session, hold: PointsHold) -> Redemption | None:
    return None if hold.redemption_pk is None else session.get(Redemption, hold.redemption_pk)


def _quote(partner: Partner, body: HoldConsentRequest | HoldCreate) -> rules.Quote:
    if partner.reimbursement_rate <= 0:
        raise PointsAmountTooSmall(
            f"partner {partner.id}'s point value (its reimbursement rate) is 0: it cannot take points as money"
        )
    try:
        return rules.quote(point_value=partner.reimbursement_rate, amount=body.amount, points=body.points)
    except rules.AmountTooSmall as exc:
        raise PointsAmountTooSmall(str(exc)) from None


def _wallet(session: Session, partner: Partner, customer: CustomerRef) -> str:
    if partner.status != "active":
        raise PartnerSuspended(f"partner {partner.id} is suspended; points are not taken")
    if customer.wallet is not None:
        return customer.wallet
    assert customer.ref is not None  # the schema asks for exactly one of the two
    link = customer_records.find_link(session, partner_id=partner.id, ref=customer.ref)
    if link is None:
        raise CustomerNotLinked(f"customer ref {customer.ref!r} is not linked to a wallet; link it first")
    return link.wallet


@dataclass(frozen=True)
class PreparedHoldConsent:
    hold_id: str
    quote: rules.Quote
    consent: RedeemConsent
    typed_data: dict


def prepare_consent(
    session: Session, *, partner: Partner, body: HoldConsentRequest, view: PointsView, settings: GatewaySettings
) -> PreparedHoldConsent:
    """The typed data the customer's wallet signs to let the hold's points be burned."""
    wallet = _wallet(session, partner, body.customer)
    quote = _quote(partner, body)
    consent = RedeemConsent(
        customer=wallet,
        partner_id=partner.id,
        points=quote.points,
        ref=_ref_bytes(view, partner.id, body.hold_id),
        nonce=next_nonce(session, wallet),
        deadline=consent_now(view) + settings.redemption_consent_ttl_s,
    )
    return PreparedHoldConsent(body.hold_id, quote, consent, typed_data(view, consent))


def _ref_bytes(view: PointsView, partner_id: int, hold_id: str) -> bytes:
    return bytes.fromhex(redeem_ref(view.chain_id, partner_id, redemption_id_of(hold_id))[2:])


def authorise(
    session: Session,
    *,
    partner: Partner,
    body: HoldCreate,
    view: PointsView,
    settings: GatewaySettings,
    now: datetime | None = None,
) -> tuple[PointsHold, bool]:
    """Holds the points if they are free, or returns the first hold of this id and body. Returns
    (hold, created); raises the refusal (insufficient points, consent invalid, ...)."""
    now = now or datetime.now(UTC)
    digest = body_hash(body.model_dump(mode="json"))
    existing = find_hold(session, partner_id=partner.id, hold_id=body.hold_id)
    if existing is not None:
        return same_or_conflict(existing, digest, "hold_id", body.hold_id), False
    wallet = _wallet(session, partner, body.customer)
    quote = _quote(partner, body)
    expires_at = now + timedelta(seconds=settings.points_hold_ttl_s)
    consent = body.consent
    # the chain's balance first, outside the lock (with the consent's nonce: one round trip); then
    # the lock and what the wallet promised, burns since the balance was read included
    # (gateway/services/wallet_promises.py)
    read_at = datetime.now(UTC) - BURN_CLOCK_MARGIN
    if consent is None:
        by_ref = body.customer.ref is not None
        custodial = by_ref and custody.custodial_account(session, settings, wallet, partner_id=partner.id) is not None
        if not custodial:
            raise ConsentRequired(CONSENT_REQUIRED)
        balance = view.balance_of(wallet)
    else:
        custodial = False
        balance, used_on_chain = view.balance_and_nonce_used(wallet, consent.nonce)
        _check_consent(
            session, view, wallet, partner.id, body.hold_id, quote.points, consent, now, used_on_chain=used_on_chain
        )
        expires_at = min(expires_at, datetime.fromtimestamp(consent.deadline, UTC) - CONSENT_MARGIN)
        if expires_at <= now:
            raise SignatureExpired(
                f"the consent's deadline {consent.deadline} leaves no time to capture; ask the customer to sign again"
            )
    hold = PointsHold(
        partner_id=partner.id,
        hold_id=body.hold_id,
        request_hash=digest,
        customer_wallet=wallet,
        customer_ref=body.customer.ref,
        custodial=custodial,
        points=quote.points,
        point_value=quote.point_value,
        money_value=quote.money_value,
        nonce=None if consent is None else str(consent.nonce),
        deadline=None if consent is None else consent.deadline,
        signature=None if consent is None else bytes.fromhex(consent.signature[2:]),
        status="authorised",
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    try:
        with _one_writer(session):
            try:
                lock_wallet(session, wallet)
                in_flight, held = promised(session, wallet, now=now, balance_read_at=read_at)
                if custodial:
                    _check_custodial_limit(session, settings, wallet, quote.points, now)
                free = rules.available(balance=balance, in_flight=in_flight, held=held)
                if free < quote.points:
                    raise InsufficientPoints(
                        f"{wallet} has {balance} points, {in_flight} of them promised to redemptions in flight "
                        f"and {held} held at tills; {quote.points} needed"
                    )
                session.add(hold)
                session.commit()
            except BaseException:
                session.rollback()  # inside the mutex: the next writer finds SQLite's lock free
                raise
    except IntegrityError:
        session.rollback()  # a concurrent request took this hold_id, or this nonce
        existing = find_hold(session, partner_id=partner.id, hold_id=body.hold_id)
        if existing is not None:
            return same_or_conflict(existing, digest, "hold_id", body.hold_id), False
        raise NonceUsed(f"nonce {consent.nonce if consent else '?'} of {wallet} is used by another hold") from None
    except BaseException:
        session.rollback()
        raise
    return hold, True


def _check_consent(
    session: Session,
    view: PointsView,
    wallet: str,
    partner_id: int,
    hold_id: str,
    points: int,
    given: Consent,
    now: datetime,
    *,
    used_on_chain: bool | None = None,
) -> None:
    """The customer's signature of a ``Redeem`` of ``points`` with the hold's ref: not expired,
    its nonce unused (by a redemption, a hold, or on chain: ``used_on_chain`` when the caller
    read it already), signed by the wallet."""
    if given.deadline <= int(now.timestamp()):
        raise SignatureExpired(f"the consent's deadline {given.deadline} has passed; ask the customer to sign again")
    used = session.scalar(_NONCE_USED, {"wallet": wallet, "nonce": str(given.nonce)})  # one round trip
    if used or (view.nonce_used(wallet, given.nonce) if used_on_chain is None else used_on_chain):
        raise NonceUsed(f"nonce {given.nonce} of {wallet} was used already: a consent works once")
    consent = RedeemConsent(
        wallet, partner_id, points, _ref_bytes(view, partner_id, hold_id), given.nonce, given.deadline
    )
    try:
        signer = recover_redeem_signer(
            bytes.fromhex(given.signature[2:]), consent, chain_id=view.chain_id, points_address=view.points_address
        )
    except Exception:
        signer = None
    if signer != wallet:
        raise InvalidSignature(
            f"the consent is not signed by {wallet} for {points} points at partner {partner_id} for hold {hold_id!r}"
        )


def _check_custodial_limit(
    session: Session, settings: GatewaySettings, wallet: str, points: int, now: datetime
) -> None:
    """The custodial daily limit counts redemptions (captured holds among them) and open holds."""
    limit = settings.custodial_daily_points_limit
    since = now - CUSTODIAL_WINDOW
    spent = session.scalar(
        select(func.coalesce(func.sum(Redemption.points), 0)).where(
            Redemption.customer_wallet == wallet,
            Redemption.custodial.is_(True),
            Redemption.status != "failed",
            Redemption.created_at > since,
        )
    )
    held = session.scalar(
        select(func.coalesce(func.sum(PointsHold.points), 0)).where(
            PointsHold.customer_wallet == wallet,
            PointsHold.custodial.is_(True),
            PointsHold.status == "authorised",
            PointsHold.expires_at > now,
        )
    )
    total = int(spent or 0) + int(held or 0)
    if total + points > limit:
        raise CustodialLimitReached(
            f"custodial wallet {wallet} may spend {limit} points in any 24 h on its custodian's word; "
            f"{total} spent or held, {points} asked"
        )


def capture(
    session: Session,
    *,
    partner: Partner,
    hold_id: str,
    body: HoldCapture,
    view: PointsView,
    settings: GatewaySettings,
    now: datetime | None = None,
) -> tuple[PointsHold, Redemption | None]:
    """Captures the hold (all, or a part) for ``body.purchase_id``: its redemption stored
    (accepted, to be burned by the relayer) and the hold captured, in one transaction. Returns
    (hold, the redemption created: None when this capture was answered before)."""
    now = now or datetime.now(UTC)
    digest = body_hash(body.model_dump(mode="json"))
    hold = get_hold(session, partner=partner, hold_id=hold_id)
    if hold.status == "captured":
        if hold.capture_hash != digest:
            raise HoldNotOpen(f"hold {hold_id!r} was captured for purchase {hold.purchase_id!r} with another body")
        return hold, None
    if not rules.is_open(hold.status, hold.expires_at, now):
        why = "released by the partner" if hold.release_reason == "partner" else f"expired at {hold.expires_at}"
        raise HoldNotOpen(f"hold {hold_id!r} is {why}; nothing was burned")
    try:
        asked = None if body.amount is None else rules.quote(point_value=hold.point_value, amount=body.amount).points
        points = rules.capture_points(held=hold.points, amount_points=asked if body.points is None else body.points)
    except rules.CaptureExceedsHold as exc:
        raise CaptureExceedsHold(str(exc)) from None
    except rules.AmountTooSmall as exc:
        raise PointsAmountTooSmall(str(exc)) from None
    ref_bytes = _ref_bytes(view, partner.id, hold_id)
    if hold.custodial:
        account = custody.custodial_account(session, settings, hold.customer_wallet, partner_id=partner.id)
        if account is None:
            raise ConsentRequired(CONSENT_REQUIRED)  # released since: the customer signs now
        dated = max(int(now.timestamp()), consent_now(view))  # the chain's clock where it runs ahead
        nonce, deadline = next_nonce(session, hold.customer_wallet), dated + settings.redemption_consent_ttl_s
        consent = RedeemConsent(hold.customer_wallet, partner.id, points, ref_bytes, nonce, deadline)
        signature = sign_redeem(account.key, consent, chain_id=view.chain_id, points_address=view.points_address)
    elif points == hold.points:
        assert hold.nonce is not None and hold.deadline is not None and hold.signature is not None
        nonce, deadline, signature = int(hold.nonce), hold.deadline, hold.signature
    else:
        if body.consent is None:
            raise ConsentRequired(
                f"a partial capture of hold {hold_id!r} needs the customer's consent for {points} points "
                "(POST /v1/points-holds/consent with the same hold_id and points); its signature is for all of "
                f"its {hold.points} points"
            )
        _check_consent(session, view, hold.customer_wallet, partner.id, hold_id, points, body.consent, now)
        nonce, deadline = body.consent.nonce, body.consent.deadline
        signature = bytes.fromhex(body.consent.signature[2:])
    redemption = Redemption(
        partner_id=partner.id,
        redemption_id=redemption_id_of(hold_id),
        request_hash=digest,
        reward_id=None,
        sku=POINTS_PAYMENT_SKU,
        quantity=1,
        points=points,
        stock_reserved=False,
        customer_wallet=hold.customer_wallet,
        customer_ref=hold.customer_ref,
        custodial=hold.custodial,
        ref="0x" + ref_bytes.hex(),
        nonce=str(nonce),
        deadline=deadline,
        signature=signature,
        status="accepted",
        attempts=0,
    )
    try:
        session.add(redemption)
        session.flush()
        moved = session.execute(
            update(PointsHold)
            .where(PointsHold.id == hold.id, PointsHold.status == "authorised")
            .values(
                status="captured",
                purchase_id=body.purchase_id,
                capture_hash=digest,
                captured_points=points,
                redemption_pk=redemption.id,
                updated_at=now,
                finished_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise IntegrityError("capture", {}, Exception("the hold moved on meanwhile"))
        session.commit()
    except IntegrityError:
        session.rollback()  # a concurrent capture (or release) of the same hold won
        hold = get_hold(session, partner=partner, hold_id=hold_id)
        session.refresh(hold)
        if hold.status == "captured" and hold.capture_hash == digest:
            return hold, None
        raise HoldNotOpen(f"hold {hold_id!r} is {hold.status} (by another request)") from None
    session.refresh(hold)
    return hold, redemption


def release(session: Session, *, partner: Partner, hold_id: str, now: datetime | None = None) -> PointsHold:
    """The partner gives the held points back (the sale went another way). Releasing a released
    hold answers it again; a captured one cannot be released (refund the purchase instead)."""
    now = now or datetime.now(UTC)
    hold = get_hold(session, partner=partner, hold_id=hold_id)
    if hold.status == "authorised":
        session.execute(
            update(PointsHold)
            .where(PointsHold.id == hold.id, PointsHold.status == "authorised")
            .values(status="released", release_reason="partner", updated_at=now, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        session.refresh(hold)
    if hold.status == "captured":
        raise HoldNotOpen(
            f"hold {hold_id!r} was captured for purchase {hold.purchase_id!r}; "
            "refund the purchase to give the points back"
        )
    return hold


def expire_due(session: Session, *, now: datetime | None = None, limit: int = EXPIRE_BATCH) -> int:
    """Releases the authorised holds past their expiry (at most ``limit``); returns how many. They
    hold nothing already (``rules.is_open``): this makes their status say so."""
    now = now or datetime.now(UTC)
    due = list(
        session.scalars(
            select(PointsHold.id)
            .where(PointsHold.status == "authorised", PointsHold.expires_at <= now)
            .order_by(PointsHold.id)
            .limit(limit)
        )
    )
    if not due:
        return 0
    result = session.execute(
        update(PointsHold)
        .where(PointsHold.id.in_(due), PointsHold.status == "authorised")
        .values(status="released", release_reason="expired", updated_at=now, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- refunds give the points back


def give_back(
    session: Session, *, purchase: Purchase, refund: Refund, refunded_amount: Decimal | None
) -> PointsGiveBack | None:
    """In the refund's transaction (the caller commits; the purchase's row is locked first, so
    refunds of one purchase run one at a time): the points this refund gives back of what the
    purchase was paid with in points (holds captured for it whose burn did not fail), in
    proportion to the part of the purchase refunded so far (``refunded_amount``, this refund
    included; None: all of it), less what earlier refunds gave back. Recorded against the refund
    and restored on chain by the partner's minter (``CoalitionPoints.restore``, through the
    restore outbox): split over the captures, oldest first, each within what it burned less what
    was given back of it, and valued at its own reimbursement rate, so that the partner is debited
    exactly what those points were credited. None when nothing is due."""
    captures = list(
        session.execute(
            select(PointsHold, Redemption)
            .join(Redemption, Redemption.id == PointsHold.redemption_pk)
            .where(
                PointsHold.partner_id == purchase.partner_id,
                PointsHold.purchase_id == purchase.purchase_id,
                PointsHold.status == "captured",
                Redemption.status != "failed",
            )
            .order_by(PointsHold.id)
        ).tuples()
    )
    paid = sum(int(hold.captured_points or 0) for hold, _ in captures)
    if not paid:
        return None
    already = session.scalar(
        select(func.coalesce(func.sum(PointsGiveBack.points), 0)).where(PointsGiveBack.purchase_pk == purchase.id)
    )
    amount = Decimal(purchase.amount)
    due = rules.given_back(
        paid_points=paid,
        refunded=amount if refunded_amount is None else refunded_amount,
        amount=amount,
        already_given=int(already or 0),
    )
    if due <= 0:
        return None
    back = PointsGiveBack(
        partner_id=purchase.partner_id,
        refund_pk=refund.id,
        purchase_pk=purchase.id,
        customer_wallet=captures[0][0].customer_wallet,
        points=due,
    )
    session.add(back)
    session.flush()
    restored = {
        pk: int(total or 0)
        for pk, total in session.execute(
            select(OutboxRestore.redemption_pk, func.sum(OutboxRestore.points))
            .where(OutboxRestore.redemption_pk.in_([r.id for _, r in captures]))
            .group_by(OutboxRestore.redemption_pk)
        )
    }
    pieces = rules.split_give_back(
        due, [int(hold.captured_points or 0) - int(restored.get(r.id, 0)) for hold, r in captures]
    )
    ref = refund_ref(purchase.partner_id, refund.refund_id)
    for (_, redemption), points in zip(captures, pieces, strict=True):
        if points:
            enqueue_restore(
                session,
                partner_id=purchase.partner_id,
                give_back_id=back.id,
                redemption=redemption,
                refund_ref=ref,
                points=points,
            )
    return back


def check_paid_with(session: Session, items: list[tuple[int, str, Decimal]]) -> dict[tuple[int, str], str]:
    """For (partner id, purchase id, ``paid_with.points``) of purchases about to be accepted: why
    each one's ``paid_with.points`` is not the money value of the holds captured for it (burn not
    failed), by (partner id, purchase id); a purchase absent from the answer matches. One query."""
    if not items:
        return {}
    keys = {(pid, purchase_id) for pid, purchase_id, _ in items}
    captured: dict[tuple[int, str], tuple[int, int]] = {}
    rows = session.execute(
        select(PointsHold.partner_id, PointsHold.purchase_id, PointsHold.captured_points, PointsHold.point_value)
        .join(Redemption, Redemption.id == PointsHold.redemption_pk)
        .where(
            PointsHold.partner_id.in_({pid for pid, _ in keys}),
            PointsHold.purchase_id.in_({purchase_id for _, purchase_id in keys}),
            PointsHold.status == "captured",
            Redemption.status != "failed",
        )
    )
    for pid, purchase_id, points, point_value in rows:
        if (pid, purchase_id) in keys:
            p, v = captured.get((pid, purchase_id), (0, 0))
            captured[(pid, purchase_id)] = (p + int(points or 0), v + int(points or 0) * int(point_value))
    out = {}
    for pid, purchase_id, paid in items:
        points, value = captured.get((pid, purchase_id), (0, 0))
        why = rules.paid_with_mismatch(paid=paid, captured_points=points, captured_value=value, purchase_id=purchase_id)
        if why is not None:
            out[(pid, purchase_id)] = why
    return out


def given_back_for(session: Session, hold: PointsHold) -> int:
    """Points given back so far by refunds of the purchase the hold was captured for."""
    if hold.purchase_id is None:
        return 0
    total = session.scalar(
        select(func.coalesce(func.sum(PointsGiveBack.points), 0))
        .join(Purchase, Purchase.id == PointsGiveBack.purchase_pk)
        .where(Purchase.partner_id == hold.partner_id, Purchase.purchase_id == hold.purchase_id)
    )
    return int(total or 0)
