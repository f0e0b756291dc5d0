"""customer entities: customers, their wallets, profiles and consents; partners' refs point to them

Existing rows move: each distinct wallet of a customer link or a custodial wallet becomes one
customer (created at the wallet's first link or custody), and every link of that wallet points to
it. ``customer_links`` gains ``customer_id`` (not null), with a foreign key on (wallet,
customer_id) into ``customer_wallets``, so a link always names its wallet's own customer.

Revision ID: 0014
Revises: 0013
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_FK_LINK_WALLET = "fk_customer_links_wallet_customer"


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "customer_wallets",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("address"),
        sa.UniqueConstraint("address", "customer_id", name="uq_customer_wallets_address_customer"),
    )
    with op.batch_alter_table("customer_wallets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_wallets_customer_id"), ["customer_id"], unique=False)
    op.create_table(
        "customer_profiles",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("birthday", sa.Date(), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "customer_consents",
        sa.Column("id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("customer_consents", schema=None) as batch_op:
        batch_op.create_index("ix_customer_consents_customer_id", ["customer_id", "id"], unique=False)
    with op.batch_alter_table("customer_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_id", _ID, nullable=True))
    _move_links()
    with op.batch_alter_table("customer_links", schema=None) as batch_op:
        batch_op.alter_column("customer_id", existing_type=_ID, nullable=False)
        batch_op.create_index(batch_op.f("ix_customer_links_customer_id"), ["customer_id"], unique=False)
        batch_op.create_foreign_key(
            _FK_LINK_WALLET,
            "customer_wallets",
            ["wallet", "customer_id"],
            ["address", "customer_id"],
            onupdate="CASCADE",
        )


def _move_links() -> None:
    """One customer per distinct wallet of the links and custodial wallets, oldest first; every
    link of a wallet points to that wallet's customer."""
    bind = op.get_bind()
    links = sa.table(
        "customer_links",
        sa.column("wallet", sa.String),
        sa.column("customer_id", _ID),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    custodial = sa.table(
        "custodial_wallets", sa.column("address", sa.String), sa.column("created_at", sa.DateTime(timezone=True))
    )
    customers = sa.Table(
        "customers",
        sa.MetaData(),
        sa.Column("id", _ID, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True)),
    )
    wallets = sa.table(
        "customer_wallets",
        sa.column("address", sa.String),
        sa.column("customer_id", _ID),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    first_seen: dict[str, Any] = {}
    rows = bind.execute(sa.select(links.c.wallet, sa.func.min(links.c.created_at)).group_by(links.c.wallet)).all()
    rows += bind.execute(sa.select(custodial.c.address, custodial.c.created_at)).all()
    for address, seen in rows:
        earlier = first_seen.get(address)
        first_seen[address] = seen if earlier is None or seen < earlier else earlier
    owned = []
    for address in sorted(first_seen, key=lambda a: (first_seen[a], a)):
        at = first_seen[address]
        created = bind.execute(sa.insert(customers).values(created_at=at))
        owned.append({"address": address, "customer_id": created.inserted_primary_key[0], "created_at": at})
    if owned:
        bind.execute(sa.insert(wallets), owned)
    owner = sa.select(wallets.c.customer_id).where(wallets.c.address == links.c.wallet).scalar_subquery()
    bind.execute(sa.update(links).values(customer_id=owner))


def downgrade() -> None:
    with op.batch_alter_table("customer_links", schema=None) as batch_op:
        batch_op.drop_constraint(_FK_LINK_WALLET, type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_customer_links_customer_id"))
        batch_op.drop_column("customer_id")
    with op.batch_alter_table("customer_consents", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_consents_customer_id")
    op.drop_table("customer_consents")
    op.drop_table("customer_profiles")
    with op.batch_alter_table("customer_wallets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_wallets_customer_id"))
    op.drop_table("customer_wallets")
    op.drop_table("customers")
