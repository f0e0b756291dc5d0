"""The workers' killer of the fault tests (tests/chaos/test_worker_kills.py, test_message_kills.py):
SIGKILLs Celery workers and pool processes of a real stack (tests/e2e/stack.py) over and over, and
starts again any worker that exited, as a supervisor would."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

from tests.e2e.stack import Stack


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


class Killer(threading.Thread):
    """Every ``every_s``, SIGKILLs a worker (its whole process group; started again at once) or
    one pool process of a worker (its worker forks another), alternately; and, like systemd or
    Kubernetes, starts again any worker that exited by itself.

    Only workers that have been ready (their log says so) for ``min_age_s``, and for at least as
    long as their start took, are hit: Celery gives up ('Could not start worker processes') when
    a pool process dies while the worker is still starting, and a worker killed at every start
    would never do any work at all, which tests nothing (on a busy machine a start takes 15 s and
    more: counted from the spawn, the workers spent their lives starting)."""

    def __init__(self, stack: Stack, every_s: float, min_age_s: float = 3.0, seed: int = 7) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.every_s = every_s
        self.min_age_s = min_age_s
        self.random = random.Random(seed)
        self.stop = threading.Event()
        self.kills: Counter[str] = Counter()
        self.restarts = 0  # workers that exited by themselves, started again by supervise()
        self.ready: dict[str, float] = {}  # when each worker's current run was seen ready
        self.spawned = dict.fromkeys(stack.workers, time.monotonic())
        self.log_from = dict.fromkeys(stack.workers, 0)  # where each worker's current run's log begins

    def _start(self, name: str) -> None:
        log = self.stack.tmp / f"{name}.log"
        self.log_from[name] = log.stat().st_size if log.exists() else 0
        self.ready.pop(name, None)
        self.spawned[name] = time.monotonic()
        self.stack.start_worker(name.removeprefix("worker-"), concurrency=2)

    def may_kill(self, name: str, now: float) -> bool:
        """Whether the worker's current run logged 'ready.' at least ``min_age_s`` ago, and at
        least as long ago as its start took."""
        if name not in self.ready:
            with contextlib.suppress(FileNotFoundError), open(self.stack.tmp / f"{name}.log", "rb") as log:
                log.seek(self.log_from[name])
                if b" ready." in log.read():
                    self.ready[name] = now
        ready = self.ready.get(name)
        return ready is not None and now - ready >= max(self.min_age_s, ready - self.spawned[name])

    def supervise(self) -> None:
        for name, process in list(self.stack.workers.items()):
            if process.poll() is not None:
                self._start(name)
                self.restarts += 1

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            self.supervise()
            now = time.monotonic()
            names = sorted(n for n in self.stack.workers if self.may_kill(n, now))
            self.random.shuffle(names)
            if not names:
                continue
            if self.kills.total() % 2:  # a pool process
                pool = [c for name in names for c in _children(self.stack.processes[name].pid)]
                if pool:
                    os.kill(self.random.choice(pool), signal.SIGKILL)
                    self.kills["pool process"] += 1
            else:
                self.stack.kill(names[0], signal.SIGKILL)
                self._start(names[0])
                self.kills["worker"] += 1
