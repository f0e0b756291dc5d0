"""analytics: the daily RFM snapshot and its runs; indexes on purchases' and ledger movements' times

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rfm_snapshots",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope", sa.Integer(), nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.Numeric(24, 4), nullable=False),
        sa.Column("r", sa.SmallInteger(), nullable=False),
        sa.Column("f", sa.SmallInteger(), nullable=False),
        sa.Column("m", sa.SmallInteger(), nullable=False),
        sa.Column("segment", sa.String(length=24), nullable=False),
        sa.PrimaryKeyConstraint("day", "scope", "customer_id"),
    )
    op.create_table(
        "rfm_runs",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope", sa.Integer(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Numeric(12, 3), nullable=False),
        sa.Column("finished_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("day", "scope"),
    )
    op.create_index("ix_purchases_time", "purchases", ["purchased_at"])
    op.create_index("ix_purchases_partner_time", "purchases", ["partner_id", "purchased_at"])
    op.create_index("ix_ledger_kind_time", "ledger_entries", ["kind", "block_time", "chain_id", "partner_id", "points"])


def downgrade() -> None:
    op.drop_index("ix_ledger_kind_time", table_name="ledger_entries")
    op.drop_index("ix_purchases_partner_time", table_name="purchases")
    op.drop_index("ix_purchases_time", table_name="purchases")
    op.drop_table("rfm_runs")
    op.drop_table("rfm_snapshots")
