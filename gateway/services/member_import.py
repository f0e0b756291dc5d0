"""Bulk import of a partner's customers from CSV, and the export of members as CSV.

The import's rule: every row is checked first (loyalty/members.py, with the profile's and
consents' own checks); the refused rows are reported, each with its line number and reason, and
the valid rows are enrolled **all or nothing**, in one transaction: a failure while writing
(the store refusing a row) rolls every row back, and a ``dry_run`` checks and reports without
writing. A row whose ref is enrolled already with the same data is ``unchanged`` (the import can
be sent again); with other data it is refused (change it with PATCH profile); a ref linked but
not enrolled yet keeps its wallet and is enrolled through the single path.

It meets 100,000 rows in under a minute by writing set-wise: one ``executemany`` per table
(customers with their ids returned in order, wallets, links, members, enrolments, profiles,
consents, events), and the custodial wallets' keys made in a batch (gateway/services/custody.py
``new_custodial_keys``: the secrets box's key derived once, libsecp256k1 directly, ≈ 0.1 ms a
key). Every imported customer gets a custodial wallet (they can earn at once, and take the key
later): the model links a ref to a wallet.

The export streams: rows are read a chunk at a time and written as CSV lines as they are read.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import ImportRefused, NotFound
from gateway.services import custody, members
from gateway.settings import GatewaySettings
from gateway.timeutil import as_utc
from loyalty.customers import CHANNELS, ConsentChange, in_force
from loyalty.members import (
    ImportInvalid,
    ImportRow,
    RowRefused,
    csv_cell,
    fingerprint,
    new_referral_code,
    read_import,
)
from network.store import (
    CustodialWallet,
    Customer,
    CustomerConsent,
    CustomerLink,
    CustomerProfile,
    CustomerWallet,
    Member,
    MemberEnrolment,
    MemberImport,
    Partner,
    utcnow,
)
from network.store.bulk import bulk_insert, bulk_insert_ids
from network.store.events import EVENTS, event_row

CHUNK = 5_000  # rows per IN (...) and per export read


@dataclass
class ImportReport:
    rows: int = 0
    enrolled: int = 0
    unchanged: int = 0
    refused: list[RowRefused] = field(default_factory=list)
    dry_run: bool = False
    duration_ms: int = 0


def _chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def import_members(
    session: Session,
    settings: GatewaySettings,
    *,
    partner_id: int,
    text: str,
    dry_run: bool,
    requested_by: str,
) -> ImportReport:
    """Imports ``text`` (CSV) as ``partner_id``'s customers (see the module's rule). Not committed."""
    started = time.perf_counter()
    try:
        plan = read_import(text, today=utcnow().date())
    except ImportInvalid as exc:
        raise ImportRefused(str(exc)) from exc
    report = ImportReport(rows=len(plan.rows) + len(plan.refused), refused=list(plan.refused), dry_run=dry_run)
    enrolled = _enrolled_hashes(session, partner_id, [r.ref for r in plan.rows])
    linked = _linked_refs(session, partner_id, [r.ref for r in plan.rows])
    codes = _referrers(session, {r.referral_code for r in plan.rows if r.referral_code})
    new: list[ImportRow] = []
    adopt: list[ImportRow] = []
    digests: dict[int, str] = {}
    for row in plan.rows:
        digest = digests[row.line] = fingerprint(row.content)
        if row.ref in enrolled:
            if enrolled[row.ref] == digest:
                report.unchanged += 1
            else:
                report.refused.append(
                    RowRefused(
                        row.line, row.ref, None, "the ref is enrolled already with other data: PATCH its profile"
                    )
                )
        elif row.referral_code and row.referral_code not in codes:
            report.refused.append(
                RowRefused(
                    row.line, row.ref, "referred_by_code", f"no member has the referral code {row.referral_code}"
                )
            )
        else:
            (adopt if row.ref in linked else new).append(row)
    report.refused.sort(key=lambda r: r.line)
    report.enrolled = len(new) + len(adopt)
    if not dry_run:
        _write_new(session, settings, partner_id, new, codes, digests)
        for row in adopt:
            _adopt(session, settings, partner_id, row)
    report.duration_ms = int((time.perf_counter() - started) * 1000)
    session.add(
        MemberImport(
            partner_id=partner_id,
            requested_by=requested_by,
            dry_run=dry_run,
            rows=report.rows,
            enrolled=report.enrolled,
            unchanged=report.unchanged,
            refused=len(report.refused),
            duration_ms=report.duration_ms,
        )
    )
    session.flush()
    return report


def check_partner(session: Session, *, partner_id: int) -> None:
    """NotFound unless ``partner_id`` is a partner."""
    if session.get(Partner, partner_id) is None:
        raise NotFound(f"no partner {partner_id}")


def _enrolled_hashes(session: Session, partner_id: int, refs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(refs):
        rows = session.execute(
            select(MemberEnrolment.ref, MemberEnrolment.request_hash).where(
                MemberEnrolment.partner_id == partner_id, MemberEnrolment.ref.in_(chunk)
            )
        )
        found.update({ref: digest for ref, digest in rows if ref is not None})
    return found


def _linked_refs(session: Session, partner_id: int, refs: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(refs):
        found.update(
            session.scalars(
                select(CustomerLink.ref).where(CustomerLink.partner_id == partner_id, CustomerLink.ref.in_(chunk))
            )
        )
    return found


def _referrers(session: Session, codes: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(codes)):
        rows = session.execute(select(Member.referral_code, Member.customer_id).where(Member.referral_code.in_(chunk)))
        found.update({code: cid for code, cid in rows if code is not None})
    return found


def _adopt(session: Session, settings: GatewaySettings, partner_id: int, row: ImportRow) -> None:
    """A ref linked before it was enrolled: the single path, keeping its wallet."""
    members.enrol(
        session,
        settings,
        partner_id=partner_id,
        ref=row.ref,
        profile=row.profile,
        consents=row.consents,
        referral_code=row.referral_code,
        wallet="linked",
    )
    enrolment = session.scalar(
        select(MemberEnrolment).where(MemberEnrolment.partner_id == partner_id, MemberEnrolment.ref == row.ref)
    )
    assert enrolment is not None
    enrolment.request_hash, enrolment.source = fingerprint(row.content), "import"


def _write_new(
    session: Session,
    settings: GatewaySettings,
    partner_id: int,
    rows: list[ImportRow],
    codes: dict[str, int],
    digests: dict[int, str],
) -> None:
    """The new customers, set-wise: one bulk insert per table, in the caller's transaction. The
    custodial keys (CPU) are made in a thread while the tables that need no wallet are written
    (the store's work: the driver lets the thread run while it waits)."""
    if not rows:
        return
    conn = session.connection()
    now = utcnow()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="custodial-keys") as pool:
        making = pool.submit(custody.new_custodial_keys, settings, partner_id=partner_id, count=len(rows))
        ids = bulk_insert_ids(conn, Customer.__table__, [{"created_at": now}] * len(rows))
        _write_members(conn, session, partner_id, rows, ids, codes, digests, now)
        keys = making.result()
    wallets = [k["address"] for k in keys]
    bulk_insert(conn, CustodialWallet.__table__, keys)
    bulk_insert(
        conn,
        CustomerWallet.__table__,
        [{"address": w, "customer_id": c, "created_at": now} for w, c in zip(wallets, ids, strict=True)],
    )
    bulk_insert(
        conn,
        CustomerLink.__table__,
        [
            {"partner_id": partner_id, "ref": r.ref, "wallet": w, "customer_id": c, "created_at": now}
            for r, w, c in zip(rows, wallets, ids, strict=True)
        ],
    )
    events = []
    for r, c, w in zip(rows, ids, wallets, strict=True):
        events.append(
            event_row("customer.enrolled", payload={"customer_id": c, "wallet": w}, customer_wallet=w, at=now)
        )
        linked = {"customer_id": c, "ref": r.ref, "wallet": w, "previous_wallet": None}
        events.append(event_row("customer.linked", payload=linked, partner_id=partner_id, customer_wallet=w, at=now))
        enrolled = {"customer_id": c, "partner_id": partner_id, "source": "import"}
        events.append(event_row("member.enrolled", payload=enrolled, partner_id=partner_id, customer_wallet=w, at=now))
    bulk_insert(conn, EVENTS, events)


