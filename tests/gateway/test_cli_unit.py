"""Unit tests of the coalition command's process bookkeeping, with a real short-lived child
process (``sleep``) standing in for a service: no chain, no Redis, no gateway."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psutil

from coalition.processes import LocalNetwork, _stop_rank
from gateway.settings import GatewaySettings


def _network(tmp_path: Path) -> LocalNetwork:
    return LocalNetwork(GatewaySettings(state_dir=tmp_path / "state", public_url="http://127.0.0.1:8819"))


def test_a_live_process_with_its_recorded_start_time_is_running_and_down_stops_its_group(tmp_path: Path) -> None:
    net = _network(tmp_path)
    net._spawn("worker-1", ["sleep", "60"], None)
    running = net.running()
    assert list(running) == ["worker-1"]
    pid = running["worker-1"].pid
    assert net.down() == ["worker-1"]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert net.running() == {} and list(net.run_dir.glob("*.json")) == []


def test_a_pid_file_of_a_dead_or_recycled_pid_is_dropped_not_signalled(tmp_path: Path) -> None:
    net = _network(tmp_path)
    net.run_dir.mkdir(parents=True)
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)  # alive, but not the recorded process
    try:
        record = {"pid": other.pid, "started": 1.0, "cmdline": ["anvil"], "port": 1, "log": "x"}
        (net.run_dir / "anvil.json").write_text(json.dumps(record))
        assert net.running() == {}
        assert not (net.run_dir / "anvil.json").exists()
        assert net.down() == [] and other.poll() is None, "a recycled pid must never be signalled"
    finally:
        other.kill()
        other.wait()


def test_down_stops_the_front_first_and_the_chain_last() -> None:
    names = ["anvil", "redis", "worker-2", "beat", "gateway", "worker-1"]
    assert sorted(names, key=_stop_rank) == ["gateway", "beat", "worker-2", "worker-1", "redis", "anvil"]
