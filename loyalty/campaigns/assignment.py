"""Which arm of a campaign a customer is in: deterministic and stable (pure: no store, no chain, no HTTP).

A campaign has a random salt (:func:`new_salt`, stored with the campaign and never changed) and a
holdout share in basis points (``holdout_bp``: 1,000 = 10 %, the default; 0 allowed, with a warning).

    bucket = int(sha256(salt_utf8 || decimal(customer_id)_ascii), big-endian) mod 10,000
    arm    = "control" if bucket < holdout_bp else "treatment"

(``||`` is byte concatenation, no separator; ``holdout_bp`` is ``holdout_share x 10,000``.)
The same customer always lands in the same bucket of a campaign, whenever the trigger fires and
whichever process evaluates it; a different salt reshuffles everyone, so two campaigns' control
groups are independent. Raising the holdout only moves treatment members into control (buckets
below the new threshold), never the reverse.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final, Literal

BUCKETS: Final = 10_000
DEFAULT_HOLDOUT_BP: Final = 1_000
CONTROL: Final = "control"
TREATMENT: Final = "treatment"
Arm = Literal["control", "treatment"]

NO_HOLDOUT_WARNING: Final = "holdout is 0 %: there is no control group, so the campaign's uplift cannot be measured"


def validate_holdout(holdout_bp: int) -> int:
    """Return ``holdout_bp`` if it is an int in 0..10,000 basis points, else raise ValueError."""
    if isinstance(holdout_bp, bool) or not isinstance(holdout_bp, int) or not 0 <= holdout_bp <= BUCKETS:
        raise ValueError(f"holdout must be an integer number of basis points in 0..{BUCKETS}, got {holdout_bp!r}")
    return holdout_bp


def holdout_warning(holdout_bp: int) -> str | None:
    """The warning to show when a campaign runs without a control group (holdout 0), else None."""
    return NO_HOLDOUT_WARNING if validate_holdout(holdout_bp) == 0 else None


def new_salt() -> str:
    """A fresh random salt for a new campaign (32 hex characters, 128 bits)."""
    return secrets.token_hex(16)


def bucket(salt: str, customer_id: int) -> int:
    """The customer's bucket in 0..9,999 for the campaign with this salt (see the module docstring)."""
    if isinstance(customer_id, bool) or not isinstance(customer_id, int):
        raise TypeError(f"customer_id must be an int, got {customer_id!r}")
    digest = hashlib.sha256(salt.encode("utf-8") + str(customer_id).encode("ascii")).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def arm(salt: str, customer_id: int, holdout_bp: int = DEFAULT_HOLDOUT_BP) -> Arm:
    """``"control"`` if the customer's bucket is below ``holdout_bp``, else ``"treatment"``."""
    return CONTROL if bucket(salt, customer_id) < validate_holdout(holdout_bp) else TREATMENT
