"""settlement periods, reconciliation reports, operator alerts

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "settlement_periods",
        sa.Column("period_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("from_block", sa.BigInteger(), nullable=False),
        sa.Column("to_block", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("statement", sa.JSON(), nullable=True),
        sa.Column("statement_csv", sa.Text(), nullable=True),
        sa.Column("statement_hash", sa.String(length=66), nullable=True),
        sa.Column("operator_net", sa.String(length=80), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=True),
        sa.Column("tx_nonce", sa.BigInteger(), nullable=True),
        sa.Column("settled_block", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("period_id"),
    )
    op.create_table(
        "reconciliation_reports",
        sa.Column("id", _ID, nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("customers_checked", sa.Integer(), nullable=False),
        sa.Column("partners_checked", sa.Integer(), nullable=False),
        sa.Column("total_supply", sa.String(length=80), nullable=False),
        sa.Column("differences", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reconciliation_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconciliation_reports_created_at"), ["created_at"], unique=False)
    op.create_table(
        "operator_alerts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("operator_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_operator_alerts_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("operator_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_operator_alerts_created_at"))
    op.drop_table("operator_alerts")
    with op.batch_alter_table("reconciliation_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_reports_created_at"))
    op.drop_table("reconciliation_reports")
    op.drop_table("settlement_periods")
