"""The redemption nonces the gateway hands out, per customer wallet (migration 0028
``redeem_nonces``): a counter that only goes up, so that consecutive consents of a wallet take
consecutive nonces and share one word of the points contract's nonce bitmap (256 nonces a word).
The nonce is a base plus the counter (gateway/services/consent_nonces.py says which base); the row
stores the counter alone.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from network.store.base import Base


class RedeemNonce(Base):
    """A wallet's next nonce to hand out: ``issued`` nonces were handed out before (0, 1, ...)."""

    __tablename__ = "redeem_nonces"

    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)  # checksummed
    issued: Mapped[int] = mapped_column(BigInteger, default=0)
