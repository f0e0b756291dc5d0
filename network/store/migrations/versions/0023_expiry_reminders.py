"""points expiry reminders: each holder's reminder (days before its expiry time) told once

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "expiry_reminders",
        sa.Column("id", _ID, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=42), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("chain_id", "holder", "expires_at", "days_before", name="uq_expiry_reminders_once"),
    )
    op.create_index("ix_expiry_reminders_holder", "expiry_reminders", ["holder"])


def downgrade() -> None:
    op.drop_index("ix_expiry_reminders_holder", table_name="expiry_reminders")
    op.drop_table("expiry_reminders")
