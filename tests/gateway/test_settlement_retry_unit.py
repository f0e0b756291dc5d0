"""A failed settlement period is planned again with a backoff, not on every beat tick, and the
operator is alerted once per reason (issue 13, finding 3: "the gateway plans the same failing
range again on every tick, an alert each time").

A real SQLite store; the chain is a fake that answers the few reads planning makes (unit test).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.services import settlement
from network.indexer import CHECKPOINT
from network.store import IndexerCheckpoint, OperatorAlert, SettlementPeriod, utcnow
from tests.stores import migrated_store

CHAIN = 31337
DAY = 86_400


class FakeChain:
    """Blocks 1..head one hour apart from midnight of day 0; period 1 not settled yet."""

    def __init__(self, head: int = 48) -> None:
        self.head = head

        def call(value: int) -> Any:
            return SimpleNamespace(call=lambda: value)

        clearing = SimpleNamespace(
            functions=SimpleNamespace(nextPeriodId=lambda: call(1), settledThroughBlock=lambda: call(0))
        )
        self.contracts = SimpleNamespace(clearing=clearing, book=SimpleNamespace(chain_id=CHAIN))
        self.w3 = SimpleNamespace(
            eth=SimpleNamespace(block_number=head, get_block=lambda n: {"timestamp": 10 * DAY + n * 3_600})
        )


@pytest.fixture
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    sessions: sessionmaker[Session] = migrated_store(f"sqlite:///{tmp_path_factory.mktemp('retry') / 'store.db'}")
    with sessions() as s:
        s.execute(delete(OperatorAlert))
        s.add(IndexerCheckpoint(chain_id=CHAIN, name=CHECKPOINT, block_number=48))
        s.commit()
        yield s


def alerts(session: Session) -> list[OperatorAlert]:
    return list(session.scalars(select(OperatorAlert).where(OperatorAlert.kind == "settlement-failed")))


def test_a_failed_period_waits_before_it_is_planned_again_and_alerts_once_per_reason(session: Session) -> None:
    chain: Any = FakeChain()
    now = 12 * DAY  # days 10 and 11 have ended
    row = settlement.plan_scheduled(session, chain, DAY, now=now)
    assert row is not None and (row.period_id, row.from_block, row.status) == (1, 1, "computing")

    settlement._fail(session, row, "settle would revert: ClearingInsufficientOperatorFunds(funds=0, needed=5)")
    assert (row.status, row.attempts) == ("failed", 1)
    first_retry = row.next_attempt_at
    assert first_retry is not None and timedelta(seconds=59) < first_retry - utcnow() <= timedelta(seconds=60)
    assert len(alerts(session)) == 1
    assert "tries again at" in alerts(session)[0].message

    assert settlement.plan_scheduled(session, chain, DAY, now=now) is None  # backing off: not every tick
    row.next_attempt_at = utcnow() - timedelta(seconds=1)  # the backoff is over
    session.commit()
    again = settlement.plan_scheduled(session, chain, DAY, now=now)
    assert again is not None and again.status == "computing"

    settlement._fail(session, again, "settle would revert: ClearingInsufficientOperatorFunds(funds=0, needed=5)")
    assert again.attempts == 2
    assert timedelta(seconds=119) < again.next_attempt_at - utcnow() <= timedelta(seconds=120)  # doubled
    assert len(alerts(session)) == 1  # the same reason: no new alert
    settlement._fail(session, again, "settle would revert: something else")
    assert len(alerts(session)) == 2  # a new reason is told

    for _ in range(10):
        settlement._fail(session, again, "settle would revert: something else")
    assert again.next_attempt_at - utcnow() <= timedelta(seconds=settlement.RETRY_MAX_S)  # capped at an hour


def test_the_operators_close_now_retries_a_failed_period_at_once(session: Session) -> None:
    chain: Any = FakeChain()
    row = settlement.plan_scheduled(session, chain, DAY, now=12 * DAY)
    assert row is not None
    settlement._fail(session, row, "settle would revert: ClearingInsufficientOperatorFunds(funds=0, needed=5)")
    assert session.get(SettlementPeriod, 1).status == "failed"
    replanned = settlement._plan(
        session, chain, settlement.chain_periods(session, chain), to_block=48, trigger="operator"
    )
    assert replanned.status == "computing" and replanned.trigger == "operator"
