"""What a worker process holds on to between tasks: the store, the chain, Redis, decrypted keys.

Made lazily in the worker process itself and cleared when a pool process starts (connections are
never inherited across the prefork pool's fork), except the partners' minter keys: decrypting a
keystore takes a second of scrypt, so the worker's main process decrypts the ones on disk when it
starts, before it forks its pool, and every pool process inherits them. A partner onboarded later
is decrypted by each pool process that first drives its key.
"""

from __future__ import annotations

import gc
import logging
import re
import time
from functools import lru_cache

from celery.signals import worker_init, worker_process_init
from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session, sessionmaker

from gateway.chain import Chain, check_chain_id, get_chain
from gateway.connections import forget_stores, get_sessions, redis_client
from gateway.services.onboarding import keystore_password, minter_key_name
from gateway.settings import WorkerSettings, get_worker_settings
from network.contracts import load_abi
from network.deployments import CONTRACT_NAMES
from network.errors import ChainMismatchError, SigningKeyError
from network.keys import load_keystore, signer
from network.settings import PerSettings, get_chain_settings
from network.store import head_revision

log = logging.getLogger(__name__)
MINTER_KEYSTORE = re.compile(r"partner-(\d+)\.json")  # minter_key_name(partner_id) + ".json"
SWEEPER_DEV_INDEX = 9  # anvil's last public development account: the sweeper's own nonces


def settings() -> WorkerSettings:
    return get_worker_settings()


def sessions() -> sessionmaker[Session]:
    return get_sessions()


def chain() -> Chain:
    return get_chain()


@lru_cache
def minter_account(partner_id: int) -> LocalAccount:
    """The partner's minter key, from the keystore onboarding wrote (decrypting is slow: once)."""
    s = get_worker_settings()
    return load_keystore(s.keystore_dir / f"{minter_key_name(partner_id)}.json", keystore_password(s))


# anvil's public development accounts that local mode's relayer keys fall back to (never used
# outside local mode: ``signer`` refuses them there)
RELAYER_DEV_INDEX = {"relayer": 2, "relayer-2": 6, "relayer-3": 7, "relayer-4": 8}


def relayer_key_names(settings: WorkerSettings) -> list[str]:
    """The relayer keys' names: ``relayer_key``, then those of ``relayer_keys`` (each once)."""
    names = [settings.relayer_key] + [n.strip() for n in settings.relayer_keys.split(",") if n.strip()]
    return list(dict.fromkeys(names))


def _relayers_of(settings: WorkerSettings) -> list[LocalAccount]:
    return [signer(n, settings, dev_index=RELAYER_DEV_INDEX.get(n)) for n in relayer_key_names(settings)]


# the keys that relay customers' signed redemptions, in order (local mode: anvil dev account #2, then
# those of RELAYER_DEV_INDEX that COALITION_RELAYER_KEYS names)
relayer_accounts: PerSettings[WorkerSettings, list[LocalAccount]] = PerSettings(get_worker_settings, _relayers_of)


def _sweeper_of(settings: WorkerSettings) -> LocalAccount:
    return signer(settings.sweeper_key, settings, dev_index=SWEEPER_DEV_INDEX)


# the key that sends the expiry sweep's batches (local mode: anvil dev account #9, public)
sweeper_account: PerSettings[WorkerSettings, LocalAccount] = PerSettings(get_worker_settings, _sweeper_of)


def preload_minter_keys() -> int:
    """Decrypts every partner minter keystore on disk into ``minter_account``'s cache; returns
    how many. A keystore that cannot be read is left for the drain that needs it to report."""
    keystore_dir = get_worker_settings().keystore_dir
    loaded = 0
    started = time.perf_counter()
    for path in sorted(keystore_dir.glob("partner-*.json")) if keystore_dir.is_dir() else []:
        match = MINTER_KEYSTORE.fullmatch(path.name)
        if match is None:
            continue
        try:
            minter_account(int(match.group(1)))
            loaded += 1
        except (SigningKeyError, RuntimeError) as exc:
            log.warning("minter key %s not preloaded: %s", path.name, exc)
    if loaded:
        log.info("decrypted %d minter keys in %.1f s for the pool", loaded, time.perf_counter() - started)
    return loaded


@worker_init.connect
def _before_the_pool(**_: object) -> None:
    try:
        check_chain_id(get_chain_settings())
    except ChainMismatchError:
        log.critical("this worker's node serves another chain: every task that uses the chain will fail", exc_info=True)
    preload_minter_keys()
    # read once here, inherited by every pool process: the migrations' head revision (parsing the
    # scripts) and the contracts' ABIs (their JSON artifacts), otherwise each process's first task
    head_revision()
    for name in CONTRACT_NAMES:
        load_abi(name)
    get_worker_settings.cache_clear()  # every concern read again in each pool process


@worker_process_init.connect
def _fresh_process(**_: object) -> None:
    for cached in (get_worker_settings, get_chain, redis_client, relayer_accounts, sweeper_account):
        cached.cache_clear()
    forget_stores()
    gc.freeze()  # what the pool process inherited lives as long as it: out of the collector's walks
