"""Fault test of issue 18, real processes only (tests/e2e/stack.py with the embedded SMTP server):
Celery workers are SIGKILLed over and over (a whole worker or one pool process, alternately:
tests/chaos/killer.py's ``Killer``) while they send a burst of queued emails; at the end
every message is ``sent`` once in the store (one ``sent`` line in its log) and the Maildir holds
each Message-ID once.

What a kill costs is counted, not hidden: a worker killed after the SMTP server accepted a message
and before its result was committed leaves the row ``sending``; when its lease runs out
another worker sends it again with the same Message-ID, which the server collapses. (A lease of 10 s
and channel timeouts of 3 s: a claim sends for 5 s at most, then gives the rest back.) The raw
receptions (duplicates included) are printed.

The messages are queued in waves, a wave after each kill, so that kills land while sending. Run
whole by ``make chaos`` (5,000 messages, 10 kills); ``make test`` runs it with 300 and 2
(``CHAOS_MESSAGES``, ``CHAOS_MESSAGE_KILLS``). Ports 8760-8769.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import func, insert, select

from gateway.messaging import smtp_server
from loyalty.messages.kinds import KINDS
from network.store import Customer, Message, MessageEvent
from tests.chaos.killer import Killer
from tests.e2e.stack import Stack, start_stack
from tests.pg import StoreKind

pytestmark = pytest.mark.timeout(900)

MESSAGES = int(os.environ.get("CHAOS_MESSAGES", "5000"))
MIN_KILLS = int(os.environ.get("CHAOS_MESSAGE_KILLS", "10"))
SAMPLE = KINDS["points_earned"].sample  # the template's variables


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, store: StoreKind) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("chaos-messages")
    with start_stack(
        tmp, ports=range(8760, 8770), store=store, workers=2, messaging=True, messages_lease_s=10,
        messages_send_every_s=0.5, messages_batch=100, smtp_timeout_s=3, sms_timeout_s=3,
    ) as stack:  # fmt: skip
        yield stack


def _queue(stack: Stack, start: int, stop: int) -> None:
    with stack.harness.sessions() as session:
        first = (session.scalar(select(func.max(Customer.id))) or 0) + 1
        session.execute(insert(Customer), [{"id": first + i} for i in range(stop - start)])
        rows = [
            {"occurrence": f"chaos-{i}", "kind": "points_earned", "category": "marketing",
             "customer_id": first + i - start, "channel": "email", "address": f"member-{i}@example.com",
             "locale": "en", "data": {**SAMPLE, "points": i}, "status": "queued"}
            for i in range(start, stop)
        ]  # fmt: skip
        session.execute(insert(Message), rows)
        session.commit()


def _statuses(stack: Stack) -> Counter[str]:
    with stack.harness.sessions() as session:
        return Counter(dict(session.execute(select(Message.status, func.count()).group_by(Message.status)).all()))


def test_every_message_is_sent_once_while_workers_are_killed(stack: Stack) -> None:
    assert stack.mail_dir is not None
    waves = max(MIN_KILLS, 1) + 1
    edges = [MESSAGES * w // waves for w in range(waves + 1)]
    killer = Killer(stack, every_s=1.0, min_age_s=2.0)
    killer.start()
    try:
        for w in range(waves):
            kills = killer.kills.total()
            _queue(stack, edges[w], edges[w + 1])
            deadline = time.monotonic() + 120
            while w < waves - 1 and killer.kills.total() == kills:  # the next wave after the next kill
                assert time.monotonic() < deadline, f"no kill in 120 s: {killer.kills}\n{stack.logs()}"
                time.sleep(0.1)
        deadline = time.monotonic() + 300
        while (found := _statuses(stack))["sent"] < MESSAGES:
            assert set(found) <= {"queued", "sending", "sent"}, found
            assert time.monotonic() < deadline, f"{dict(found)} after 300 s\n{stack.logs()}"
            time.sleep(0.5)
    finally:
        killer.stop.set()
        killer.join()
        killer.supervise()
    assert killer.kills.total() >= MIN_KILLS, killer.kills
    assert _statuses(stack) == Counter({"sent": MESSAGES})
    with stack.harness.sessions() as session:
        sent_lines = Counter(
            session.scalars(select(MessageEvent.message_id).where(MessageEvent.status == "sent")).all()
        )
        ids = set(session.scalars(select(Message.id)))
    assert set(sent_lines) == ids and set(sent_lines.values()) == {1}  # one "sent" line per message

    kept = Counter(str(m["Message-ID"]) for m in smtp_server.read_mailbox(stack.mail_dir))
    assert set(kept) == {f"<msg-{i}@coalition.localhost>" for i in ids} and set(kept.values()) == {1}
    raw = Counter(smtp_server.raw_receptions(stack.mail_dir))
    resent = {mid: n for mid, n in raw.items() if n > 1}
    print(
        f"\nmessages: {MESSAGES}, kills: {dict(killer.kills)}, restarts: {killer.restarts}; mailbox: {len(kept)} kept,"
        f" {raw.total()} raw receptions, {len(resent)} messages received more than once"
        f" ({raw.total() - len(raw)} duplicate receptions, collapsed by Message-ID)"
    )
