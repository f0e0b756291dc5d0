"""Long-running chain-layer processes, configured from the environment (network/settings.py):

    python -m network migrate                     # the store to the code's schema (once, before the rest)
    python -m network node                        # a local anvil in the foreground (mode=local)
    python -m network sender --key NAME [--dev-index N]
    python -m network indexer

The address book is read from COALITION_DEPLOYMENTS_DIR for COALITION_CHAIN_ID.
SIGTERM or Ctrl-C stops each cleanly; SIGKILL is safe too (that is what the tests do).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from network.contracts import CoalitionContracts
from network.deployments import load_address_book
from network.indexer import EventIndexer
from network.keys import signer
from network.locks import FileKeyLock, KeyLock, RedisKeyLock
from network.node import AnvilNode, connect
from network.sender import EarnSender
from network.settings import ChainSettings, get_chain_settings
from network.store import migrate, open_store


def _stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _lock(settings: ChainSettings, address: str) -> KeyLock:
    if settings.redis_url:
        import redis

        return RedisKeyLock(redis.Redis.from_url(settings.redis_url), address, settings.chain_id)
    return FileKeyLock(settings.lock_dir, address, settings.chain_id)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m network", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("node")
    sub.add_parser("migrate", help="bring the store to the code's schema; once, before starting processes")
    sender = sub.add_parser("sender")
    sender.add_argument("--key", required=True, help="keystore name (<keystore_dir>/<key>.json)")
    sender.add_argument("--dev-index", type=int, help="local mode only: anvil development account to use")
    sub.add_parser("indexer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_chain_settings()
    stop = _stop_event()

    if args.command == "migrate":
        migrate(settings.database_url)
        logging.info("store at %s migrated to head", settings.database_url.split("@")[-1])
        return

    if args.command == "node":
        with AnvilNode.from_settings(settings) as node:
            logging.info("anvil on %s (chain %s), state in %s", node.url, node.chain_id, node.state_file)
            stop.wait()
        return

    w3 = connect(settings.rpc_url, settings.chain_id, timeout_s=settings.rpc_timeout_s)  # refuses another chain
    contracts = CoalitionContracts(w3, load_address_book(settings.chain_id, settings.deployments_dir))
    sessions = open_store(settings.database_url)
    if args.command == "sender":
        account = signer(args.key, settings, dev_index=args.dev_index)
        service = EarnSender(
            w3=w3,
            contracts=contracts,
            account=account,
            sessions=sessions,
            settings=settings,
            lock=_lock(settings, account.address),
        ).start()
        logging.info("sender of partner %s (%s) running", service.partner_id, account.address)
        try:
            service.run(stop)
        finally:
            service.stop()
    else:
        indexer = EventIndexer(w3=w3, contracts=contracts, sessions=sessions, settings=settings)
        while not stop.is_set():
            if not indexer.step():
                stop.wait(0.2)


if __name__ == "__main__":
    main()
