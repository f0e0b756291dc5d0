"""wallet challenges, customer sessions, custodial wallets

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "custodial_wallets",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("key_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("address"),
    )
    op.create_table(
        "wallet_challenges",
        sa.Column("id", _ID, nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nonce"),
    )
    op.create_table(
        "customer_sessions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("customer_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_sessions_wallet"), ["wallet"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customer_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_sessions_wallet"))
    op.drop_table("customer_sessions")
    op.drop_table("wallet_challenges")
    op.drop_table("custodial_wallets")
