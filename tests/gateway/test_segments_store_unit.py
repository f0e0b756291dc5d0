"""Operator-defined segments compiled to SQL (gateway/services/segments.py) against a plain-Python
evaluation of the same JSON conditions over the rows of a small generated store (written apart
from the compiler and from loyalty/segments.py's parser), on SQLite and PostgreSQL: every field and
operator, nested all/any/not, empty results, erased members left out, and the members' pages."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bench.analytics_data import CHAIN_ID, fill
from gateway.errors import NotFound, SegmentExists, SegmentRefused
from gateway.services import rfm
from gateway.services import segments as service
from network.store import (
    COALITION,
    ChainEvent,
    CustomerConsent,
    CustomerProfile,
    CustomerWallet,
    LedgerEntry,
    Member,
    RfmRun,
    RfmSnapshot,
    TierState,
)
from tests.gateway import analytics_reference as ref
from tests.pg import StoreKind
from tests.stores import migrated_store

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
MEMBERS = 120
ERASED = (5, 6, 7)
LOCALES = ["pl-PL", "en-GB", "en", "fr-FR", "cs-CZ", "fr-CA", "sr-Latn-RS", None]
ZONES = ["Europe/Warsaw", "Europe/Paris", "America/Toronto", None]
WINDOWS = [((0, 500), 180 * 86_400), ((300, 0), 120 * 86_400)]  # the second from block 300 on


@pytest.fixture(scope="module")
def filled(store: StoreKind, tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    sessions = migrated_store(store.new_url(tmp_path_factory.mktemp(f"segments-{store.name}")))
    rng = random.Random(19)
    with sessions() as session:
        fill(session, members=MEMBERS, partners=3, purchases_per_member=4, end=NOW, days=120, seed=19)
        for c in range(1, MEMBERS + 1):
            if rng.random() < 0.85:
                session.add(
                    CustomerProfile(
                        customer_id=c,
                        email=rng.choice([f"c{c}@example.com", None, ""]),
                        phone=rng.choice(["+48600100200", None]),
                        birthday=rng.choice([date(1990, 1 + c % 12, 1 + c % 28), None]),
                        locale=rng.choice(LOCALES),
                        time_zone=rng.choice(ZONES),
                        attributes={},
                    )
                )
        session.flush()
        for c in range(1, MEMBERS + 1):
            for _ in range(rng.randrange(0, 4)):
                channel = rng.choice(["email", "sms"])
                granted = rng.random() < 0.7
                session.add(
                    CustomerConsent(
                        customer_id=c, channel=channel, partner_id=rng.choice([None, 1]), granted=granted,
                        source="test", confirmed_at=NOW if granted and rng.random() < 0.6 else None,
                    )
                )  # fmt: skip
        for (block, log), window in WINDOWS:
            session.add(
                ChainEvent(
                    chain_id=CHAIN_ID, block_number=block, block_hash="0x" + "ee" * 32, block_time=0,
                    tx_hash="0x" + "ee" * 32, log_index=log, contract="CoalitionPoints",
                    name="ExpiryWindowChanged", partner_id=None, customer=None, args={"window": window},
                )
            )  # fmt: skip
        session.execute(update(Member).where(Member.customer_id.in_(ERASED)).values(erased_at=NOW - timedelta(days=3)))
        session.commit()
    rfm.snapshot(sessions, day=date(2026, 11, 1))  # an older snapshot: the leaves read the last one
    rfm.snapshot(sessions, day=date(2026, 11, 30))
    return sessions


# --- the reference: the conditions evaluated by plain Python over the rows


class World:
    """Every member's values, read row by row."""

    def __init__(self, session: Session) -> None:
        rows = ref.Rows(session)
        self.members = {c: m for c, m in rows.members.items() if m.erased_at is None}
        self.profiles = {p.customer_id: p for p in session.scalars(select(CustomerProfile))}
        self.tiers = {t.customer_id: t.tier for t in session.scalars(select(TierState))}
        self.rfm: dict[int, dict[int, RfmSnapshot]] = defaultdict(dict)
        last = {r.scope: max(r2.day for r2 in session.scalars(select(RfmRun)) if r2.scope == r.scope)
                for r in session.scalars(select(RfmRun))}  # fmt: skip
        for s in session.scalars(select(RfmSnapshot)):
            if s.day == last[s.scope]:
                self.rfm[s.scope][s.customer_id] = s
        self.last: dict[int | None, dict[int, datetime]] = defaultdict(dict)
        self.visited: dict[int, set[int]] = defaultdict(set)
        for p, _amount, _points in rows.counted(NOW, None):
            for scope in (None, p.partner):
                before = self.last[scope].get(p.customer)
                self.last[scope][p.customer] = p.at if before is None else max(before, p.at)
            self.visited[p.customer].add(p.partner)
        owner = {w.address: w.customer_id for w in session.scalars(select(CustomerWallet))}
        per_holder: dict[str, list[LedgerEntry]] = defaultdict(list)
        for e in session.scalars(select(LedgerEntry).where(LedgerEntry.chain_id == CHAIN_ID)):
            per_holder[e.customer].append(e)
        self.balance: dict[int, int] = defaultdict(int)
        self.expiry: dict[int, int] = {}
        for holder, entries in per_holder.items():
            c = owner[holder]
            held = sum(e.points for e in entries)
            self.balance[c] += held
            expires = 0
            for e in sorted(entries, key=lambda e: (e.block_number, e.log_index)):
                if e.kind == "expired":
                    expires = 0
                elif e.points:
                    window = [w for pos, w in WINDOWS if pos <= (e.block_number, e.log_index)] or [WINDOWS[0][1]]
                    expires = max(expires, e.block_time + window[-1])
            if held > 0 and expires:
                self.expiry[c] = min(self.expiry.get(c, expires), expires)
        consents: dict[tuple[int, str, int | None], CustomerConsent] = {}
        for row in session.scalars(select(CustomerConsent).order_by(CustomerConsent.id)):
            consents[(row.customer_id, row.channel, row.partner_id)] = row
        self.consents = {
            k for k, row in consents.items() if row.granted and (row.channel != "email" or row.confirmed_at)
        }

    def value(self, c: int, leaf: dict[str, Any]) -> Any:
        f, profile = leaf["field"], self.profiles.get(c)
        if f in ("locale", "time_zone"):
            return getattr(profile, f) if profile else None
        if f == "country":
            found = re.search(r"-([A-Za-z]{2})(?:-|$)", (profile.locale or "") if profile else "")
            return found.group(1).upper() if found else None
        if f == "birthday_month":
            return profile.birthday.month if profile and profile.birthday else None
        if f in ("has_email", "has_phone"):
            return bool(profile and getattr(profile, f[4:]))
        if f == "tier":
            return self.tiers.get(c)
        if f.startswith("rfm_"):
            snap = self.rfm[leaf.get("partner_id") or COALITION].get(c)
            return getattr(snap, {"rfm_segment": "segment"}.get(f, f[4:])) if snap else None
        if f == "last_purchase":
            return self.last[leaf.get("partner_id")].get(c)
        if f == "partners_visited":
            return len(self.visited[c])
        if f == "points_balance":
            return self.balance[c]
        if f == "next_expiry":
            return datetime.fromtimestamp(self.expiry[c], UTC) if c in self.expiry else None
        if f == "enrolled_at":
            return ref.aware(self.members[c].enrolled_at)
        if f == "consent":
            return (c, leaf["channel"], leaf.get("partner_id")) in self.consents
        raise AssertionError(f)

    def holds(self, c: int, node: dict[str, Any]) -> bool:
        if "all" in node:
            return all(self.holds(c, n) for n in node["all"])
        if "any" in node:
            return any(self.holds(c, n) for n in node["any"])
        if "not" in node:
            return not self.holds(c, node["not"])
        v, op, want = self.value(c, node), node["op"], node["value"]
        if v is None:
            return False
        if isinstance(v, datetime):
            if op == "within_days":
                if node["field"] == "next_expiry":
                    return NOW <= v < NOW + timedelta(days=want)
                return NOW - timedelta(days=want) <= v <= NOW
            v = v.date()
            want = [date.fromisoformat(w) for w in want] if isinstance(want, list) else date.fromisoformat(want)
        if node["field"] == "country":
            want = [w.upper() for w in want] if isinstance(want, list) else want.upper()
        return {
            "=": lambda: v == want,
            "!=": lambda: v != want,
            "in": lambda: v in want,
            "not in": lambda: v not in want,
            "<": lambda: v < want,
            "<=": lambda: v <= want,
            ">": lambda: v > want,
            ">=": lambda: v >= want,
            "between": lambda: want[0] <= v <= want[1],
        }[op]()

    def members_of(self, condition: dict[str, Any]) -> set[int]:
        return {c for c in self.members if self.holds(c, condition)}