def _write_members(
    conn: Connection,
    session: Session,
    partner_id: int,
    rows: list[ImportRow],
    ids: list[int],
    codes: dict[str, int],
    digests: dict[int, str],
    now: datetime,
) -> None:
    """The rows of the new customers that need no wallet: members, enrolments, profiles, consents."""
    own = _new_codes(session, len(rows))
    bulk_insert(
        conn,
        Member.__table__,
        [
            {
                "customer_id": c,
                "referral_code": code,
                "referred_by_id": codes.get(r.referral_code) if r.referral_code else None,
                "referred_by_code": r.referral_code,  # the code they enrolled with
                "enrolled_at": now,
            }
            for r, c, code in zip(rows, ids, own, strict=True)
        ],
    )
    bulk_insert(
        conn,
        MemberEnrolment.__table__,
        [
            {
                "partner_id": partner_id,
                "ref": r.ref,
                "customer_id": c,
                "request_hash": digests[r.line],
                "source": "import",
                "created_at": now,
            }
            for r, c in zip(rows, ids, strict=True)
        ],
    )
    profiles = [
        {
            "customer_id": c,
            "email": r.profile.get("email"),
            "phone": r.profile.get("phone"),
            "birthday": r.profile.get("birthday"),
            "locale": r.profile.get("locale"),
            "time_zone": r.profile.get("time_zone"),
            "attributes": r.profile.get("attributes") or {},
            "updated_at": now,
        }
        for r, c in zip(rows, ids, strict=True)
        if r.profile
    ]
    bulk_insert(conn, CustomerProfile.__table__, profiles)
    consents = [
        {
            "customer_id": c,
            "channel": g.channel,
            "partner_id": partner_id,
            "granted": g.granted,
            "source": g.source,
            "recorded_at": now,
        }
        for r, c in zip(rows, ids, strict=True)
        for g in r.consents
    ]
    bulk_insert(conn, CustomerConsent.__table__, consents)


