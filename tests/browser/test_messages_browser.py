"""The dashboard's Messages pages in headless Chromium (tests/browser/browse_messages.py) on the real
stack (tests/e2e/stack.py, no workers: the pages only read): the message log, one message, the
mailbox, one mail and the delivery rates. Until the planner and the sender write them, the test
writes the messages' rows straight into the stack's store (tests/gateway/message_rows.py) and sends
real mails with smtplib to a real aiosmtpd server that keeps them in the Maildir the gateway reads
(``COALITION_MAILBOX_DIR``). Every figure the pages show is checked against a count of the store's
rows or of the Maildir's files.

Ports: 9920-9939.
"""

from __future__ import annotations

import json
import mailbox
import smtplib
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from sqlalchemy import func, select

from network.deployments import PROJECT_ROOT
from network.store.messages import Message, MessageEvent
from tests.browser.chromium import BROWSER_PYTHON, CHROMIUM, NEEDS_CHROMIUM, SHOTS
from tests.e2e.stack import OPERATOR_TOKEN, free_port, start_stack
from tests.gateway.message_rows import mail, seed_messages

pytestmark = NEEDS_CHROMIUM
PORTS = range(9920, 9940)
EXPIRING = "Your points expire on 2027-01-04"
HOSTILE = (  # inline styles are shown; the script must not run (the frame is sandboxed)
    '<style>p { color: #06b6d4; }</style><p style="font-weight: bold">Your points expire soon.</p>'
    '<script>parent.document.title = "pwned"; document.body.textContent = "script ran";</script>'
)


