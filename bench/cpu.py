"""Where the CPU goes during a measurement: user + system time of this process and every
process it started, grouped by what they are (the gateway, the Celery workers with their
pool processes, anvil, Redis, PostgreSQL's server when the store is there, the load generator).
Read from ``/proc`` before and after, so a
part that needs more CPU per purchase than the others is the one that holds the pipeline back
when the machine's cores are all busy."""

from __future__ import annotations

import os
from pathlib import Path

PARTS = ("gateway", "workers", "beat", "anvil", "redis", "postgresql", "load generator")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of ``pid``, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _part(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    if "anvil" in command:
        return "anvil"
    if "redis" in command:
        return "redis"
    if "uvicorn" in command or "gateway.main" in command:
        return "gateway"
    if "celery" in command:
        return "beat" if " beat" in command else "workers"
    return "other"


def cpu_by_part(servers: dict[int, str] | None = None) -> dict[str, float]:
    """CPU seconds so far of this process ("load generator") and of its descendants, by part;
    ``servers`` names processes that are not its descendants (a daemon it started, such as
    PostgreSQL's postmaster): each one's tree counts as that part."""
    servers = servers or {}
    me = os.getpid()
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)], seconds[int(entry.name)] = stat
    totals = dict.fromkeys(PARTS, 0.0)
    for pid, spent in seconds.items():
        ancestor, part, line = pid, None, []
        while ancestor not in (0, 1):
            if ancestor == me:  # a process that says nothing of itself (uvicorn --workers' children) is its parent's
                kinds = [_part(p) for p in line]
                part = "load generator" if pid == me else next((k for k in kinds if k != "other"), "other")
                break
            line.append(ancestor)
            if ancestor in servers:
                part = servers[ancestor]
                break
            ancestor = parents.get(ancestor, 0)
        if part is not None:
            totals[part] = totals.get(part, 0.0) + spent
    return totals


def spent_per_item(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, int]:
    """Microseconds of CPU per item (a purchase) by part between two ``cpu_by_part`` readings."""
    return {
        part: round((after.get(part, 0.0) - before.get(part, 0.0)) / items * 1e6)
        for part in after
        if after.get(part, 0.0) - before.get(part, 0.0) > 0
    }
