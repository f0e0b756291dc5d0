"""Unit tests (no chain): keystores, development keys, settings."""

from __future__ import annotations

import pytest
from eth_account import Account

from network.errors import SigningKeyError
from network.keys import ANVIL_DEV_ADDRESSES, ANVIL_DEV_KEYS, dev_account, load_keystore, signer, write_keystore
from network.settings import ChainSettings


def test_dev_accounts_are_anvils_public_ones():
    assert Account.from_key(ANVIL_DEV_KEYS[0]).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert len(ANVIL_DEV_ADDRESSES) == len(ANVIL_DEV_KEYS)


def test_dev_accounts_are_refused_outside_local_mode():
    with pytest.raises(SigningKeyError, match="outside local mode"):
        dev_account(0, ChainSettings(mode="rpc", chain_id=8453))


def test_keystore_round_trip(tmp_path):
    account = Account.create()
    path = write_keystore(account, "correct horse", tmp_path / "partner.json")
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_keystore(path, "correct horse").address == account.address


def test_wrong_keystore_password_is_refused(tmp_path):
    path = write_keystore(Account.create(), "right", tmp_path / "k.json")
    with pytest.raises(SigningKeyError, match="cannot decrypt"):
        load_keystore(path, "wrong")


def test_signer_prefers_the_keystore_and_falls_back_to_dev_keys_locally(tmp_path):
    settings = ChainSettings(mode="local", keystore_dir=tmp_path, keystore_password="pw")
    assert signer("operator", settings, dev_index=1).address == Account.from_key(ANVIL_DEV_KEYS[1]).address
    own = Account.create()
    write_keystore(own, "pw", tmp_path / "operator.json")
    assert signer("operator", settings, dev_index=1).address == own.address


def test_signer_outside_local_mode_needs_a_keystore(tmp_path):
    settings = ChainSettings(mode="rpc", chain_id=8453, keystore_dir=tmp_path, keystore_password="pw")
    with pytest.raises(SigningKeyError, match="no keystore"):
        signer("operator", settings, dev_index=1)


def test_a_keystore_holding_a_public_dev_key_is_refused_outside_local_mode(tmp_path):
    write_keystore(Account.from_key(ANVIL_DEV_KEYS[2]), "pw", tmp_path / "partner.json")
    settings = ChainSettings(mode="rpc", chain_id=8453, keystore_dir=tmp_path, keystore_password="pw")
    with pytest.raises(SigningKeyError, match="public anvil development key"):
        signer("partner", settings)


def test_keystore_without_password_is_refused(tmp_path):
    write_keystore(Account.create(), "pw", tmp_path / "partner.json")
    with pytest.raises(SigningKeyError, match="KEYSTORE_PASSWORD"):
        signer("partner", ChainSettings(keystore_dir=tmp_path, keystore_password=None))


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("COALITION_MODE", "rpc")
    monkeypatch.setenv("COALITION_RPC_URL", "http://node.example:8545")
    monkeypatch.setenv("COALITION_CHAIN_ID", "8453")
    monkeypatch.setenv("COALITION_BATCH_MAX_SIZE", "250")
    settings = ChainSettings()
    assert (settings.mode, settings.rpc_url, settings.chain_id, settings.batch_max_size) == (
        "rpc",
        "http://node.example:8545",
        8453,
        250,
    )


def test_local_mode_points_the_rpc_url_at_its_own_anvil():
    assert ChainSettings(mode="local", anvil_port=8611).rpc_url == "http://127.0.0.1:8611"


def test_fee_bump_below_ten_percent_is_refused():
    with pytest.raises(ValueError):
        ChainSettings(fee_bump_percent=5)
