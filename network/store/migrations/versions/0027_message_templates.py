"""partners' own message templates (an override per kind, channel and locale) and brands

``message_templates``: Jinja2 sources of a partner's (or, partner null, the coalition's) override;
``message_brands``: a partner's (or the coalition's) display name and colours. No data migration:
without rows every message uses the built-in templates and the default brand, as before.

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_COALITION = sa.text("partner_id IS NULL")


def upgrade() -> None:
    op.create_table(
        "message_templates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("partner_id", sa.Integer(), sa.ForeignKey("partners.id"), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_index(
        "uq_message_templates_partner", "message_templates", ["partner_id", "kind", "channel", "locale"], unique=True
    )
    op.create_index(
        "uq_message_templates_coalition",
        "message_templates",
        ["kind", "channel", "locale"],
        unique=True,
        postgresql_where=_COALITION,
        sqlite_where=_COALITION,
    )
    op.create_table(
        "message_brands",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), sa.ForeignKey("partners.id"), nullable=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("colour", sa.String(7), nullable=False),
        sa.Column("accent", sa.String(7), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("owner"),
    )


def downgrade() -> None:
    op.drop_table("message_brands")
    op.drop_index("uq_message_templates_coalition", table_name="message_templates")
    op.drop_index("uq_message_templates_partner", table_name="message_templates")
    op.drop_table("message_templates")
