"""End to end, real processes: ``coalition demo --exit`` as a subprocess, with every port and
every file of the network moved into the test's directory. It must start anvil (deploying the
contracts), Redis, Celery workers, beat and the gateway, play a small month, settle it, print
that both checks hold, exit 0 and leave nothing running (its ports free, its pid files gone).

Ports: 8800-8819.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from network.deployments import PROJECT_ROOT
from network.node import port_in_use

pytestmark = pytest.mark.timeout(240)
PORTS = range(8800, 8820)


def _free_ports(count: int) -> list[int]:
    free = [p for p in PORTS if not port_in_use(p)]
    assert len(free) >= count, f"ports of {PORTS} in use: processes left behind?"
    return free[:count]


def _env(tmp: Path, anvil: int, redis: int, gateway: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALITION_")}
    env.update(
        {
            "COALITION_ANVIL_PORT": str(anvil),
            "COALITION_REDIS_PORT": str(redis),
            "COALITION_PUBLIC_URL": f"http://127.0.0.1:{gateway}",
            "COALITION_DATABASE_URL": f"sqlite:///{tmp / 'store.db'}",
            "COALITION_DEPLOYMENTS_DIR": str(tmp / "deployments"),
            "COALITION_KEYSTORE_DIR": str(tmp / "keys"),
            "COALITION_ANVIL_STATE_FILE": str(tmp / "anvil-state.json"),
            "COALITION_LOCK_DIR": str(tmp / "locks"),
            "COALITION_STATE_DIR": str(tmp / "state"),
            "COLUMNS": "160",
        }
    )
    return env


def _coalition(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coalition", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _logs(tmp: Path) -> str:
    logs = sorted((tmp / "state" / "logs").glob("*.log"))
    return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:]) for p in logs)


def test_demo_exit_settles_a_month_that_checks_out_and_stops_everything(tmp_path: Path) -> None:
    anvil, redis, gateway = _free_ports(3)
    env = _env(tmp_path, anvil, redis, gateway)
    try:
        run = _coalition(
            env, "demo", "--exit", "--purchases", "45", "--customers", "6", "--refunds", "3", "--redemptions", "6"
        )
        out = run.stdout + run.stderr
        assert run.returncode == 0, f"{out}\n{_logs(tmp_path)}"
        assert "check 1: the nets and the operator's sum to zero" in out and "sum of 3 partner nets" in out, out
        assert "check 2: the statement matches an independent recomputation" in out, out
        assert "BOTH CHECKS HOLD" in out and "A CHECK FAILED" not in out, out
        assert "45 purchases, 3 refunds, 6 redemptions confirmed" in out, out
        for partner in ("Grocery", "Fuel station", "Pharmacy"):
            assert partner in out, out
        # everything it started is stopped: no port held, no pid file left
        assert [p for p in (anvil, redis, gateway) if port_in_use(p)] == [], _logs(tmp_path)
        assert list((tmp_path / "state" / "run").glob("*.json")) == []
        assert (tmp_path / "deployments" / "31337.json").exists(), "the contracts were deployed and recorded"
    finally:
        _coalition(env, "down", timeout=60)  # whatever a failure left behind