@pytest.fixture(scope="module")
def world(filled: sessionmaker[Session]) -> World:
    with filled() as session:
        return World(session)


def leaf(field: str, op: str, value: Any, **options: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value, **options}


CONDITIONS: list[dict[str, Any]] = [
    leaf("tier", "=", "gold"),
    leaf("tier", "!=", "base"),
    leaf("tier", "in", ["silver", "gold"]),
    leaf("tier", "not in", ["gold"]),
    leaf("locale", "=", "pl-PL"),
    leaf("locale", "in", ["fr-FR", "fr-CA"]),
    leaf("time_zone", "!=", "Europe/Warsaw"),
    leaf("time_zone", "not in", ["Europe/Paris", "America/Toronto"]),
    leaf("country", "=", "pl"),
    leaf("country", "in", ["FR", "RS"]),
    leaf("country", "!=", "GB"),
    leaf("country", "not in", ["FR", "CA"]),
    leaf("birthday_month", "=", 3),
    leaf("birthday_month", "!=", 3),
    leaf("birthday_month", "in", [1, 12]),
    leaf("birthday_month", "not in", [1, 2, 3]),
    leaf("birthday_month", "<", 4),
    leaf("birthday_month", "<=", 4),
    leaf("birthday_month", ">", 9),
    leaf("birthday_month", ">=", 9),
    leaf("birthday_month", "between", [3, 6]),
    leaf("has_email", "=", True),
    leaf("has_email", "!=", True),
    leaf("has_phone", "=", False),
    leaf("rfm_segment", "in", ["Champions", "Loyal", "Potential loyalist"]),
    leaf("rfm_segment", "not in", ["Lost", "Hibernating"], partner_id=2),
    leaf("rfm_segment", "=", "At risk"),
    leaf("rfm_r", ">=", 4, partner_id=1),
    leaf("rfm_f", "=", 1),
    leaf("rfm_m", "<", 3, partner_id=3),
    leaf("rfm_m", "between", [2, 4]),
    leaf("last_purchase", "within_days", 30),
    leaf("last_purchase", "within_days", 30, partner_id=2),
    leaf("last_purchase", "<", "2026-10-01"),
    leaf("last_purchase", "<=", "2026-10-01"),
    leaf("last_purchase", ">", "2026-11-15", partner_id=1),
    leaf("last_purchase", ">=", "2026-11-15"),
    leaf("last_purchase", "between", ["2026-10-01", "2026-10-31"]),
    leaf("partners_visited", ">=", 2),
    leaf("partners_visited", "=", 0),
    leaf("partners_visited", "between", [1, 2]),
    leaf("points_balance", ">", 1000),
    leaf("points_balance", "=", 0),
    leaf("points_balance", "!=", 0),
    leaf("points_balance", "in", [0]),
    leaf("points_balance", "<=", 250),
    leaf("next_expiry", "within_days", 100),
    leaf("next_expiry", "<=", "2027-03-15"),
    leaf("next_expiry", ">", "2027-03-15"),
    leaf("next_expiry", "<", "2027-02-01"),
    leaf("next_expiry", "between", ["2027-01-01", "2027-03-31"]),
    leaf("next_expiry", ">=", "2027-03-01"),
    leaf("enrolled_at", "within_days", 30),
    leaf("enrolled_at", ">", "2026-10-15"),
    leaf("enrolled_at", "<=", "2026-09-01"),
    leaf("consent", "=", True, channel="email"),
    leaf("consent", "=", True, channel="sms", partner_id=1),
    leaf("consent", "!=", True, channel="email", partner_id=1),
    leaf("consent", "=", False, channel="sms"),
    {"all": [leaf("tier", "in", ["silver", "gold"]), {"not": leaf("last_purchase", "within_days", 30)}]},
    {"any": [leaf("country", "=", "PL"), {"all": [leaf("has_email", "=", True), leaf("points_balance", ">=", 100)]}]},
    {"not": {"any": [leaf("rfm_segment", "in", ["Lost"]), leaf("locale", "=", "en")]}},
    {"not": leaf("tier", "!=", "gold")},  # tier = gold, and members without a tier
]
EMPTY = {"all": [leaf("tier", "=", "gold"), leaf("tier", "=", "silver")]}
EVERYONE = {"not": leaf("tier", "=", "no such tier")}


