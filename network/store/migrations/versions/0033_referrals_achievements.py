"""referrals (qualification, audit trail, awards) and achievements (badges, members' awards, their record) (issue 20)

Referrals are made from ``members.referred_by_id`` by the qualification pass (so members referred
before this revision are picked up by its first run). Every member is given a referral code at
enrolment since 0021; the back-fill below gives one to any member not erased that still has none
(the same alphabet and length as loyalty/members.py, copied: a migration does not follow the code).

Revision ID: 0033
Revises: 0032
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None
_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # loyalty/members.py REFERRAL_ALPHABET at 0033
_LENGTH = 10


def _backfill_codes() -> None:
    members = sa.table("members", sa.column("customer_id"), sa.column("referral_code"), sa.column("erased_at"))
    bind = op.get_bind()
    missing = (
        bind.execute(
            sa.select(members.c.customer_id).where(members.c.referral_code.is_(None), members.c.erased_at.is_(None))
        )
        .scalars()
        .all()
    )
    for customer_id in missing:  # none, unless a row was written around the enrolment code
        code = ""
        while not code or bind.execute(sa.select(members.c.customer_id).where(members.c.referral_code == code)).first():
            code = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
        bind.execute(members.update().where(members.c.customer_id == customer_id).values(referral_code=code))


def upgrade() -> None:
    _backfill_codes()
    op.create_table(
        "referrals",
        sa.Column("id", _ID, nullable=False),
        sa.Column("referee_id", _ID, nullable=False),
        sa.Column("referrer_id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("first_purchase_pk", _ID, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("decided_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["referee_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["referrer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.ForeignKeyConstraint(["first_purchase_pk"], ["purchases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("referee_id"),
    )
    op.create_index("ix_referrals_referrer_id", "referrals", ["referrer_id"], unique=False)
    op.create_index("ix_referrals_status", "referrals", ["status"], unique=False)
    op.create_table(
        "referral_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("referral_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_referral_events_referral_id", "referral_events", ["referral_id"], unique=False)
    op.create_table(
        "referral_awards",
        sa.Column("id", _ID, nullable=False),
        sa.Column("referral_id", _ID, nullable=False),
        sa.Column("beneficiary_id", _ID, nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("outbox_id", _ID, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["referral_id"], ["referrals.id"]),
        sa.ForeignKeyConstraint(["beneficiary_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox_purchases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outbox_id"),
        sa.UniqueConstraint("referral_id", "beneficiary_id", name="uq_referral_awards_referral_beneficiary"),
        sa.UniqueConstraint("partner_id", "seq", name="uq_referral_awards_partner_seq"),
    )
    op.create_index("ix_referral_awards_beneficiary_id", "referral_awards", ["beneficiary_id"], unique=False)
    op.create_table(
        "achievements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "member_achievements",
        sa.Column("id", _ID, nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("awarded_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["achievement_id"], ["achievements.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("achievement_id", "customer_id", name="uq_member_achievements_badge_member"),
    )
    op.create_index("ix_member_achievements_customer_id", "member_achievements", ["customer_id"], unique=False)
    op.create_table(
        "achievement_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("achievement_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["achievement_id"], ["achievements.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_achievement_events_achievement_id", "achievement_events", ["achievement_id"], unique=False)
    op.create_index("ix_achievement_events_customer_id", "achievement_events", ["customer_id"], unique=False)


def downgrade() -> None:
    op.drop_table("achievement_events")
    op.drop_table("member_achievements")
    op.drop_table("achievements")
    op.drop_table("referral_awards")
    op.drop_table("referral_events")
    op.drop_table("referrals")
