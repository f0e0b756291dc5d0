"""Static analysis of contracts/ with Slither (tests/slither/run_slither.py): every finding of
medium or high impact is either fixed or triaged with its reason (tests/slither/triage.json);
low and informational findings are printed. It needs .venv-slither (``make setup`` builds it
from requirements-slither.lock). To list what needs triage: ``make slither``.

The gate is shown to bite: a contract with a reentrancy (in a temporary directory) is analysed
by the same run and its finding comes out untriaged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.slither.run_slither import (
    FAILING,
    ROOT,
    SLITHER,
    TRIAGE,
    Finding,
    load_triage,
    report,
    run,
    stale,
    untriaged,
)

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(not SLITHER.exists(), reason=f"{SLITHER} is missing: `make setup` builds .venv-slither"),
]

REENTRANT = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

contract ReentrantVault {
    mapping(address => uint256) public balances;

    function deposit() external payable {
        balances[msg.sender] += msg.value;
    }

    function withdraw() external {
        uint256 amount = balances[msg.sender];
        (bool ok, ) = msg.sender.call{value: amount}("");
        require(ok, "send failed");
        balances[msg.sender] = 0;
    }
}
"""


def test_contracts_have_no_untriaged_finding_of_medium_or_high_impact() -> None:
    result = run("contracts")
    assert "solc-v0.8.30 --standard-json" in result.output  # compiled by the repo's shim, in one go
    triage = load_triage()
    print(report(result.findings, triage))  # low and informational: shown, not failures
    ours = {f.file for f in result.findings if f.file.startswith("contracts/")}
    assert ours, "no finding in contracts/ at all: did slither analyse them?"
    missing = untriaged(result.findings, triage)
    assert not missing, (
        "untriaged Slither findings (fix them, or triage them with a reason in "
        + str(TRIAGE.relative_to(ROOT))
        + "):\n"
        + "\n".join(sorted({str(f) for f in missing}))
    )
    if old := stale(result.findings, triage):
        print("triage entries that match nothing any more:", [f"{t.detector}:{t.contract}.{t.function}" for t in old])


def test_every_triage_entry_gives_its_reason() -> None:
    for entry in load_triage():
        assert entry.detector and entry.contract and entry.function, entry
        assert len(entry.reason.split()) >= 8, f"{entry}: say why the finding is harmless"


def test_an_untriaged_finding_fails_the_gate(tmp_path: Path) -> None:
    """The same run over a contract with a reentrancy: its finding is High and untriaged."""
    (tmp_path / "ReentrantVault.sol").write_text(REENTRANT)
    result = run(tmp_path)
    missing = untriaged(result.findings, load_triage())
    assert [(f.detector, f.impact, f.contract, f.function) for f in missing] == [
        ("reentrancy-eth", "High", "ReentrantVault", "withdraw")
    ]
    assert all(f.impact in FAILING for f in missing)


def test_the_key_ignores_lines_and_the_triage_matches_by_function() -> None:
    finding = Finding("unused-return", "Medium", "Medium", "Clearing", "deposit", "contracts/Clearing.sol", "…")
    moved = Finding("unused-return", "Medium", "Medium", "Clearing", "deposit", "contracts/Clearing.sol", "other")
    triage = load_triage()
    assert finding.key == moved.key == "unused-return:Clearing.deposit"
    assert untriaged([finding, moved], triage) == []
    other = Finding("unused-return", "Medium", "Medium", "Clearing", "withdraw", "contracts/Clearing.sol", "…")
    assert untriaged([other], triage) == [other]
    low = Finding("timestamp", "Low", "Medium", "Clearing", "withdraw", "contracts/Clearing.sol", "…")
    assert untriaged([low], triage) == []
