"""relayed burns go through the one transaction driver: their signed bytes live in chain_txs

A redemption's burn used to be signed, stored and followed on the redemption's own row
(``tx_hash``, ``raw_tx``, ``tx_nonce``). From now on it is a ``burn`` transaction of the relayer
key in ``chain_txs`` (network/transactions.py), and the redemption points at it by ``tx_hash``;
``redemptions.raw_tx`` goes. A redemption ``burning`` at the upgrade keeps its signed bytes: they
are stored in ``chain_txs`` (pending; the driver's recovery finds its receipt, resends it or
drops it). One ``burning`` without bytes (its nonce had gone to another transaction and it was
waiting to be signed again) goes back to ``accepted``, to be signed again.

Revision ID: 0016
Revises: 0015
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BURN_KIND = "burn"  # frozen copy of gateway/services/burns.py BURN_KIND
PENDING = "PENDING"  # TxStatus.PENDING as the Enum column stores it (its name)

redemptions = sa.table(
    "redemptions",
    sa.column("id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("tx_hash", sa.String),
    sa.column("raw_tx", sa.LargeBinary),
    sa.column("tx_nonce", sa.BigInteger),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
chain_txs = sa.table(
    "chain_txs",
    sa.column("chain_id", sa.BigInteger),
    sa.column("sender", sa.String),
    sa.column("nonce", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("tx_hash", sa.String),
    sa.column("raw_tx", sa.LargeBinary),
    sa.column("max_fee_per_gas", sa.BigInteger),
    sa.column("max_priority_fee_per_gas", sa.BigInteger),
    sa.column("status", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    burning = bind.execute(
        sa.select(redemptions.c.id, redemptions.c.tx_hash, redemptions.c.raw_tx).where(
            redemptions.c.status == "burning"
        )
    ).all()
    known = set(bind.scalars(sa.select(chain_txs.c.tx_hash)).all()) if burning else set()
    for pk, tx_hash, raw in burning:
        if raw is None or tx_hash is None:
            bind.execute(
                sa.update(redemptions)
                .where(redemptions.c.id == pk)
                .values(status="accepted", tx_hash=None, tx_nonce=None, updated_at=now)
            )
            continue
        if tx_hash in known:
            continue
        fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        bind.execute(
            sa.insert(chain_txs).values(
                chain_id=int(fields["chainId"]),
                sender=Account.recover_transaction(bytes(raw)),
                nonce=int(fields["nonce"]),
                kind=BURN_KIND,
                tx_hash=tx_hash,
                raw_tx=bytes(raw),
                max_fee_per_gas=int(fields["maxFeePerGas"]),
                max_priority_fee_per_gas=int(fields["maxPriorityFeePerGas"]),
                status=PENDING,
                created_at=now,
                updated_at=now,
            )
        )
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_column("raw_tx")


def downgrade() -> None:
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw_tx", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    raw_of = sa.select(chain_txs.c.raw_tx).where(chain_txs.c.tx_hash == redemptions.c.tx_hash).scalar_subquery()
    bind.execute(sa.update(redemptions).where(redemptions.c.status == "burning").values(raw_tx=raw_of))
