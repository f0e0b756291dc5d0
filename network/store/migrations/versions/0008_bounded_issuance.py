"""bounded issuance: purchases held for lack of headroom, settlement retries with backoff, rerates on notice

Columns are added with plain ALTER TABLE ADD COLUMN (SQLite does it in place): a batch
operation would rebuild ``partners``, which other tables reference, and fail on a store with rows.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("partners", sa.Column("scheduled_rerate", sa.JSON(), nullable=True))
    op.add_column("outbox_purchases", sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("settlement_periods", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("settlement_periods", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("settlement_periods", "next_attempt_at")
    op.drop_column("settlement_periods", "attempts")
    op.drop_column("outbox_purchases", "held_at")
    op.drop_column("partners", "scheduled_rerate")
