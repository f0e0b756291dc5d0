"""Unit tests of customers as entities (gateway/services/customer_records.py, loyalty/customers.py,
migration 0014) on a real migrated SQLite store, no chain."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from eth_account import Account
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import custody, customer_records
from gateway.settings import GatewaySettings
from loyalty.customers import (
    ConsentChange,
    ConsentInvalid,
    ProfileInvalid,
    check_profile,
    in_force,
    may_contact,
)
from network.store import (
    MIGRATIONS,
    Customer,
    CustomerConsent,
    CustomerLink,
    CustomerProfile,
    CustomerWallet,
    Partner,
    make_engine,
    migrate,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def wallet() -> str:
    return Account.create().address


def _partner_row(partner_id: int) -> Partner:
    return Partner(
        id=partner_id, name=f"p{partner_id}", minter=wallet(), treasury=wallet(), api_key_prefix=f"k{partner_id}",
        api_key_hash="h", currency="EUR", points_per_unit=1, issue_price=1, reimbursement_rate=1, issuance_limit=1,
    )  # fmt: skip


@pytest.fixture
def sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The shared store (tests/conftest.py) with partners 1 and 2."""
    with sessions() as session:
        session.add_all([_partner_row(1), _partner_row(2)])
        session.commit()
    return sessions


# ---------------------------------------------------------------------------------- wallets


def test_a_wallet_is_enrolled_once_and_found_again(sessions: sessionmaker[Session]) -> None:
    w = wallet()
    with sessions() as session:
        first = customer_records.customer_of_wallet(session, wallet=w)
        assert customer_records.customer_of_wallet(session, wallet=w).id == first.id
        assert customer_records.find_by_wallet(session, wallet=w) == first
        assert customer_records.find_by_wallet(session, wallet=wallet()) is None
        session.commit()
        assert session.scalar(select(Customer.id).where(Customer.id != first.id)) is None


def test_a_wallet_belongs_to_at_most_one_customer(sessions: sessionmaker[Session]) -> None:
    w = wallet()
    with sessions() as session:
        owner = customer_records.customer_of_wallet(session, wallet=w)
        other = customer_records.customer_of_wallet(session, wallet=wallet())
        with pytest.raises(customer_records.WalletOfAnotherCustomer) as refused:
            customer_records.add_wallet(session, customer_id=other.id, wallet=w)
        assert refused.value.customer_id == owner.id
        assert customer_records.add_wallet(session, customer_id=owner.id, wallet=w) == owner  # theirs: nothing to do
        session.commit()
    with sessions() as session:  # the store itself refuses a second owner
        session.add(CustomerWallet(address=w, customer_id=other.id))
        with pytest.raises(IntegrityError):
            session.flush()


