"""Onboarding cut off between the chain and the store is finished by posting it again: one
partner on chain, its funds deposited once, its keystore where the sender looks for it.

A real anvil (tests/network/harness.py, ports 8760-8769) and the real onboarding service, in
process; the crash is a fault injected where the API key would be made (after the chain
registration and the deposit, before the store's commit)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway import auth
from gateway.chain import Chain
from gateway.errors import IdempotencyConflict, PartnerExists
from gateway.schemas import PartnerCreate
from gateway.services import onboarding
from gateway.settings import GatewaySettings
from network.errors import NodeError
from network.node import port_in_use
from network.store import Partner, PartnerOnboarding
from tests.network.harness import USD, Harness, make_harness
from tests.ports import for_worker

pytestmark = pytest.mark.timeout(120)
TREASURY = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # anvil dev #3


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    for port in for_worker(range(8760, 8770)):
        if port_in_use(port):
            continue
        try:
            h = make_harness(tmp_path / "chain", port)
        except NodeError:
            continue
        try:
            yield h
        finally:
            h.node.stop()
        return
    pytest.fail("no free port in 8760-8769")


def test_onboarding_cut_off_after_the_chain_is_finished_by_posting_it_again(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = GatewaySettings(
        mode="local", anvil_port=harness.node.port, keystore_dir=tmp_path / "keys", redis_url="redis://127.0.0.1:1/0"
    )
    chain = Chain(harness.w3, harness.contracts, harness.operator, harness.admin)
    body = PartnerCreate(
        name="Grocer",
        treasury=TREASURY,
        currency="EUR",
        points_per_unit=Decimal("1.5"),
        issue_price=10_000,
        reimbursement_rate=8_000,
        issuance_limit=10**9 * USD,
        deposit=5 * USD,
    )
    real_key = auth.new_api_key
    monkeypatch.setattr(onboarding, "new_api_key", lambda: (_ for _ in ()).throw(RuntimeError("crash")))
    with harness.sessions() as session, pytest.raises(RuntimeError, match="crash"):
        onboarding.onboard(session, chain=chain, settings=settings, body=body)
    with harness.sessions() as session:
        record = session.scalar(select(PartnerOnboarding))
        assert record is not None and record.status == "pending"
        assert session.scalar(select(func.count()).select_from(Partner)) == 0
    partner_id = harness.contracts.partner_id_of(record.minter)
    assert partner_id != 0  # registered on chain, unknown to the store: what the record is for

    monkeypatch.setattr(onboarding, "new_api_key", real_key)
    with harness.sessions() as session:
        other = body.model_copy(update={"issue_price": 9_000})
        with pytest.raises(IdempotencyConflict):
            onboarding.onboard(session, chain=chain, settings=settings, body=other)
        partner, key = onboarding.onboard(session, chain=chain, settings=settings, body=body)
    assert (partner.id, partner.minter) == (partner_id, record.minter)
    assert key.startswith("ck_")
    assert harness.contracts.clearing.functions.fundsOf(partner_id).call() == 5 * USD  # deposited once
    assert (settings.keystore_dir / f"partner-{partner_id}.json").exists()
    assert not list(settings.keystore_dir.glob("onboarding-*.json"))
    with harness.sessions() as session:
        assert session.scalar(select(PartnerOnboarding)).status == "done"  # type: ignore[union-attr]
        with pytest.raises(PartnerExists):
            onboarding.onboard(session, chain=chain, settings=settings, body=body)
    assert harness.contracts.registry.functions.partnerCount().call() == 1
