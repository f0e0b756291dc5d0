"""The fakes of the in-process tests, in one place so that a reader sees what is not real.

- ``NoChain`` stands for ``get_chain``: the unit tests never reach the chain.
- ``FakePoints`` is the points contract as redemption acceptance reads it (balances and used
  nonces in dicts, a fixed chain id and address, so EIP-712 signatures are real and recovered by
  the real code).
- ``FakeQueue`` stands for the Celery broker of the webhook task: it records what would be enqueued.
- ``HeldLease`` is the relayer key's Redis lease as a test that drives the key itself holds it
  (no worker competes for it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address

CHAIN_ID = 31337
POINTS_ADDRESS = to_checksum_address(keccak(b"unit-points-contract")[:20])


class NoChain:
    """Stands for ``get_chain``: the unit tests never get that far (auth and validation come
    first); counts its calls, and its chain fails the test if onboarding uses it."""

    class _Unusable:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the unit tests have no chain (chain.{name} was used)")

    def __init__(self) -> None:
        self.calls = 0

    def get_chain(self) -> Any:
        self.calls += 1
        return self._Unusable()


@dataclass
class FakePoints:
    """The points contract as acceptance reads it: balances and used nonces."""

    chain_id: int = CHAIN_ID
    points_address: str = POINTS_ADDRESS
    balances: dict[str, int] = field(default_factory=dict)
    used: set[tuple[str, int]] = field(default_factory=set)

    def balance_of(self, wallet: str) -> int:
        return self.balances.get(wallet, 0)

    def nonce_used(self, wallet: str, nonce: int) -> bool:
        return (wallet, nonce) in self.used

    def balance_and_nonce_used(self, wallet: str, nonce: int) -> tuple[int, bool]:
        return self.balance_of(wallet), self.nonce_used(wallet, nonce)

    def chain_time(self) -> int:
        return int(time.time())


class FakeQueue:
    """Stands for the broker: records what ``gateway.enqueue.deliver_webhook`` was asked to send."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, float | None]] = []

    def deliver_webhook(self, delivery_id: int, *, countdown: float | None = None) -> None:
        self.calls.append((delivery_id, countdown))


class HeldLease:
    """A key's lease (network/locks.py ``KeyLock``) that the test holds for good: no other driver
    of the key runs (no worker, or the workers are dead)."""

    def acquire(self) -> None:
        pass

    def refresh(self) -> None:
        pass

    def release(self) -> None:
        pass
