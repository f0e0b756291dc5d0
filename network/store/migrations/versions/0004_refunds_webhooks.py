"""refunds, webhook endpoints and deliveries

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox_reversals",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("purchase_outbox_id", _ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("customer", sa.String(length=42), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("QUEUED", "SENT", "CONFIRMED", "FAILED", name="reversalstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("tx_id", _ID, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["purchase_outbox_id"], ["outbox_purchases.id"]),
        sa.ForeignKeyConstraint(["tx_id"], ["chain_txs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_reversals", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_reversals_status_partner", ["status", "partner_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_reversals_purchase_outbox_id"), ["purchase_outbox_id"])
        batch_op.create_index(batch_op.f("ix_outbox_reversals_tx_id"), ["tx_id"])

    op.create_table(
        "webhook_endpoints",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_endpoints_partner_status", ["partner_id", "status"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("endpoint_id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoints.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_deliveries_status_next", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_webhook_deliveries_endpoint_id", ["endpoint_id", "id"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("id", _ID, nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("purchase_pk", _ID, nullable=False),
        sa.Column("refund_id", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("reversal_id", _ID, nullable=False),
        sa.Column("notified_status", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.ForeignKeyConstraint(["purchase_pk"], ["purchases.id"]),
        sa.ForeignKeyConstraint(["reversal_id"], ["outbox_reversals.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "refund_id", name="uq_refunds_partner_refund"),
        sa.UniqueConstraint("reversal_id"),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_purchase_pk"), ["purchase_pk"], unique=False)

    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notified_status", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_purchases_notified_status"), ["notified_status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchases_notified_status"))
        batch_op.drop_column("notified_status")
    op.drop_table("refunds")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_table("outbox_reversals")
