"""onboarding claim: one request at a time finishes an onboarding

The column is added with plain ALTER TABLE ADD COLUMN (SQLite does it in place).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("partner_onboardings", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("partner_onboardings", "claimed_until")
