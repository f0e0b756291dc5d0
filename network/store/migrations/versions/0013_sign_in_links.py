"""sign-in links: a custodian partner's one-time link that opens a read-only customer session

A new table (only the token's SHA-256 is kept) and how a customer session was opened
(``via``: wallet | link), added with a server default so existing sessions read "wallet".

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sign_in_links",
        sa.Column("id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("sign_in_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_links_expires_at"), ["expires_at"], unique=False)
    op.add_column("customer_sessions", sa.Column("via", sa.String(length=8), nullable=False, server_default="wallet"))


def downgrade() -> None:
    with op.batch_alter_table("customer_sessions", schema=None) as batch_op:
        batch_op.drop_column("via")
    with op.batch_alter_table("sign_in_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_links_expires_at"))
    op.drop_table("sign_in_links")
