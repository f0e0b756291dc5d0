"""Earning rules: a partner's rule set versions, members' cap usage, and a purchase's lines,
tenders and breakdown.

``earning_rule_sets``: one row per version of a partner's rules (draft, active, retired; at most
one active per partner). ``earning_cap_usage``: per partner, wallet, cap and period, the points
given towards the cap. ``purchases`` gains ``lines`` and ``paid_with`` (as posted, JSON; null for
a purchase posted without them) and ``breakdown`` (which rule gave which points; null for the
purchases accepted before this revision). No data migration: a partner without an active rule
set earns by its rate (``points_per_unit``), as before, so every existing partner earns the same.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "earning_rule_sets",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("partner_id", sa.Integer(), sa.ForeignKey("partners.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_by", sa.String(64), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("partner_id", "version", name="uq_earning_rule_sets_partner_version"),
    )
    op.create_index(
        "uq_earning_rule_sets_one_active",
        "earning_rule_sets",
        ["partner_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
        sqlite_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "earning_cap_usage",
        sa.Column("partner_id", sa.Integer(), sa.ForeignKey("partners.id"), primary_key=True),
        sa.Column("wallet", sa.String(42), primary_key=True),
        sa.Column("cap_id", sa.String(64), primary_key=True),
        sa.Column("period_start", sa.Date(), primary_key=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("purchases") as batch:
        batch.add_column(sa.Column("lines", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("paid_with", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("breakdown", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("purchases") as batch:
        batch.drop_column("breakdown")
        batch.drop_column("paid_with")
        batch.drop_column("lines")
    op.drop_table("earning_cap_usage")
    op.drop_index("uq_earning_rule_sets_one_active", table_name="earning_rule_sets")
    op.drop_table("earning_rule_sets")
