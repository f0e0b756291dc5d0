"""The embedded SMTP server of local mode, the demo and the tests (aiosmtpd): what it receives is
kept in the state folder as a Maildir (stdlib ``mailbox``; ``coalition up``: ``<state_dir>/mailbox``),
one file per message, which the operator dashboard shows.

    python -m gateway.messaging.smtp_server --port 8025 --dir <state>/mailbox

Like a receiver that collapses duplicates, it keeps one copy per ``Message-ID``; every raw
reception, duplicates included, is a line of ``receptions.log`` in the Maildir's folder (what a
test reports; a Maildir reader looks only in ``new`` and ``cur``). Two test
domains: a recipient ``*@bounce.invalid`` is refused at RCPT with ``550 5.1.1`` (a hard bounce), and
the first RCPT of each recipient ``*@greylist.invalid`` is deferred with ``451 4.7.1`` (a transient
failure; the next attempt is accepted, as greylisting does).
"""

from __future__ import annotations

import argparse
import mailbox
import signal
import threading
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

BOUNCE_DOMAIN = "bounce.invalid"
GREYLIST_DOMAIN = "greylist.invalid"


def receptions_of(directory: Path) -> Path:
    return directory / "receptions.log"


class MailboxHandler:
    """aiosmtpd's handler: RCPT policy for the test domains, DATA into the Maildir by Message-ID."""

    def __init__(self, directory: Path) -> None:
        directory.parent.mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(directory, create=True)  # makes tmp/ new/ cur/ when the folder is not there
        for sub in ("tmp", "new", "cur"):  # a folder made empty by someone else: completed
            (directory / sub).mkdir(exist_ok=True)
        parser = BytesHeaderParser()
        self.seen: set[str] = set()
        for key in self.maildir.iterkeys():
            with self.maildir.get_file(key) as f:
                self.seen.add(str(parser.parse(f).get("Message-ID", key)))
        self.greylisted: set[str] = set()
        self.receptions = open(receptions_of(directory), "a", buffering=1)  # noqa: SIM115 (the server's lifetime)
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        domain = address.rpartition("@")[2].lower()
        if domain == BOUNCE_DOMAIN:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if domain == GREYLIST_DOMAIN and address.lower() not in self.greylisted:
            self.greylisted.add(address.lower())
            return "451 4.7.1 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        message_id = str(BytesHeaderParser().parsebytes(content).get("Message-ID", "")).strip()
        with self.lock:
            self.receptions.write(f"{message_id}\n")
            if message_id and message_id in self.seen:
                return "250 OK (a copy of this Message-ID is kept already)"
            key = self.maildir.add(content)
            if message_id:
                self.seen.add(message_id)
        return f"250 OK queued as {key}"


def serve(port: int, directory: Path, host: str = "127.0.0.1") -> Controller:
    """Starts the server in a thread of this process (``stop()`` it)."""
    controller = Controller(MailboxHandler(directory), hostname=host, port=port, ready_timeout=10)
    controller.start()
    return controller


def read_mailbox(directory: Path) -> list[mailbox.MaildirMessage]:
    """The messages kept (one per Message-ID)."""
    return list(mailbox.Maildir(directory, create=False))


def raw_receptions(directory: Path) -> list[str]:
    """The Message-ID of every message received, duplicates included, in order."""
    path = receptions_of(directory)
    return path.read_text().splitlines() if path.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--dir", type=Path, required=True, help="the Maildir (made if missing)")
    args = parser.parse_args()
    controller = serve(args.port, args.dir, args.host)
    print(f"SMTP on {args.host}:{args.port}, mailbox {args.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
