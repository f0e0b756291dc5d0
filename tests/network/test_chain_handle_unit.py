"""The chain handle (network/node.py ``ChainProvider``) turns the transport's failures into one
error, ``TransientRpcError``, for single and batch requests: callers catch that one type. Real
sockets: a port nothing listens on, and a server that answers 503."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from web3.exceptions import Web3Exception

from network.errors import TransientRpcError, failure_name
from network.node import chain_handle
from network.receipts import rpc_batch


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


class _Unavailable(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unavailable_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_node_that_cannot_be_reached_is_a_transient_error_named_after_the_transport() -> None:
    w3 = chain_handle(f"http://127.0.0.1:{_closed_port()}", timeout_s=1)
    w3.provider.exception_retry_configuration = None  # type: ignore[attr-defined]  # no backoff in a unit test
    with pytest.raises(TransientRpcError) as caught:
        _ = w3.eth.block_number
    assert failure_name(caught.value) == "ConnectionError"
    assert "eth_blockNumber" in str(caught.value)
    with pytest.raises(TransientRpcError):
        rpc_batch(w3, [("eth_blockNumber", []), ("eth_chainId", [])])


def test_a_server_error_is_a_transient_error(unavailable_url: str) -> None:
    w3 = chain_handle(unavailable_url, timeout_s=1)
    w3.provider.exception_retry_configuration = None  # type: ignore[attr-defined]
    with pytest.raises(TransientRpcError) as caught:
        _ = w3.eth.chain_id
    assert failure_name(caught.value) == "HTTPError"
    assert not isinstance(caught.value, Web3Exception)  # one type to catch, apart from the node's answers
