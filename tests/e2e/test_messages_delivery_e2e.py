"""Messages delivered on the real stack: a real Redis, a real Celery worker and beat, the gateway,
and the embedded SMTP server and SMS provider as processes of their own (``start_stack(messaging=True)``).

Rows the planner would queue are written to the store; beat's sender delivers them. Each email
lands once in the Maildir under its Message-ID; a hard bounce (``@bounce.invalid``) suppresses the
address; a greylisted address (``@greylist.invalid``: 451 on the first try) is retried after its
backoff and sent; an SMS's status callback (signed ``X-Twilio-Signature``) marks it delivered, or
bounced and suppressed for an unreachable number; a forged callback is refused. And from a domain
event to the mailbox: a partner enrols a customer, the planner (beat) queues the welcome, the
sender delivers it. Ports 8790-8799.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from gateway.messaging import sms_server, smtp_server
from gateway.messaging.sms import STATUS_CALLBACK_PATH
from loyalty.messages.kinds import KINDS
from network.store import Customer, Message, MessageEvent, MessageSuppression
from tests.e2e.stack import Stack, start_stack
from tests.pg import StoreKind

# One store: this file's path through the store is run on both by others (tests/pg.py)
RUN_ON_STORES = ("postgresql",)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("messages")
    with start_stack(
        tmp, ports=range(8790, 8800), store=store, messaging=True, messages_send_every_s=0.5,
        messages_backoff_base_s=1.0, messages_backoff_cap_s=2.0, messages_plan_every_s=0.5,
    ) as stack:  # fmt: skip
        yield stack


def queue(
    stack: Stack, rows: list[tuple[str, str]], *, kind: str = "points_earned", prefix: str = "e2e"
) -> dict[str, int]:
    """Messages as the planner queues them: (channel, address) each for a new customer; ids by address."""
    ids = {}
    with stack.harness.sessions() as session:
        for i, (channel, address) in enumerate(rows):
            customer = Customer()
            session.add(customer)
            session.flush()
            message = Message(
                occurrence=f"{prefix}-{i}", kind=kind, category=KINDS[kind].category, customer_id=customer.id,
                channel=channel, address=address, locale="en", data={**KINDS[kind].sample, "points": i},
            )  # fmt: skip
            session.add(message)
            session.flush()
            ids[address] = message.id
        session.commit()
    return ids


def wait_statuses(stack: Stack, ids: list[int], want: set[str], timeout_s: float = 90) -> dict[int, str]:
    deadline = time.monotonic() + timeout_s
    while True:
        with stack.harness.sessions() as session:
            found = dict(session.execute(select(Message.id, Message.status).where(Message.id.in_(ids))).all())
        if all(status in want for status in found.values()):
            return found
        assert time.monotonic() < deadline, f"{Counter(found.values())} after {timeout_s} s\n{stack.logs()}"
        time.sleep(0.2)


def test_queued_messages_are_delivered_once_bounces_suppress_and_transient_failures_retry(stack: Stack) -> None:
    assert stack.mail_dir is not None and stack.sms_dir is not None
    emails = [("email", f"member-{i}@example.com") for i in range(20)]
    rows = [*emails, ("email", "nobody@bounce.invalid"), ("email", "slow@greylist.invalid"),
            ("sms", "+48500100200"), ("sms", "+9995550100")]  # fmt: skip
    ids = queue(stack, rows)
    final = wait_statuses(stack, list(ids.values()), {"sent", "delivered", "bounced", "failed"})
    final = wait_statuses(stack, [ids["+48500100200"], ids["+9995550100"]], {"delivered", "bounced"})
    statuses = {address: final.get(mid) for address, mid in ids.items()}

    # emails: each once in the Maildir under its Message-ID
    kept = Counter(str(m["Message-ID"]) for m in smtp_server.read_mailbox(stack.mail_dir))
    want = {f"<msg-{ids[a]}@coalition.localhost>" for _, a in [*emails, ("email", "slow@greylist.invalid")]}
    assert set(kept) == want and set(kept.values()) == {1}, kept
    with stack.harness.sessions() as session:
        sent = session.scalar(select(func.count()).select_from(Message).where(Message.status == "sent"))
        assert sent == 21  # 20 + the greylisted one, retried
        slow = session.get(Message, ids["slow@greylist.invalid"])
        assert slow.attempts == 2
        log = list(session.scalars(select(MessageEvent.status).where(MessageEvent.message_id == slow.id)))
        assert log == ["queued", "sent"]  # the retry, then the send
        bounced = session.get(Message, ids["nobody@bounce.invalid"])
        assert (bounced.status, bounced.reason) == ("bounced", "hard-bounce")
        suppressed = set(session.execute(select(MessageSuppression.channel, MessageSuppression.address)).all())
    assert suppressed == {("email", "nobody@bounce.invalid"), ("sms", "+9995550100")}

    # SMS: the provider's signed status callbacks
    assert statuses["+48500100200"] == "delivered" and statuses["+9995550100"] == "bounced"
    assert {m["To"] for m in sms_server.kept_messages(stack.sms_dir)} == {"+48500100200", "+9995550100"}

    # the suppressed address gets nothing more
    again = queue(stack, [("email", "nobody@bounce.invalid")], kind="tier_up", prefix="again")
    assert wait_statuses(stack, list(again.values()), {"suppressed", "sent"}) == {
        again["nobody@bounce.invalid"]: "suppressed"
    }

    # a callback that is not signed with the token is refused
    forged = stack.http.post(STATUS_CALLBACK_PATH, data={"MessageSid": "SMx", "MessageStatus": "delivered"},
                             headers={"X-Twilio-Signature": "AAAA"})  # fmt: skip
    assert forged.status_code == 403, forged.text


def test_a_welcome_goes_from_the_enrolment_to_the_mailbox_once_in_the_customers_language(stack: Stack) -> None:
    assert stack.mail_dir is not None
    shop = stack.onboard("Mail shop")
    body = {"email": "ola@example.com", "locale": "pl-PL", "time_zone": "Europe/Warsaw",
            "attributes": {"first_name": "Ola"}}  # fmt: skip
    r = stack.http.post("/v1/customers/ola/enrolment", json=body, headers=shop.headers)
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 90
    while not [m for m in smtp_server.read_mailbox(stack.mail_dir) if m["To"] == "ola@example.com"]:
        assert time.monotonic() < deadline, f"no welcome in the mailbox after 90 s\n{stack.logs()}"
        time.sleep(0.3)
    time.sleep(2)  # further planner and sender runs add nothing
    with stack.harness.sessions() as session:
        rows = list(session.scalars(select(Message).where(Message.address == "ola@example.com")))
    assert [(m.kind, m.channel, m.status, m.locale) for m in rows] == [("welcome", "email", "sent", "pl-PL")]
    [mail] = [m for m in smtp_server.read_mailbox(stack.mail_dir) if m["To"] == "ola@example.com"]
    assert mail["Message-ID"] == f"<msg-{rows[0].id}@coalition.localhost>" and mail.is_multipart()
    assert (mail["X-Coalition-Kind"], mail["X-Coalition-Message"]) == ("welcome", str(rows[0].id))
    assert mail["Content-Language"] == "pl"  # in the customer's language (pl-PL: the Polish templates)
