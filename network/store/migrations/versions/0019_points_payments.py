"""paying with points at the till: points holds, the wallet lock, give-backs, redemptions without a reward

A hold of a customer's points (``points_holds``) is captured as a redemption at the partner; such
a redemption burns points for money off a purchase, not for a reward of the catalogue, so
``redemptions.reward_id`` becomes nullable. ``points_wallet_locks``: one row per wallet that
holds and redemptions write first, so that their balance checks on one wallet run one at a time.
``points_give_backs``: the points a refund gives back of a purchase paid partly with points, each
minted again as an earn of the partner's own sequence number.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "points_holds",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("hold_id", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_wallet", sa.String(length=42), nullable=False),
        sa.Column("customer_ref", sa.String(length=64), nullable=True),
        sa.Column("custodial", sa.Boolean(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("point_value", sa.BigInteger(), nullable=False),
        sa.Column("money_value", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.String(length=78), nullable=True),
        sa.Column("deadline", sa.BigInteger(), nullable=True),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purchase_id", sa.String(length=64), nullable=True),
        sa.Column("capture_hash", sa.String(length=64), nullable=True),
        sa.Column("captured_points", sa.BigInteger(), nullable=True),
        sa.Column("redemption_pk", _ID, nullable=True),
        sa.Column("release_reason", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.ForeignKeyConstraint(["redemption_pk"], ["redemptions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "hold_id", name="uq_points_holds_partner_hold"),
        sa.UniqueConstraint("customer_wallet", "nonce", name="uq_points_holds_wallet_nonce"),
    )
    op.create_index("ix_points_holds_wallet_status", "points_holds", ["customer_wallet", "status"])
    op.create_index("ix_points_holds_status_expires", "points_holds", ["status", "expires_at"])
    op.create_table(
        "points_wallet_locks",
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("wallet"),
    )
    op.create_table(
        "points_give_backs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("refund_pk", _ID, nullable=False),
        sa.Column("purchase_pk", _ID, nullable=False),
        sa.Column("customer_wallet", sa.String(length=42), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("outbox_id", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.ForeignKeyConstraint(["refund_pk"], ["refunds.id"]),
        sa.ForeignKeyConstraint(["purchase_pk"], ["purchases.id"]),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox_purchases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "seq", name="uq_points_give_backs_partner_seq"),
        sa.UniqueConstraint("refund_pk"),
    )
    op.create_index("ix_points_give_backs_purchase_pk", "points_give_backs", ["purchase_pk"])
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.alter_column("reward_id", existing_type=_ID, nullable=True)


def downgrade() -> None:
    # a redemption without a reward (a captured hold) cannot go back to a table that needs one
    op.execute("DELETE FROM redemptions WHERE reward_id IS NULL")
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.alter_column("reward_id", existing_type=_ID, nullable=False)
    op.drop_index("ix_points_give_backs_purchase_pk", table_name="points_give_backs")
    op.drop_table("points_give_backs")
    op.drop_table("points_wallet_locks")
    op.drop_index("ix_points_holds_status_expires", table_name="points_holds")
    op.drop_index("ix_points_holds_wallet_status", table_name="points_holds")
    op.drop_table("points_holds")
