"""One user of the operator key at a time, across the gateway and the workers.

Onboarding, suspend/re-rate (the gateway) and settlement (a worker) all sign with the operator
key and each takes the node's pending nonce; two at once would sign two transactions with one
nonce and one of them would be lost. They hold this lease (Redis, shared by every process and
machine) from reading the nonce until their transaction is mined.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import redis
from eth_account.signers.local import LocalAccount
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from gateway.chain import Chain
from gateway.connections import redis_client
from network.direct import transact
from network.locks import RedisKeyLock, SenderLockedError
from network.settings import ChainSettings, get_chain_settings

log = logging.getLogger(__name__)
LEASE_MS = 60_000  # longer than a transaction takes to be mined locally; released right after
_IN_PROCESS = threading.Lock()  # when Redis is unreachable: at least this process is serialised


@contextlib.contextmanager
def operator_key_held(client: redis.Redis, address: str, settings: ChainSettings, wait_s: float = 60) -> Iterator[None]:
    """Holds the operator key's lease for the block; waits up to ``wait_s`` for it."""
    lease = RedisKeyLock(client, address, settings.chain_id, ttl_ms=LEASE_MS)
    deadline = time.monotonic() + wait_s
    with _IN_PROCESS:
        while True:
            try:
                lease.acquire()
                break
            except SenderLockedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            except redis.RedisError as exc:
                log.warning("operator key lease: Redis unreachable (%s); serialising this process only", exc)
                yield
                return
        try:
            yield
        finally:
            with contextlib.suppress(redis.RedisError):
                lease.release()


@contextlib.contextmanager
def operator_key(chain: Chain) -> Iterator[LocalAccount]:
    """The operator key, held for the block (see the module's doc)."""
    with operator_key_held(redis_client(), chain.operator.address, get_chain_settings()):
        yield chain.operator


def transact_as_operator(chain: Chain, fn: ContractFunction) -> TxReceipt:
    """``network.direct.transact`` with the operator key, holding its lease."""
    with operator_key(chain) as operator:
        return transact(chain.w3, operator, fn)
