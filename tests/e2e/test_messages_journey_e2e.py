"""Issue 18's "Done when" as a customer's journey on the real stack (tests/e2e/stack.py with
``messaging=True``: anvil, Redis, a Celery worker and beat, uvicorn, the embedded SMTP server
writing a Maildir and the embedded SMS provider writing a JSON file per SMS), read from those
folders with the stdlib (``mailbox``, ``email``, ``json``), not from the code under test.

Ola (pl-PL) is enrolled by a shop with an email and a phone and her consent to the coalition's
marketing on both channels; she confirms her email with the link of the ``email_confirmation``
mail (a plain POST). Then each trigger reaches her once per channel, in Polish: the welcome, the
confirmation, tier up (a ladder, a purchase over its threshold), reward ready (a redemption
fulfilled), refund done, points expiring (the chain's clock moved inside 30 days of her expiry).
Jan (cs-CZ) has no consent: his welcome (transactional) comes, in Czech; his digest is suppressed
``no-consent`` and nothing of marketing reaches him.

The cap (1 marketing message in 7 days) and quiet hours (21:00-08:00) on the messages' clock
(``COALITION_MESSAGES_CLOCK_FILE``): Ola's purchases are tallied on two local days (her zone
moves from Pago Pago, UTC-11, to Kiritimati, UTC+14, in between: her days differ). The clock
starts at noon in Kiritimati of Pago Pago's today (no day of hers has ended, whatever the wall
clock's hour), then is set to 00:30 in Kiritimati the night after her first day: its digest is planned and held until
08:00, nothing arrives; at 08:05 it arrives once on each channel, with RFC 8058 one-click
unsubscribe, which she uses with a plain POST. At 08:30 after her second day, that day's digest is
suppressed: ``opted-out`` by email, ``frequency-cap`` by SMS; nothing new arrives. (The digest is
the coalition's, not the shop's: her consents and the unsubscribe are at the coalition's scope.)

Ports: 9940-9959.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from network.store import CustomerProfile, Message, MessageDigest
from tests.e2e.stack import OPERATOR_HEADERS, OnboardedPartner, Stack, start_stack
from tests.pg import StoreKind

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("sqlite",)

pytestmark = pytest.mark.timeout(360)
PAGO, KIRITIMATI = "Pacific/Pago_Pago", "Pacific/Kiritimati"  # 25 hours apart: never the same date
OLA = {
    "email": "ola@example.com",
    "phone": "+48600100500",
    "locale": "pl-PL",
    "time_zone": PAGO,
    "attributes": {"first_name": "Ola"},
    "consents": [
        {"channel": c, "granted": True, "source": "web-form", "scope": "coalition", "text_shown": "Tak, chcę."}
        for c in ("email", "sms")
    ],
}
JAN = {"email": "jan@example.com", "phone": "+420600100501", "locale": "cs-CZ", "time_zone": PAGO}
LADDER = {
    "tiers": [
        {"name": "Member", "threshold": 0, "multiplier": "1"},
        {"name": "Silver", "threshold": 50, "multiplier": "1"},
    ],
    "policy": {"window": "rolling_12_months", "review": {"kind": "anniversary"}, "grace_days": 30},
}
TRANSACTIONAL_EMAIL = ("welcome", "email_confirmation", "tier_up", "reward_ready", "refund_done", "points_expiring")
TRANSACTIONAL_SMS = ("welcome", "tier_up", "reward_ready", "refund_done", "points_expiring")
# a word of Polish in each kind's email (text part) and SMS (loyalty/messages/templates/pl)
POLISH_EMAIL = {
    "welcome": "Dziękujemy",
    "email_confirmation": "Potwierdź",
    "tier_up": "Gratulacje",
    "reward_ready": "nagroda",
    "refund_done": "Zwróciliśmy",
    "points_expiring": "Wykorzystaj",
    "points_earned": "Wypisz się",  # the marketing footer's unsubscribe line
}
POLISH_SMS = {
    "welcome": "Witamy",
    "tier_up": "Gratulacje",
    "reward_ready": "Nagroda",
    "refund_done": "Zwrot",
    "points_expiring": "Wykorzystaj",
    "points_earned": "Wyślij STOP",  # the stop keyword
}
DAY_S = 86_400


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Path:
    path = tmp_path_factory.mktemp("journey-clock") / "offset"
    path.write_text("0")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, clock_file: Path, store: StoreKind) -> Iterator[Stack]:
    with start_stack(
        tmp_path_factory.mktemp("journey-e2e"), ports=range(9940, 9960), store=store, messaging=True,
        messages_clock_file=clock_file, messages_plan_every_s=0.5, messages_schedule_every_s=0.5,
        messages_send_every_s=0.5, messages_cap_marketing=1, messages_cap_days=7,
        messages_quiet_start="21:00", messages_quiet_end="08:00", tiers_every_s=1, expiry_remind_every_s=1,
    ) as stack:  # fmt: skip
        yield stack


# ------------------------------------------------------------------------------ the folders


def mails(stack: Stack, to: str) -> list[EmailMessage]:
    """The mails in the Maildir for ``to``, parsed by the stdlib (files in new/ and cur/)."""
    assert stack.mail_dir is not None
    found = []
    for sub in ("new", "cur"):
        for path in sorted((stack.mail_dir / sub).glob("*")):
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            if parsed["To"] == to:
                found.append(parsed)
    return found


def receptions(stack: Stack) -> Counter[str]:
    """Every DATA the SMTP server received, duplicates included, by Message-ID."""
    assert stack.mail_dir is not None
    path = stack.mail_dir / "receptions.log"
    return Counter(path.read_text().split()) if path.exists() else Counter()


def texts(stack: Stack, to: str) -> list[dict[str, Any]]:
    """The SMS the provider accepted for ``to`` (one JSON file each)."""
    assert stack.sms_dir is not None
    return [s for p in sorted(stack.sms_dir.glob("SM*.json")) if (s := json.loads(p.read_text()))["To"] == to]


def sms_kinds(stack: Stack, to: str) -> list[tuple[str, str]]:
    """(kind, text) of each SMS the provider kept for ``to``: the kind is the one of the message
    row its ``Idempotency-Key`` (``msg-<id>``) names."""
    found = texts(stack, to)
    ids = {int(s["idempotency_key"].removeprefix("msg-")): s["Body"] for s in found}
    with stack.harness.sessions() as session:
        kind = dict(session.execute(select(Message.id, Message.kind).where(Message.id.in_(list(ids)))).all())
    assert len(ids) == len(found)  # one SMS per message row
    return sorted((kind[i], text) for i, text in ids.items())


def when(read: Callable[[], list[tuple[str, str]]], want: list[str]) -> Callable[[], list[tuple[str, str]] | None]:
    """A check for wait_for: what ``read`` answers once its kinds are ``want``."""

    def check() -> list[tuple[str, str]] | None:
        found = read()
        return found if [k for k, _ in found] == want else None

    return check


def kinds(found: list[EmailMessage]) -> Counter[str]:
    return Counter(str(m["X-Coalition-Kind"]) for m in found)


def body(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def wait_for(what: str, check: Callable[[], Any], stack: Stack, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} after {timeout_s} s:\n{stack.logs()}"
        time.sleep(0.3)


def rows(stack: Stack, address: str, kind: str) -> list[Message]:
    with stack.harness.sessions() as session:
        found = session.scalars(select(Message).where(Message.address == address, Message.kind == kind))
        return list(found)


def tallies(stack: Stack, customer_id: int) -> dict[date, int]:
    with stack.harness.sessions() as session:
        found = session.execute(
            select(MessageDigest.day, MessageDigest.points).where(MessageDigest.customer_id == customer_id)
        )
        return {d: int(p) for d, p in found}


def set_clock(clock_file: Path, at: datetime) -> None:
    """The messages' clock reads ``at`` from now on (an offset from the wall clock)."""
    clock_file.write_text(str((at - datetime.now(UTC)).total_seconds()))


