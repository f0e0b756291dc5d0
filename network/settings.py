"""Settings of the chain layer, read from the environment (prefix ``COALITION_``) in one place:
:data:`get_chain_settings`. The gateway's settings (gateway/settings.py) extend these by concern
(the workers', then the API's); every concern's getter honours :func:`override_settings`.

Local mode (the default) runs its own anvil and may use anvil's public development accounts;
any other mode connects to the JSON-RPC chain named by ``COALITION_RPC_URL`` and
``COALITION_CHAIN_ID`` and takes keys from encrypted keystores only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, Literal, TypeVar

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from network.deployments import DEFAULT_DIRECTORY, PROJECT_ROOT

STATE_DIR = PROJECT_ROOT / ".state"


class ChainSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COALITION_", extra="ignore")

    mode: Literal["local", "rpc"] = "local"
    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int = 31337
    # local node (mode=local)
    anvil_port: int = 8545
    anvil_state_file: Path = STATE_DIR / "anvil-state.json"
    anvil_state_interval_s: int = Field(default=1, ge=0)
    anvil_block_time_s: float | None = None  # None: automine, one block per transaction
    anvil_gas_limit: int = 60_000_000
    # the address book: deployments/<chain_id>.json (scripts/deploy.py writes it)
    deployments_dir: Path = DEFAULT_DIRECTORY
    # store
    database_url: str = f"sqlite:///{STATE_DIR / 'coalition.db'}"
    # transaction sender
    confirmations: int = Field(default=1, ge=1)
    batch_max_size: int = Field(default=500, ge=1, le=2000)
    batch_max_wait_s: float = Field(default=0.2, ge=0)
    max_in_flight: int = Field(default=8, ge=1)
    # the relayer's burns: up to that many signed redemptions in one redeemBatchWithSignatures
    # (issue 22: one nonce and ~26,000 gas a redemption in a batch of 100); 1, each its own
    # redeemWithSignature transaction (~60,000 gas)
    burns_per_transaction: int = Field(default=100, ge=1, le=500)
    stuck_after_s: float = Field(default=15.0, gt=0)
    fee_bump_percent: int = Field(default=15, ge=10)
    # a purchase held for lack of the partner's issuance headroom fails after this (7 days)
    held_purchase_timeout_s: float = Field(default=7 * 86_400.0, gt=0)
    rpc_timeout_s: float = Field(default=10.0, gt=0)
    rpc_retries: int = Field(default=5, ge=0)
    # indexer
    indexer_chunk_blocks: int = Field(default=2_000, ge=1)
    indexer_reorg_depth: int = Field(default=256, ge=1)
    # keys
    keystore_dir: Path = PROJECT_ROOT / "keystore"
    keystore_password: str | None = None
    # one sender per key: a lease in Redis when set, else a file lock here
    redis_url: str | None = None
    lock_dir: Path = STATE_DIR / "locks"

    @model_validator(mode="after")
    def _local_rpc_url(self) -> ChainSettings:
        if self.mode == "local":
            self.rpc_url = f"http://127.0.0.1:{self.anvil_port}"
        return self

    @model_validator(mode="after")
    def _chain_id_named(self) -> ChainSettings:
        """Outside local mode the chain is named, never assumed: the local default (31337) would
        sign for anvil's chain; ``network.node.connect`` checks it against the node's eth_chainId."""
        if self.mode != "local" and "chain_id" not in self.model_fields_set:
            raise ValueError(
                "COALITION_CHAIN_ID must be set outside local mode: the id of the chain that "
                "COALITION_RPC_URL serves (it is checked against the node's eth_chainId on connect)"
            )
        if self.chain_id <= 0:
            raise ValueError(f"COALITION_CHAIN_ID must be a positive integer, not {self.chain_id}")
        return self


S = TypeVar("S", bound=ChainSettings)
T = TypeVar("T")
_overrides: list[ChainSettings] = []
_getters: list[SettingsGetter[ChainSettings]] = []
_lock = threading.Lock()


class SettingsGetter(Generic[S]):
    """The settings of one concern (``kind``), read from the environment once per process; while
    :func:`override_settings` is in force with settings of that kind (or a subclass), those.
    ``cache_clear()`` makes every concern read the environment again (tests, a forked process)."""

    def __init__(self, kind: type[S]) -> None:
        self.kind = kind
        self._read: S | None = None
        _getters.append(self)  # type: ignore[arg-type]

    def __call__(self) -> S:
        for settings in reversed(_overrides):
            if isinstance(settings, self.kind):
                return settings
        read = self._read
        if read is None:
            with _lock:
                read = self._read
                if read is None:
                    read = self._read = self.kind()
        return read

    def cache_clear(self) -> None:
        for getter in _getters:
            getter._read = None


class PerSettings(Generic[S, T]):
    """A value made from the settings of ``getter`` (the chain handle, a Redis client), once per
    settings object: an override in force gets its own. ``cache_clear()`` forgets it (a fork)."""

    def __init__(self, getter: Callable[[], S], make: Callable[[S], T]) -> None:
        self.getter, self.make = getter, make
        self._made: tuple[S, T] | None = None

    def __call__(self) -> T:
        settings = self.getter()
        made = self._made
        if made is None or made[0] is not settings:
            made = self._made = (settings, self.make(settings))
        return made[1]

    def cache_clear(self) -> None:
        self._made = None


@contextmanager
def override_settings(settings: ChainSettings) -> Iterator[ChainSettings]:
    """In this process, for the block: every getter whose kind ``settings`` is (a GatewaySettings
    is the workers' and the chain's too) returns ``settings``, and what is made from them
    (:class:`PerSettings`) is made again from them. The tests' one way to change settings."""
    _overrides.append(settings)
    try:
        yield settings
    finally:
        _overrides.remove(settings)


get_chain_settings: SettingsGetter[ChainSettings] = SettingsGetter(ChainSettings)
