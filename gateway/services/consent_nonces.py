"""The nonce of each redemption consent the gateway prepares or signs: the wallet's next one in
order (``SEQUENTIAL_NONCE_BASE`` + the wallet's counter, ``redeem_nonces``), not a random one.

Why: the points contract spends a consent's nonce by setting its bit in the customer's bitmap,
256 nonces a storage word. A random nonce lands in a word of its own, a fresh slot (~22,100 gas);
consecutive nonces share a word, so every consent but each word's first flips a bit of a slot in
use (~5,000 gas). The counter is in the store, not read from the chain: the chain knows only the
nonces spent, and a customer may hold several consents prepared and not yet redeemed (each
prepared consent takes the next number at once, so none is handed out twice). A number handed
out and never signed just leaves its bit unset. The base lies above the 64-bit random nonces the
gateway handed out before, which stay valid (the contract takes any unused uint256, and so does
acceptance: a client may still choose its own).
"""

from __future__ import annotations

from eth_utils import to_checksum_address
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from network.signatures import SEQUENTIAL_NONCE_BASE
from network.store import RedeemNonce


def next_nonce(session: Session, wallet: str) -> int:
    """The wallet's next redemption nonce, taken (one atomic upsert in the caller's transaction,
    which commits it): concurrent callers for one wallet each get their own."""
    table = RedeemNonce.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(table)
        .values(wallet=to_checksum_address(wallet), issued=1)
        .on_conflict_do_update(index_elements=[table.c.wallet], set_={"issued": table.c.issued + 1})
        .returning(table.c.issued)
    )
    issued = int(session.execute(statement).scalar_one())
    return SEQUENTIAL_NONCE_BASE + issued - 1
