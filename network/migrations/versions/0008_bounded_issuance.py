"""bounded issuance: purchases held for lack of headroom, settlement retries with backoff, rerates on notice

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
    with op.batch_alter_table("partners") as batch:
        batch.add_column(sa.Column("scheduled_rerate", sa.JSON(), nullable=True))
    with op.batch_alter_table("outbox_purchases") as batch:
        batch.add_column(sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("settlement_periods") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("settlement_periods") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
    with op.batch_alter_table("outbox_purchases") as batch:
        batch.drop_column("held_at")
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("scheduled_rerate")
