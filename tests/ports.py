"""The ports a test may use, kept apart between pytest-xdist workers.

Every test that starts a server (anvil, Redis, the gateway, a CLI's services) picks a free port
of a range it names; tests of one process run one at a time, so a check-then-bind is enough
there. ``make test`` runs the suite in two xdist workers at once: a worker's ranges are shifted by
:data:`WORKER_SHIFT` per worker index, so two workers never race for the same port (every range
the tests name lies in 8555-9999; brownie's own anvil takes 8555 + the worker index).
"""

from __future__ import annotations

import os

WORKER_SHIFT = 2_000


def worker_index() -> int:
    """0 outside xdist, else the number of the worker (``gw1`` -> 1)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


def for_worker(ports: range) -> range:
    """``ports`` shifted into this worker's own band."""
    shift = worker_index() * WORKER_SHIFT
    return range(ports.start + shift, ports.stop + shift, ports.step)


def port_for_worker(port: int) -> int:
    """A fixed port of a test (a webhook receiver's, a Redis of its own) shifted into this worker's band."""
    return port + worker_index() * WORKER_SHIFT
