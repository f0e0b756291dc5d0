"""What a worker process holds on to between tasks: the store, the chain, Redis, decrypted keys.

Made lazily in the worker process itself (never inherited across the prefork pool's fork) and
cleared when a pool process starts.
"""

from __future__ import annotations

import gc
from functools import lru_cache

import redis
from celery.signals import worker_process_init
from eth_account.signers.local import LocalAccount
from sqlalchemy.orm import Session, sessionmaker

from gateway.chain import Chain, get_chain
from gateway.deps import forget_stores, get_sessions
from gateway.services.onboarding import keystore_password, minter_key_name
from gateway.settings import GatewaySettings, get_settings
from gateway.tasks.app import redis_url
from network.keys import load_keystore, signer


def settings() -> GatewaySettings:
    return get_settings()


def sessions() -> sessionmaker[Session]:
    return get_sessions()


def chain() -> Chain:
    return get_chain()


@lru_cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(redis_url(get_settings()), socket_timeout=5, socket_connect_timeout=2)


@lru_cache
def minter_account(partner_id: int) -> LocalAccount:
    """The partner's minter key, from the keystore onboarding wrote (decrypting is slow: once)."""
    s = get_settings()
    return load_keystore(s.keystore_dir / f"{minter_key_name(partner_id)}.json", keystore_password(s))


@lru_cache
def relayer_account() -> LocalAccount:
    """The key that relays customers' signed redemptions (local mode: anvil dev account #2)."""
    return signer(get_settings().relayer_key, get_settings(), dev_index=2)


@worker_process_init.connect
def _fresh_process(**_: object) -> None:
    for cached in (get_settings, get_chain, redis_client, minter_account, relayer_account):
        cached.cache_clear()
    forget_stores()
    gc.freeze()  # what the pool process inherited lives as long as it: out of the collector's walks
