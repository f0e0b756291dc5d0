"""A duplicate post of a purchase (same ``purchase_id``, same body) is answered the first answer,
byte for byte, whatever the purchase became since, marked ``Idempotent-Replayed: true``; where it
stands now is ``GET``'s. In process, the outbox moved by the test standing for the sender; the
storm of identical POSTs against the real gateway is tests/e2e/test_input_hardening_e2e.py."""

from __future__ import annotations

from sqlalchemy import update

from network.store import OutboxPurchase, PurchaseStatus
from tests.gateway.purchases import purchase_body


def test_unit_a_duplicate_is_answered_the_first_answer_whatever_the_purchase_became(client, partner, sessions):
    first = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    with sessions() as session:
        session.execute(
            update(OutboxPurchase)
            .where(OutboxPurchase.partner_id == partner.id)
            .values(status=PurchaseStatus.FAILED, error="ClearingIssuanceOverFunds")
        )
        session.commit()
    now = client.get("/v1/purchases/p-1", headers=partner.headers).json()
    assert (now["status"], now["failure_reason"]) == ("failed", "ClearingIssuanceOverFunds")
    again = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    assert again.status_code == 202
    assert again.content == first.content  # byte for byte: accepted, as first answered
    assert again.headers["idempotent-replayed"] == "true"
    batch = client.post("/v1/purchases/batch", headers=partner.headers, json={"purchases": [purchase_body()]})
    [result] = batch.json()["results"]
    assert result["outcome"] == "duplicate" and result["purchase"] == first.json()
