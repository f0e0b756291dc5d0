"""A real HTTP server in a thread that records webhook POSTs and answers with scripted
statuses; for the webhook unit and end-to-end tests. It can also answer with a body and
headers of its choice (a redirect, internal-looking bytes) and speak TLS."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """``statuses``: answers for the first requests, in order; 200 after them, each with ``reply``
    as its body and ``reply_headers``. ``tls``: a server context, for https."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    reply: bytes = b"ok"
    reply_headers: dict[str, str] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                    code = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.answered.append(code)
                self.send_response(code)
                for name, value in receiver.reply_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            def log_message(self, *_: object) -> None:
                pass

        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def url_at(self, host: str) -> str:
        """This receiver's URL under another host name (that a test's resolver maps to it)."""
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/hooks"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
