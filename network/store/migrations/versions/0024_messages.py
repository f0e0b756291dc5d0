"""messages to customers: one row per (occurrence, customer, channel), their log, suppressed addresses;
consents keep the words shown and an email grant's confirmation

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # consents: the words shown, and an email grant's confirmation (double opt-in). Email grants
    # recorded before it existed stay unconfirmed: marketing email needs a confirmed address.
    with op.batch_alter_table("customer_consents") as batch:
        batch.add_column(sa.Column("text_shown", sa.Text(), nullable=True))
        batch.add_column(sa.Column("confirmed_at", _TS, nullable=True))
    op.create_table(
        "messages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("occurrence", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("partner_id", sa.Integer(), sa.ForeignKey("partners.id"), nullable=True),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("send_after", _TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", _TS, nullable=True),
        sa.Column("provider_ref", sa.String(length=128), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("occurrence", "customer_id", "channel", name="uq_messages_once"),
    )
    op.create_index("ix_messages_due", "messages", ["status", "send_after"])
    op.create_index("ix_messages_customer", "messages", ["customer_id", "created_at"])
    op.create_index("ix_messages_partner", "messages", ["partner_id", "id"])
    op.create_table(
        "message_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("message_id", _ID, sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=True),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_message_events_message_id", "message_events", ["message_id", "id"])
    op.create_table(
        "message_suppressions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("message_id", _ID, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "address", name="uq_message_suppressions_address"),
    )


def downgrade() -> None:
    op.drop_table("message_suppressions")
    op.drop_index("ix_message_events_message_id", table_name="message_events")
    op.drop_table("message_events")
    op.drop_index("ix_messages_partner", table_name="messages")
    op.drop_index("ix_messages_customer", table_name="messages")
    op.drop_index("ix_messages_due", table_name="messages")
    op.drop_table("messages")
    with op.batch_alter_table("customer_consents") as batch:
        batch.drop_column("confirmed_at")
        batch.drop_column("text_shown")
