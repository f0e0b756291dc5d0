"""What a process holds open: the session factory of each store it uses and its Redis client.

Opened on first use, once per process (the first requests of a process may ask at once), and
forgotten after a fork (a pool or a socket must not cross processes). Nothing here imports FastAPI
or Celery: the API, the workers and the tools share it.
"""

from __future__ import annotations

import threading

import redis
from sqlalchemy.orm import Session, sessionmaker

from gateway.settings import WorkerSettings, get_worker_settings, redis_url
from network.settings import PerSettings, get_chain_settings
from network.store import open_store

_stores: dict[str, sessionmaker[Session]] = {}
_stores_lock = threading.Lock()


def store_sessions(url: str) -> sessionmaker[Session]:
    """The session factory of the store at ``url``, opened once per process. The store must be
    migrated already (``python -m network migrate``)."""
    sessions = _stores.get(url)
    if sessions is None:
        with _stores_lock:
            sessions = _stores.get(url)
            if sessions is None:
                sessions = _stores[url] = open_store(url)
    return sessions


def forget_stores() -> None:
    """After a fork: the child opens its own connections (a pool must not cross processes)."""
    with _stores_lock:
        _stores.clear()


def get_sessions() -> sessionmaker[Session]:
    """The session factory of the settings' store (``COALITION_DATABASE_URL``)."""
    return store_sessions(get_chain_settings().database_url)


def _redis_client_of(settings: WorkerSettings) -> redis.Redis:
    url = redis_url(settings)
    if url is None:
        raise ValueError("COALITION_REDIS_URL must be set outside local mode")
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


# the process's Redis (gateway.settings.redis_url): leases, markers, the operator key's lock
redis_client: PerSettings[WorkerSettings, redis.Redis] = PerSettings(get_worker_settings, _redis_client_of)
