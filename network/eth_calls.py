"""Read-only ``eth_call`` requests on a kept-alive connection, for the paths that read the chain
on every request (the till's authorisation, a redemption's acceptance).

web3's HTTP provider goes through ``requests``, which looks up proxies, ``.netrc`` and the
environment on every request: about a millisecond of CPU per call, against a tenth of that for
the same JSON-RPC request on ``http.client``. Several calls go as one JSON-RPC batch (one round
trip, one request for the node to parse).

Each thread keeps its own connection (``http.client`` connections are not thread-safe). A
connection the node closed meanwhile is opened again once (an ``eth_call`` is safe to send
twice); any other transport failure, a timeout or a 5xx answer is a ``TransientRpcError``, as
from the chain handle (network/node.py).
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from network.errors import TransientRpcError

_STALE = (http.client.RemoteDisconnected, http.client.CannotSendRequest, BrokenPipeError, ConnectionResetError)
_CALLERS: dict[tuple[str, float], EthCaller] = {}
_CALLERS_LOCK = threading.Lock()


class EthCaller:
    """``eth_call`` at ``latest`` on the node at ``url``; safe to share between threads."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) JSON-RPC url: {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout_s = timeout_s
        self._local = threading.local()

    def calls(self, calls: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        """The node's JSON-RPC replies (``result`` or ``error``) to ``eth_call`` of each
        (contract address, calldata), in order, from one batch request."""
        batch = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "eth_call",
                "params": [{"to": to, "data": f"0x{data.hex()}"}, "latest"],
            }
            for i, (to, data) in enumerate(calls)
        ]
        replies = self._post(json.dumps(batch).encode())
        if not isinstance(replies, list):  # a node that refuses the batch as a whole answers one error
            raise TransientRpcError(f"eth_call: the node at {self.url} answered the batch with {replies!r}")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        if len(by_id) != len(calls):
            raise TransientRpcError(f"eth_call: the node at {self.url} answered {len(by_id)} of {len(calls)} calls")
        return [by_id[i] for i in range(len(calls))]

    def _post(self, body: bytes) -> Any:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", self._path, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = response.read()
            except _STALE as exc:
                self._drop()
                if attempt == 2:
                    raise self._unavailable(exc) from exc
                continue  # the node closed the kept-alive connection: once more on a new one
            except (OSError, http.client.HTTPException) as exc:  # refused, timeout, garbled
                self._drop()
                raise self._unavailable(exc) from exc
            if response.status >= 500:
                self._drop()
                raise TransientRpcError(f"eth_call: the node at {self.url} answered HTTP {response.status}")
            if response.will_close:
                self._drop()
            try:
                return json.loads(payload)
            except ValueError as exc:
                why = f"answered no JSON (HTTP {response.status})"
                raise TransientRpcError(f"eth_call: the node at {self.url} {why}") from exc
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = kind(self._host, self._port, timeout=self._timeout_s)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _unavailable(self, exc: BaseException) -> TransientRpcError:
        return TransientRpcError(f"eth_call: the node at {self.url} cannot be reached ({type(exc).__name__})")


def eth_caller(url: str, *, timeout_s: float) -> EthCaller:
    """The caller of ``url`` for this process (one per url and timeout; its connections are kept)."""
    key = (url, timeout_s)
    with _CALLERS_LOCK:
        caller = _CALLERS.get(key)
        if caller is None:
            caller = _CALLERS[key] = EthCaller(url, timeout_s=timeout_s)
        return caller
