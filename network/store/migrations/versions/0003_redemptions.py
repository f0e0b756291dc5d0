"""rewards catalogue and redemptions

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rewards",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "sku", name="uq_rewards_partner_sku"),
    )
    op.create_table(
        "redemptions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("redemption_id", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("reward_id", _ID, nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("stock_reserved", sa.Boolean(), nullable=False),
        sa.Column("customer_wallet", sa.String(length=42), nullable=False),
        sa.Column("customer_ref", sa.String(length=64), nullable=True),
        sa.Column("custodial", sa.Boolean(), nullable=False),
        sa.Column("ref", sa.String(length=66), nullable=False),
        sa.Column("nonce", sa.String(length=78), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=True),
        sa.Column("tx_nonce", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("voucher_code", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("burned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.ForeignKeyConstraint(["reward_id"], ["rewards.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "redemption_id", name="uq_redemptions_partner_redemption"),
        sa.UniqueConstraint("customer_wallet", "nonce", name="uq_redemptions_wallet_nonce"),
        sa.UniqueConstraint("ref"),
        sa.UniqueConstraint("voucher_code"),
    )
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.create_index("ix_redemptions_status_updated", ["status", "updated_at"], unique=False)
        batch_op.create_index("ix_redemptions_wallet_status", ["customer_wallet", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_redemptions_reward_id"), ["reward_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_redemptions_reward_id"))
        batch_op.drop_index("ix_redemptions_wallet_status")
        batch_op.drop_index("ix_redemptions_status_updated")
    op.drop_table("redemptions")
    op.drop_table("rewards")
