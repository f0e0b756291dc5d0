"""``TcpProxy``: a byte-level TCP proxy on 127.0.0.1 between the stack's services and one upstream
(the chain's JSON-RPC, Redis), whose mode the fault schedule (tests/chaos/schedule.py) switches:

- ``pass``: bytes flow both ways untouched;
- ``delay``: every chunk, either way, waits ``delay_ms`` before it is passed on;
- ``drop``: every new connection is accepted and closed at once (open ones keep flowing);
- :meth:`cut`: every open connection is closed, both sides, now.

Unlike tests/failing_proxy.py (an HTTP proxy that fails the first requests by script), this one
knows nothing of the protocol: Redis's RESP and HTTP keep-alive connections meet the faults
a network gives them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class TcpProxy:
    def __init__(self, upstream_port: int, *, port: int = 0) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.delay_ms = 0
        self.connections = 0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", port), backlog=256)
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True, name=f"tcp-proxy-{self.port}")

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._closed.set()
        self._listener.close()
        self.cut()

    def set(self, mode: str, delay_ms: int = 0) -> None:
        if mode not in ("pass", "delay", "drop"):
            raise ValueError(f"unknown proxy mode {mode!r}")
        self.mode, self.delay_ms = mode, delay_ms

    def cut(self) -> None:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "drop":
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()  # the upstream is down: the client sees a closed connection
                continue
            with self._lock:
                self._open |= {client, upstream}
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if self.mode == "delay" and self.delay_ms:
                    time.sleep(self.delay_ms / 1000)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= {source, sink}
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()
