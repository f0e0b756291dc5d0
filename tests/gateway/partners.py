"""Partners and the operator in the gateway's in-process tests: their credentials and bodies."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address

OPERATOR_TOKEN = "unit-test-operator-token-0123456789"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
PUBLIC_URL = "https://gateway.unit.test"
TREASURY = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
PARTNER_BODY = {
    "name": "Grocer",
    "treasury": TREASURY,
    "currency": "EUR",
    "points_per_unit": "1.5",
    "issue_price": 10_000,
    "reimbursement_rate": 8_000,
    "issuance_limit": 10**12,
}


def address(label: str) -> str:
    return to_checksum_address(keccak(label.encode())[:20])


@dataclass
class PartnerKey:
    id: int
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}
