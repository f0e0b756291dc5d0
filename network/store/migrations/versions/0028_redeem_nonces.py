"""sequential redemption nonces: each wallet's counter of the nonces handed out (issue 22)

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "redeem_nonces",
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("wallet"),
    )


def downgrade() -> None:
    op.drop_table("redeem_nonces")
