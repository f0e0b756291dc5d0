"""points given back by a refund of a purchase paid with points: restored, not earned again

A refund's give-back was minted again as an ordinary earn of the partner, valued at its issue
price, while the capture had credited the partner at its reimbursement rate. It is now a
``CoalitionPoints.restore`` of the capture, at the capture's own rate: ``outbox_restores`` holds
one per (give-back, capture), sent by the partner's minter; ``points_give_backs.seq`` and
``outbox_id`` stay for the give-backs made before (earns), null for the new ones.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox_restores",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("give_back_id", _ID, nullable=False),
        sa.Column("redemption_pk", _ID, nullable=False),
        sa.Column("customer", sa.String(length=42), nullable=False),
        sa.Column("ref", sa.String(length=66), nullable=False),
        sa.Column("refund_ref", sa.String(length=66), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tx_id", _ID, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["give_back_id"], ["points_give_backs.id"]),
        sa.ForeignKeyConstraint(["redemption_pk"], ["redemptions.id"]),
        sa.ForeignKeyConstraint(["tx_id"], ["chain_txs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_restores_status_partner", "outbox_restores", ["status", "partner_id", "id"])
    op.create_index("ix_outbox_restores_give_back_id", "outbox_restores", ["give_back_id"])
    op.create_index("ix_outbox_restores_redemption_pk", "outbox_restores", ["redemption_pk"])
    op.create_index("ix_outbox_restores_tx_id", "outbox_restores", ["tx_id"])
    with op.batch_alter_table("points_give_backs", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=True)
        batch_op.alter_column("outbox_id", existing_type=_ID, nullable=True)


def downgrade() -> None:
    op.drop_index("ix_outbox_restores_tx_id", table_name="outbox_restores")
    op.drop_index("ix_outbox_restores_redemption_pk", table_name="outbox_restores")
    op.drop_index("ix_outbox_restores_give_back_id", table_name="outbox_restores")
    op.drop_index("ix_outbox_restores_status_partner", table_name="outbox_restores")
    op.drop_table("outbox_restores")
    # a give-back restored on chain has no earn to point at: it cannot go back to a table that needs one
    op.execute("DELETE FROM points_give_backs WHERE seq IS NULL")
    with op.batch_alter_table("points_give_backs", schema=None) as batch_op:
        batch_op.alter_column("outbox_id", existing_type=_ID, nullable=False)
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
