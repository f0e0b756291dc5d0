"""coalition-wide tiers: the ladder's versions, members' qualifying movements, tier states,
tier changes and recalculation runs (network/store/tiers.py).

The qualifying movements of what was confirmed before this migration are written here, from the
confirmed purchases and refunds (a refund counted at its purchase's time; a wallet that belongs
to no customer yet becomes a new customer's, as the tier consumer does), so that the first
ladder an operator applies places every member on what they earned; no ladder exists yet, so no
member has a state (the first recalculation writes them).

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tier_ladders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tier_ladders_status", "tier_ladders", ["status"], unique=False)
    op.create_table(
        "tier_movements",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=160), nullable=False),
        sa.Column("refunded", sa.String(length=160), nullable=True),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source"),
    )
    op.create_index("ix_tier_movements_customer_counts_at", "tier_movements", ["customer_id", "counts_at"])
    op.create_index("ix_tier_movements_refunded", "tier_movements", ["refunded"], unique=False)
    op.create_table(
        "tier_states",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("ladder_version", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=False),
        sa.Column("earned", sa.String(length=64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manual_tier", sa.String(length=64), nullable=True),
        sa.Column("manual_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("manual_set_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_index("ix_tier_states_due_at", "tier_states", ["due_at"], unique=False)
    op.create_table(
        "tier_changes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("from_tier", sa.String(length=64), nullable=False),
        sa.Column("to_tier", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ladder_version", sa.Integer(), nullable=False),
        sa.Column("recalculation_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tier_changes_customer_id", "tier_changes", ["customer_id", "id"])
    op.create_table(
        "tier_recalculations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=True),
        sa.Column("members_done", sa.BigInteger(), nullable=False),
        sa.Column("moved_up", sa.BigInteger(), nullable=False),
        sa.Column("moved_down", sa.BigInteger(), nullable=False),
        sa.Column("changed", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("to_version"),
    )
    _movements_of_confirmed()


def downgrade() -> None:
    op.drop_table("tier_recalculations")
    op.drop_index("ix_tier_changes_customer_id", table_name="tier_changes")
    op.drop_table("tier_changes")
    op.drop_index("ix_tier_states_due_at", table_name="tier_states")
    op.drop_table("tier_states")
    op.drop_index("ix_tier_movements_refunded", table_name="tier_movements")
    op.drop_index("ix_tier_movements_customer_counts_at", table_name="tier_movements")
    op.drop_table("tier_movements")
    op.drop_index("ix_tier_ladders_status", table_name="tier_ladders")
    op.drop_table("tier_ladders")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _movements_of_confirmed() -> None:
    """Frozen copy of the rule of gateway/services/tiers.py when this was written: a confirmed
    purchase (announced ``confirmed``) qualifies with all its points at the time it was stored;
    a confirmed refund takes its points back, counted at its purchase's time. The wallet's customer
    is the member; a wallet of nobody becomes a new customer's (as the consumer's
    customer_records.customer_of_wallet does), created at its first confirmed purchase."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    wallets = sa.table("customer_wallets", sa.column("address", sa.String), sa.column("customer_id", sa.BigInteger))
    purchases = sa.table(
        "purchases",
        sa.column("id", sa.Integer),
        sa.column("partner_id", sa.Integer),
        sa.column("purchase_id", sa.String),
        sa.column("customer_wallet", sa.String),
        sa.column("points", sa.BigInteger),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("notified_status", sa.String),
    )
    refunds = sa.table(
        "refunds",
        sa.column("partner_id", sa.Integer),
        sa.column("purchase_pk", sa.Integer),
        sa.column("refund_id", sa.String),
        sa.column("points", sa.BigInteger),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("notified_status", sa.String),
    )
    movements = sa.table(
        "tier_movements",
        sa.column("customer_id", sa.BigInteger),
        sa.column("points", sa.BigInteger),
        sa.column("kind", sa.String),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("counts_at", sa.DateTime(timezone=True)),
        sa.column("source", sa.String),
        sa.column("refunded", sa.String),
        sa.column("partner_id", sa.Integer),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    customers = sa.Table(
        "customers",
        sa.MetaData(),
        sa.Column("id", _ID, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    wallets_full = sa.table(
        "customer_wallets",
        sa.column("address", sa.String),
        sa.column("customer_id", _ID),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    nobodys = bind.execute(
        sa.select(purchases.c.customer_wallet, sa.func.min(purchases.c.created_at))
        .where(
            purchases.c.notified_status == "confirmed",
            purchases.c.customer_wallet.not_in(sa.select(wallets.c.address)),
        )
        .group_by(purchases.c.customer_wallet)
    ).all()
    owned = []
    for address, first in sorted(nobodys, key=lambda r: (_utc(r[1]), r[0])):
        created = bind.execute(sa.insert(customers).values(created_at=_utc(first)))
        owned.append({"address": address, "customer_id": created.inserted_primary_key[0], "created_at": _utc(first)})
    if owned:
        bind.execute(sa.insert(wallets_full), owned)
    rows: list[dict] = []
    bought = bind.execute(
        sa.select(purchases, wallets.c.customer_id)
        .join(wallets, wallets.c.address == purchases.c.customer_wallet)
        .where(purchases.c.notified_status == "confirmed")
    ).all()
    for p in bought:
        at = _utc(p.created_at)
        source = f"purchase:{p.partner_id}:{p.purchase_id}"
        rows.append(_row(p.customer_id, int(p.points), "purchase", at, at, source, None, p.partner_id, now))
    refunded = bind.execute(
        sa.select(refunds, purchases.c.purchase_id, purchases.c.created_at.label("bought_at"), wallets.c.customer_id)
        .join(purchases, purchases.c.id == refunds.c.purchase_pk)
        .join(wallets, wallets.c.address == purchases.c.customer_wallet)
        .where(refunds.c.notified_status == "confirmed", purchases.c.notified_status == "confirmed")
    ).all()
    for r in refunded:
        at, counts_at = _utc(r.created_at), _utc(r.bought_at)
        source, refunded = f"refund:{r.partner_id}:{r.refund_id}", f"purchase:{r.partner_id}:{r.purchase_id}"
        points, recorded = -int(r.points), max(at, counts_at)
        rows.append(_row(r.customer_id, points, "refund", recorded, counts_at, source, refunded, r.partner_id, now))
    for start in range(0, len(rows), 5_000):
        bind.execute(sa.insert(movements), rows[start : start + 5_000])


def _row(
    customer_id: int,
    points: int,
    kind: str,
    at: datetime,
    counts_at: datetime,
    source: str,
    refunded: str | None,
    partner_id: int,
    now: datetime,
) -> dict:
    return {
        "customer_id": customer_id,
        "points": points,
        "kind": kind,
        "at": at,
        "counts_at": counts_at,
        "source": source,
        "refunded": refunded,
        "partner_id": partner_id,
        "created_at": now,
    }
