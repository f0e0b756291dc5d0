"""The sender against real servers in this process: the embedded SMTP server (aiosmtpd, a Maildir)
and the embedded SMS provider (HTTP), on a migrated SQLite store. Claims, one connection per batch,
a hard bounce suppressing its address, a greylisted address retried with backoff, a lease that ran
out fencing off the late worker's result, an SMS with its provider sid."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.messaging import sms, sms_server, smtp_server
from gateway.messaging.smtp import SmtpChannel
from gateway.services import message_delivery
from gateway.settings import LOCAL_SMS_AUTH_TOKEN, WorkerSettings, messages_link_key
from loyalty.messages.kinds import KINDS
from loyalty.messages.mime import build_email
from loyalty.messages.render import Rendered
from loyalty.messages.tokens import verify
from network.store import Customer, Message, MessageEvent, MessageSuppression, utcnow
from tests.stores import migrated_store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[sessionmaker[Session], WorkerSettings, Path, Path]]:
    smtp_port, sms_port = _free_port(), _free_port()
    mail_dir, sms_dir = tmp_path / "mailbox", tmp_path / "sms"
    controller = smtp_server.serve(smtp_port, mail_dir)
    provider = sms_server.Provider(sms_dir, account_sid="AC1", token=LOCAL_SMS_AUTH_TOKEN, callback_delay_s=0)
    http_server = sms_server.serve(sms_port, provider)
    settings = WorkerSettings(
        mode="local", smtp_port=smtp_port, sms_port=sms_port, sms_account_sid="AC1", messages_batch=50,
        public_url=f"http://127.0.0.1:{sms_port}", messages_backoff_base_s=60,
    )  # fmt: skip
    sessions = migrated_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield sessions, settings, mail_dir, sms_dir
    finally:
        controller.stop()
        http_server.shutdown()


def _queue(
    sessions: sessionmaker[Session],
    addresses: list[str],
    *,
    channel: str = "email",
    kind: str = "welcome",
    category: str | None = None,
) -> list[int]:
    with sessions() as session:
        ids = []
        for i, address in enumerate(addresses):
            customer = Customer()
            session.add(customer)
            session.flush()
            message = Message(
                occurrence=f"evt-{address}-{i}", kind=kind, category=category or KINDS[kind].category,
                customer_id=customer.id,
                channel=channel, address=address, locale="en", data=dict(KINDS[kind].sample),
            )  # fmt: skip
            session.add(message)
            session.flush()
            ids.append(message.id)
        session.commit()
    return ids


def _send(sessions: sessionmaker[Session], settings: WorkerSettings) -> tuple[message_delivery.Round, int]:
    with SmtpChannel(settings) as smtp, sms.make_client(settings) as http:
        done = message_delivery.send_batch(sessions, settings, smtp=smtp, http=http)
        return done, smtp.connections


def test_unit_queued_emails_are_sent_once_over_one_connection_into_the_mailbox(world):
    sessions, settings, mail_dir, _ = world
    ids = _queue(sessions, [f"c{i}@example.com" for i in range(30)])
    done, connections = _send(sessions, settings)
    assert done.claimed == 30 and done.results == {"sent": 30} and connections == 1
    assert _send(sessions, settings)[0].claimed == 0  # nothing due any more
    kept = smtp_server.read_mailbox(mail_dir)
    assert sorted(m["Message-ID"] for m in kept) == sorted(f"<msg-{i}@coalition.localhost>" for i in ids)
    with sessions() as session:
        rows = list(session.scalars(select(Message)))
        assert {m.status for m in rows} == {"sent"} and all(m.provider_ref and m.sent_at for m in rows)
        assert session.scalar(select(MessageEvent.status).where(MessageEvent.message_id == ids[0])) == "sent"


def test_unit_a_hard_bounce_suppresses_the_address_and_its_next_message(world):
    sessions, settings, _, _ = world
    _queue(sessions, ["gone@bounce.invalid", "ok@example.com"])
    done, _ = _send(sessions, settings)
    assert done.results == {"bounced": 1, "sent": 1}
    with sessions() as session:
        suppressed = session.scalars(select(MessageSuppression)).one()
        assert (suppressed.channel, suppressed.address, suppressed.reason) == (
            "email",
            "gone@bounce.invalid",
            "hard-bounce",
        )
        bounced = session.scalar(select(Message).where(Message.address == "gone@bounce.invalid"))
        assert bounced.reason == "hard-bounce" and bounced.attempts == 1
    _queue(sessions, ["gone@bounce.invalid"], kind="points_earned")
    assert _send(sessions, settings)[0].results == {"suppressed": 1}


def test_unit_a_transient_refusal_is_retried_after_a_backoff_then_sent(world):
    sessions, settings, mail_dir, _ = world
    [mid] = _queue(sessions, ["later@greylist.invalid"])
    assert _send(sessions, settings)[0].results == {"queued": 1}
    with sessions() as session:
        m = session.get(Message, mid)
        assert m.status == "queued" and m.attempts == 1 and m.reason == "retrying"
        assert timedelta(seconds=29) < m.send_after - utcnow() <= timedelta(seconds=60)
        session.execute(update(Message).values(send_after=utcnow()))  # the test's clock: the backoff has passed
        session.commit()
    assert _send(sessions, settings)[0].results == {"sent": 1}
    with sessions() as session:
        log = list(session.scalars(select(MessageEvent.detail).where(MessageEvent.message_id == mid)))
    assert log[0].startswith("attempt 1: rcpt 451") and len(smtp_server.read_mailbox(mail_dir)) == 1


def test_unit_too_many_transient_failures_fail_the_message(world):
    sessions, settings, _, _ = world
    closed = settings.model_copy(update={"smtp_port": _free_port(), "messages_max_attempts": 2})
    [mid] = _queue(sessions, ["a@example.com"])
    assert _send(sessions, closed)[0].results == {"queued": 1}
    with sessions() as session:
        session.execute(update(Message).values(send_after=utcnow()))
        session.commit()
    assert _send(sessions, closed)[0].results == {"failed": 1}
    with sessions() as session:
        assert session.get(Message, mid).reason == "too-many-attempts"


def test_unit_a_claim_whose_lease_ran_out_is_taken_again_and_the_late_result_is_not_recorded(world):
    sessions, settings, _, _ = world
    [mid] = _queue(sessions, ["a@example.com"])
    until, [first] = message_delivery.claim(sessions, limit=10, lease_s=-1)  # a lease already over: a dead worker's
    assert first.id == mid
    assert message_delivery.claim(sessions, limit=10, lease_s=60)[1][0].id == mid  # another worker takes it
    late = message_delivery._record(sessions, settings, first, until, message_delivery.Outcome("sent", "250", "x"))
    assert late == "lost"
    with sessions() as session:
        assert session.get(Message, mid).status == "sending"


def test_unit_an_sms_goes_to_the_provider_signed_and_a_resend_is_collapsed_by_its_idempotency_key(world):
    sessions, settings, _, sms_dir = world
    [mid] = _queue(sessions, ["+48500100200"], channel="sms")
    _queue(sessions, ["not-a-number"], channel="sms")
    assert _send(sessions, settings)[0].results == {"sent": 1, "bounced": 1}
    with sessions() as session:
        sid = session.get(Message, mid).provider_ref
    [kept] = sms_server.kept_messages(sms_dir)
    assert kept["sid"] == sid and kept["To"] == "+48500100200" and kept["idempotency_key"] == f"msg-{mid}"
    with httpx.Client(auth=("AC1", LOCAL_SMS_AUTH_TOKEN)) as http:  # a worker killed before its commit sends again
        again = sms.send(http, settings, message_row_id=mid, channel="sms", to="+48500100200", body="hi")
        forged = http.post(sms.messages_url(settings), content=b"To=%2B48500100200&Body=x",
                           headers={"X-Coalition-Signature": "sha256=00"})  # fmt: skip
    assert again.provider_ref == sid and len(sms_server.kept_messages(sms_dir)) == 1
    assert forged.status_code == 403


def test_unit_a_marketing_email_has_a_one_click_unsubscribe_link_with_a_token_the_gateway_can_verify(world):
    sessions, settings, mail_dir, _ = world
    [mid] = _queue(sessions, ["fan@example.com"], kind="tier_at_risk", category="marketing")
    _queue(sessions, ["buyer@example.com"], kind="refund_done")
    assert _send(sessions, settings)[0].results == {"sent": 2}
    mails = {str(m["To"]): m for m in smtp_server.read_mailbox(mail_dir)}
    assert "List-Unsubscribe" not in mails["buyer@example.com"]  # transactional
    link = str(mails["fan@example.com"]["List-Unsubscribe"]).strip("<>")
    assert mails["fan@example.com"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link.startswith(f"{settings.public_url}/v1/unsubscribe/")
    with sessions() as session:
        customer_id = session.get(Message, mid).customer_id
    payload = verify(link.rsplit("/", 1)[1], key=messages_link_key(settings))
    assert payload == {"c": customer_id, "p": None, "ch": "email", "m": mid, "a": "unsubscribe"}


def test_unit_starttls_and_auth_as_the_settings_ask(tmp_path: Path):
    """A server that requires STARTTLS before AUTH, and AUTH before mail (aiosmtpd, a certificate
    made here for 127.0.0.1 and trusted through COALITION_SMTP_CA_FILE)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    logins: list[bytes] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append(auth_data.login)
        return AuthResult(success=auth_data.login == b"sender" and auth_data.password == b"s3cret")

    port = _free_port()
    handler = smtp_server.MailboxHandler(tmp_path / "mailbox")
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=tls, require_starttls=True,
                            auth_required=True, authenticator=authenticator)  # fmt: skip
    controller.start()
    try:
        settings = WorkerSettings(mode="local", smtp_port=port, smtp_starttls=True, smtp_username="sender",
                                  smtp_password="s3cret", smtp_ca_file=cert)  # fmt: skip
        mail = build_email(message_row_id=1, sender=settings.smtp_from, to="a@example.com",
                           rendered=Rendered("Hi", "Hello", None, "en"), date=utcnow())  # fmt: skip
        with SmtpChannel(settings) as smtp:
            assert smtp.send(mail).verdict == "sent"
        untrusted = settings.model_copy(update={"smtp_ca_file": None})
        with SmtpChannel(untrusted) as smtp:  # the system's CAs do not know this certificate
            unverified = smtp.send(mail)
    finally:
        controller.stop()
    assert logins == [b"sender"] and len(smtp_server.read_mailbox(tmp_path / "mailbox")) == 1
    assert unverified.verdict == "retry" and "SSLCertVerificationError" in unverified.detail


