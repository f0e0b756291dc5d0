"""Runs Slither (from its own virtualenv, .venv-slither) over contracts/ and sorts its findings
against the triage file (tests/slither/triage.json).

Slither compiles through the repo's solc shim (toolchain/solc/solc-v0.8.30, solc-js behind a
native-solc interface: ``--version`` and ``--standard-json``), all of contracts/ in one standard
JSON compilation with OpenZeppelin remapped to node_modules, so nothing is downloaded (no
solc-select): the run gets a dead proxy, so any download attempt would fail it.

A finding is keyed by detector, contract and function (never by line: the key survives edits
elsewhere in the file). A medium-or-higher finding whose key is not triaged fails
tests/slither/test_slither.py; low and informational ones are printed. To re-triage after a
contract change (lists the untriaged findings, then the triage entries nothing matches any more):

    .venv/bin/python -m tests.slither.run_slither            # or: make slither
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SLITHER = ROOT / ".venv-slither" / "bin" / "slither"
SOLC = ROOT / "toolchain" / "solc" / "solc-v0.8.30"
TRIAGE = Path(__file__).with_name("triage.json")
REMAPS = "@openzeppelin=node_modules/@openzeppelin"
FAILING = ("High", "Medium")  # impacts that fail the test unless triaged
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: a download attempt fails at once


@dataclass(frozen=True)
class Finding:
    detector: str
    impact: str
    confidence: str
    contract: str
    function: str
    file: str
    summary: str

    @property
    def key(self) -> str:
        return f"{self.detector}:{self.contract}.{self.function}"

    def __str__(self) -> str:
        return f"[{self.impact}/{self.confidence}] {self.key} ({self.file}): {self.summary}"


@dataclass(frozen=True)
class TriageEntry:
    detector: str
    contract: str
    function: str  # "*": every function of the contract
    reason: str

    def matches(self, finding: Finding) -> bool:
        return (
            self.detector == finding.detector
            and self.contract == finding.contract
            and self.function in ("*", finding.function)
        )


@dataclass(frozen=True)
class Run:
    findings: list[Finding]
    output: str  # slither's own log (compiler invocations included)


class SlitherFailed(RuntimeError):
    """Slither did not analyse the contracts (compilation failed, or it crashed)."""


def run(target: Path | str = "contracts", *, timeout_s: float = 300) -> Run:
    """Slither over ``target`` (relative to the repo root), every detector, JSON results."""
    with tempfile.TemporaryDirectory(prefix="slither-") as tmp:
        out = Path(tmp) / "results.json"
        args = [str(SLITHER), str(target), "--solc", str(SOLC), "--solc-remaps", REMAPS, "--solc-standard-json"]
        args += ["--json", str(out), "--fail-none", "--disable-color"]
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env |= {"HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY, "ALL_PROXY": DEAD_PROXY, "HOME": tmp}
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
        output = done.stdout + done.stderr
        if not out.exists():
            raise SlitherFailed(f"slither exited {done.returncode} without results:\n{output[-5_000:]}")
        result = json.loads(out.read_text())
    if not result.get("success"):
        raise SlitherFailed(f"slither failed: {result.get('error')}\n{output[-5_000:]}")
    detectors = result.get("results", {}).get("detectors", [])
    return Run([finding_of(r) for r in detectors], output)


def finding_of(result: dict[str, Any]) -> Finding:
    """A Slither result reduced to what identifies it: the first function it names (or the
    function around the first statement it names, or the contract), never a line number."""
    contract = function = ""
    for element in result.get("elements", []):
        fields = element.get("type_specific_fields", {})
        parent = fields.get("parent", {})
        if element["type"] == "function":
            contract, function = parent.get("name", ""), element["name"]
            break
        if element["type"] == "node" and parent.get("type") == "function":
            grand = parent.get("type_specific_fields", {}).get("parent", {})
            contract, function = grand.get("name", ""), parent["name"]
            break
        if element["type"] == "contract" and not contract:
            contract = element["name"]
        elif not contract and parent.get("type") == "contract":
            contract, function = parent["name"], element["name"]
    elements = result.get("elements") or [{}]
    file = elements[0].get("source_mapping", {}).get("filename_relative", "")
    summary = " ".join(result.get("description", "").split())[:300]
    return Finding(result["check"], result["impact"], result["confidence"], contract, function, file, summary)


def load_triage(path: Path = TRIAGE) -> list[TriageEntry]:
    entries = json.loads(path.read_text())["findings"]
    return [TriageEntry(e["detector"], e["contract"], e["function"], e["reason"]) for e in entries]


def untriaged(findings: list[Finding], triage: list[TriageEntry]) -> list[Finding]:
    """The medium-or-higher findings no triage entry covers: each fails the test."""
    return [f for f in findings if f.impact in FAILING and not any(t.matches(f) for t in triage)]


def stale(findings: list[Finding], triage: list[TriageEntry]) -> list[TriageEntry]:
    """Triage entries that match no finding any more (to be removed after a contract change)."""
    return [t for t in triage if not any(t.matches(f) for f in findings)]


def report(findings: list[Finding], triage: list[TriageEntry]) -> str:
    lines = []
    missing = untriaged(findings, triage)
    lines.append(f"{len(_unique(missing))} untriaged medium-or-higher finding(s):")
    lines += [f"  {f}" for f in _unique(missing)]
    old = stale(findings, triage)
    lines.append(f"{len(old)} triage entr{'y' if len(old) == 1 else 'ies'} matching nothing:")
    lines += [f"  {t.detector}:{t.contract}.{t.function}" for t in old]
    low = [f for f in findings if f.impact not in FAILING]
    counts = Counter((f.impact, f.detector) for f in low)
    lines.append(f"{len(low)} low/informational finding(s) (printed, not failures):")
    lines += [f"  {impact} {detector}: {n}" for (impact, detector), n in sorted(counts.items())]
    lines += [f"  {f}" for f in _unique(low) if f.file.startswith("contracts/")]
    return "\n".join(lines)


def _unique(findings: list[Finding]) -> list[Finding]:
    return list({(f.key, f.summary): f for f in findings}.values())


def main() -> int:
    if not SLITHER.exists():
        print(f"{SLITHER} is missing: run `make setup` (it builds .venv-slither)", file=sys.stderr)
        return 2
    target = sys.argv[1] if len(sys.argv) > 1 else "contracts"
    findings = run(target).findings
    triage = load_triage()
    print(report(findings, triage))
    return 1 if untriaged(findings, triage) else 0


if __name__ == "__main__":
    sys.exit(main())