def kiritimati(day: date, hh: int, mm: int) -> datetime:
    return datetime.combine(day, wall(hh, mm), tzinfo=ZoneInfo(KIRITIMATI)).astimezone(UTC)


# ------------------------------------------------------------------------------ the API


def enrol(stack: Stack, shop: OnboardedPartner, ref: str, body: dict[str, Any]) -> tuple[int, str]:
    """Enrols ``ref`` (a custodial wallet); their customer id (the store's) and wallet."""
    r = stack.http.post(f"/v1/customers/{ref}/enrolment", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    with stack.harness.sessions() as session:
        customer = session.scalar(select(CustomerProfile.customer_id).where(CustomerProfile.email == body["email"]))
    assert customer is not None
    return customer, str(r.json()["wallet"])


def buy(stack: Stack, shop: OnboardedPartner, purchase_id: str, ref: str, amount: str) -> None:
    assert stack.post_purchase(shop, purchase_id, ref=ref, amount=amount).status_code == 202
    stack.wait_purchase(shop, purchase_id, timeout_s=90)


def test_a_customers_messages_once_in_her_language_with_consent_caps_quiet_hours_and_one_click_unsubscribe(
    stack: Stack, clock_file: Path
) -> None:
    ola, jan = OLA["email"], JAN["email"]
    # the messages' clock: noon in Kiritimati of Pago Pago's today, so that no day of Ola's (today
    # in Pago Pago, or tomorrow) has ended in either zone until the test moves it, whatever the hour
    set_clock(clock_file, kiritimati(datetime.now(ZoneInfo(PAGO)).date(), 12, 0))
    r = stack.http.put("/v1/operator/tiers/ladder", headers=OPERATOR_HEADERS, json=LADDER)
    assert r.status_code == 201, r.text
    r = stack.http.post(
        "/v1/operator/tiers/recalculations", headers=OPERATOR_HEADERS, json={"version": r.json()["version"]}
    )
    assert r.status_code == 202, r.text
    stack.wait_json(f"/v1/operator/tiers/recalculations/{r.json()['id']}", OPERATOR_HEADERS, want="done")
    shop = stack.onboard("Sklep", points_per_unit="1")
    ola_id, wallet = enrol(stack, shop, "ola", OLA)
    enrol(stack, shop, "jan", JAN)

    # double opt-in: the link of the confirmation mail, POSTed (a GET of it confirms nothing)
    [confirmation] = wait_for("the confirmation mail", lambda: [m for m in mails(stack, ola)
                              if m["X-Coalition-Kind"] == "email_confirmation"], stack)  # fmt: skip
    [link] = set(re.findall(r"https?://\S+/v1/consents/confirm/[A-Za-z0-9._~-]+", body(confirmation)))
    path = httpx.URL(link).path
    assert stack.http.get(path, headers={"Accept": "text/html"}).status_code == 200
    r = stack.http.post(path)
    assert r.status_code == 200 and r.json()["confirmed"] is True, r.text

    # Ola's first day (Pago Pago), then her second (Kiritimati); Jan's day
    buy(stack, shop, "ola-1", "ola", "40.00")
    buy(stack, shop, "jan-1", "jan", "10.00")
    [first_day] = wait_for("Ola's first tally", lambda: tallies(stack, ola_id), stack)
    r = stack.http.patch("/v1/customers/ola/profile", json={"time_zone": KIRITIMATI}, headers=shop.headers)
    assert r.status_code == 200, r.text
    buy(stack, shop, "ola-2", "ola", "30.00")  # 70 qualifying points: Silver
    days = wait_for("Ola's second tally", lambda: len(t := tallies(stack, ola_id)) == 2 and t, stack)
    second_day = max(days)
    assert second_day > first_day and days == {first_day: 40, second_day: 30}

    # a reward redeemed and fulfilled; a refund
    r = stack.http.post(
        "/v1/rewards", headers=shop.headers, json={"sku": "KAWA", "name": "Kawa", "points": 20, "stock": 5}
    )
    assert r.status_code == 201, r.text
    redeem = {"redemption_id": "ola-kawa", "sku": "KAWA", "quantity": 1, "customer": {"ref": "ola"}}
    assert stack.http.post("/v1/redemptions", headers=shop.headers, json=redeem).status_code == 202
    stack.wait_json("/v1/redemptions/ola-kawa", shop.headers, want="fulfilled", timeout_s=90)
    r = stack.http.post(
        "/v1/purchases/ola-1/refunds", headers=shop.headers, json={"refund_id": "rf-1", "amount": "10.00"}
    )
    assert r.status_code == 202, r.text
    stack.wait_json("/v1/purchases/ola-1/refunds/rf-1", shop.headers, want="confirmed", timeout_s=90)

    # points expiring: the chain's clock inside 30 days of Ola's expiry
    expires = int(stack.harness.contracts.points.functions.expiresAtOf(wallet).call())
    now = int(stack.harness.w3.eth.get_block("latest")["timestamp"])
    stack.advance_time(expires - now - 30 * DAY_S + 60)

    # every transactional message once per channel, in Polish
    want_email = Counter(TRANSACTIONAL_EMAIL)
    got = wait_for("Ola's transactional mails", lambda: kinds(m := mails(stack, ola)) == want_email and m, stack)
    want_sms = sorted(TRANSACTIONAL_SMS)
    got_sms = wait_for("Ola's transactional SMS", when(lambda: sms_kinds(stack, OLA["phone"]), want_sms), stack)
    for mail in got:
        kind = str(mail["X-Coalition-Kind"])
        assert mail["Content-Language"] == "pl", (kind, mail["Content-Language"])
        assert POLISH_EMAIL[kind] in body(mail), (kind, body(mail))
        assert mail["List-Unsubscribe"] is None, kind  # transactional: no unsubscribe
    for kind, text in got_sms:
        assert POLISH_SMS[kind] in text, (kind, text)
    jans = wait_for("Jan's welcome", lambda: mails(stack, jan), stack)
    assert [m["Content-Language"] for m in jans if m["X-Coalition-Kind"] == "welcome"] == ["cs"]
    assert "points_earned" not in kinds(jans)
    # Jan's transactional messages are out before the messages' clock moves back to a night
    wait_for(
        "Jan's expiry reminder", lambda: kinds(mails(stack, jan)) == Counter(["welcome", "points_expiring"]), stack
    )
    wait_for("Jan's SMS", when(lambda: sms_kinds(stack, JAN["phone"]), ["points_expiring", "welcome"]), stack)
    assert set(receptions(stack).values()) == {1}  # no mail was even received twice

    # quiet hours: 00:30 in Kiritimati after Ola's first day; her digest waits for 08:00
    night = kiritimati(first_day + timedelta(days=1), 0, 30)
    set_clock(clock_file, night)
    [held_email] = wait_for("Ola's first digest planned", lambda: rows(stack, ola, "points_earned"), stack)
    until = kiritimati(first_day + timedelta(days=1), 8, 0)
    assert (held_email.status, held_email.send_after.replace(tzinfo=UTC)) == ("queued", until)
    [held_sms] = rows(stack, OLA["phone"], "points_earned")
    assert (held_sms.status, held_sms.send_after.replace(tzinfo=UTC)) == ("queued", until)
    time.sleep(3)  # several sender runs: nothing of it goes out in the night
    assert "points_earned" not in kinds(mails(stack, ola))
    assert [k for k, _ in sms_kinds(stack, OLA["phone"])] == want_sms
    set_clock(clock_file, until + timedelta(minutes=5))
    [digest] = wait_for("the digest after 08:00", lambda: [m for m in mails(stack, ola)
                        if m["X-Coalition-Kind"] == "points_earned"], stack)  # fmt: skip
    assert digest["Content-Language"] == "pl" and POLISH_EMAIL["points_earned"] in body(digest)
    [(_, sms_digest)] = wait_for("the digest by SMS", lambda: [t for t in sms_kinds(stack, OLA["phone"])
                                 if t[0] == "points_earned"], stack)  # fmt: skip
    assert POLISH_SMS["points_earned"] in sms_digest

    # one-click unsubscribe (RFC 8058): a plain POST to the List-Unsubscribe URL
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(digest["List-Unsubscribe"]).strip("<>")
    r = httpx.post(url, content=b"List-Unsubscribe=One-Click",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 200 and r.json()["unsubscribed"] is True, r.text

    # her second day ends: 08:30 in Kiritimati (not quiet), inside the 7 days of the cap
    set_clock(clock_file, kiritimati(second_day + timedelta(days=1), 8, 30))
    second = f"points_earned:{ola_id}:{second_day.isoformat()}"
    by_channel = wait_for(
        "the second digest planned",
        lambda: {
            m.channel: m
            for m in rows(stack, ola, "points_earned") + rows(stack, OLA["phone"], "points_earned")
            if m.occurrence == second
        },
        stack,
    )
    assert {c: (m.status, m.reason) for c, m in by_channel.items()} == {
        "email": ("suppressed", "opted-out"),
        "sms": ("suppressed", "frequency-cap"),
    }
    jan_digests = wait_for(
        "Jan's digest planned",
        lambda: rows(stack, jan, "points_earned") + rows(stack, JAN["phone"], "points_earned"),
        stack,
    )
    assert {(m.channel, m.status, m.reason) for m in jan_digests} == {
        ("email", "suppressed", "no-consent"),
        ("sms", "suppressed", "no-consent"),
    }
    time.sleep(3)  # several sender runs: nothing new
    assert kinds(mails(stack, ola)) == want_email + Counter(["points_earned"])
    assert [k for k, _ in sms_kinds(stack, OLA["phone"])] == sorted([*TRANSACTIONAL_SMS, "points_earned"])
    assert [k for k, _ in sms_kinds(stack, JAN["phone"])] == ["points_expiring", "welcome"]
    assert kinds(mails(stack, jan)) == Counter(["welcome", "points_expiring"])
    assert set(receptions(stack).values()) == {1}
