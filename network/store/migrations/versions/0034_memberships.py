"""paid membership plans: plans, honouring partners, subscriptions, trials, payments, events (issue 21)

Revision ID: 0034
Revises: 0033
"""

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None
_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "membership_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_partner_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("price", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("trial_days", sa.Integer(), nullable=False),
        sa.Column("earn_multiplier", sa.Numeric(6, 3), nullable=False),
        sa.Column("tier_protection", sa.Boolean(), nullable=False),
        sa.Column("members_only_skus", sa.JSON(), nullable=False),
        sa.Column("perks", sa.JSON(), nullable=False),
        sa.Column("coalition_share", sa.Numeric(5, 4), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_membership_plans_owner_partner_id", "membership_plans", ["owner_partner_id"])
    op.create_table(
        "membership_plan_partners",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["membership_plans.id"]),
        sa.PrimaryKeyConstraint("plan_id", "partner_id"),
    )
    op.create_index("ix_membership_plan_partners_partner_id", "membership_plan_partners", ["partner_id"])
    op.create_table(
        "membership_subscriptions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("seller_partner_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("period_start", _TS, nullable=False),
        sa.Column("period_end", _TS, nullable=False),
        sa.Column("anchor", _TS, nullable=True),
        sa.Column("cycles", sa.Integer(), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("grace_until", _TS, nullable=True),
        sa.Column("credit", sa.Numeric(12, 2), nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("entitled_until", _TS, nullable=True),
        sa.Column("due_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["membership_plans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_membership_subscriptions_customer_entitled", "membership_subscriptions", ["customer_id", "entitled_until"]
    )
    op.create_index("ix_membership_subscriptions_status_due", "membership_subscriptions", ["status", "due_at"])
    op.create_index("ix_membership_subscriptions_plan_id", "membership_subscriptions", ["plan_id"])
    op.create_index("ix_membership_subscriptions_seller_partner_id", "membership_subscriptions", ["seller_partner_id"])
    op.create_table(
        "membership_trials",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("subscription_id", _ID, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "membership_payments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("subscription_id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("provider_ref", sa.String(length=120), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("coalition_amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["membership_subscriptions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "provider_ref", name="uq_membership_payments_ref"),
    )
    op.create_index("ix_membership_payments_subscription_id", "membership_payments", ["subscription_id"])
    op.create_index("ix_membership_payments_at", "membership_payments", ["at"])
    op.create_table(
        "membership_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("subscription_id", _ID, nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["membership_subscriptions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_membership_events_subscription_id", "membership_events", ["subscription_id"])
    op.create_index("ix_membership_events_at", "membership_events", ["at"])


def downgrade() -> None:
    for table in (
        "membership_events",
        "membership_payments",
        "membership_trials",
        "membership_subscriptions",
        "membership_plan_partners",
        "membership_plans",
    ):
        op.drop_table(table)
