"""End to end, real processes: the operator's ``coalition`` commands against a network started by
``coalition up`` (anvil, Redis, a Celery worker, beat, the gateway), each command a subprocess
(issue 14, items 8, 10 and 13).

A partner added without a deposit is warned about, and its purchase is held; ``partner fund``
deposits test funds and the purchase is minted; ``partner rerate`` schedules new prices on
chain (in force after the registry's notice) and sets the limit at once; ``partner show`` prints
its funds, headroom, exposure and the scheduled re-rate in cUSD. Refusals are sentences with
exit codes that tell; ``status`` with nothing running says so, exits 3 and creates nothing.

Ports: 9600-9619.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from network.node import port_in_use
from tests.e2e.cli import cli_env, coalition, state_logs
from tests.ports import for_worker

pytestmark = pytest.mark.timeout(300)
PORTS = for_worker(range(9600, 9620))
TREASURY = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
WALLET = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def _free_ports(count: int) -> list[int]:
    free = [p for p in PORTS if not port_in_use(p)]
    assert len(free) >= count, f"ports of {PORTS} in use: processes left behind?"
    return free[:count]


def _purchase_status(url: str, key: str, purchase_id: str) -> dict:
    r = httpx.get(f"{url}/v1/purchases/{purchase_id}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _wait_status(url: str, key: str, purchase_id: str, wanted: str, tmp: Path, timeout_s: float = 90) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        seen = _purchase_status(url, key, purchase_id)
        if seen["status"] == wanted:
            return seen
        assert seen["status"] != "failed", seen
        assert time.monotonic() < deadline, f"{seen}\n{state_logs(tmp)}"
        time.sleep(0.5)


def test_an_operator_adds_funds_rerates_and_shows_a_partner_with_the_cli(tmp_path: Path) -> None:
    anvil, redis, gateway = _free_ports(3)
    env = cli_env(tmp_path, anvil, redis, gateway)
    env["TZ"] = "UTC"
    url = f"http://127.0.0.1:{gateway}"
    try:
        # nothing runs yet: status says so, exits 3, and creates no store
        status = coalition(env, "status", timeout=60)
        assert status.returncode == 3 and "nothing runs" in status.stderr, status.stdout + status.stderr
        assert not (tmp_path / "store.db").exists()
        down_cli = coalition(env, "partner", "list", timeout=60)
        assert down_cli.returncode == 3 and "does not answer" in down_cli.stderr and "coalition up" in down_cli.stderr

        up = coalition(env, "up", "--workers", "1")
        assert up.returncode == 0, f"{up.stdout}{up.stderr}\n{state_logs(tmp_path)}"
        running = {p.stem for p in (tmp_path / "state" / "run").glob("*.json")}
        assert {"smtp", "sms"} <= running, running  # the embedded SMTP server and SMS provider (issue 18)
        assert (tmp_path / "state" / "mailbox" / "new").is_dir()  # its Maildir, which the dashboard reads
        assert coalition(env, "status", timeout=60).returncode == 0

        # added without a deposit, with its treasury in lowercase: checksummed, and a loud warning
        add = coalition(env, "partner", "add", "Bakery", TREASURY.lower())
        assert add.returncode == 0, add.stdout + add.stderr
        assert "WARNING: partner #" in add.stderr and "cannot issue points" in add.stderr, add.stderr
        partner_id = int(re.search(r"partner #(\d+) Bakery onboarded", add.stdout)[1])  # type: ignore[index]
        key = re.search(r"(ck_\S+)", add.stdout)[1]  # type: ignore[index]
        assert TREASURY in add.stdout and f"coalition partner fund {partner_id}" in add.stderr

        # its purchase waits for funds
        purchase = {
            "purchase_id": "order-1",
            "customer": {"wallet": WALLET},
            "amount": "42.50",
            "currency": "EUR",
            "purchased_at": "2026-11-23T10:00:00Z",
        }
        r = httpx.post(f"{url}/v1/purchases", json=purchase, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert r.status_code == 202, r.text
        _wait_status(url, key, "order-1", "held", tmp_path)
        held = coalition(env, "partner", "show", str(partner_id))
        assert held.returncode == 0, held.stdout + held.stderr
        assert re.search(r"held purchases\s*│\s*1", held.stdout), held.stdout

        # funded: 10 cUSD; the held purchase is minted
        fund = coalition(env, "partner", "fund", str(partner_id), "10")
        assert fund.returncode == 0, fund.stdout + fund.stderr
        assert f"deposited 10.00 cUSD for partner #{partner_id}" in fund.stdout, fund.stdout
        minted = _wait_status(url, key, "order-1", "confirmed", tmp_path)
        assert minted["points"] == 42

        # re-rated: the new price is scheduled on chain, the limit in force at once
        rerate = coalition(
            env, "partner", "rerate", str(partner_id), "--issue-price", "0.02", "--issuance-limit", "500"
        )
        assert rerate.returncode == 0, rerate.stdout + rerate.stderr
        assert "in force now: issuance limit 500.00 cUSD" in rerate.stdout, rerate.stdout
        assert "new prices scheduled on chain: issue 0.02 cUSD per point" in rerate.stdout, rerate.stdout
        assert "until then: issue 0.01 cUSD per point" in rerate.stdout

        show = coalition(env, "partner", "show", str(partner_id))
        assert show.returncode == 0, show.stdout + show.stderr
        out = show.stdout
        assert re.search(r"funds\s*│\s*10\.00 cUSD", out), out
        assert re.search(r"exposure\s*│\s*0\.42 cUSD", out), out  # 42 points at 0.01
        assert re.search(r"headroom\s*│\s*9\.58 cUSD", out), out
        assert re.search(r"held purchases\s*│\s*0", out) and re.search(r"failed purchases\s*│\s*0", out), out
        assert re.search(r"issuance limit\s*│\s*500\.00 cUSD", out), out
        assert re.search(r"scheduled re-rate\s*│\s*issue 0\.02 cUSD per point.*in force from \S+ \S+ UTC", out), out
        assert "WARNING" not in show.stderr

        # refusals: in words, with exit codes that tell
        bad = coalition(env, "partner", "add", "Cafe", TREASURY, "--currency", "euro")
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "The request is not valid:" in bad.stderr and "the currency (--currency)" in bad.stderr, bad.stderr
        assert "body." not in bad.stderr and '"type"' not in bad.stderr
        unknown = coalition(env, "partner", "fund", "999", "1")
        assert unknown.returncode == 1 and "no partner 999" in unknown.stderr, unknown.stderr
        usage = coalition(env, "partner", "fund", str(partner_id), "-1")
        assert usage.returncode == 2, usage.stdout + usage.stderr

        suspended = coalition(env, "partner", "suspend", str(partner_id))
        assert suspended.returncode == 0 and f"partner #{partner_id} Bakery: suspended" in suspended.stdout
        reactivated = coalition(env, "partner", "reactivate", str(partner_id))
        assert reactivated.returncode == 0 and f"partner #{partner_id} Bakery: active" in reactivated.stdout

        listed = coalition(env, "partner", "list")
        assert listed.returncode == 0 and "Bakery" in listed.stdout and "10.00 cUSD" in listed.stdout, listed.stdout
    finally:
        coalition(env, "down", timeout=60)
    assert [p for p in (anvil, redis, gateway) if port_in_use(p)] == []
