"""The indexer's ledger (network/indexer.py): an ``Expired`` event is one movement of its holder, the
whole balance out, so that a customer's ledger sum stays its ``balanceOf`` (reconciliation); the
``Transfer`` to the zero address that burns the points adds nothing (a mint or a burn is never a
movement between wallets)."""

from __future__ import annotations

from network.contracts import DecodedLog
from network.indexer import ledger_entries

HOLDER = "0x" + "ab" * 20
ZERO = "0x" + "00" * 20


def _log(name: str, args: dict, log_index: int) -> DecodedLog:
    return DecodedLog("CoalitionPoints", name, args, "0x" + "cc" * 20, 7, "0x" + "dd" * 32, "0x" + "ee" * 32, log_index)


def test_an_expiry_is_its_holders_whole_balance_out() -> None:
    burn = _log("Transfer", {"from": HOLDER, "to": ZERO, "value": 70}, 0)
    expired = _log("Expired", {"holder": HOLDER, "points": 70, "expiresAt": 1_600_000_000}, 1)
    assert ledger_entries(burn, 31337, 1_700_000_000) == []
    [entry] = ledger_entries(expired, 31337, 1_700_000_000)
    assert (entry["kind"], entry["customer"], entry["points"], entry["partner_id"], entry["log_index"]) == (
        "expired",
        HOLDER,
        -70,
        None,
        1,
    )
