"""``FailingProxy``: a real HTTP proxy on 127.0.0.1 in front of a real server, that fails the
first requests it is given, one fault each, in the order of its script, then passes everything on.

Faults (what a client meets on a bad network or in front of a busy gateway):

- ``"503"``: answers 503 itself (the server never sees the request);
- ``"429"``: answers 429 with ``Retry-After`` itself;
- ``"drop"``: closes the connection without an answer (the server never sees the request);
- ``"lost-answer"``: passes the request on, then closes the connection instead of relaying the
  server's answer (the server did the work; the client does not know).

Every request is recorded as a :class:`Passage` (its fault, and what the server answered when it
was passed on), so a test sees exactly what reached the server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

FAULTS = frozenset({"503", "429", "drop", "lost-answer"})
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "server", "date"}


@dataclass(frozen=True)
class Passage:
    method: str
    path: str
    fault: str | None  # None: passed on and answered
    upstream_status: int | None = None  # the server's status, when the request reached it
    upstream_headers: dict[str, str] = field(default_factory=dict)


class FailingProxy:
    """``with FailingProxy(upstream_url, ["503", "drop", ...]) as proxy: ... proxy.url``."""

    def __init__(self, upstream: str, faults: Iterable[str], *, retry_after: str = "0") -> None:
        self.faults = list(faults)
        unknown = set(self.faults) - FAULTS
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {sorted(FAULTS)}")
        self.retry_after = retry_after
        self.passages: list[Passage] = []
        self._lock = threading.Lock()
        self._upstream = httpx.Client(base_url=upstream, timeout=60)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FailingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()

    def _next_fault(self) -> str | None:
        with self._lock:
            return self.faults.pop(0) if self.faults else None

    def _record(self, passage: Passage) -> None:
        with self._lock:
            self.passages.append(passage)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy._next_fault()
                if fault in ("503", "429"):
                    proxy._record(Passage(self.command, self.path, fault))
                    payload = b'{"title": "failing proxy", "status": %s}' % fault.encode()
                    self.send_response(int(fault))
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Content-Length", str(len(payload)))
                    if fault == "429":
                        self.send_header("Retry-After", proxy.retry_after)
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault == "drop":
                    proxy._record(Passage(self.command, self.path, fault))
                    self.close_connection = True
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
                answer = proxy._upstream.request(self.command, self.path, content=body, headers=headers)
                kept = {k.lower(): v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
                proxy._record(Passage(self.command, self.path, fault, answer.status_code, kept))
                if fault == "lost-answer":
                    self.close_connection = True
                    return
                self.send_response(answer.status_code)
                for name, value in kept.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler
