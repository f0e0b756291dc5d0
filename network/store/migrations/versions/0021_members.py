"""members: enrolment (with referral codes), enrolment requests, erasures, imports

No existing row moves: a customer linked before this revision becomes a member when it is
enrolled (by its partner, an import or on ``/me``).

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("referral_code", sa.String(length=16), nullable=True),
        sa.Column("referred_by_id", _ID, nullable=True),
        sa.Column("referred_by_code", sa.String(length=16), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["referred_by_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("customer_id"),
        sa.UniqueConstraint("referral_code"),
    )
    op.create_index("ix_members_referred_by_id", "members", ["referred_by_id"], unique=False)
    op.create_table(
        "member_enrolments",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "ref", name="uq_member_enrolments_partner_ref"),
    )
    op.create_index("ix_member_enrolments_customer_id", "member_enrolments", ["customer_id"], unique=False)
    op.create_table(
        "customer_erasures",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("requested_by", sa.String(length=16), nullable=False),
        sa.Column("erased", sa.JSON(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_customer_erasures_customer_id", "customer_erasures", ["customer_id"], unique=False)
    op.create_table(
        "member_imports",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("enrolled", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_member_imports_partner_id", "member_imports", ["partner_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_member_imports_partner_id", table_name="member_imports")
    op.drop_table("member_imports")
    op.drop_index("ix_customer_erasures_customer_id", table_name="customer_erasures")
    op.drop_table("customer_erasures")
    op.drop_index("ix_member_enrolments_customer_id", table_name="member_enrolments")
    op.drop_table("member_enrolments")
    op.drop_index("ix_members_referred_by_id", table_name="members")
    op.drop_table("members")
