"""domain events and their consumers' cursors

Two new tables: ``domain_events`` (written in the transaction of each change, network/store/events.py)
and ``event_cursors`` (one row per consumer), and an index of webhook deliveries by event id (the
webhook consumer checks it before recording an event's deliveries). Purchase and refund webhooks used to be found by a
sweep of rows whose final status no webhook had told yet (``notified_status`` unset); from now on
the change itself writes the event. The purchases and refunds that reached a final status before
this migration and that the sweep had not told yet get their events here, so none is lost.

Revision ID: 0015
Revises: 0014
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# frozen copies of what the code wrote when this migration was made (network/outcomes.py)
PURCHASE_FINAL = {"MINTED": "confirmed", "SKIPPED": "confirmed", "FAILED": "failed"}
REFUND_FINAL = {"CONFIRMED": "confirmed", "FAILED": "failed"}


def upgrade() -> None:
    op.create_table(
        "domain_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("customer_wallet", sa.String(length=42), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "event_cursors",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_deliveries_event_id", ["event_id"], unique=False)
    _events_of_untold_outcomes()


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_event_id")
    op.drop_table("event_cursors")
    op.drop_table("domain_events")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _events_of_untold_outcomes() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    events = sa.table(
        "domain_events",
        sa.column("event_id", sa.String),
        sa.column("type", sa.String),
        sa.column("partner_id", sa.Integer),
        sa.column("customer_wallet", sa.String),
        sa.column("payload", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    purchases = sa.table(
        "purchases",
        sa.column("id", sa.Integer),
        sa.column("partner_id", sa.Integer),
        sa.column("purchase_id", sa.String),
        sa.column("customer_wallet", sa.String),
        sa.column("points", sa.BigInteger),
        sa.column("seq", sa.BigInteger),
        sa.column("outbox_id", sa.Integer),
        sa.column("notified_status", sa.String),
    )
    outbox = sa.table(
        "outbox_purchases",
        sa.column("id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("tx_id", sa.Integer),
        sa.column("batch_id", sa.BigInteger),
        sa.column("error", sa.Text),
    )
    txs = sa.table("chain_txs", sa.column("id", sa.Integer), sa.column("tx_hash", sa.String))
    rows = bind.execute(
        sa.select(
            purchases.c.id,
            purchases.c.partner_id,
            purchases.c.purchase_id,
            purchases.c.customer_wallet,
            purchases.c.points,
            purchases.c.seq,
            outbox.c.status,
            outbox.c.batch_id,
            outbox.c.error,
            txs.c.tx_hash,
        )
        .select_from(
            purchases.join(outbox, outbox.c.id == purchases.c.outbox_id).outerjoin(txs, txs.c.id == outbox.c.tx_id)
        )
        .where(purchases.c.notified_status.is_(None), outbox.c.status.in_(list(PURCHASE_FINAL)))
    ).all()
    new_events, told = [], []
    for r in rows:
        status = PURCHASE_FINAL[r.status]
        payload = {
            "purchase_id": r.purchase_id,
            "status": status,
            "customer_wallet": r.customer_wallet,
            "points": int(r.points),
            "seq": int(r.seq),
            "tx_hash": r.tx_hash,
            "batch_id": None if r.batch_id is None else int(r.batch_id),
            "failure_reason": r.error if r.status == "FAILED" else None,
        }
        new_events.append(_event(f"purchase.{status}", r.partner_id, r.customer_wallet, payload, now))
        told.append({"pk": r.id, "told": status})
    if told:
        bind.execute(
            sa.update(purchases)
            .where(purchases.c.id == sa.bindparam("pk"))
            .values(notified_status=sa.bindparam("told")),
            told,
        )

    refunds = sa.table(
        "refunds",
        sa.column("id", sa.Integer),
        sa.column("partner_id", sa.Integer),
        sa.column("purchase_pk", sa.Integer),
        sa.column("refund_id", sa.String),
        sa.column("amount", sa.Numeric(20, 4)),
        sa.column("points", sa.BigInteger),
        sa.column("reason", sa.String),
        sa.column("reversal_id", sa.Integer),
        sa.column("notified_status", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    reversals = sa.table(
        "outbox_reversals",
        sa.column("id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("tx_id", sa.Integer),
        sa.column("error", sa.Text),
    )
    rows = bind.execute(
        sa.select(
            refunds.c.id,
            refunds.c.partner_id,
            refunds.c.refund_id,
            refunds.c.amount,
            refunds.c.points,
            refunds.c.reason,
            refunds.c.created_at,
            purchases.c.purchase_id,
            purchases.c.customer_wallet,
            reversals.c.status,
            reversals.c.error,
            txs.c.tx_hash,
        )
        .select_from(
            refunds.join(reversals, reversals.c.id == refunds.c.reversal_id)
            .join(purchases, purchases.c.id == refunds.c.purchase_pk)
            .outerjoin(txs, txs.c.id == reversals.c.tx_id)
        )
        .where(refunds.c.notified_status.is_(None), reversals.c.status.in_(list(REFUND_FINAL)))
    ).all()
    told = []
    for r in rows:
        status = REFUND_FINAL[r.status]
        payload = {
            "refund_id": r.refund_id,
            "purchase_id": r.purchase_id,
            "status": status,
            "amount": None if r.amount is None else str(r.amount),
            "points": int(r.points),
            "reason": r.reason,
            "customer_wallet": r.customer_wallet,
            "tx_hash": r.tx_hash,
            "failure_reason": r.error if r.status == "FAILED" else None,
            "created_at": _utc(r.created_at).isoformat(),
        }
        new_events.append(_event(f"refund.{status}", r.partner_id, r.customer_wallet, payload, now))
        told.append({"pk": r.id, "told": status})
    if told:
        bind.execute(
            sa.update(refunds).where(refunds.c.id == sa.bindparam("pk")).values(notified_status=sa.bindparam("told")),
            told,
        )
    if new_events:
        bind.execute(sa.insert(events), new_events)


def _event(event_type: str, partner_id: int, wallet: str, payload: dict, now: datetime) -> dict:
    return {
        "event_id": f"evt_{uuid.uuid4().hex}",
        "type": event_type,
        "partner_id": partner_id,
        "customer_wallet": wallet,
        "payload": payload,
        "created_at": now,
    }
