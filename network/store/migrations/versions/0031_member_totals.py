"""member purchase totals for the RFM snapshot at scale (issue 19 item 4), back-filled from the rows

Revision ID: 0031
Revises: 0030

The back-fill is network/store/analytics_totals.py ``refresh`` (the same SQL the write paths and
the bench generator run).
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    from network.store.analytics_totals import refresh

    op.create_table(
        "member_partner_totals",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("first_at", _TS, nullable=False),
        sa.Column("last_at", _TS, nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "partner_id"),
    )
    op.create_index("ix_member_partner_totals_partner", "member_partner_totals", ["partner_id", "customer_id"])
    op.create_table(
        "analytics_marks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_refunds_created", "refunds", ["created_at"])
    refresh(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_refunds_created", table_name="refunds")
    op.drop_table("analytics_marks")
    op.drop_index("ix_member_partner_totals_partner", table_name="member_partner_totals")
    op.drop_table("member_partner_totals")
