"""a custodial wallet's release is asked for first and handed over after a notice period

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("custodial_wallets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("release_requested_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("release_available_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("custodial_wallets", schema=None) as batch_op:
        batch_op.drop_column("release_available_at")
        batch_op.drop_column("release_requested_at")
