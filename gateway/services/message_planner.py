"""The message planner: domain events (and the scheduled triggers, message_schedule.py) become
``messages`` rows, one per (occurrence, customer, channel), each decided at once: ``queued`` (with
``send_after``: now, or the end of quiet hours) or ``suppressed`` with its reason; a
``message_events`` row logs each decision. gateway/tasks (send18's sender) sends the queued ones.

- **Triggers** (:data:`TRIGGERS`, loyalty/messages/kinds.py): ``member.enrolled`` -> welcome,
  ``tier.changed`` upwards -> tier_up, ``points.expiring`` -> points_expiring,
  ``redemption.fulfilled`` -> reward_ready, ``refund.confirmed`` -> refund_done,
  ``customer.consent_requested`` -> email_confirmation (to the address being confirmed),
  ``membership.renewed`` -> membership_renewed, ``membership.payment_failed`` and
  ``membership.past_due`` (the period ended unpaid) -> membership_payment_failed,
  ``membership.lapsed`` -> membership_lapsed (from the selling partner; transactional: no cap or
  quiet hours, but the customer's opt-out of that partner's channel holds).
  ``purchase.confirmed`` adds to the customer's daily tally (``message_digests``) for the digest.
- **Channels**: each channel of the kind the customer has an address for: the profile's
  ``email`` (email), ``phone`` (sms), and ``attributes.push_token`` (push). No address, no row.
- **Exactly once**: the occurrence is the event's ``event_id`` (or ``<kind>:<customer>:<day>``),
  rows are inserted ignoring conflicts on ``uq_messages_once``, in the consumer's transaction
  with its cursor (network/store/events.py): an event read again adds nothing.
- **Decisions** (loyalty/messages/policy.py ``decide``): the consent (loyalty/messages/consent.py
  ``refusal``), a suppressed address (``message_suppressions``), the marketing cap (the
  customer's marketing occurrences not suppressed, planned in the window, from ``messages``),
  quiet hours in the customer's zone (marketing).

Time: every function takes ``now``; the tasks pass :func:`clock`, which a test moves with
``COALITION_MESSAGES_CLOCK_FILE`` (local mode only). ``created_at`` of a row is that ``now``.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from gateway.services.tier_ladders import versions
from gateway.timeutil import as_utc
from loyalty.customers import ConsentChange
from loyalty.messages.consent import refusal
from loyalty.messages.kinds import KINDS
from loyalty.messages.policy import Cap, QuietHours, choose_locale, decide, local_day, zone_of
from loyalty.tiers import TierUnknown
from network.store import (
    CustomerConsent,
    CustomerProfile,
    CustomerWallet,
    LedgerEntry,
    Member,
    MembershipPlan,
    Message,
    MessageDigest,
    MessageEvent,
    MessageSuppression,
    Partner,
    Reward,
    utcnow,
)
from network.store.bulk import insert_ignoring_conflicts
from network.store.events import Event
from network.store.events import consume as consume_events

CONSUMER = "messages"  # the planner's cursor (network/store/events.py)
TRIGGERS: dict[str, str] = {
    t: k.name for k in KINDS.values() for t in (k.trigger, *k.also) if not t.startswith("schedule:")
}
DIGEST_EVENT = "purchase.confirmed"
EVENT_TYPES = frozenset(TRIGGERS) | {DIGEST_EVENT}
CONSUME_LIMIT = 2_000
CONSUME_RUNS = 5
CHUNK = 500  # ids per IN (...)
DEFAULT_CAP = Cap(3, timedelta(days=7))
DEFAULT_QUIET = QuietHours.of("21:00", "08:00")
PUSH_TOKEN = "push_token"  # the profile attribute that holds a customer's push token


def clock(settings: Any) -> datetime:
    """Now, for the messages' rules: the wall clock, plus the seconds written in
    ``settings.messages_clock_file`` when a test set one (local mode only)."""
    now = utcnow()
    path = getattr(settings, "messages_clock_file", None)
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            now += timedelta(seconds=float(path.read_text().strip() or 0))
    return now


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings the decisions need (gateway/settings.py ``COALITION_MESSAGES_*``)."""

    cap: Cap = DEFAULT_CAP
    quiet: QuietHours = DEFAULT_QUIET
    default_zone: str = "UTC"
    default_locale: str = "en"
    chain_id: int | None = None  # the indexed ledger's chain, for points_balance

    @classmethod
    def of(cls, settings: Any) -> Policy:
        return cls(
            cap=Cap(settings.messages_cap_marketing, timedelta(days=settings.messages_cap_days)),
            quiet=QuietHours.of(settings.messages_quiet_start, settings.messages_quiet_end),
            default_zone=settings.messages_default_time_zone,
            default_locale=settings.messages_default_locale,
            chain_id=settings.chain_id,
        )


