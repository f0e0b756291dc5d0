"""A fault of the credential check that ``gateway/guard.py`` runs while the body is read (the store
or Redis unreachable) is a 500 that a client retries, never FastAPI's 400 "There was an error
parsing the body" that the gateway answers as a 422 ``validation-error``, which a client takes
for its own mistake and does not retry. Found by the fault schedule: CHAOS_SEED=3 on PostgreSQL
(``CHAOS_FAULTS_PER_ROW=2``), a PostgreSQL crash answered valid purchases 422."""

from __future__ import annotations

import pytest

import gateway.deps
from tests.gateway.purchases import assert_nothing_stored, purchase_body
from tests.problems import assert_problem


@pytest.mark.parametrize("fault", [ConnectionError("the store is down"), TimeoutError("Redis did not answer")])
def test_unit_a_failing_credential_check_is_a_500_to_retry_not_a_422(client, partner, sessions, monkeypatch, fault):
    async def down(*_: object) -> int:
        raise fault

    monkeypatch.setattr(gateway.deps, "_authenticate_partner", down)
    r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-1"))
    assert_problem(r, "internal-error", instance="/v1/purchases")
    assert_nothing_stored(sessions, partner.id)
    monkeypatch.undo()
    assert client.post("/v1/purchases", headers=partner.headers, json=purchase_body("p-1")).status_code == 202
