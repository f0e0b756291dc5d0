"""The address book: where the coalition's contracts live on each chain.

``scripts/deploy.py`` writes one JSON file per chain id (``deployments/<chain_id>.json``);
the gateway, the workers and the tools read it with :func:`load_address_book`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eth_utils import to_checksum_address

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIRECTORY = PROJECT_ROOT / "deployments"
CONTRACT_NAMES = ("PartnerRegistry", "SettlementToken", "Clearing", "CoalitionPoints")


class AddressBookError(LookupError):
    """The address book for a chain is missing or incomplete."""


@dataclass(frozen=True)
class AddressBook:
    chain_id: int
    contracts: dict[str, str]
    deployed_at_block: int
    admin: str
    operator: str
    extra: dict[str, object] = field(default_factory=dict)

    def address(self, name: str) -> str:
        try:
            return self.contracts[name]
        except KeyError:
            raise AddressBookError(
                f"{name} is not in the address book of chain {self.chain_id}; it has {sorted(self.contracts)}"
            ) from None


def address_book_path(chain_id: int, directory: Path) -> Path:
    """``directory``: the settings' ``deployments_dir`` (``COALITION_DEPLOYMENTS_DIR``)."""
    return directory / f"{chain_id}.json"


def write_address_book(book: AddressBook, directory: Path) -> Path:
    path = address_book_path(book.chain_id, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(book), indent=2, sort_keys=True) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a file
    return path


def load_address_book(chain_id: int, directory: Path) -> AddressBook:
    path = address_book_path(chain_id, directory)
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.json")) if path.parent.exists() else []
        raise AddressBookError(
            f"chain id {chain_id} is not in the address book ({path} missing); deployed on: "
            f"{', '.join(known) or 'none'}. Run `brownie run scripts/deploy.py` against that chain."
        )
    data = json.loads(path.read_text())
    missing = [n for n in CONTRACT_NAMES if n not in data.get("contracts", {})]
    if missing:
        raise AddressBookError(f"{path} lacks {', '.join(missing)}; redeploy")
    data["contracts"] = {k: to_checksum_address(v) for k, v in data["contracts"].items()}
    return AddressBook(**data)
