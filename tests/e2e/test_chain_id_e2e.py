"""The chain id is checked against the node's ``eth_chainId`` wherever the chain is connected:
a real anvil (chain 31337, the coalition deployed, tests/network/harness.py) and the real
processes pointed at it while their settings name another chain (8453).

- ``network.node.connect`` refuses it, naming both ids; the chain-layer processes
  (``python -m network indexer``) exit with that message;
- the gateway outside local mode refuses to start; in local mode (no check at start) a route
  that needs the chain answers 503 ``chain-unavailable`` and logs both ids;
- the workers' chain (``gateway.tasks.context.chain``) refuses it.

Ports: 9420-9429.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.chain import get_chain
from gateway.problems import PROBLEM_JSON
from gateway.settings import get_settings
from gateway.tasks import context
from network.deployments import PROJECT_ROOT
from network.errors import ChainMismatchError, NodeError, TransientRpcError
from network.node import connect, port_in_use
from network.store import migrate
from tests.e2e.stack import OPERATOR_HEADERS
from tests.network.harness import Harness, make_harness
from tests.ports import for_worker

pytestmark = pytest.mark.timeout(180)
PORTS = for_worker(range(9420, 9430))
ANVIL_CHAIN, OTHER_CHAIN = 31337, 8453
NAMED = {  # what the gateway needs outside local mode (the Redis URL is not dialled at start)
    "public_url": "https://coalition.example",
    "operator_token": "an-operator-token-of-24-chars+",
    "redis_url": "redis://127.0.0.1:9/0",
}
SECRETS_KEY = "a-secrets-key-of-at-least-32-characters"


def free_port(taken: set[int]) -> int:
    for port in PORTS:
        if port not in taken and not port_in_use(port):
            taken.add(port)
            return port
    raise RuntimeError(f"no free port in {PORTS}")


@pytest.fixture(scope="module")
def ports() -> set[int]:
    return set()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, ports: set[int]) -> Iterator[Harness]:
    tmp = tmp_path_factory.mktemp("chain-id")
    for _ in range(3):
        port = free_port(ports)
        try:
            h = make_harness(tmp / f"chain-{port}", port)
            break
        except NodeError:
            continue
    else:
        pytest.fail(f"no anvil could be started on {PORTS}")
    try:
        yield h
    finally:
        h.node.stop()


def env_of(harness: Harness, tmp: Path, **settings: object) -> dict[str, str]:
    env = harness.process_env(keystore_dir=tmp / "keys", state_dir=tmp, **settings)
    env["COALITION_SECRETS_KEY"] = SECRETS_KEY
    return env


def both_ids(text: str) -> bool:
    return f"serves chain id {ANVIL_CHAIN}" in text and f"COALITION_CHAIN_ID is {OTHER_CHAIN}" in text


def run(args: list[str], env: dict[str, str], log: Path, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    with open(log, "w") as out:
        done = subprocess.run(
            [sys.executable, *args], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s
        )
    return subprocess.CompletedProcess(done.args, done.returncode, log.read_text(errors="replace"))


def uvicorn(port: int) -> list[str]:
    return ["-m", "uvicorn", "gateway.main:app", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]


# ---------------------------------------------------------------------------------- tests


def test_e2e_connect_refuses_a_node_of_another_chain_naming_both_ids(harness):
    assert int(connect(harness.node.url, ANVIL_CHAIN, timeout_s=5).eth.chain_id) == ANVIL_CHAIN
    with pytest.raises(ChainMismatchError) as refused:
        connect(harness.node.url, OTHER_CHAIN, timeout_s=5)
    assert both_ids(str(refused.value)), refused.value
    with pytest.raises(TransientRpcError):
        connect("http://127.0.0.1:9", ANVIL_CHAIN, timeout_s=1)  # nothing listens there


def test_e2e_the_chain_processes_refuse_to_run_on_another_chain(harness, tmp_path):
    env = env_of(harness, tmp_path, mode="rpc", rpc_url=harness.node.url, chain_id=OTHER_CHAIN)
    done = run(["-m", "network", "indexer"], env, tmp_path / "indexer.log")
    assert done.returncode != 0
    assert "ChainMismatchError" in done.stdout and both_ids(done.stdout), done.stdout[-3000:]


def test_e2e_the_gateway_outside_local_mode_refuses_to_start_on_another_chain(harness, tmp_path, ports):
    port = free_port(ports)
    env = env_of(harness, tmp_path, mode="rpc", rpc_url=harness.node.url, chain_id=OTHER_CHAIN, **NAMED)
    env["COALITION_DATABASE_URL"] = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(env["COALITION_DATABASE_URL"])
    done = run(uvicorn(port), env, tmp_path / "gateway.log", timeout_s=60)
    assert done.returncode != 0, done.stdout[-3000:]
    assert "Application startup failed" in done.stdout and both_ids(done.stdout), done.stdout[-3000:]

    # the same settings naming the node's own chain start, and answer
    env["COALITION_CHAIN_ID"] = str(ANVIL_CHAIN)
    with open(tmp_path / "gateway-ok.log", "w") as log:
        gateway = subprocess.Popen(
            [sys.executable, *uvicorn(port)], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert gateway.poll() is None, (tmp_path / "gateway-ok.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "gateway-ok.log").read_text()
            time.sleep(0.1)
    finally:
        gateway.terminate()
        gateway.wait(15)


def test_e2e_the_gateway_answers_chain_unavailable_while_its_node_serves_another_chain(harness, tmp_path, ports):
    """Local mode does not check at start (its own anvil may start after it): the first route that
    needs the chain is refused, 503 with a retry, and the log names both ids for the operator."""
    port = free_port(ports)
    env = env_of(harness, tmp_path, chain_id=OTHER_CHAIN)
    env["COALITION_DATABASE_URL"] = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(env["COALITION_DATABASE_URL"])
    log = tmp_path / "gateway.log"
    with open(log, "w") as out:
        gateway = subprocess.Popen(
            [sys.executable, *uvicorn(port)], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert gateway.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        body = {
            "name": "Grocer",
            "treasury": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
            "currency": "EUR",
            "points_per_unit": "1.5",
            "issue_price": 10_000,
            "reimbursement_rate": 8_000,
            "issuance_limit": 10**12,
        }
        r = httpx.post(f"{url}/v1/operator/partners", headers=OPERATOR_HEADERS, json=body, timeout=30)
        assert r.status_code == 503 and r.headers["content-type"] == PROBLEM_JSON, r.text
        assert r.json()["type"] == "/problems/chain-unavailable"
        assert str(ANVIL_CHAIN) not in r.text  # the client is told to retry; the operator reads the log
    finally:
        gateway.terminate()
        gateway.wait(15)
    assert both_ids(log.read_text()), log.read_text()[-3000:]


def test_e2e_the_workers_chain_refuses_another_chain(harness, tmp_path, monkeypatch):
    env = env_of(harness, tmp_path, mode="rpc", rpc_url=harness.node.url, chain_id=OTHER_CHAIN, **NAMED)
    for name in [k for k in os.environ if k.startswith("COALITION_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("COALITION_"):
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_chain.cache_clear()
    try:
        with pytest.raises(ChainMismatchError) as refused:
            context.chain()
        assert both_ids(str(refused.value))
    finally:
        get_settings.cache_clear()
        get_chain.cache_clear()
