"""Unit tests of the hold one request has on an onboarding (gateway/services/onboarding.py), on a
real SQLite store and a fake chain that only records and blocks: while one request onboards a
name, another with the same name is refused 409 ``partner-exists`` at once (it never reaches the
chain); a request that failed releases its hold, so the same body posted again resumes; a hold
left by a crashed process expires. The real race over HTTP is tests/e2e/test_input_hardening_e2e.py."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.errors import IdempotencyConflict, PartnerExists
from gateway.schemas import PartnerCreate
from gateway.services import onboarding
from network.store import PartnerOnboarding, utcnow
from tests.gateway.partners import TREASURY

BODY = PartnerCreate(
    name="Grocer",
    treasury=TREASURY,
    currency="EUR",
    points_per_unit=Decimal("1.5"),
    issue_price=10_000,
    reimbursement_rate=8_000,
    issuance_limit=10**12,
)


class Stop(Exception):
    """Ends the fake onboarding where the chain would be asked."""


class BlockingChain:
    """Stands for the chain: ``partner_id_of`` (the first chain call of an onboarding) waits
    until released, then stops the onboarding; counts the calls."""

    def __init__(self) -> None:
        self.entered, self.release, self.calls = threading.Event(), threading.Event(), 0
        self.contracts = SimpleNamespace(partner_id_of=self._partner_id_of)

    def _partner_id_of(self, minter: str) -> int:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(10)
        raise Stop(minter)


def onboard(sessions: Any, settings: Any, chain: Any, body: PartnerCreate = BODY) -> Any:
    with sessions() as session:
        return onboarding.onboard(session, chain=chain, settings=settings, body=body)


def record(sessions: Any) -> PartnerOnboarding:
    with sessions() as session:
        found = session.scalar(select(PartnerOnboarding))
        assert found is not None
        return found


def test_unit_a_second_onboarding_of_a_name_under_way_is_refused_without_touching_the_chain(sessions, settings):
    chain = BlockingChain()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(onboard, sessions, settings, chain)
        assert chain.entered.wait(10)
        with pytest.raises(PartnerExists, match="being onboarded by another request"):
            onboard(sessions, settings, chain)
        with pytest.raises(IdempotencyConflict):  # the name with another body: a conflict, as ever
            onboard(sessions, settings, chain, BODY.model_copy(update={"issue_price": 9_000}))
        assert chain.calls == 1
        chain.release.set()
        with pytest.raises(Stop):
            first.result()
    held = record(sessions)
    assert (held.status, held.claimed_until) == ("pending", None)  # released: the same body resumes at once
    with pytest.raises(Stop):
        onboard(sessions, settings, chain)
    assert chain.calls == 2 and record(sessions).minter == held.minter  # the same minter key, resumed


def test_unit_a_hold_left_by_a_crash_expires(sessions, settings):
    chain = BlockingChain()
    chain.release.set()
    with pytest.raises(Stop):
        onboard(sessions, settings, chain)
    with sessions() as session:  # as if the process died holding it
        session.execute(update(PartnerOnboarding).values(claimed_until=utcnow() + timedelta(minutes=1)))
        session.commit()
    with pytest.raises(PartnerExists, match="being onboarded by another request"):
        onboard(sessions, settings, chain)
    with sessions() as session:
        session.execute(update(PartnerOnboarding).values(claimed_until=utcnow() - timedelta(seconds=1)))
        session.commit()
    with pytest.raises(Stop):
        onboard(sessions, settings, chain)
    assert chain.calls == 2


def test_unit_another_body_for_a_name_being_onboarded_is_a_conflict_once_released(sessions, settings):
    chain = BlockingChain()
    chain.release.set()
    with pytest.raises(Stop):
        onboard(sessions, settings, chain)
    with pytest.raises(IdempotencyConflict):
        onboard(sessions, settings, chain, BODY.model_copy(update={"issue_price": 9_000}))
    assert chain.calls == 1
