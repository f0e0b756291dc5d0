"""A local anvil as a managed process: start, readiness, clean stop, crash (for tests).

The native binary is started directly (``toolchain/bin/anvil`` execs it), in a process group
of its own, so that a stop or a kill always reaches anvil itself and never leaves it behind
holding its port. With a state file, anvil reloads balances and blocks on start and dumps them
on a clean stop (SIGTERM) and every ``state_interval`` seconds; after a SIGKILL the blocks
since the last dump are gone, which the rest of the system sees as a reorg.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
from web3 import HTTPProvider, Web3
from web3.exceptions import Web3Exception
from web3.types import RPCEndpoint, RPCResponse

from network.deployments import PROJECT_ROOT
from network.errors import ChainMismatchError, NodeError, TransientRpcError
from network.settings import ChainSettings

ANVIL = PROJECT_ROOT / "toolchain" / "bin" / "anvil"
# What the transport raises when the node cannot be reached: turned into TransientRpcError here only.
TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 2.0) -> object:
    """One JSON-RPC call with the standard library (used before web3 is set up)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise NodeError(f"{method} failed: {reply['error']}")
    return reply["result"]


class ChainProvider(HTTPProvider):
    """web3's HTTP provider whose transport failures (connection refused or reset, timeout, a
    5xx answer) all come out as one error, ``TransientRpcError``: the only place where they
    are told apart from the node's answers, so that callers catch that one type."""

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            return super().make_request(method, params)
        except TRANSPORT_ERRORS as exc:
            raise self._unavailable(method, exc) from exc
        except requests.HTTPError as exc:
            if _server_error(exc):
                raise self._unavailable(method, exc) from exc
            raise

    def make_batch_request(self, batch_requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
        method = batch_requests[0][0] if batch_requests else "batch"
        try:
            return super().make_batch_request(batch_requests)
        except TRANSPORT_ERRORS as exc:
            raise self._unavailable(RPCEndpoint(f"batch of {method}"), exc) from exc
        except requests.HTTPError as exc:
            if _server_error(exc):
                raise self._unavailable(RPCEndpoint(f"batch of {method}"), exc) from exc
            raise

    def _unavailable(self, method: str, exc: Exception) -> TransientRpcError:
        return TransientRpcError(f"{method}: the node at {self.endpoint_uri} cannot be reached ({type(exc).__name__})")


def _server_error(exc: requests.HTTPError) -> bool:
    return exc.response is not None and exc.response.status_code >= 500


def chain_handle(rpc_url: str, *, timeout_s: float) -> Web3:
    """web3 on the node at ``rpc_url`` through ``ChainProvider`` (transport failures raise
    TransientRpcError), without checking its chain id (``connect`` does)."""
    w3 = Web3(ChainProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    # web3's "validation" asks the node for its chain id before every eth_call and estimate (a
    # second round trip each); ``connect`` checks the chain id once, and every transaction is
    # signed here with its chain id, which the node checks. No ENS names are ever passed.
    w3.middleware_onion.remove("validation")
    w3.middleware_onion.remove("ens_name_to_address")
    return w3


def connect(rpc_url: str, chain_id: int, *, timeout_s: float) -> Web3:
    """web3 on the node at ``rpc_url``, once the node has said that it serves ``chain_id``
    (``eth_chainId``): keys are never used, nor an address book read, against another chain.
    Raises ChainMismatchError naming both ids, or TransientRpcError when the node cannot be reached."""
    w3 = chain_handle(rpc_url, timeout_s=timeout_s)
    try:
        served = int(w3.eth.chain_id)
    except TransientRpcError:
        raise
    except (Web3Exception, OSError) as exc:  # an answer that is no JSON-RPC reply
        raise TransientRpcError(f"the node at {rpc_url} did not answer eth_chainId ({type(exc).__name__})") from exc
    if served != chain_id:
        raise ChainMismatchError(
            f"the node at {rpc_url} serves chain id {served}, but COALITION_CHAIN_ID is {chain_id}: "
            f"point COALITION_RPC_URL at a node of chain {chain_id}, or set COALITION_CHAIN_ID={served} "
            "if that chain is the one meant (its address book must exist)"
        )
    return w3


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class AnvilNode:
    """One anvil process. Use as a context manager, or call start() and stop()."""

    def __init__(
        self,
        *,
        port: int = 8545,
        chain_id: int = 31337,
        state_file: Path | None = None,
        state_interval_s: int = 1,
        block_time_s: float | None = None,
        gas_limit: int = 60_000_000,
        accounts: int = 20,
        log_file: Path | None = None,
    ) -> None:
        self.port = port
        self.chain_id = chain_id
        self.state_file = state_file
        self.state_interval_s = state_interval_s
        self.block_time_s = block_time_s
        self.gas_limit = gas_limit
        self.accounts = accounts
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def from_settings(cls, settings: ChainSettings, **overrides: object) -> AnvilNode:
        kwargs: dict[str, object] = {
            "port": settings.anvil_port,
            "chain_id": settings.chain_id,
            "state_file": settings.anvil_state_file,
            "state_interval_s": settings.anvil_state_interval_s,
            "block_time_s": settings.anvil_block_time_s,
            "gas_limit": settings.anvil_gas_limit,
        }
        kwargs.update(overrides)
        return cls(**kwargs)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        cmd = [str(ANVIL), "--port", str(self.port), "--chain-id", str(self.chain_id)]
        cmd += ["--gas-limit", str(self.gas_limit), "--accounts", str(self.accounts), "--silent"]
        if self.state_file is not None:
            cmd += ["--state", str(self.state_file)]
            if self.state_interval_s:
                cmd += ["--state-interval", str(self.state_interval_s)]
        if self.block_time_s:
            cmd += ["--block-time", str(self.block_time_s)]
        return cmd

    def start(self, timeout_s: float = 30.0) -> AnvilNode:
        if self.is_running():
            return self
        if port_in_use(self.port):
            raise NodeError(f"port {self.port} is already in use; stop what holds it or pick another port")
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if self.log_file:
                log.close()  # type: ignore[union-attr]
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.is_running():
                code = self._process.returncode if self._process else None
                raise NodeError(f"anvil exited with code {code} while starting: {' '.join(self.command())}")
            try:
                chain_id = int(str(rpc_call(self.url, "eth_chainId")), 16)
            except (OSError, NodeError):
                time.sleep(0.05)
                continue
            if chain_id != self.chain_id:
                raise NodeError(f"port {self.port} answers chain id {chain_id}, expected {self.chain_id}")
            return
        self.kill()
        raise NodeError(f"anvil did not answer on port {self.port} within {timeout_s} s")

    def stop(self, timeout_s: float = 15.0) -> None:
        """Clean stop: SIGTERM (anvil dumps its state file), SIGKILL if it hangs."""
        self._signal(signal.SIGTERM)
        if self._process is not None:
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self._process.wait(timeout_s)
        self._process = None

    def kill(self) -> None:
        """Crash: SIGKILL, no state dump (tests use it to lose the last blocks)."""
        self._signal(signal.SIGKILL)
        if self._process is not None:
            self._process.wait(15)
        self._process = None

    def _signal(self, sig: signal.Signals) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
