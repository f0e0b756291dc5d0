"""Messages to customers: how fast the sender delivers queued messages through the whole path into
the local SMTP server, and what one costs in CPU.

    .venv/bin/python -m bench.messages [--messages 5000] [--baseline 1000] [--port 8940]

A fresh store (SQLite, or PostgreSQL with ``--store postgresql`` of ``python -m bench``) gets
``messages`` queued emails (one customer each), as the planner leaves them: the points-earned digest, a
marketing email, so each carries its signed one-click unsubscribe link. The embedded SMTP
server (gateway/messaging/smtp_server.py: aiosmtpd, a Maildir file per message, collapsing by
Message-ID) runs as a process of its own. The sender (gateway/services/message_delivery.py
``send_batch``: the claim with its lease, render, MIME, SMTP, the results and their log lines
committed 20 at a time; what the Celery task ``send_due`` runs) runs in ``senders`` processes (as a
worker's pool processes do) until nothing is due. Measured: messages per second (wall clock), and
CPU ms per message of the senders and of the SMTP server (from /proc). The baseline, in the same
run on the same server with as many senders: one message per claim and one SMTP connection per
message (what a naive sender does). Checked: the Maildir holds every
Message-ID once and every row is ``sent``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.messaging import sms, smtp_server
from gateway.messaging.smtp import SmtpChannel
from gateway.services.message_delivery import send_batch
from gateway.settings import WorkerSettings
from loyalty.messages.kinds import KINDS
from network.deployments import PROJECT_ROOT
from network.node import port_in_use
from network.store import Customer, Message, migrate, open_store
from tests.pg import SQLITE, StoreKind

TARGET_PER_S = 500
SAMPLE = KINDS["points_earned"].sample  # the template's variables
BATCH = 200  # messages a claim, over one SMTP connection (COALITION_MESSAGES_BATCH's default)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def queue(sessions: sessionmaker[Session], n: int, prefix: str) -> None:
    with sessions() as session:
        first = (session.scalar(select(func.max(Customer.id))) or 0) + 1
        session.execute(insert(Customer), [{"id": first + i} for i in range(n)])
        rows = [
            {"occurrence": f"{prefix}-{i}", "kind": "points_earned", "category": "marketing",
             "customer_id": first + i, "channel": "email", "address": f"member-{prefix}-{i}@example.com",
             "locale": "en", "data": {**SAMPLE, "points": 10 + i % 90}, "status": "queued"}
            for i in range(n)
        ]  # fmt: skip
        session.execute(insert(Message), rows)
        session.commit()


def drain(sessions: sessionmaker[Session], settings: WorkerSettings, *, per_message: bool) -> tuple[int, int]:
    """Sends until nothing is due: (messages sent, SMTP connections opened)."""
    sent = connections = 0
    with sms.make_client(settings) as http:
        smtp = SmtpChannel(settings)
        while True:
            if per_message:  # the baseline: a connection per message
                smtp.close()
            done = send_batch(sessions, settings, smtp=smtp, http=http)
            if done.claimed == 0:
                break
            sent += done.results.get("sent", 0)
        smtp.close()
        connections = smtp.connections
    return sent, connections


def _sender(url: str, port: int, batch: int, per_message: bool, ready: Any, go: Any, out: Any) -> None:
    """One sender process (as one Celery pool process runs the task): ready, wait for go, drain."""
    settings = WorkerSettings(mode="local", database_url=url, smtp_port=port, messages_batch=batch)
    sessions = open_store(url)
    ready.put(os.getpid())
    go.wait()
    out.put(drain(sessions, settings, per_message=per_message))


def measure(
    url: str, port: int, server_pid: int, n: int, *, senders: int, per_message: bool, prefix: str
) -> dict[str, Any]:
    sessions = open_store(url)
    queue(sessions, n, prefix)
    context = multiprocessing.get_context("spawn")
    ready, out, go = context.Queue(), context.Queue(), context.Event()
    batch = 1 if per_message else BATCH
    processes = [
        context.Process(target=_sender, args=(url, port, batch, per_message, ready, go, out)) for _ in range(senders)
    ]
    for p in processes:
        p.start()
    pids = [ready.get(timeout=120) for _ in processes]
    cpu0, server0 = sum(_cpu_s(pid) for pid in pids), _cpu_s(server_pid)
    t0 = time.perf_counter()
    go.set()
    results = [out.get(timeout=600) for _ in processes]
    wall = time.perf_counter() - t0
    cpu, server = sum(_cpu_s(pid) for pid in pids) - cpu0, _cpu_s(server_pid) - server0
    for p in processes:
        p.join(30)
    sent = sum(r[0] for r in results)
    total_ms = (cpu + server) * 1000 / n
    return {
        "messages": n,
        "sent": sent,
        "senders": senders,
        "smtp_connections": sum(r[1] for r in results),
        "seconds": round(wall, 2),
        "messages_per_s": round(sent / wall, 1),
        "cpu_ms_per_message": {"sender": round(cpu * 1000 / n, 3), "smtp server": round(server * 1000 / n, 3)},
        # what the machine's cores could do if the senders and the server had them to themselves
        "cpu_cap_per_s": round((os.cpu_count() or 1) * 1000 / total_ms) if total_ms else None,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def run(
    *, messages: int = 5_000, baseline: int = 1_000, senders: int = 2, port: int = 8940, store: StoreKind = SQLITE
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-messages-") as tmp_name:
        tmp = Path(tmp_name)
        url = store.new_url(tmp)
        migrate(url)
        if port_in_use(port):
            raise RuntimeError(f"port {port} is in use")
        mail_dir = tmp / "mailbox"
        server = subprocess.Popen(
            [sys.executable, "-m", "gateway.messaging.smtp_server", "--port", str(port), "--dir", str(mail_dir)],
            cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not port_in_use(port):
                assert server.poll() is None and time.monotonic() < deadline, "the SMTP server did not start"
                time.sleep(0.05)
            batched = measure(url, port, server.pid, messages, senders=senders, per_message=False, prefix="batch")
            naive = measure(url, port, server.pid, baseline, senders=senders, per_message=True, prefix="naive")
        finally:
            server.terminate()
            server.wait(10)
        kept = smtp_server.read_mailbox(mail_dir)
        ids = {str(m["Message-ID"]) for m in kept}
        raw = smtp_server.raw_receptions(mail_dir)
        sessions = open_store(url)
        with sessions() as session:
            statuses = dict(session.execute(select(Message.status, func.count()).group_by(Message.status)).all())
        sessions.kw["bind"].dispose()
    total = messages + baseline
    assert len(kept) == len(ids) == total and statuses == {"sent": total}, (len(kept), len(ids), statuses)
    return {
        **batched,
        "baseline": naive,
        "speedup_vs_baseline": round(batched["messages_per_s"] / naive["messages_per_s"], 1),
        "mailbox": {"kept": len(kept), "raw_receptions": len(raw)},
        "batch": BATCH,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--senders", type=int, default=2, help="sender processes (as Celery pool processes)")
    parser.add_argument("--port", type=int, default=8940)
    args = parser.parse_args()
    found = run(messages=args.messages, baseline=args.baseline, senders=args.senders, port=args.port)
    print(json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
