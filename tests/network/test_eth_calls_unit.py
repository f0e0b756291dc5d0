"""``eth_call`` on a kept-alive connection (network/eth_calls.py): a batch answered in any order
comes back in the order asked, one connection serves a thread's calls, a connection the node
closed is opened again once, and the transport's failures are ``TransientRpcError``. Real
sockets: a JSON-RPC server in a thread, a port nothing listens on."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from network.errors import TransientRpcError
from network.eth_calls import EthCaller, eth_caller


class _Node(BaseHTTPRequestHandler):
    """Answers each eth_call of a batch with its calldata's last byte as a word, in reverse order."""

    protocol_version = "HTTP/1.1"  # keep-alive
    connections: ClassVar[list[int]] = []
    status = 200
    close_after_answer = False

    def setup(self) -> None:
        super().setup()
        type(self).connections.append(id(self.connection))

    def do_POST(self) -> None:
        batch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        replies = [
            {"jsonrpc": "2.0", "id": c["id"], "result": "0x" + "00" * 31 + c["params"][0]["data"][-2:]}
            for c in reversed(batch)
        ]
        body = json.dumps(replies).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = self.close_after_answer  # without saying so: the client finds out on its next call

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def node() -> Iterator[tuple[str, type[_Node]]]:
    handler = type("Node", (_Node,), {"connections": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()
        server.server_close()


def results(replies: list[dict[str, Any]]) -> list[int]:
    return [int(r["result"], 16) for r in replies]


def test_a_batch_comes_back_in_the_order_asked_on_one_kept_alive_connection(node: tuple[str, type[_Node]]) -> None:
    url, handler = node
    caller = EthCaller(url, timeout_s=5)
    assert results(caller.calls([("0x01", b"\x07"), ("0x01", b"\x09"), ("0x01", b"\x02")])) == [7, 9, 2]
    assert results(caller.calls([("0x01", b"\x05")])) == [5]
    assert len(handler.connections) == 1


def test_a_connection_the_node_closed_is_opened_again_once(node: tuple[str, type[_Node]]) -> None:
    url, handler = node
    handler.close_after_answer = True
    caller = EthCaller(url, timeout_s=5)
    assert [results(caller.calls([("0x01", bytes([k]))])) for k in (1, 2, 3)] == [[1], [2], [3]]
    assert len(handler.connections) == 3


def test_a_5xx_answer_and_a_node_that_cannot_be_reached_are_transient(node: tuple[str, type[_Node]]) -> None:
    url, handler = node
    handler.status = 503
    with pytest.raises(TransientRpcError, match="HTTP 503"):
        EthCaller(url, timeout_s=5).calls([("0x01", b"\x01")])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(TransientRpcError, match="cannot be reached"):
        EthCaller(f"http://127.0.0.1:{closed}", timeout_s=5).calls([("0x01", b"\x01")])


def test_each_thread_has_its_own_connection_and_the_caller_is_one_per_url(node: tuple[str, type[_Node]]) -> None:
    url, handler = node
    caller = eth_caller(url, timeout_s=5)
    assert eth_caller(url, timeout_s=5) is caller
    seen: list[list[int]] = []
    threads = [
        threading.Thread(target=lambda k=k: seen.append(results(caller.calls([("0x01", bytes([k]))])))) for k in (4, 6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == [[4], [6]]
    assert len(handler.connections) == 2
    with pytest.raises(ValueError, match="not an http"):
        EthCaller("ws://127.0.0.1:1", timeout_s=5)
