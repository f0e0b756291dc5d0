"""The `coalition` command run as an operator runs it, in the e2e tests: its environment, the
command, and the logs of the processes it started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from network.deployments import PROJECT_ROOT
from network.node import port_in_use
from tests.ports import for_worker

PORTS = for_worker(range(8800, 8820))
MESSAGING_PORTS = for_worker(range(9680, 9690))  # the embedded SMTP server's and SMS provider's


def free_ports(count: int) -> list[int]:
    free = [p for p in PORTS if not port_in_use(p)]
    assert len(free) >= count, f"ports of {PORTS} in use: processes left behind?"
    return free[:count]


def cli_env(tmp: Path, anvil: int, redis: int, gateway: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COALITION_")}
    smtp, sms = [p for p in MESSAGING_PORTS if not port_in_use(p)][:2]
    env.update(
        {
            "COALITION_SMTP_PORT": str(smtp),
            "COALITION_SMS_PORT": str(sms),
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


def coalition(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coalition", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def state_logs(tmp: Path) -> str:
    logs = sorted((tmp / "state" / "logs").glob("*.log"))
    return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:]) for p in logs)
