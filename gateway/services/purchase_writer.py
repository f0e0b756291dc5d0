"""Purchase acceptance, written by the store's group commit (network/store/group_commit.py).

A request hands its validated purchases to :meth:`PurchaseWriter.submit` and waits for the
outcome; the writer's thread takes whatever is queued, applies the earn rule, checks
idempotency (against the store and within the group), evaluates the partners' earning rules
(gateway/services/earning.py: the active rule sets read once per group, each partner's purchases
evaluated together, their caps' usage written in the same transaction), takes a run of sequence numbers per
partner with one UPDATE, and writes the outbox entries (network/outbox.py ``enqueue_many``), the
purchases and one ``purchase.accepted`` domain event each (network/store/events.py), each kind
in one ``executemany``, in one transaction; it answers only after the commit: an accepted
purchase and its event are on disk before its 202. A concurrent replica that wrote the same
``purchase_id`` between our read and our insert fails the group; each of its purchases is then
written alone, and answered as a replay or a conflict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import (
    AmountTooLarge,
    CurrencyNotAccepted,
    CustomerNotLinked,
    GatewayError,
    LinesInvalid,
    LinesMismatch,
    NoPoints,
    NotFound,
    PartnerSuspended,
    PointsPaymentMismatch,
)
from gateway.schemas import PurchaseCreate
from gateway.services import points_holds
from gateway.services.campaigns_accept import AcceptedPurchase, CampaignsCache, apply_purchase_campaigns
from gateway.services.earning import RulesCache, add_cap_usage, apply_plan_multipliers, basket_of, earn
from gateway.services.idempotency import same_or_conflict
from gateway.services.purchases import failure, points_for, request_hash, status_of
from gateway.timeutil import as_utc
from loyalty.earning import Earning
from loyalty.earning_rules import CompiledRules
from loyalty.lines import Basket, BasketInvalid, Line, check_basket, from_units
from network.outbox import enqueue_many
from network.purchases import MAX_POINTS
from network.store import CustomerLink, Partner, Purchase, utcnow
from network.store.events import event_row, record_many
from network.store.group_commit import GroupCommitWriter

log = logging.getLogger(__name__)
ACCEPTED = "purchase.accepted"


@dataclass(frozen=True, slots=True)
class PurchaseView:
    """A stored purchase and where it stands: what the API answers."""

    purchase_id: str
    status: str
    customer_wallet: str
    amount: Decimal
    currency: str
    points: int
    rule: dict[str, Any]
    seq: int
    purchased_at: datetime
    accepted_at: datetime
    tx_hash: str | None = None
    batch_id: int | None = None
    failure_reason: str | None = None
    failure: dict[str, str] | None = None  # the problem behind failure_reason (gateway/failures.py)
    breakdown: list[dict[str, Any]] | None = None  # which rule gave which points (None: by the rate alone)


@dataclass(frozen=True, slots=True)
class Outcome:
    view: PurchaseView
    created: bool  # False: a replay, the first answer to an earlier post of the same purchase_id and body


@dataclass(slots=True)
class Submitted:
    """One purchase in the writer: its answer is an ``Outcome`` or the error that refused it."""

    partner_id: int
    body: PurchaseCreate
    max_amount: Decimal
    digest: str
    result: Outcome | BaseException | None = None


def view_of(session: Session, purchase: Purchase) -> PurchaseView:
    """The view of a stored purchase, its status read from its outbox entry."""
    name, tx_hash, batch_id, reason = status_of(session, purchase)
    return _view(
        purchase, name, tx_hash=tx_hash, batch_id=batch_id, failure_reason=reason, failure=failure(name, reason)
    )


def first_answer(purchase: Purchase) -> PurchaseView:
    """The answer its first post got, rebuilt from the stored purchase: accepted, nothing on chain
    yet. A duplicate post is answered this, byte for byte, whatever the purchase became since
    (an idempotent retry must not tell apart whether the first attempt arrived; where it stands
    now is for ``GET``, the status URL and the webhooks)."""
    return _view(purchase, "accepted")


def _view(purchase: Purchase, status: str, **chain: Any) -> PurchaseView:
    return PurchaseView(
        purchase_id=purchase.purchase_id,
        status=status,
        customer_wallet=purchase.customer_wallet,
        amount=purchase.amount,
        currency=purchase.currency,
        points=purchase.points,
        rule=purchase.rule,
        seq=purchase.seq,
        purchased_at=as_utc(purchase.purchased_at),
        accepted_at=as_utc(purchase.created_at),
        breakdown=purchase.breakdown,
        **chain,
    )


Breakdown = list[dict[str, Any]] | None
# a purchase to write: (item, wallet, points, rule, breakdown)
New = tuple[Submitted, str, int, dict[str, Any], Breakdown, int | None]  # ..., qualifying points
Pending = tuple[Submitted, Partner, str]  # a new purchase checked, its points to come: (item, partner, wallet)


@dataclass(slots=True)
class Group:
    """What a group wrote: its new purchases, their views, and the same ids again within it."""

    new: list[New]
    views: list[PurchaseView]
    followers: list[tuple[Submitted, Submitted]]
    funders: set[int]  # partners whose campaigns gave points in the group (their drains to start)


class PurchaseWriter(GroupCommitWriter[Submitted, Group]):
    """The purchase acceptance of one store (see the module doc). ``on_committed`` is called
    after each commit with the partners that have new purchases (to start their drains)."""

    thread_name = "purchase-writer"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        on_committed: Callable[[set[int]], None] = lambda partners: None,
        max_group: int = 2000,
    ) -> None:
        super().__init__(sessions, max_group)
        self.on_committed = on_committed
        self.written = 0
        self.rules = RulesCache()
        self.campaigns = CampaignsCache()

    def submit(
        self, partner_id: int, bodies: Iterable[PurchaseCreate], max_amount: Decimal
    ) -> Future[list[Outcome | BaseException]]:
        """Queues purchases of one partner; the future ends with, for each in order, its
        ``Outcome`` or the error (a ``GatewayError`` for a refusal) that refused it."""
        return self.enqueue([Submitted(partner_id, b, max_amount, request_hash(b)) for b in bodies])

    def failed_alone(self, item: Submitted, exc: Exception) -> None:
        """After a lone purchase failed to write: a concurrent writer stored the same
        ``purchase_id`` (answer as a replay or a conflict), else the error is the answer."""
        if isinstance(exc, IntegrityError):
            try:
                with self.sessions() as session:
                    existing = _find(session, item.partner_id, [item.body.purchase_id]).get(item.body.purchase_id)
                    if existing is not None:
                        same_or_conflict(existing, item.digest, "purchase_id", existing.purchase_id)
                        _resolve(item, Outcome(first_answer(existing), created=False))
                        return
            except GatewayError as refused:
                _fail(item, refused)
                return
            except Exception as again:
                exc = again
        _fail(item, exc)

    def write_group(self, session: Session, group: list[Submitted]) -> Group | None:
        """The group's new purchases, written (not committed); refused and replayed purchases
        get their answers now, the new ones after the commit. None: nothing new."""
        now = utcnow()
        partner_ids = {i.partner_id for i in group}
        active = self.rules.active(session, partner_ids)
        query = select(Partner).where(Partner.id.in_(partner_ids))
        if active:  # caps and first purchases read, then written: one group of a partner at a time
            query = query.order_by(Partner.id).with_for_update()
        partners = {p.id: p for p in session.scalars(query)}
        stored = _find_many(session, [(i.partner_id, i.body.purchase_id) for i in group])
        links = _links(session, [(i.partner_id, i.body.customer.ref) for i in group if i.body.customer.ref])
        first_in_group: dict[tuple[int, str], Submitted] = {}
        pending: list[Pending] = []
        followers: list[tuple[Submitted, Submitted]] = []  # same id again within the group
        for item in group:
            key = (item.partner_id, item.body.purchase_id)
            try:
                if key in stored:
                    existing = same_or_conflict(stored[key], item.digest, "purchase_id", key[1])
                    _resolve(item, Outcome(first_answer(existing), created=False))
                elif key in first_in_group:
                    same_or_conflict(first_in_group[key], item.digest, "purchase_id", key[1])
                    followers.append((item, first_in_group[key]))
                else:
                    partner, wallet = _check(partners.get(item.partner_id), item, links)
                    first_in_group[key] = item
                    pending.append((item, partner, wallet))
            except GatewayError as refused:
                _fail(item, refused)
        pending = _paid_with_checked(session, pending)
        new = self._earn(session, pending, active, now)
        for follower, first in [f for f in followers if f[1].result is not None]:
            _fail(follower, first.result)  # type: ignore[arg-type]  # its first was refused by the rules
        followers = [f for f in followers if f[1].result is None]
        if not new:
            return None
        views = _insert(session, new, now)
        funders = apply_purchase_campaigns(session, accepted=_accepted(new, views), now=now, cache=self.campaigns)
        return Group(new, views, followers, funders)

    def committed(self, group: list[Submitted], written: Group) -> None:
        self.written += len(written.new)
        for (item, *_), view in zip(written.new, written.views, strict=True):
            _resolve(item, Outcome(view, created=True))
        for item, first in written.followers:
            if isinstance(first.result, Outcome):
                _resolve(item, Outcome(first.result.view, created=False))
            else:
                _fail(item, first.result or RuntimeError("no answer"))
        partners = {item.partner_id for item, *_ in written.new} | written.funders
        try:
            self.on_committed(partners)
        except Exception:
            log.exception("could not start the drains of partners %s", sorted(partners))

    def _earn(
        self, session: Session, pending: list[Pending], active: dict[int, CompiledRules], now: datetime
    ) -> list[New]:
        """The points of each pending purchase, in order: by ``points_for`` for a partner without
        rules and a purchase without lines or tenders (today's rule, exactly), else by the rules
        (the partner's active set, or its rate as rules), each partner's purchases together;
        a refused one is answered now and left out."""
        found: list[tuple[int, dict[str, Any], Breakdown, int | None] | None] = [None] * len(pending)
        by_partner: dict[int, tuple[CompiledRules, list[tuple[int, str, Basket]]]] = {}
        for i, (item, partner, wallet) in enumerate(pending):
            body = item.body
            compiled = active.get(partner.id)
            try:
                if compiled is None and body.lines is None and body.paid_with is None:
                    points, rule = points_for(partner, body.amount, body.currency)
                    found[i] = (points, rule, None, None)
                    continue
                compiled = compiled or self.rules.rate(partner)
                basket = _basket(compiled, body, now)
            except GatewayError as refused:
                _fail(item, refused)
                continue
            by_partner.setdefault(partner.id, (compiled, []))[1].append((i, wallet, basket))
        if by_partner:
            earned = earn(
                session, {pid: (rules, [(w, b) for _, w, b in items]) for pid, (rules, items) in by_partner.items()}
            )
            accepted: dict[int, list[int]] = {}
            for partner_id, (compiled, items) in by_partner.items():
                for j, ((i, _, basket), earning) in enumerate(zip(items, earned[partner_id].earnings, strict=True)):
                    try:
                        points = _points(earning, basket)
                        qualifying = min(points, earning.qualifying_points)
                        found[i] = (points, _rule_of(compiled), earning.breakdown_json(), qualifying)
                        accepted.setdefault(partner_id, []).append(j)
                    except GatewayError as refused:
                        _fail(pending[i][0], refused)
            add_cap_usage(session, earned, accepted)
        found = apply_plan_multipliers(session, found, [(p.id, w) for _, p, w in pending], now=now)
        return [
            (item, wallet, *result)
            for (item, _, wallet), result in zip(pending, found, strict=True)
            if result is not None
        ]


def _accepted(new: list[New], views: list[PurchaseView]) -> list[AcceptedPurchase]:
    """The group's new purchases as the campaigns see them."""
    return [
        AcceptedPurchase(
            partner_id=item.partner_id,
            purchase_id=view.purchase_id,
            wallet=wallet,
            amount=view.amount,
            purchased_at=view.purchased_at,
            lines=[Line(x.sku, x.unit_price, x.quantity, x.category, x.discount, frozenset(x.labels))
                   for x in item.body.lines or ()],
            earned=points,
        )
        for (item, wallet, points, *_), view in zip(new, views, strict=True)
    ]  # fmt: skip


def _paid_with_checked(session: Session, pending: list[Pending]) -> list[Pending]:
    """The pending purchases whose ``paid_with.points`` is what the holds captured for them are
    worth; the others are refused (``PointsPaymentMismatch``). Purchases paid without points
    cost nothing here."""
    paid = [
        (item.partner_id, item.body.purchase_id, item.body.paid_with.points)
        for item, _, _ in pending
        if item.body.paid_with is not None and item.body.paid_with.points > 0
    ]
    if not paid:
        return pending
    refused = points_holds.check_paid_with(session, paid)
    kept = []
    for entry in pending:
        why = refused.get((entry[0].partner_id, entry[0].body.purchase_id))
        if why is None:
            kept.append(entry)
        else:
            _fail(entry[0], PointsPaymentMismatch(why))
    return kept


def _basket(compiled: CompiledRules, body: PurchaseCreate, now: datetime) -> Basket:
    """The purchase as the rules see it, checked: its lines add up (else ``LinesMismatch``)."""
    if body.currency != compiled.ruleset.currency:
        raise CurrencyNotAccepted(f"partner earns points on {compiled.ruleset.currency} purchases, not {body.currency}")
    purchased_at = now if body.purchased_at is None else as_utc(body.purchased_at)
    basket = basket_of(body.amount, body.currency, purchased_at, body.lines, body.paid_with)
    try:
        check_basket(basket)
    except BasketInvalid as exc:
        detail = str(exc).removeprefix("lines: ")
        raise (LinesMismatch(detail) if exc.field == "lines" else LinesInvalid(str(exc))) from exc
    return basket


def _points(earning: Earning, basket: Basket) -> int:
    """The points of an evaluated purchase, or ``NoPoints`` saying why it earns none."""
    if earning.points > MAX_POINTS:
        raise NoPoints(f"{earning.points} points exceed the largest purchase ({MAX_POINTS})")
    if earning.points > 0:
        return earning.points
    if earning.notes:
        raise NoPoints(earning.notes[0])
    currency = basket.currency
    if not earning.eligible_units:
        raise NoPoints(
            f"nothing of {basket.amount} {currency} can earn: {from_units(earning.excluded_units).normalize()} in "
            f"excluded lines, {from_units(earning.non_earning_units).normalize()} paid with points or gift cards"
        )
    raise NoPoints(
        f"{earning.eligible_amount.normalize()} {currency} earns no points under version "
        f"{earning.ruleset_version} of the partner's rules"
    )


def _rule_of(compiled: CompiledRules) -> dict[str, Any]:
    ruleset = compiled.ruleset
    return {
        "currency": ruleset.currency,
        "points_per_unit": format(compiled.base.points_per_unit, "f"),
        "rounding": ruleset.rounding,
        "ruleset_version": ruleset.version,
    }


def _check(partner: Partner | None, item: Submitted, links: dict[tuple[int, str], str]) -> tuple[Partner, str]:
    """(partner, wallet) of a new purchase, or the problem that refuses it."""
    body = item.body
    if partner is None:
        raise NotFound(f"partner {item.partner_id} is gone")
    if partner.status != "active":
        raise PartnerSuspended(f"partner {partner.id} is suspended; purchases are not accepted")
    if body.amount > item.max_amount:
        raise AmountTooLarge(
            f"{body.amount} {body.currency} is above the largest purchase accepted ({item.max_amount})"
        )
    wallet = body.customer.wallet
    if wallet is None:
        assert body.customer.ref is not None
        wallet = links.get((partner.id, body.customer.ref))
        if wallet is None:
            raise CustomerNotLinked(f"customer ref {body.customer.ref!r} is not linked to a wallet; link it first")
    return partner, wallet


def _seqs(session: Session, new: list[New]) -> list[int]:
    """A run of sequence numbers per partner, one UPDATE each; the new purchases' seqs in order."""
    counts: dict[int, int] = {}
    for item, *_ in new:
        counts[item.partner_id] = counts.get(item.partner_id, 0) + 1
    next_seq: dict[int, int] = {}
    # partners' rows locked in one order (their ids): two gateway processes writing groups of the
    # same partners would otherwise deadlock on PostgreSQL (found after deadlock_timeout, 1 s)
    for partner_id, count in sorted(counts.items()):
        last = session.scalar(
            update(Partner)
            .where(Partner.id == partner_id)
            .values(next_seq=Partner.next_seq + count)
            .returning(Partner.next_seq)
        )
        assert last is not None
        next_seq[partner_id] = last - count + 1
    seqs = []
    for item, *_ in new:
        seqs.append(next_seq[item.partner_id])
        next_seq[item.partner_id] += 1
    return seqs


def _insert(session: Session, new: list[New], now: datetime) -> list[PurchaseView]:
    """Sequence numbers, outbox entries, purchases and their ``purchase.accepted`` events, each
    kind in bulk (Core, not the ORM's bulk path: a third of the cost)."""
    seqs = _seqs(session, new)
    outbox_ids = enqueue_many(
        session,
        [(item.partner_id, seq, wallet, points) for (item, wallet, points, *_), seq in zip(new, seqs, strict=True)],
        at=now,
    )
    views, purchase_rows, events = [], [], []
    for (item, wallet, points, rule, breakdown, qualifying), seq, outbox_id in zip(new, seqs, outbox_ids, strict=True):
        body = item.body
        purchased_at = now if body.purchased_at is None else as_utc(body.purchased_at)
        purchase_rows.append(
            {
                "partner_id": item.partner_id,
                "purchase_id": body.purchase_id,
                "request_hash": item.digest,
                "seq": seq,
                "customer_wallet": wallet,
                "customer_ref": body.customer.ref,
                "amount": body.amount,
                "currency": body.currency,
                "points": points,
                "rule": rule,
                "purchased_at": purchased_at,
                "outbox_id": outbox_id,
                "created_at": now,
                "lines": None if body.lines is None else [line.model_dump(mode="json") for line in body.lines],
                "paid_with": None if body.paid_with is None else body.paid_with.model_dump(mode="json"),
                "breakdown": breakdown,
                "qualifying_points": qualifying,
            }
        )
        amount = body.amount.quantize(Decimal("0.0001"))  # as the store gives it back (Numeric(20, 4))
        views.append(
            PurchaseView(
                body.purchase_id,
                "accepted",
                wallet,
                amount,
                body.currency,
                points,
                rule,
                seq,
                purchased_at,
                now,
                breakdown=breakdown,
            )
        )
        payload = {
            "purchase_id": body.purchase_id,
            "customer_wallet": wallet,
            "customer_ref": body.customer.ref,
            "amount": str(amount),
            "currency": body.currency,
            "points": points,
            "seq": seq,
            "purchased_at": purchased_at.isoformat(),
        }
        if breakdown is not None:
            payload["breakdown"] = breakdown
        events.append(event_row(ACCEPTED, payload=payload, partner_id=item.partner_id, customer_wallet=wallet, at=now))
    session.connection().execute(insert(Purchase.__table__), purchase_rows)
    record_many(session, events)
    return views


def _find(session: Session, partner_id: int, purchase_ids: list[str]) -> dict[str, Purchase]:
    rows = session.scalars(
        select(Purchase).where(Purchase.partner_id == partner_id, Purchase.purchase_id.in_(purchase_ids))
    )
    return {p.purchase_id: p for p in rows}


def _find_many(session: Session, keys: list[tuple[int, str]]) -> dict[tuple[int, str], Purchase]:
    if not keys:
        return {}
    # not a row-value IN ((partner, id), ...): SQLite scans the whole table for one (EXPLAIN: SCAN
    # purchases), so each group read every purchase ever stored; two IN lists use the unique index
    wanted = set(keys)
    rows = session.scalars(
        select(Purchase).where(
            Purchase.partner_id.in_({p for p, _ in wanted}), Purchase.purchase_id.in_({i for _, i in wanted})
        )
    )
    return {key: p for p in rows if (key := (p.partner_id, p.purchase_id)) in wanted}


def _links(session: Session, keys: list[tuple[int, str | None]]) -> dict[tuple[int, str], str]:
    if not keys:
        return {}
    rows = session.execute(
        select(CustomerLink.partner_id, CustomerLink.ref, CustomerLink.wallet).where(
            tuple_(CustomerLink.partner_id, CustomerLink.ref).in_(set(keys))
        )
    )
    return {(pid, ref): wallet for pid, ref, wallet in rows}


def _resolve(item: Submitted, outcome: Outcome) -> None:
    if item.result is None:
        item.result = outcome


def _fail(item: Submitted, exc: BaseException) -> None:
    if item.result is None:
        item.result = exc
