"""The fault test's schedule (issue 23): a pure function of a seed, so that a failing run is
replayed exactly by its seed (``CHAOS_SEED=<seed>``).

A schedule is a list of :class:`Fault`, in the order they are injected: when (seconds after the
previous fault was over: the timing is relative, so that a loaded machine stretches the run
instead of piling faults up), what (``kind``), on what (``target``), and for how long (a killed
process stays down that long before it is started again; a stalled one stays stopped; a proxy
keeps delaying or dropping). Faults never overlap: each is over (its process started again and
ready, its proxy passing) before the next one's gap begins.

Kinds (``KINDS``):

- ``kill``: SIGKILL of ``target`` (anvil, redis, gateway, worker, beat), then started again:
  anvil from its state file (the blocks mined since its last dump are lost: a reorg), Redis from
  its append-only file (fsync every second: the last second of writes may be lost);
- ``pool-kill``: SIGKILL of one pool process of a Celery worker (the worker forks another);
- ``pg-crash``: PostgreSQL's immediate shutdown (no checkpoint: crash recovery at the next start),
  then started again (PostgreSQL store only);
- ``stall``: SIGSTOP of ``target``, SIGCONT after ``duration_s``;
- ``delay``, ``drop``, ``cut``: the TCP proxy in front of ``target`` (``rpc``: the chain's RPC,
  ``redis``) delays every chunk by ``param`` ms, or closes every new connection at once, or cuts
  every open connection (once, at the start of the fault).
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

PROCESSES = ("anvil", "redis", "gateway", "worker", "beat")
PROXIED = ("rpc", "redis")
KINDS = ("kill", "pool-kill", "pg-crash", "stall", "delay", "drop", "cut")
PG_ONLY = frozenset({"pg-crash"})


@dataclass(frozen=True)
class Fault:
    gap_s: float  # seconds of calm before it, after the previous fault is over
    kind: str
    target: str
    duration_s: float  # down, stopped, or degraded for this long
    param: int = 0  # delay: milliseconds per chunk; kill, stall, pool-kill: which worker, which pool process

    @property
    def label(self) -> str:
        """The fault table's row: ``kill anvil``, ``stall postgresql``, ``delay rpc``, ..."""
        return f"{self.kind} {self.target}"

    def __str__(self) -> str:
        extra = f" {self.param}" if self.param else ""
        return f"+{self.gap_s:.2f}s {self.label}{extra} for {self.duration_s:.2f}s"


def targets(kind: str, *, postgresql: bool) -> tuple[str, ...]:
    """What ``kind`` can hit on a stack (with PostgreSQL or SQLite as its store)."""
    if kind == "kill":
        return PROCESSES
    if kind == "pool-kill":
        return ("worker",)
    if kind == "pg-crash":
        return ("postgresql",) if postgresql else ()
    if kind == "stall":
        return (*PROCESSES, "postgresql") if postgresql else PROCESSES
    if kind in ("delay", "drop", "cut"):
        return PROXIED
    raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")


def rows(*, postgresql: bool) -> list[str]:
    """Every (kind, target) label a stack can be given, in the table's order."""
    return [f"{kind} {target}" for kind in KINDS for target in targets(kind, postgresql=postgresql)]


def make_schedule(seed: int, *, per_row: int, postgresql: bool, mean_gap_s: float = 0.5) -> list[Fault]:
    """``per_row`` faults of every (kind, target) row, shuffled by ``seed``; gaps drawn around
    ``mean_gap_s``. The same arguments give the same list, on any machine."""
    rng = random.Random(seed)
    labels = [label for label in rows(postgresql=postgresql) for _ in range(per_row)]
    rng.shuffle(labels)
    schedule = []
    for label in labels:
        kind, target = label.split(" ", 1)
        gap = round(rng.uniform(0, 2 * mean_gap_s), 2)
        param = rng.randrange(64)  # which worker, which pool process
        if kind in ("kill", "pg-crash"):
            duration = round(rng.uniform(0.0, 1.5), 2)  # down before the restart
        elif kind == "pool-kill":
            duration = 0.0
        elif kind == "stall":
            duration = round(rng.uniform(0.2, 3.0), 2)
        elif kind == "delay":
            duration, param = round(rng.uniform(0.5, 3.0), 2), rng.randrange(20, 400)
        elif kind == "drop":
            duration = round(rng.uniform(0.2, 2.0), 2)
        else:  # cut: instantaneous
            duration = 0.0
        schedule.append(Fault(gap, kind, target, duration, param))
    return schedule


def tally(faults: Iterable[Fault]) -> Counter[str]:
    return Counter(f.label for f in faults)


def new_seed() -> int:
    """A new seed for a run. Under pytest-xdist every worker collects the tests and must name them
    alike (the seed is in the test's id), so the seed comes from the run's id they share
    (``PYTEST_XDIST_TESTRUNUID``: new for each run); alone, from the system's randomness."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run:
        return int.from_bytes(hashlib.sha256(run.encode()).digest()[:4], "big") or 1
    return random.SystemRandom().randrange(1, 2**32)
