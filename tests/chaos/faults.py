"""The whole local stack for the fault schedule (issue 23), and the injector that plays a schedule
(tests/chaos/schedule.py) against it.

``start_chaos_stack`` starts what tests/e2e/stack.py starts (anvil with its state file, Redis with
its append-only file, the gateway, Celery workers, beat, on SQLite or on a PostgreSQL cluster of
its own, which it may crash), plus two TCP proxies (tests/chaos/tcp_proxy.py): every service
reaches the chain's RPC and Redis through them (``COALITION_ANVIL_PORT``, ``COALITION_REDIS_URL``),
while the test's own checks read anvil and the store directly.

``Injector`` plays the faults one after another in a thread, each over (its process started
again and ready, its proxy passing) before the next one's gap begins, and like a supervisor
starts again any worker, beat or gateway that exited by itself in between.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gateway.redis_server import RedisServer
from network.errors import NodeError
from network.node import port_in_use, rpc_call
from tests.chaos.schedule import Fault
from tests.chaos.tcp_proxy import TcpProxy
from tests.e2e.stack import Stack, free_port, wait_healthy
from tests.network.harness import Harness, make_harness
from tests.pg import SQLITE, PgCluster, StoreKind

DURABLE_PG = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on", "timezone": "'Pacific/Chatham'"}


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


@dataclass
class ChaosStack:
    stack: Stack
    rpc_proxy: TcpProxy
    redis_proxy: TcpProxy
    gateway_args: list[str]
    concurrency: int
    cluster: PgCluster | None = None
    log_from: dict[str, int] = field(default_factory=dict)  # where each process's current run's log begins

    @property
    def harness(self) -> Harness:
        return self.stack.harness

    @property
    def worker_names(self) -> list[str]:
        return sorted(self.stack.workers)

    def start_worker(self, name: str) -> None:
        self._mark(name)
        self.stack.start_worker(name.removeprefix("worker-"), concurrency=self.concurrency)

    def start_beat(self) -> None:
        self._mark("beat")
        self.stack.start_beat()

    def start_gateway(self, timeout_s: float) -> None:
        self._mark("gateway")
        self.stack.spawn("gateway", self.gateway_args)
        wait_healthy(self.stack, "gateway", timeout_s=timeout_s)

    def _mark(self, name: str) -> None:
        log = self.stack.tmp / f"{name}.log"
        self.log_from[name] = log.stat().st_size if log.exists() else 0

    def worker_ready(self, name: str) -> bool:
        """Whether the worker's current run logged ' ready.' (a pool process killed before that makes
        Celery give up: 'Could not start worker processes')."""
        with contextlib.suppress(FileNotFoundError), open(self.stack.tmp / f"{name}.log", "rb") as log:
            log.seek(self.log_from.get(name, 0))
            return b" ready." in log.read()
        return False

    def wait_worker_ready(self, name: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.worker_ready(name):
            process = self.stack.processes[name]
            if process.poll() is not None:
                self.start_worker(name)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {timeout_s} s:\n{self.stack.log(name, 60)}")
            time.sleep(0.1)

    def pids(self, target: str, which: int = 0) -> list[int]:
        """The processes a stall of ``target`` stops (every process of it; of workers, the ``which``-th)."""
        if target == "anvil":
            node_pid = self.harness.node.pid
            return [node_pid] if node_pid else []
        if target == "redis":
            process = self.stack.redis.process
            return [process.pid] if process and process.poll() is None else []
        if target == "postgresql":
            assert self.cluster is not None
            pid = self.cluster.postmaster_pid()
            return [pid, *_children(pid)] if pid else []
        names = [self.worker_names[which % len(self.worker_names)]] if target == "worker" else [target]
        found = []
        for name in names:
            process = self.stack.processes.get(name)
            if process is not None and process.poll() is None:
                found += [process.pid, *_children(process.pid)]
        return found


@contextlib.contextmanager
def start_chaos_stack(
    tmp: Path,
    *,
    ports: range,
    postgresql: bool,
    workers: int = 2,
    concurrency: int = 2,
    gateway_processes: int = 1,
    **settings: object,
) -> Iterator[ChaosStack]:
    tmp.mkdir(parents=True, exist_ok=True)
    # durable, as in production (tests/pg.py's TEST_SETTINGS turn fsync and synchronous_commit
    # off: an immediate shutdown would lose commits already answered 202)
    cluster = PgCluster.start(settings=DURABLE_PG) if postgresql else None
    store = StoreKind("postgresql", cluster) if cluster else SQLITE
    taken: set[int] = set()
    harness: Harness | None = None
    redis: RedisServer | None = None
    chaos: ChaosStack | None = None
    try:
        database_url = store.new_url(tmp)
        for _ in range(3):
            port = free_port(ports, taken)
            try:
                harness = make_harness(tmp / f"chain-{port}", port, database_url=database_url)
                break
            except NodeError:
                if not port_in_use(port):
                    raise
        assert harness is not None, f"no anvil could be started on {ports}"
        redis = RedisServer(free_port(ports, taken), tmp / "redis").start()
        rpc_proxy = TcpProxy(harness.node.port, port=free_port(ports, taken)).__enter__()
        redis_proxy = TcpProxy(redis.port, port=free_port(ports, taken)).__enter__()
        gateway_port = free_port(ports, taken)
        url = f"http://127.0.0.1:{gateway_port}"
        env = harness.process_env(
            keystore_dir=tmp / "keys",
            lock_dir=tmp / "locks",
            public_url=url,
            batch_max_wait_s=0.05,
            anvil_port=rpc_proxy.port,  # local mode: the services' RPC URL is 127.0.0.1:<anvil_port>
            redis_url=f"redis://127.0.0.1:{redis_proxy.port}/0",
            **settings,
        )
        stack = Stack(harness, tmp, env, url, httpx.Client(base_url=url, timeout=120), redis, store=store)
        gateway_args = ["-m", "uvicorn", "gateway.main:app", "--host", "127.0.0.1", "--port", str(gateway_port)]
        gateway_args += ["--no-access-log", *(["--workers", str(gateway_processes)] if gateway_processes > 1 else [])]
        chaos = ChaosStack(stack, rpc_proxy, redis_proxy, gateway_args, concurrency, cluster)
        chaos.start_gateway(timeout_s=60 * gateway_processes)
        for i in range(workers):
            chaos.start_worker(f"worker-w{i + 1}")
        chaos.start_beat()
        yield chaos
    finally:
        if chaos is not None:
            for pid in chaos.pids("anvil") + chaos.pids("redis"):  # never leave a stalled process behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            stack = chaos.stack
            for name in list(stack.processes):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(stack.processes[name].pid, signal.SIGCONT)
                stack.kill(name, signal.SIGTERM if name == "gateway" else signal.SIGKILL)
            stack.http.close()
            chaos.rpc_proxy.__exit__()
            chaos.redis_proxy.__exit__()
        if redis is not None:
            redis.stop()
        if harness is not None:
            harness.node.stop()
            with contextlib.suppress(Exception):
                harness.sessions.kw["bind"].dispose()
        if cluster is not None:
            for pid in [cluster.postmaster_pid() or 0]:
                with contextlib.suppress(ProcessLookupError):
                    if pid:
                        os.kill(pid, signal.SIGCONT)
            cluster.stop()


class Injector(threading.Thread):
    """Plays ``schedule`` against ``chaos``; ``injected`` counts the faults done per row of the
    table, ``restarts`` the processes that exited by themselves and were started again;
    ``error`` is the traceback that stopped it, if one did. Each fault is written to ``log``."""

    def __init__(self, chaos: ChaosStack, schedule: list[Fault], log: Path, *, ready_timeout_s: float = 240) -> None:
        super().__init__(daemon=True, name="chaos-injector")
        self.chaos = chaos
        self.schedule = schedule
        self.log_path = log
        self.ready_timeout_s = ready_timeout_s
        self.injected: Counter[str] = Counter()
        self.restarts: Counter[str] = Counter()
        self.blocks_lost = 0  # by anvil's kills: what the rest of the system sees as reorgs
        self.error: str | None = None
        self.stop = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        with open(self.log_path, "a") as log:
            try:
                for i, fault in enumerate(self.schedule):
                    if self.stop.wait(fault.gap_s):
                        break
                    self.supervise()
                    began = time.monotonic()
                    self.inject(fault)
                    self.injected[fault.label] += 1
                    log.write(f"{began - self.started_at:9.2f} #{i} {fault} (took {time.monotonic() - began:.2f}s)\n")
                    log.flush()
                self.supervise()
            except BaseException:
                self.error = traceback.format_exc()
                log.write(self.error)

    def supervise(self) -> None:
        """Starts again what exited by itself (systemd's or Kubernetes's restart policy)."""
        stack = self.chaos.stack
        for name, process in list(stack.processes.items()):
            if process.poll() is None:
                continue
            self.restarts[name] += 1
            if name == "gateway":
                self.chaos.start_gateway(timeout_s=self.ready_timeout_s)
            elif name == "beat":
                self.chaos.start_beat()
            elif name.startswith("worker-"):
                self.chaos.start_worker(name)

    def _signal_all(self, pids: list[int], sig: signal.Signals) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def inject(self, fault: Fault) -> None:
        chaos, stack, down = self.chaos, self.chaos.stack, fault.duration_s
        kind, target = fault.kind, fault.target
        if kind == "kill":
            if target == "anvil":
                node = chaos.harness.node
                before = head = int(str(rpc_call(node.url, "eth_blockNumber")), 16)
                wait_block = time.monotonic() + 3
                while head == before and time.monotonic() < wait_block:  # a block just mined: likely not dumped
                    time.sleep(0.02)
                    head = int(str(rpc_call(node.url, "eth_blockNumber")), 16)
                before = head
                node.kill()  # no state dump: the blocks since the last one (every second) are lost
                time.sleep(down)
                node.start(timeout_s=self.ready_timeout_s)
                self.blocks_lost += max(0, before - int(str(rpc_call(node.url, "eth_blockNumber")), 16))
            elif target == "redis":
                stack.redis.kill()  # SIGKILL: the append-only file as its last fsync left it
                time.sleep(down)
                stack.redis.start(timeout_s=self.ready_timeout_s)
            elif target == "gateway":
                stack.kill("gateway", signal.SIGKILL)
                time.sleep(down)
                chaos.start_gateway(timeout_s=self.ready_timeout_s)
            elif target == "beat":
                stack.kill("beat", signal.SIGKILL)
                time.sleep(down)
                chaos.start_beat()
            else:  # a worker: its whole process group
                names = chaos.worker_names
                name = names[fault.param % len(names)]
                chaos.wait_worker_ready(name, self.ready_timeout_s)
                stack.kill(name, signal.SIGKILL)
                time.sleep(down)
                chaos.start_worker(name)
                chaos.wait_worker_ready(name, self.ready_timeout_s)
        elif kind == "pool-kill":
            names = chaos.worker_names
            name = names[fault.param % len(names)]
            chaos.wait_worker_ready(name, self.ready_timeout_s)
            pool = _children(stack.processes[name].pid)
            if pool:
                self._signal_all([pool[fault.param % len(pool)]], signal.SIGKILL)
        elif kind == "pg-crash":
            assert chaos.cluster is not None
            chaos.cluster.crash()
            time.sleep(down)
            chaos.cluster.start_again()
        elif kind == "stall":
            pids = chaos.pids(target, fault.param)
            self._signal_all(pids, signal.SIGSTOP)
            try:
                time.sleep(down)
            finally:
                self._signal_all(pids, signal.SIGCONT)
        elif kind in ("delay", "drop", "cut"):
            proxy = chaos.rpc_proxy if target == "rpc" else chaos.redis_proxy
            if kind == "cut":
                proxy.cut()
            else:
                proxy.set(kind, fault.param)
                try:
                    time.sleep(down)
                finally:
                    proxy.set("pass")
        else:
            raise ValueError(f"unknown fault {fault}")
