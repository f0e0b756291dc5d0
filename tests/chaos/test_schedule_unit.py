"""The fault schedule is a pure function of its seed (tests/chaos/schedule.py), and the TCP proxy
(tests/chaos/tcp_proxy.py) passes, delays, drops and cuts real connections."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.chaos.schedule import KINDS, make_schedule, rows, tally, targets
from tests.chaos.tcp_proxy import TcpProxy


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    a = make_schedule(1234, per_row=3, postgresql=True)
    assert a == make_schedule(1234, per_row=3, postgresql=True)
    assert a != make_schedule(1235, per_row=3, postgresql=True)
    assert [str(f) for f in a[:3]] == [str(f) for f in make_schedule(1234, per_row=3, postgresql=True)[:3]]


def test_every_row_gets_its_count_and_sqlite_has_no_postgresql_faults() -> None:
    pg = make_schedule(7, per_row=100, postgresql=True)
    assert set(tally(pg).values()) == {100} and set(tally(pg)) == set(rows(postgresql=True))
    assert {f.kind for f in pg} == set(KINDS)
    lite = make_schedule(7, per_row=2, postgresql=False)
    assert not any("postgresql" in f.label for f in lite) and set(tally(lite)) == set(rows(postgresql=False))
    assert all(f.gap_s >= 0 and f.duration_s >= 0 for f in pg)
    assert all(20 <= f.param < 400 for f in pg if f.kind == "delay")


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        targets("flood", postgresql=False)


class _Echo:
    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)


def _roundtrip(port: int, payload: bytes = b"ping") -> bytes:
    """What the server behind ``port`` answers; b"" for a connection closed without an answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(payload)
            return s.recv(4096)
        except ConnectionResetError:  # closed with our bytes unread: a reset rather than an end
            return b""


def test_the_proxy_passes_delays_drops_and_cuts() -> None:
    echo = _Echo()
    with TcpProxy(echo.port) as proxy:
        assert _roundtrip(proxy.port) == b"ping"
        proxy.set("delay", 150)
        began = time.monotonic()
        assert _roundtrip(proxy.port) == b"ping"
        assert time.monotonic() - began >= 0.3  # both ways
        proxy.set("drop")
        assert _roundtrip(proxy.port) == b""  # accepted, closed at once
        proxy.set("pass")
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
            s.sendall(b"a")
            assert s.recv(10) == b"a"
            proxy.cut()
            try:
                closed = s.recv(10) == b""
            except ConnectionResetError:
                closed = True
            assert closed  # cut: the open connection is closed
    echo.server.close()
