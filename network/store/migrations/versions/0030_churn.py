"""churn risk: the models trained and each member's latest score (issue 19)

Revision ID: 0030
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None
_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "churn_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cutoff", _TS, nullable=False),
        sa.Column("validation_cutoff", _TS, nullable=False),
        sa.Column("churn_days", sa.Integer(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("means", sa.JSON(), nullable=False),
        sa.Column("scales", sa.JSON(), nullable=False),
        sa.Column("intercept", sa.Float(), nullable=False),
        sa.Column("coefficients", sa.JSON(), nullable=False),
        sa.Column("n_train", sa.Integer(), nullable=False),
        sa.Column("churned_train", sa.Integer(), nullable=False),
        sa.Column("n_validation", sa.Integer(), nullable=False),
        sa.Column("churned_validation", sa.Integer(), nullable=False),
        sa.Column("auc", sa.Float(), nullable=True),
        sa.Column("trained_at", _TS, nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("scored_day", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cutoff", "churn_days", name="uq_churn_models_cutoff_days"),
    )
    op.create_table(
        "churn_scores",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_index("ix_churn_scores_risk", "churn_scores", ["risk"])


def downgrade() -> None:
    op.drop_index("ix_churn_scores_risk", table_name="churn_scores")
    op.drop_table("churn_scores")
    op.drop_table("churn_models")