@dataclass(frozen=True, slots=True)
class Intent:
    """A message to plan: what it is one of, its kind, to whom, from which partner, its variables
    (the planner adds ``first_name`` and ``points_balance``), and addresses that replace the
    profile's (the email confirmation goes to the address being confirmed)."""

    occurrence: str
    kind: str
    customer_id: int
    partner_id: int | None
    data: Mapping[str, Any] = field(default_factory=dict)
    addresses: Mapping[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------ planning


@dataclass
class _Known:
    """What the decisions read, loaded once per batch of customers."""

    profiles: dict[int, CustomerProfile]
    consents: dict[int, list[ConsentChange]]
    marketing: dict[int, int]
    balances: dict[int, int]


def plan(session: Session, intents: Sequence[Intent], *, policy: Policy, now: datetime) -> int:
    """Plans ``intents`` (those whose occurrence is planned already add nothing); returns the
    rows added. In the caller's transaction (not committed)."""
    fresh = _unplanned(session, intents)
    if not fresh:
        return 0
    known = _load(session, {i.customer_id for i in fresh}, policy, now)
    targets: list[tuple[Intent, CustomerProfile | None, dict[str, str]]] = []
    for intent in fresh:
        profile = known.profiles.get(intent.customer_id)
        found = {**_addresses(profile), **intent.addresses}
        addresses = {c: found[c] for c in KINDS[intent.kind].channels if found.get(c)}
        if addresses:
            targets.append((intent, profile, addresses))
    suppressed = _suppressions(session, {(c, a) for _, _, found in targets for c, a in found.items()})
    rows: list[dict[str, Any]] = []
    details: dict[tuple[str, int, str], str] = {}
    for intent, profile, addresses in targets:
        kind = KINDS[intent.kind]
        channels = list(addresses)
        zone = zone_of(profile.time_zone if profile else None, policy.default_zone)
        capped = kind.category == "marketing" and policy.cap.reached(known.marketing.get(intent.customer_id, 0))
        decisions = {}
        for channel in channels:
            refused = refusal(
                known.consents.get(intent.customer_id, []),
                channel=channel,
                partner_id=intent.partner_id,
                category=kind.category,
            )
            decisions[channel] = decide(
                kind=kind.name,
                category=kind.category,
                refusal=refused,
                suppressed=suppressed.get((channel, addresses[channel])),
                capped=capped,
                now=now,
                zone=zone,
                quiet=policy.quiet,
            )
        if kind.category == "marketing" and any(d.status == "queued" for d in decisions.values()):
            known.marketing[intent.customer_id] = known.marketing.get(intent.customer_id, 0) + 1
        data = {**_customer_data(profile, known.balances.get(intent.customer_id)), **intent.data}
        locale = choose_locale(profile.locale if profile else None, None, policy.default_locale)
        for channel, d in decisions.items():
            details[(intent.occurrence, intent.customer_id, channel)] = d.detail[:255]
            rows.append(
                {
                    "occurrence": intent.occurrence,
                    "kind": kind.name,
                    "category": kind.category,
                    "customer_id": intent.customer_id,
                    "partner_id": intent.partner_id,
                    "channel": channel,
                    "address": addresses[channel],
                    "locale": locale,
                    "data": data,
                    "status": d.status,
                    "reason": d.reason,
                    "send_after": d.send_after,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    insert_ignoring_conflicts(session.connection(), Message.__table__, rows)  # type: ignore[arg-type]
    return _log(session, [i.occurrence for i in fresh], details, now)


def _unplanned(session: Session, intents: Sequence[Intent]) -> list[Intent]:
    """The intents whose (occurrence, customer) has no message yet, each once."""
    unique = list({(i.occurrence, i.customer_id): i for i in intents}.values())
    seen: set[tuple[str, int]] = set()
    keys = [(i.occurrence, i.customer_id) for i in unique]
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        seen.update(
            session.execute(
                select(Message.occurrence, Message.customer_id)
                .where(tuple_(Message.occurrence, Message.customer_id).in_(chunk))
                .distinct()
            ).all()
        )
    return [i for i in unique if (i.occurrence, i.customer_id) not in seen]


def _log(session: Session, occurrences: list[str], details: dict[tuple[str, int, str], str], now: datetime) -> int:
    """A ``message_events`` row for each message of ``occurrences`` that has none yet (the rows
    this transaction added); returns how many."""
    logged = 0
    for start in range(0, len(occurrences), CHUNK):
        new = session.execute(
            select(Message.id, Message.occurrence, Message.customer_id, Message.channel, Message.status)
            .where(Message.occurrence.in_(occurrences[start : start + CHUNK]))
            .where(~select(MessageEvent.id).where(MessageEvent.message_id == Message.id).exists())
        ).all()
        if new:
            session.execute(
                MessageEvent.__table__.insert(),
                [
                    {
                        "message_id": m.id,
                        "status": m.status,
                        "detail": details.get((m.occurrence, m.customer_id, m.channel)),
                        "at": now,
                    }
                    for m in new
                ],
            )
        logged += len(new)
    return logged


def _load(session: Session, customers: set[int], policy: Policy, now: datetime) -> _Known:
    ids = sorted(customers)
    profiles: dict[int, CustomerProfile] = {}
    consents: dict[int, list[ConsentChange]] = defaultdict(list)
    marketing: dict[int, int] = {}
    balances: dict[int, int] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        profiles.update(
            {
                p.customer_id: p
                # FOR SHARE (PostgreSQL): an erasure deleting a profile waits for this transaction,
                # then scrubs the messages it planned; one committed before is seen (no profile, no
                # address, no message). SQLite serialises writers: a stale read cannot commit.
                for p in session.scalars(
                    select(CustomerProfile).where(CustomerProfile.customer_id.in_(chunk)).with_for_update(read=True)
                )
            }
        )
        for r in session.scalars(
            select(CustomerConsent).where(CustomerConsent.customer_id.in_(chunk)).order_by(CustomerConsent.id)
        ):
            consents[r.customer_id].append(_change(r))
        marketing.update(
            session.execute(
                select(Message.customer_id, func.count(func.distinct(Message.occurrence)))
                .where(
                    Message.customer_id.in_(chunk),
                    Message.category == "marketing",
                    Message.status != "suppressed",
                    Message.created_at > policy.cap.since(now),
                )
                .group_by(Message.customer_id)
            ).all()
        )
        if policy.chain_id is not None:
            balances.update(
                session.execute(
                    select(CustomerWallet.customer_id, func.sum(LedgerEntry.points))
                    .join(
                        LedgerEntry,
                        and_(LedgerEntry.customer == CustomerWallet.address, LedgerEntry.chain_id == policy.chain_id),
                    )
                    .where(CustomerWallet.customer_id.in_(chunk))
                    .group_by(CustomerWallet.customer_id)
                ).all()
            )
    return _Known(profiles, dict(consents), marketing, {k: int(v or 0) for k, v in balances.items()})


def _change(r: CustomerConsent) -> ConsentChange:
    """As customer_records.consent_history reads it (an email grant counts once confirmed)."""
    confirmed = r.channel != "email" or not r.granted or r.confirmed_at is not None
    return ConsentChange(
        channel=r.channel,
        partner_id=r.partner_id,
        granted=r.granted,
        source=r.source,
        recorded_at=r.recorded_at,
        confirmed=confirmed,
    )


def _suppressions(session: Session, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(channel, address) -> why it is suppressed, for those of ``wanted`` that are."""
    asked = sorted(wanted)
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(asked), CHUNK):
        rows = session.execute(
            select(MessageSuppression.channel, MessageSuppression.address, MessageSuppression.reason).where(
                tuple_(MessageSuppression.channel, MessageSuppression.address).in_(asked[start : start + CHUNK])
            )
        )
        found.update({(c, a): r for c, a, r in rows})
    return found


def _addresses(profile: CustomerProfile | None) -> dict[str, str]:
    if profile is None:
        return {}
    found = {"email": profile.email, "sms": profile.phone}
    token = (profile.attributes or {}).get(PUSH_TOKEN)
    if isinstance(token, str) and token:
        found["push"] = token
    return {c: a for c, a in found.items() if a}


def _customer_data(profile: CustomerProfile | None, balance: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {}
    name = (profile.attributes or {}).get("first_name") if profile is not None else None
    if isinstance(name, str) and name:
        data["first_name"] = name
    if balance is not None:
        data["points_balance"] = balance
    return data


# ------------------------------------------------------------------------------ the consumer


def consume(sessions: sessionmaker[Session], *, policy: Policy, now: datetime, limit: int = CONSUME_LIMIT) -> int:
    """One run of the planner's consumer: the trigger events after its cursor become messages,
    confirmed purchases go to the daily tallies; returns the events read."""

    def handle(session: Session, events: list[Event]) -> None:
        tally(session, [e for e in events if e.type == DIGEST_EVENT], policy=policy)
        plan(session, intents_of(session, [e for e in events if e.type in TRIGGERS]), policy=policy, now=now)

    read = 0
    for _ in range(CONSUME_RUNS):
        n = consume_events(sessions, CONSUMER, handle, wants=lambda t, _p: t in EVENT_TYPES, limit=limit)
        read += n
        if n < limit:
            break
    return read


def intents_of(session: Session, events: Sequence[Event]) -> list[Intent]:
    """The messages the trigger events ask for (an event of no customer asks for none)."""
    owners = _owners(session, {e.customer_wallet for e in events if e.customer_wallet})
    ladders = versions(session) if any(e.type == "tier.changed" for e in events) else {}
    codes, rewards, currencies = _lookups(session, events)
    plans = _plan_names(session, events)
    intents: list[Intent] = []
    for e in events:
        p = e.payload
        customer = p.get("customer_id") or owners.get(e.customer_wallet or "")
        if not isinstance(customer, int):
            continue
        kind = TRIGGERS[e.type]
        partner = e.partner_id
        data: dict[str, Any] = {}
        addresses: dict[str, str] = {}
        if kind == "welcome":
            data["referral_code"] = codes.get(customer)
        elif kind == "tier_up":
            if not _upwards(ladders, p):
                continue
            data.update(tier=p["to_tier"], previous_tier=p["from_tier"])
        elif kind == "points_expiring":
            data.update(
                points=p.get("points"), expires_on=str(p.get("expires_at", ""))[:10], days_before=p.get("days_before")
            )
        elif kind == "reward_ready":
            name = rewards.get((partner, p.get("sku")))
            data.update(reward=name or p.get("sku"), points=p.get("points"), voucher_code=p.get("voucher_code"))
        elif kind == "refund_done":
            data.update(amount=p.get("amount"), currency=currencies.get(partner), points_reversed=p.get("points"))
        elif kind.startswith("membership_"):
            data["plan"] = plans.get(p.get("plan_id")) or f"#{p.get('plan_id')}"
            if kind == "membership_renewed":
                data["renewed_until"] = str(p.get("period_end") or "")[:10]
            elif kind == "membership_payment_failed":
                data["grace_until"] = str(p.get("grace_until") or p.get("period_end") or "")[:10]
        elif kind == "email_confirmation":
            partner = p.get("partner_id")
            data.update(
                customer_id=customer, partner_id=partner, address=p.get("address"), confirm_url=p.get("confirm_url")
            )
            if p.get("address"):
                addresses["email"] = p["address"]
        intents.append(Intent(e.event_id, kind, customer, partner, data, addresses))
    return intents


def _lookups(
    session: Session, events: Sequence[Event]
) -> tuple[dict[int, str | None], dict[tuple[int | None, Any], str], dict[int | None, str]]:
    """Read once per batch: the welcomed members' referral codes, the rewards' names, the
    partners' currencies."""
    welcomed = sorted(
        {
            e.payload["customer_id"]
            for e in events
            if e.type == "member.enrolled" and isinstance(e.payload.get("customer_id"), int)
        }
    )
    codes: dict[int, str | None] = {}
    for start in range(0, len(welcomed), CHUNK):
        codes.update(
            session.execute(
                select(Member.customer_id, Member.referral_code).where(
                    Member.customer_id.in_(welcomed[start : start + CHUNK])
                )
            ).all()
        )
    rewards: dict[tuple[int | None, Any], str] = {}
    if any(e.type == "redemption.fulfilled" for e in events):
        partners = sorted({e.partner_id for e in events if e.type == "redemption.fulfilled" and e.partner_id})
        rows = session.execute(
            select(Reward.partner_id, Reward.sku, Reward.name).where(Reward.partner_id.in_(partners))
        )
        rewards = {(pid, sku): name for pid, sku, name in rows}
    currencies: dict[int | None, str] = {}
    if any(e.type == "refund.confirmed" for e in events):
        currencies = {pid: c for pid, c in session.execute(select(Partner.id, Partner.currency))}
    return codes, rewards, currencies


def _plan_names(session: Session, events: Sequence[Event]) -> dict[Any, str]:
    """The names of the membership plans the events are about, read once per batch."""
    ids = sorted({e.payload.get("plan_id") for e in events if e.type.startswith("membership.")} - {None})
    if not ids:
        return {}
    return dict(session.execute(select(MembershipPlan.id, MembershipPlan.name).where(MembershipPlan.id.in_(ids))).all())


def _upwards(ladders: Mapping[int, Any], payload: Mapping[str, Any]) -> bool:
    """Whether a ``tier.changed`` is a move up (on its ladder; a manual or qualifying change
    between ladders that do not know both tiers: up if it qualified)."""
    version = ladders.get(payload.get("ladder_version"))  # type: ignore[arg-type]
    try:
        if version is not None:
            return bool(version.ladder.rank(payload["to_tier"]) > version.ladder.rank(payload["from_tier"]))
    except TierUnknown:
        pass
    return payload.get("reason") == "qualified"


def _owners(session: Session, wallets: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    listed = sorted(wallets)
    for start in range(0, len(listed), CHUNK):
        found.update(
            session.execute(
                select(CustomerWallet.address, CustomerWallet.customer_id).where(
                    CustomerWallet.address.in_(listed[start : start + CHUNK])
                )
            ).all()
        )
    return found


# ------------------------------------------------------------------------------ the digest's tally


def tally(session: Session, events: Sequence[Event], *, policy: Policy) -> int:
    """Adds confirmed purchases to their customers' tally of the day (the day in the customer's
    zone when it was confirmed); a wallet of no customer has no tally. Returns the tallies touched."""
    owners = _owners(session, {e.customer_wallet for e in events if e.customer_wallet})
    if not owners:
        return 0
    zones = dict(
        session.execute(
            select(CustomerProfile.customer_id, CustomerProfile.time_zone).where(
                CustomerProfile.customer_id.in_(sorted(set(owners.values())))
            )
        ).all()
    )
    sums: dict[tuple[int, Any], list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        customer = owners.get(e.customer_wallet or "")
        if customer is None:
            continue
        day = local_day(as_utc(e.created_at), _zone(zones.get(customer), policy))
        total = sums[(customer, day)]
        total[0] += int(e.payload.get("points") or 0)
        total[1] += 1
    rows = [
        {"customer_id": c, "day": d, "points": p, "purchases": n, "updated_at": utcnow()}
        for (c, d), (p, n) in sums.items()
    ]
    table = MessageDigest.__table__
    dialect = session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["customer_id", "day"],
        set_={
            "points": table.c.points + statement.excluded.points,
            "purchases": table.c.purchases + statement.excluded.purchases,
            "updated_at": statement.excluded.updated_at,
        },
    )
    session.execute(statement, rows)
    return len(rows)


def _zone(name: str | None, policy: Policy) -> ZoneInfo:
    return zone_of(name, policy.default_zone)