def test_messages_pages_show_the_log_the_mailbox_and_the_rates_as_the_store_has_them(tmp_path: Path) -> None:
    folder = tmp_path / "mailbox"
    with start_stack(tmp_path, ports=PORTS, workers=0, beat=False, mailbox_dir=folder) as stack:
        grocer = stack.onboard("Grocer")
        sessions = stack.harness.sessions
        ids = seed_messages(sessions, now=datetime.now(UTC), partners=[grocer.id], label="browser")
        smtp = Controller(Mailbox(folder), hostname="127.0.0.1", port=free_port(PORTS, set()))
        smtp.start()
        try:
            with smtplib.SMTP(smtp.hostname, smtp.port, timeout=10) as client:
                client.send_message(
                    mail(to="ada@example.com", subject="Witaj w koalicji", language="pl", kind="welcome",
                         message_id=ids[0])
                )  # fmt: skip
                client.send_message(
                    mail(to="bob@example.com", subject=EXPIRING, language="en", kind="points_expiring", html=HOSTILE)
                )
        finally:
            smtp.stop()
        run = subprocess.run(
            [str(BROWSER_PYTHON), str(PROJECT_ROOT / "tests/browser/browse_messages.py"), "--url", stack.url,
             "--operator-token", OPERATOR_TOKEN, "--shots", str(SHOTS), "--chromium", CHROMIUM,
             "--status", "suppressed", "--mail-subject", EXPIRING],
            capture_output=True, text=True, timeout=150, cwd=PROJECT_ROOT,
        )  # fmt: skip
        assert run.returncode == 0, f"{run.stdout[-2000:]}\n{run.stderr[-4000:]}\n{stack.logs(20)}"
        seen = json.loads(run.stdout)
        key = mailbox.Maildir(folder).keys()[0]
        anonymous = {
            path: stack.http.get(path, follow_redirects=False).headers.get("location")
            for path in ("/dashboard/messages", f"/dashboard/messages/{ids[0]}", "/dashboard/messages/mailbox",
                         f"/dashboard/messages/mailbox/{key}", "/dashboard/messages/rates")
        }  # fmt: skip
        login = stack.http.post("/dashboard/login", data={"token": OPERATOR_TOKEN}, follow_redirects=False)
        cookie = {"Cookie": login.headers["set-cookie"].split(";", 1)[0]}
        answers = {
            path: stack.http.get(path, headers={**cookie, "Accept": "text/html"})
            for path in ("/dashboard/messages", f"/dashboard/messages/mailbox/{key}",
                         "/dashboard/messages/mailbox/nope", "/dashboard/messages/mailbox/..%2Fstore.db",
                         f"/dashboard/messages/{10**9}")
        }  # fmt: skip
        # what the store and the Maildir hold, counted apart from the pages' code
        with sessions() as session:
            total = session.scalar(select(func.count()).select_from(Message))
            suppressed = session.scalar(select(func.count()).where(Message.status == "suppressed"))
            opened = int(seen["message_url"].rsplit("/", 1)[1])
            events = session.execute(
                select(MessageEvent.status, MessageEvent.detail).where(MessageEvent.message_id == opened)
                .order_by(MessageEvent.id)
            ).all()  # fmt: skip
            since = datetime.now(UTC) - timedelta(days=29)
            per_status = session.execute(
                select(Message.kind, Message.channel, Message.status, func.count())
                .where(Message.created_at >= since).group_by(Message.kind, Message.channel, Message.status)
            ).all()  # fmt: skip
            recent = session.scalar(select(func.count()).where(Message.created_at >= since))
        kept = len(mailbox.Maildir(folder, create=False))

    assert set(anonymous.values()) == {"/dashboard/login"}, anonymous  # no session: every page sends to the login
    assert seen["console_errors"] == [], seen["console_errors"]
    # a mail's page alone allows inline styles (its sandboxed frame inherits the policy); scripts never
    policies = {path: a.headers["content-security-policy"] for path, a in answers.items() if a.status_code == 200}
    assert list(policies) == ["/dashboard/messages", f"/dashboard/messages/mailbox/{key}"]
    assert "'unsafe-inline'" not in policies["/dashboard/messages"]
    assert "style-src 'self' 'unsafe-inline'" in policies[f"/dashboard/messages/mailbox/{key}"]
    assert all("script-src 'self';" in p and "unsafe-eval" not in p for p in policies.values())
    assert {a.status_code for a in answers.values()} == {200, 404}
    assert seen["nav_active"] == "Messages"
    # the log: every message, newest first; filtered by status, only those
    assert int(seen["log_total"]) == total == len(ids) and len(seen["log_rows"]) == total
    assert [int(r["message"]) for r in seen["log_rows"]] == sorted(ids, reverse=True)
    assert int(seen["filtered_total"]) == suppressed == len(seen["filtered_rows"]) == 3
    assert {r["status"] for r in seen["filtered_rows"]} == {"suppressed"}
    # one message: its log as the store has it
    assert [[c.strip() for c in row[1:]] for row in seen["message_events"]] == [[s, d or ""] for s, d in events]
    assert len(events) == 2 and events[1][0] == "suppressed"
    # the mailbox: both mails, newest first, with language and kind; the mail's parts and headers
    assert int(seen["mailbox_total"]) == kept == 2
    assert [r[1:5] for r in seen["mailbox_rows"]] == [
        ["bob@example.com", EXPIRING, "en", "points_expiring"],
        ["ada@example.com", "Witaj w koalicji", "pl", "welcome"],
    ]
    assert seen["mailbox_rows"][1][5] == str(ids[0])  # linked to its row of the log
    assert seen["mail_sandbox"] == ""  # sandboxed, with no permission at all
    assert "Your points expire soon." in seen["mail_html_text"] and "script ran" not in seen["mail_html_text"]
    assert "pwned" not in seen["title_after_mail"]
    assert all("Blocked script execution" in m for m in seen["mail_console"]), seen["mail_console"]
    assert "Hello from the coalition." in seen["mail_text"]
    headers = seen["mail_headers"]
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and "List-Unsubscribe" in headers
    assert headers["X-Coalition-Kind"] == "points_expiring" and headers["X-RcptTo"] == "bob@example.com"
    # the delivery rates: each cell is the store's GROUP BY, the total its count
    rates = seen["rates"]
    assert int(rates["all-total"]) == recent == len(ids) - 1  # one was planned 60 days ago
    cells = [k for k in rates if k.count("-") == 2 and "-rate-" not in k and not k.startswith("all-")]
    shown = {k: int(rates[k]) for k in cells if not k.endswith(("-total", "-reasons"))}
    for kind, channel, status, n in per_status:
        assert shown.pop(f"{kind}-{channel}-{status}") == n, (kind, channel, status)
    assert set(shown.values()) == {0}, shown  # every other cell is a status none of them has
    assert float(rates["welcome-email-rate-sent"]) == 1.0 and rates["welcome-email-reasons"] == "no-consent 1"
    assert all(n >= 1 for _, n in seen["bars"]) and len(seen["bars"]) == len({(k, c) for k, c, _, _ in per_status})
    assert all(v <= 0 for v in seen["overflow_390"].values()), seen["overflow_390"]
