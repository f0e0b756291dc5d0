"""One sender per signing key: a lock in Redis when several processes (or machines) run
senders, a file lock when everything runs on one machine."""

from __future__ import annotations

import fcntl
import os
import uuid
from pathlib import Path
from typing import Protocol

from network.errors import SenderLockedError


class KeyLock(Protocol):
    def acquire(self) -> None: ...
    def refresh(self) -> None: ...
    def release(self) -> None: ...


class FileKeyLock:
    """An flock on ``<directory>/<address>.lock``; the kernel frees it when the process dies."""

    def __init__(self, directory: Path, address: str, chain_id: int) -> None:
        self.path = directory / f"sender-{chain_id}-{address.lower()}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SenderLockedError(f"another process drives the sender of this key ({self.path})") from None
        self._fd = fd

    def refresh(self) -> None:
        pass

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


_REFRESH = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisLease:
    """A lease on ``key`` in Redis (SET NX PX with a token), refreshed by its holder; a crashed
    holder's lease expires after ``ttl_ms``."""

    def __init__(self, client: object, key: str, ttl_ms: int = 15_000) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = uuid.uuid4().hex

    def acquire(self) -> None:
        if not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):  # type: ignore[attr-defined]
            raise SenderLockedError(f"another process holds {self.key}")

    def refresh(self) -> None:
        if not self.client.eval(_REFRESH, 1, self.key, self.token, self.ttl_ms):  # type: ignore[attr-defined]
            raise SenderLockedError(f"lost {self.key}: the lease expired and another process may hold it")

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)  # type: ignore[attr-defined]


class RedisKeyLock(RedisLease):
    """The lease of one signing key on one chain: one sender per key across machines."""

    def __init__(self, client: object, address: str, chain_id: int, ttl_ms: int = 15_000) -> None:
        super().__init__(client, f"coalition:sender-lock:{chain_id}:{address.lower()}", ttl_ms)