@pytest.mark.parametrize("condition", CONDITIONS, ids=[str(i) for i in range(len(CONDITIONS))])
def test_the_sql_selects_whom_plain_python_selects(
    filled: sessionmaker[Session], world: World, condition: dict[str, Any]
) -> None:
    with filled() as session:
        got = set(session.scalars(service.compiler(session, chain_id=CHAIN_ID, now=NOW).members(
            service.checked(condition)
        )))  # fmt: skip
        n = service.count(session, condition=condition, chain_id=CHAIN_ID, now=NOW)
    assert got == world.members_of(condition)
    assert n == len(got)


def test_the_conditions_are_not_trivial(world: World) -> None:
    """Most leaves of the list select some members and leave some out (the data exercise them)."""
    sizes = [len(world.members_of(c)) for c in CONDITIONS]
    assert sum(1 for s in sizes if 0 < s < len(world.members)) >= len(CONDITIONS) * 0.8, sizes
    assert world.expiry and world.consents and world.rfm[COALITION] and world.rfm[2]


def test_erased_members_are_in_no_segment_and_an_impossible_one_is_empty(
    filled: sessionmaker[Session], world: World
) -> None:
    with filled() as session:
        everyone = service.members(session, condition=EVERYONE, chain_id=CHAIN_ID, now=NOW, limit=1_000)
        empty = service.members(session, condition=EMPTY, chain_id=CHAIN_ID, now=NOW)
        profiled = set(session.scalars(select(CustomerProfile.customer_id)))
    assert set(everyone.customer_ids) == set(range(1, MEMBERS + 1)) - set(ERASED)
    assert everyone.count == MEMBERS - len(ERASED) and everyone.next_cursor is None
    assert set(ERASED) & profiled  # erased members with a profile, a tier, a wallet: still left out
    assert (empty.count, empty.customer_ids, empty.next_cursor) == (0, [], None)