def test_unit_messages_whose_lease_would_run_out_during_their_send_are_given_back_unsent(world):
    sessions, settings, mail_dir, _ = world
    _queue(sessions, ["a@example.com", "b@example.com"])
    short = settings.model_copy(update={"messages_lease_s": 5.0, "smtp_timeout_s": 10.0})
    done, _ = _send(sessions, short)
    assert done.claimed == 2 and done.released == 2 and done.results == {}
    with sessions() as session:
        rows = list(session.scalars(select(Message)))
    assert {(m.status, m.attempts, m.claimed_until) for m in rows} == {("queued", 0, None)}
    assert smtp_server.read_mailbox(mail_dir) == []
    assert _send(sessions, settings)[0].results == {"sent": 2}


def test_unit_a_message_held_until_the_end_of_quiet_hours_is_due_by_the_messages_clock(world, tmp_path):
    """The planner sets ``send_after`` on the messages' clock (``messages_clock_file`` in tests): the
    sender reads the same clock, so a message held until a time the test's clock passed is sent then,
    and one whose time has not come on it is not (the wall clock alone would answer otherwise)."""
    sessions, settings, mail_dir, _ = world
    later, soon = _queue(sessions, ["later@example.com", "soon@example.com"], kind="points_earned")
    with sessions() as session:
        session.execute(update(Message).where(Message.id == later).values(send_after=utcnow() + timedelta(hours=9)))
        session.execute(update(Message).where(Message.id == soon).values(send_after=utcnow() + timedelta(hours=7)))
        session.commit()
    offset = tmp_path / "clock"
    offset.write_text(str(8 * 3600))
    moved = settings.model_copy(update={"messages_clock_file": offset})
    assert _send(sessions, settings)[0].claimed == 0  # on the wall clock, neither is due
    assert _send(sessions, moved)[0].results == {"sent": 1}
    assert [m["To"] for m in smtp_server.read_mailbox(mail_dir)] == ["soon@example.com"]
    with sessions() as session:
        assert session.get(Message, later).status == "queued"
