"""campaigns: campaigns, exposures (both arms), awards and spend per period (issue 20)

Revision ID: 0032
Revises: 0031
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None
_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("funder_partner_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=16), nullable=False),
        sa.Column("trigger_type", sa.String(length=32), nullable=False),
        sa.Column("trigger_params", sa.JSON(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("effects", sa.JSON(), nullable=False),
        sa.Column("budget_points", sa.BigInteger(), nullable=True),
        sa.Column("period", sa.String(length=8), nullable=True),
        sa.Column("period_budget_points", sa.BigInteger(), nullable=True),
        sa.Column("member_period_points", sa.BigInteger(), nullable=True),
        sa.Column("max_members", sa.Integer(), nullable=True),
        sa.Column("starts_at", _TS, nullable=True),
        sa.Column("ends_at", _TS, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("holdout_bp", sa.Integer(), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("spent_points", sa.BigInteger(), nullable=False),
        sa.Column("members_awarded", sa.Integer(), nullable=False),
        sa.Column("awards_count", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("stopped_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["funder_partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaigns_status", "campaigns", ["status"])
    op.create_index("ix_campaigns_funder_partner_id", "campaigns", ["funder_partner_id"])
    op.create_table(
        "campaign_exposures",
        sa.Column("id", _ID, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("arm", sa.String(length=16), nullable=False),
        sa.Column("fired_at", _TS, nullable=False),
        sa.Column("trigger_ref", sa.String(length=160), nullable=False),
        sa.Column("effect_note", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "customer_id", "trigger_ref", name="uq_campaign_exposures_occurrence"),
    )
    op.create_index("ix_campaign_exposures_campaign_arm", "campaign_exposures", ["campaign_id", "arm"])
    op.create_index("ix_campaign_exposures_customer_id", "campaign_exposures", ["customer_id"])
    op.create_table(
        "campaign_awards",
        sa.Column("id", _ID, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("exposure_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("funder_partner_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("outbox_id", _ID, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.ForeignKeyConstraint(["exposure_id"], ["campaign_exposures.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["funder_partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("exposure_id"),
        sa.UniqueConstraint("funder_partner_id", "seq", name="uq_campaign_awards_funder_seq"),
    )
    op.create_index("ix_campaign_awards_campaign_id", "campaign_awards", ["campaign_id"])
    op.create_table(
        "campaign_spend",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "customer_id", "period_start"),
    )


def downgrade() -> None:
    op.drop_table("campaign_spend")
    op.drop_table("campaign_awards")
    op.drop_table("campaign_exposures")
    op.drop_table("campaigns")