def test_a_wallet_enrolled_meanwhile_by_another_transaction_keeps_its_customer(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: this transaction found no customer for the wallet, another one enrolled it and
    committed before this one's insert. The insert does nothing; the wallet keeps the first customer."""
    w = wallet()
    with sessions() as session:
        first = customer_records.customer_of_wallet(session, wallet=w)
        session.commit()
    monkeypatch.setattr(customer_records, "find_by_wallet", lambda session, *, wallet: None)
    with sessions() as session:
        assert customer_records.customer_of_wallet(session, wallet=w).id == first.id
        session.commit()
        assert session.scalars(select(Customer.id)).all() == [first.id]  # the extra customer is gone


def test_unknown_customer_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        with pytest.raises(customer_records.CustomerNotFound):
            customer_records.add_wallet(session, customer_id=999, wallet=wallet())
        with pytest.raises(customer_records.CustomerNotFound):
            customer_records.set_profile(session, customer_id=999, email="a@b.example")


# ---------------------------------------------------------------------------------- links


def test_refs_of_two_partners_on_one_wallet_are_one_customer(sessions: sessionmaker[Session]) -> None:
    w = wallet()
    with sessions() as session:
        a = customer_records.link(session, partner_id=1, ref="alice", wallet=w)
        b = customer_records.link(session, partner_id=2, ref="ali-77", wallet=w)
        session.commit()
        assert a.customer_id == b.customer_id
        assert customer_records.find_by_ref(session, partner_id=2, ref="ali-77") == customer_records.find_by_wallet(
            session, wallet=w
        )
        assert customer_records.find_by_ref(session, partner_id=2, ref="alice") is None  # refs are per partner


def test_a_ref_moved_to_a_new_wallet_keeps_its_customer(sessions: sessionmaker[Session]) -> None:
    old, new = wallet(), wallet()
    with sessions() as session:
        link = customer_records.link(session, partner_id=1, ref="bob", wallet=old)
        customer_id, linked_at = link.customer_id, link.created_at
        moved = customer_records.link(session, partner_id=1, ref="bob", wallet=new)
        session.commit()
        assert (moved.id, moved.wallet, moved.customer_id, moved.created_at) == (link.id, new, customer_id, linked_at)
        assert set(customer_records.wallets_of(session, customer_id=customer_id)) == {old, new}


def test_a_ref_moved_to_another_customers_wallet_follows_that_wallet(sessions: sessionmaker[Session]) -> None:
    mine, theirs = wallet(), wallet()
    with sessions() as session:
        other = customer_records.link(session, partner_id=2, ref="carol", wallet=theirs).customer_id
        link = customer_records.link(session, partner_id=1, ref="c-1", wallet=mine)
        assert link.customer_id != other
        assert customer_records.link(session, partner_id=1, ref="c-1", wallet=theirs).customer_id == other
        session.commit()
        assert customer_records.wallets_of(session, customer_id=other) == [theirs]


def test_the_store_refuses_a_link_to_another_customer_than_its_wallets(sessions: sessionmaker[Session]) -> None:
    w, elsewhere = wallet(), wallet()
    with sessions() as session:
        customer_records.customer_of_wallet(session, wallet=w)
        stranger = customer_records.customer_of_wallet(session, wallet=elsewhere)
        session.commit()
        session.add(CustomerLink(partner_id=1, ref="x", wallet=w, customer_id=stranger.id))
        with pytest.raises(IntegrityError):
            session.flush()


def test_a_custodial_wallet_is_a_new_customers_in_the_same_transaction(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = GatewaySettings(state_dir=tmp_path, secrets_key="unit-test-secrets-key-of-32-characters")
    with sessions() as session:
        address = custody.create_custodial_wallet(session, settings, partner_id=1)
        customer = customer_records.find_by_wallet(session, wallet=address)
        assert customer is not None
        assert customer_records.link(session, partner_id=1, ref="d", wallet=address).customer_id == customer.id
        session.rollback()  # nothing of it without the rest
        assert session.scalars(select(Customer)).all() == []
        assert session.scalars(select(CustomerWallet)).all() == []


# ---------------------------------------------------------------------------------- profile


def test_profile_fields_are_set_kept_and_cleared(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        customer = customer_records.customer_of_wallet(session, wallet=wallet())
        assert customer_records.profile(session, customer_id=customer.id) is None
        customer_records.set_profile(
            session,
            customer_id=customer.id,
            email=" Dana@Example.COM ",
            phone="+33612345678",
            birthday=date(1990, 5, 17),
            locale="fr-FR",
            time_zone="Europe/Paris",
            attributes={"shoe_size": 42, "tags": ["vip"]},
        )
        customer_records.set_profile(session, customer_id=customer.id, phone=None, locale="de-DE")
        session.commit()
    with sessions() as session:
        row = session.get(CustomerProfile, customer.id)
        assert row is not None
        assert (row.email, row.phone, row.birthday, row.locale, row.time_zone) == (
            "Dana@example.com",
            None,
            date(1990, 5, 17),
            "de-DE",
            "Europe/Paris",
        )
        assert row.attributes == {"shoe_size": 42, "tags": ["vip"]}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-address"),
        ("phone", "0612345678"),
        ("birthday", date(2999, 1, 1)),
        ("birthday", "1990-05-17"),
        ("locale", "french please"),
        ("time_zone", "Mars/Olympus_Mons"),
        ("attributes", ["a list"]),
        ("attributes", {"big": "x" * 20_000}),
        ("attributes", {"nan": float("nan")}),
        ("nickname", "Dee"),
    ],
)
def test_profile_refuses(field: str, value: Any) -> None:
    with pytest.raises(ProfileInvalid) as refused:
        check_profile({field: value}, today=date(2026, 3, 1))
    assert refused.value.field == field


def test_a_refused_profile_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        customer = customer_records.customer_of_wallet(session, wallet=wallet())
        customer_records.set_profile(session, customer_id=customer.id, email="e@example.com")
        with pytest.raises(ProfileInvalid):
            customer_records.set_profile(session, customer_id=customer.id, email="f@example.com", phone="12")
        row = customer_records.profile(session, customer_id=customer.id)
        assert row is not None and (row.email, row.phone) == ("e@example.com", None)


# ---------------------------------------------------------------------------------- consents


def test_consents_keep_their_history_and_the_latest_is_in_force(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        customer = customer_records.customer_of_wallet(session, wallet=wallet())
        cid = customer.id
        for minutes, channel, partner_id, granted, source in [
            (0, "email", 1, True, "pos"),
            (1, "email", None, True, "web-form"),
            (2, "sms", 1, True, "pos"),
            (3, "email", 1, False, "unsubscribe-link"),
            (4, "email", 2, True, "app"),
        ]:
            customer_records.record_consent(
                session,
                customer_id=cid,
                channel=channel,
                partner_id=partner_id,
                granted=granted,
                source=source,
                at=T0 + timedelta(minutes=minutes),
            )
        session.commit()
    with sessions() as session:
        assert session.scalar(select(CustomerConsent.id).where(CustomerConsent.customer_id == cid).limit(1))
        history = customer_records.consent_history(session, customer_id=cid)
        assert [(c.channel, c.partner_id, c.granted) for c in history] == [
            ("email", 1, True),
            ("email", None, True),
            ("sms", 1, True),
            ("email", 1, False),
            ("email", 2, True),
        ]
        assert history[3].source == "unsubscribe-link" and history[3].recorded_at == T0 + timedelta(minutes=3)
        current = customer_records.consents_in_force(session, customer_id=cid)
        assert {scope: c.granted for scope, c in current.items()} == {
            ("email", 1): False,
            ("email", None): True,
            ("sms", 1): True,
            ("email", 2): True,
        }
        assert not may_contact(history, channel="email", partner_id=1)
        assert may_contact(history, channel="email", partner_id=2)
        assert not may_contact(history, channel="push", partner_id=2)  # never asked: no


def test_consents_refuse_unknown_channels_sources_and_partners(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        cid = customer_records.customer_of_wallet(session, wallet=wallet()).id
        common = {"customer_id": cid, "granted": True}
        with pytest.raises(ConsentInvalid):
            customer_records.record_consent(session, **common, channel="fax", partner_id=1, source="pos")
        with pytest.raises(ConsentInvalid):
            customer_records.record_consent(session, **common, channel="sms", partner_id=1, source=" ")
        with pytest.raises(customer_records.PartnerNotFound):
            customer_records.record_consent(session, **common, channel="sms", partner_id=99, source="pos")
        assert customer_records.consent_history(session, customer_id=cid) == []


def test_in_force_takes_the_latest_time_not_the_latest_row() -> None:
    late = ConsentChange("push", None, False, "app", T0 + timedelta(hours=1))
    early = ConsentChange("push", None, True, "import", T0)  # recorded after, but happened before
    assert in_force([late, early])[("push", None)] == late


def test_no_module_of_the_chain_layer_reads_personal_data() -> None:
    """Personal data never goes on chain: nothing under network/ but the store names the
    profile or consent tables (or this module's loyalty rules)."""
    names = {"CustomerProfile", "CustomerConsent", "customer_profiles", "customer_consents", "loyalty"}
    found = []
    for path in (ROOT / "network").rglob("*.py"):
        if "store" in path.relative_to(ROOT / "network").parts:
            continue
        tree = ast.parse(path.read_text())
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        used |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                used |= {node.module.split(".")[0], *(a.name for a in node.names)}
            elif isinstance(node, ast.Import):
                used |= {a.name.split(".")[0] for a in node.names}
        found += [f"{path.relative_to(ROOT)}: {name}" for name in sorted(used & names)]
    assert found == []


# ---------------------------------------------------------------------------------- migration 0014


def test_the_migration_makes_one_customer_per_wallet_of_the_links(tmp_path: Path) -> None:
    """A store at 0013 with links and custodial wallets: after the upgrade each distinct wallet is
    one customer (a wallet linked at two partners too), every link points to its wallet's, and
    the downgrade gives the links back as they were."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0013")
    engine = make_engine(url)
    shared, alone, custodial, unlinked = wallet(), wallet(), wallet(), wallet()
    links = [  # id, partner, ref, wallet, created_at
        (1, 1, "a-1", shared, "2026-01-03 00:00:00"),
        (2, 2, "b-1", shared, "2026-01-01 00:00:00"),
        (3, 1, "a-2", alone, "2026-01-02 00:00:00"),
        (4, 1, "a-3", custodial, "2026-01-05 00:00:00"),
    ]
    with engine.begin() as c:
        for pid in (1, 2):
            c.exec_driver_sql(
                "INSERT INTO partners (id, name, minter, treasury, api_key_prefix, api_key_hash, currency,"
                " points_per_unit, issue_price, reimbursement_rate, issuance_limit, status, next_seq, created_at)"
                f" VALUES ({pid}, 'p{pid}', 'm{pid}', 't', 'k{pid}', 'h', 'EUR', 1, 1, 1, 1, 'active', 0,"
                " '2026-01-01 00:00:00')"
            )
        for row in links:
            c.exec_driver_sql(
                "INSERT INTO customer_links (id, partner_id, ref, wallet, created_at) VALUES (?, ?, ?, ?, ?)", row
            )
        for address, at in ((custodial, "2026-01-04 00:00:00"), (unlinked, "2026-01-06 00:00:00")):
            c.exec_driver_sql(
                "INSERT INTO custodial_wallets (address, partner_id, key_ciphertext, key_nonce, created_at)"
                " VALUES (?, 1, x'00', x'00', ?)",
                (address, at),
            )
    migrate(url, "head")
    factory = sessionmaker(engine)
    with factory() as session:
        owner = dict(session.execute(select(CustomerWallet.address, CustomerWallet.customer_id)).tuples().all())
        assert set(owner) == {shared, alone, custodial, unlinked}
        assert len(set(owner.values())) == 4  # one customer per distinct wallet
        by_ref = {ln.ref: ln for ln in session.scalars(select(CustomerLink))}
        assert {ref: (ln.wallet, ln.customer_id) for ref, ln in by_ref.items()} == {
            "a-1": (shared, owner[shared]),
            "b-1": (shared, owner[shared]),
            "a-2": (alone, owner[alone]),
            "a-3": (custodial, owner[custodial]),
        }
        created = dict(session.execute(select(Customer.id, Customer.created_at)).tuples().all())
        day = {w: created[owner[w]].day for w in owner}  # at the wallet's first link or custody
        assert day == {shared: 1, alone: 2, custodial: 4, unlinked: 6}
        assert sorted(owner, key=owner.__getitem__) == [shared, alone, custodial, unlinked]  # oldest first
        # the service carries on from the migrated rows: a new ref on the shared wallet is that customer
        assert customer_records.link(session, partner_id=2, ref="b-9", wallet=shared).customer_id == owner[shared]
        session.commit()
    migrate(url, "head")  # again: nothing to do
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    command.downgrade(config, "0013")
    with engine.connect() as c:
        rows = c.exec_driver_sql("SELECT id, partner_id, ref, wallet FROM customer_links ORDER BY id").all()
        assert [tuple(r) for r in rows] == [(i, p, r, w) for i, p, r, w, _ in links] + [(5, 2, "b-9", shared)]
        tables = {r[0] for r in c.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert not tables & {"customers", "customer_wallets", "customer_profiles", "customer_consents"}
    engine.dispose()


# ---------------------------------------------------------------------------------- domain events


def test_enrolling_and_linking_write_their_events_with_the_change(sessions: sessionmaker[Session]) -> None:
    from network.store import DomainEvent

    own, newer = wallet(), wallet()
    with sessions() as session:
        customer_records.link(session, partner_id=1, ref="c-1", wallet=own)
        session.rollback()  # no change, no event
        customer_records.link(session, partner_id=1, ref="c-1", wallet=own)
        customer_records.link(session, partner_id=1, ref="c-1", wallet=own)  # the same link again: nothing happened
        customer_records.link(session, partner_id=1, ref="c-1", wallet=newer)
        session.commit()
        found = [(e.type, e.partner_id, e.customer_wallet, e.payload) for e in session.scalars(select(DomainEvent))]
        customer_id = customer_records.find_by_wallet(session, wallet=own).id  # type: ignore[union-attr]
    assert found == [
        ("customer.enrolled", None, own, {"customer_id": customer_id, "wallet": own}),
        ("customer.linked", 1, own, {"customer_id": customer_id, "ref": "c-1", "wallet": own, "previous_wallet": None}),
        (
            "customer.linked",
            1,
            newer,
            {"customer_id": customer_id, "ref": "c-1", "wallet": newer, "previous_wallet": own},
        ),
    ]


def test_wallets_of_nobody_become_customers_in_bulk_each_with_its_event(tmp_path) -> None:
    """What a consumer of thousands of confirmed purchases does: one customer per new wallet, the
    known wallet keeps its customer, one ``customer.enrolled`` event per new customer."""
    from sqlalchemy import func, select

    from gateway.services import customer_records
    from network.store import Customer, DomainEvent
    from tests.stores import migrated_store

    sessions = migrated_store(f"sqlite:///{tmp_path / 'bulk.db'}")
    known = "0x" + "a" * 40
    with sessions() as session:
        first = customer_records.customer_of_wallet(session, wallet=known).id
        session.commit()
    wallets = [known, *(f"0x{n:040x}" for n in range(1, 1_001))]
    with sessions() as session:
        owners = customer_records.customers_of_wallets(session, wallets=wallets)
        session.commit()
    with sessions() as session:
        assert owners[known] == first and len(set(owners.values())) == 1_001
        assert session.scalar(select(func.count()).select_from(Customer)) == 1_001
        enrolled = session.scalars(select(DomainEvent.payload).where(DomainEvent.type == "customer.enrolled")).all()
        assert sorted(e["wallet"] for e in enrolled) == sorted(wallets)
        assert customer_records.customers_of_wallets(session, wallets=wallets) == owners  # known now: nothing made
    sessions.kw["bind"].dispose()
