"""webhook secrets bound to their row: re-seal every stored secret with its row as associated data

Before, a webhook signing secret was sealed without associated data, so two rows' ciphertexts
could be swapped in the database and each endpoint would sign with the other's secret. From
now on a secret opens only for its own endpoint and partner (gateway/services/webhooks.py,
``secret_aad``; written here again, frozen). The key is COALITION_SECRETS_KEY (the gateway's
settings); it is read only when there are secrets to re-seal. A row that already opens with
its associated data is left as it is, so the migration can run again after a partial run.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PURPOSE = "webhook-secret"
NONCE_BYTES = 12


def _aad(endpoint_id: int, partner_id: int) -> bytes:
    return f"webhook-endpoint:{endpoint_id}:partner:{partner_id}".encode()


def _reseal(*, bind: bool) -> None:
    from gateway.secrets_box import Sealed, SecretsBoxError, open_sealed, seal
    from gateway.settings import GatewaySettings

    connection = op.get_bind()
    endpoints = sa.table(
        "webhook_endpoints",
        sa.column("id", sa.Integer),
        sa.column("partner_id", sa.Integer),
        sa.column("secret_encrypted", sa.LargeBinary),
    )
    rows = connection.execute(sa.select(endpoints.c.id, endpoints.c.partner_id, endpoints.c.secret_encrypted)).all()
    if not rows:
        return
    try:
        key = str(GatewaySettings().secrets_key)
    except ValueError as exc:
        raise RuntimeError(f"re-sealing {len(rows)} webhook secrets needs the gateway's settings: {exc}") from exc
    old_aad, new_aad = (lambda _i, _p: b""), _aad
    if not bind:
        old_aad, new_aad = new_aad, old_aad
    for endpoint_id, partner_id, blob in rows:
        sealed = Sealed(blob[NONCE_BYTES:], blob[:NONCE_BYTES])
        try:
            open_sealed(key, PURPOSE, sealed, aad=new_aad(endpoint_id, partner_id))
            continue  # done already
        except SecretsBoxError:
            pass
        try:
            secret = open_sealed(key, PURPOSE, sealed, aad=old_aad(endpoint_id, partner_id))
        except SecretsBoxError as exc:
            raise RuntimeError(
                f"webhook endpoint {endpoint_id}: its secret does not open with COALITION_SECRETS_KEY "
                "(is it the key the secrets were sealed with?)"
            ) from exc
        resealed = seal(key, PURPOSE, secret, aad=new_aad(endpoint_id, partner_id))
        connection.execute(
            endpoints.update()
            .where(endpoints.c.id == endpoint_id)
            .values(secret_encrypted=resealed.nonce + resealed.ciphertext)
        )


def upgrade() -> None:
    _reseal(bind=True)


def downgrade() -> None:
    _reseal(bind=False)
