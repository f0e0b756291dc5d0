"""custodian partner of a custodial wallet, operator sessions, expiry indexes for the purge

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("custodial_wallets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partner_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_custodial_wallets_partner_id", "partners", ["partner_id"], ["id"])
    # the custodian of an existing wallet: the partner whose ref it was created for (the first link;
    # no other partner can link a custodial wallet, that needs the customer's signature)
    op.execute(
        "UPDATE custodial_wallets SET partner_id = (SELECT customer_links.partner_id FROM customer_links"
        " WHERE customer_links.wallet = custodial_wallets.address ORDER BY customer_links.id LIMIT 1)"
    )
    op.create_table(
        "operator_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("credential", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_operator_sessions_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("customer_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_sessions_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("wallet_challenges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_challenges_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wallet_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallet_challenges_expires_at"))
    with op.batch_alter_table("customer_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_sessions_expires_at"))
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_operator_sessions_expires_at"))
    op.drop_table("operator_sessions")
    with op.batch_alter_table("custodial_wallets", schema=None) as batch_op:
        batch_op.drop_constraint("fk_custodial_wallets_partner_id", type_="foreignkey")
        batch_op.drop_column("partner_id")