def test_the_members_come_a_page_at_a_time(filled: sessionmaker[Session], world: World) -> None:
    condition = leaf("partners_visited", ">=", 1)
    seen: list[int] = []
    cursor = None
    with filled() as session:
        while True:
            page = service.members(session, condition=condition, chain_id=CHAIN_ID, now=NOW, after=cursor, limit=7)
            assert len(page.customer_ids) <= 7
            seen += page.customer_ids
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == sorted(world.members_of(condition)) and len(seen) > 14


def test_segments_are_saved_changed_and_deleted(filled: sessionmaker[Session]) -> None:
    with filled() as session:
        s = service.create(session, name="Gold", description="gold members", condition=leaf("tier", "=", "gold"))
        session.commit()
        with pytest.raises(SegmentExists):
            service.create(session, name="Gold", description="", condition=leaf("tier", "=", "gold"))
        with pytest.raises(SegmentRefused) as refused:
            service.create(session, name="Bad", description="", condition={"all": [leaf("tier", "<", "gold")]})
        assert refused.value.path == "$.all[0].op"
        changed = service.update(
            session, segment_id=s.id, name="Gold+", description="", condition=leaf("tier", "in", ["gold", "silver"])
        )
        session.commit()
        assert [x.name for x in service.listed(session)] == ["Gold+"] and changed.condition["op"] == "in"
        service.delete(session, segment_id=s.id)
        session.commit()
        with pytest.raises(NotFound):
            service.get(session, segment_id=s.id)
