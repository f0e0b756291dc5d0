"""Consents are dated by the chain's clock where it runs ahead of the wall clock
(gateway/services/redemptions.py ``consent_now``): the contract checks a consent's deadline against
``block.timestamp``, and a local chain's clock moved forward (the demo's expiry, tests) would
otherwise refuse every consent the gateway dates by the wall clock."""

from __future__ import annotations

import time

from gateway.services.redemptions import consent_now
from tests.fakes import FakePoints

DAY = 86_400


class _Ahead(FakePoints):
    def chain_time(self) -> int:
        return int(time.time()) + 121 * DAY


class _Behind(FakePoints):
    def chain_time(self) -> int:  # an idle automining chain: its latest block is old
        return int(time.time()) - 3_600


def test_a_chain_ahead_of_the_wall_clock_dates_the_consent() -> None:
    assert consent_now(_Ahead()) >= int(time.time()) + 121 * DAY - 1


def test_a_chain_behind_the_wall_clock_does_not_shorten_the_consent() -> None:
    before = int(time.time())
    assert before <= consent_now(_Behind()) <= int(time.time())
