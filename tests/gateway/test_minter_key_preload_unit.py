"""Unit: the worker's main process decrypts the partners' minter keystores before it forks its
pool (real keystores on a temporary disk; no worker, chain or broker)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from gateway.services.onboarding import keystore_password, minter_key_name
from gateway.settings import get_settings
from gateway.tasks import context
from network.keys import write_keystore


@pytest.fixture
def keystore_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("COALITION_KEYSTORE_DIR", str(tmp_path))
    get_settings.cache_clear()
    context.minter_account.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    context.minter_account.cache_clear()


def test_preload_decrypts_every_partner_keystore_once(keystore_dir: Path) -> None:
    password = keystore_password(get_settings())
    keys = {pid: Account.create() for pid in (3, 11)}
    for pid, account in keys.items():
        write_keystore(account, password, keystore_dir / f"{minter_key_name(pid)}.json")
    write_keystore(Account.create(), password, keystore_dir / "relayer.json")  # not a minter key

    assert context.preload_minter_keys() == 2
    info = context.minter_account.cache_info()
    assert info.currsize == 2
    for pid, account in keys.items():
        assert context.minter_account(pid).address == account.address  # from the cache: no decrypt
    assert context.minter_account.cache_info().hits == info.hits + 2


def test_a_keystore_that_cannot_be_decrypted_is_skipped_and_logged(
    keystore_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = Account.create()
    write_keystore(good, keystore_password(get_settings()), keystore_dir / "partner-1.json")
    write_keystore(Account.create(), "another password", keystore_dir / "partner-2.json")

    with caplog.at_level(logging.WARNING, logger=context.__name__):
        assert context.preload_minter_keys() == 1
    assert "partner-2.json not preloaded" in caplog.text
    assert context.minter_account(1).address == good.address


def test_no_keystore_directory_preloads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COALITION_KEYSTORE_DIR", str(tmp_path / "absent"))
    get_settings.cache_clear()
    try:
        assert context.preload_minter_keys() == 0
    finally:
        get_settings.cache_clear()
