"""End to end, real processes: ``coalition demo --exit`` as a subprocess, with every port and
every file of the network moved into the test's directory. It must start anvil (deploying the
contracts), Redis, Celery workers, beat and the gateway, play a small month, settle it, print
that both checks hold, exit 0 and leave nothing running (its ports free, its pid files gone).

Ports: 8800-8819.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from network.node import port_in_use
from tests.e2e.cli import cli_env, coalition, free_ports, state_logs

pytestmark = pytest.mark.timeout(240)


def test_demo_exit_settles_a_month_that_checks_out_and_stops_everything(tmp_path: Path) -> None:
    anvil, redis, gateway = free_ports(3)
    env = cli_env(tmp_path, anvil, redis, gateway)
    try:
        run = coalition(
            env, "demo", "--exit", "--purchases", "45", "--customers", "6", "--refunds", "3", "--redemptions", "6"
        )
        out = run.stdout + run.stderr
        assert run.returncode == 0, f"{out}\n{state_logs(tmp_path)}"
        assert "check 1: the nets and the operator's sum to zero" in out and "sum of 3 partner nets" in out, out
        assert "check 2: the statement matches an independent recomputation" in out, out
        assert "BOTH CHECKS HOLD" in out and "A CHECK FAILED" not in out, out
        assert "45 purchases, 3 refunds, 6 redemptions confirmed" in out, out
        for partner in ("Grocery", "Fuel station", "Pharmacy"):
            assert partner in out, out
        # everything it started is stopped: no port held, no pid file left
        assert [p for p in (anvil, redis, gateway) if port_in_use(p)] == [], state_logs(tmp_path)
        assert list((tmp_path / "state" / "run").glob("*.json")) == []
        assert (tmp_path / "deployments" / "31337.json").exists(), "the contracts were deployed and recorded"
    finally:
        coalition(env, "down", timeout=60)  # whatever a failure left behind
