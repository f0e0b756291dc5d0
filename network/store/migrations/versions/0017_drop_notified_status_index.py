"""Drop the index on purchases.notified_status.

It served the webhook sweep that polled for purchases whose final status no webhook had told
yet (``notified_status IS NULL``). Since 0015 the outcome is a domain event written with the
change, and ``notified_status`` is only read by primary key (the write-once guard of
network/outcomes.py), so the index only cost an index update per confirmed purchase.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_purchases_notified_status", table_name="purchases")


def downgrade() -> None:
    op.create_index("ix_purchases_notified_status", "purchases", ["notified_status"], unique=False)
