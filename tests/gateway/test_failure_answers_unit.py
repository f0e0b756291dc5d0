"""The status answer of a purchase says why it failed or waits as a problem (``failure``:
type, title, detail) beside the raw ``failure_reason`` (issue 14). In process, no chain: the
test writes the outbox entry's status and reason as the sender would."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from network.headroom import held_reason
from network.store import OutboxPurchase, PurchaseStatus
from tests.gateway.purchases import purchase_body


def sender_wrote(sessions, partner_id: int, status: PurchaseStatus, error: str | None) -> None:
    with sessions() as s:
        s.execute(
            update(OutboxPurchase).where(OutboxPurchase.partner_id == partner_id).values(status=status, error=error)
        )
        s.commit()


@pytest.mark.parametrize(
    ("status", "error", "name", "slug"),
    [
        (PurchaseStatus.HELD, held_reason(500), "held", "partner-funds-exhausted"),
        (PurchaseStatus.FAILED, "PartnerRegistryNotActive(partnerId=1)", "failed", "partner-suspended"),
        (PurchaseStatus.FAILED, "EnforcedPause()", "failed", "network-paused"),
        (PurchaseStatus.FAILED, "ClearingWrongPeriod(periodId=1, expected=2)", "failed", "transaction-refused"),
    ],
)
def test_unit_a_failed_or_held_purchase_answers_its_problem(client, partner, sessions, status, error, name, slug):
    first = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    assert first.json()["failure"] is None and first.json()["failure_reason"] is None
    sender_wrote(sessions, partner.id, status, error)
    body = client.get("/v1/purchases/p-1", headers=partner.headers).json()
    assert (body["status"], body["failure_reason"]) == (name, error)
    assert body["failure"]["type"] == f"/problems/{slug}"
    assert body["failure"]["title"] and body["failure"]["detail"].endswith(".")
    replay = client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    assert replay.content == first.content  # the replayed first answer is untouched


def test_unit_a_confirmed_purchase_has_no_failure(client, partner, sessions):
    client.post("/v1/purchases", headers=partner.headers, json=purchase_body())
    sender_wrote(sessions, partner.id, PurchaseStatus.MINTED, None)
    body = client.get("/v1/purchases/p-1", headers=partner.headers).json()
    assert (body["status"], body["failure"]) == ("confirmed", None)
