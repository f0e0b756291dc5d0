"""the message planner: the daily points digest's tally per customer and day; messages by time
(the log's period filters and the delivery rates)

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "message_digests",
        sa.Column("customer_id", _ID, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("planned_at", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "day"),
    )
    op.create_index("ix_message_digests_pending", "message_digests", ["planned_at", "day"])
    op.create_index("ix_messages_created_at", "messages", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_created_at", table_name="messages")
    op.drop_index("ix_message_digests_pending", table_name="message_digests")
    op.drop_table("message_digests")