def _new_codes(session: Session, count: int) -> list[str]:
    """``count`` distinct referral codes no member has."""
    codes: set[str] = set()
    while len(codes) < count:
        draw = {new_referral_code() for _ in range(count - len(codes))}
        for chunk in _chunks(sorted(draw)):
            draw -= set(session.scalars(select(Member.referral_code).where(Member.referral_code.in_(chunk))))
        codes |= draw
    return list(codes)


# --- export

EXPORT_COLUMNS = (
    "ref",
    "wallet",
    "custodial",
    "email",
    "phone",
    "birthday",
    "locale",
    "time_zone",
    "attributes",
    "referral_code",
    "referred_by_code",
    "consent_email",
    "consent_sms",
    "consent_push",
    "enrolled_at",
)
OPERATOR_COLUMNS = ("customer_id", "partner_id", *EXPORT_COLUMNS)


def export_csv(sessions: sessionmaker[Session], *, partner_id: int | None) -> Iterator[str]:
    """The members as CSV, a chunk of lines at a time, in its own session (the answer streams
    after the request's session is gone): ``partner_id``'s refs with the consents in its scope,
    or (None, the operator) every partner's refs and the members with no partner (``/me``),
    consents in the coalition's scope. The import reads back a partner's export."""
    columns = EXPORT_COLUMNS if partner_id is not None else OPERATOR_COLUMNS
    yield _line(columns)
    with sessions() as session:
        query = select(Member, CustomerLink).order_by(Member.customer_id, CustomerLink.id)
        if partner_id is None:
            query = query.outerjoin(CustomerLink, CustomerLink.customer_id == Member.customer_id)
        else:
            query = query.join(CustomerLink, CustomerLink.customer_id == Member.customer_id).where(
                CustomerLink.partner_id == partner_id
            )
        rows = session.execute(query.execution_options(yield_per=CHUNK)).tuples()
        batch: list[tuple[Member, CustomerLink | None]] = []
        for pair in rows:
            batch.append(pair)
            if len(batch) >= CHUNK:
                yield _lines(session, batch, partner_id)
                batch = []
        if batch:
            yield _lines(session, batch, partner_id)


def _line(cells: Iterable[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(list(cells))
    return out.getvalue()


def _lines(session: Session, batch: list[tuple[Member, CustomerLink | None]], partner_id: int | None) -> str:
    ids = sorted({m.customer_id for m, _ in batch})
    profiles = {
        p.customer_id: p for p in session.scalars(select(CustomerProfile).where(CustomerProfile.customer_id.in_(ids)))
    }
    history: dict[int, list[Any]] = {}
    scope = CustomerConsent.partner_id.is_(None) if partner_id is None else CustomerConsent.partner_id == partner_id
    consents = select(CustomerConsent).where(CustomerConsent.customer_id.in_(ids), scope).order_by(CustomerConsent.id)
    for c in session.scalars(consents):
        change = ConsentChange(c.channel, c.partner_id, c.granted, c.source, c.recorded_at)
        history.setdefault(c.customer_id, []).append(change)
    custodial = set(
        session.scalars(
            select(CustodialWallet.address).where(
                CustodialWallet.address.in_([link.wallet for _, link in batch if link is not None]),
                CustodialWallet.released_at.is_(None),
            )
        )
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for member, link in batch:
        if member.referral_code is None:
            continue  # erased
        p = profiles.get(member.customer_id)
        force = in_force(history.get(member.customer_id, []))
        consent = {ch: force[(ch, partner_id)].granted if (ch, partner_id) in force else None for ch in CHANNELS}
        cells: list[Any] = [
            link.ref if link else None,
            link.wallet if link else None,
            (link.wallet in custodial) if link else None,
            p.email if p else None,
            p.phone if p else None,
            p.birthday if p else None,
            p.locale if p else None,
            p.time_zone if p else None,
            p.attributes if p else None,
            member.referral_code,
            member.referred_by_code,
            consent["email"],
            consent["sms"],
            consent["push"],
            as_utc(member.enrolled_at).isoformat().replace("+00:00", "Z"),
        ]
        if partner_id is None:
            cells = [member.customer_id, link.partner_id if link else None, *cells]
        writer.writerow([csv_cell(c) for c in cells])
    return out.getvalue()
