"""Unit tests of the settings that outside local mode must be named, not defaulted: the chain id
(the local default would be anvil's 31337) and the gateway's public URL (the local default
would send partners to 127.0.0.1)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings
from network.settings import ChainSettings

SECRETS = {"operator_token": "an-operator-token-of-24-chars+", "secrets_key": "a-secrets-key-of-at-least-32-characters"}
NAMED = {"chain_id": 8453, "public_url": "https://coalition.example"}


def gateway(**values: object) -> GatewaySettings:
    return GatewaySettings(mode="rpc", **SECRETS, **values)  # type: ignore[arg-type]


def test_unit_outside_local_mode_the_chain_id_must_be_named():
    with pytest.raises(ValidationError, match="COALITION_CHAIN_ID must be set outside local mode"):
        ChainSettings(mode="rpc")
    with pytest.raises(ValidationError, match="COALITION_CHAIN_ID must be set outside local mode"):
        gateway(public_url=NAMED["public_url"])
    assert ChainSettings(mode="rpc", chain_id=31337).chain_id == 31337  # named, even if anvil's
    assert ChainSettings(mode="local").chain_id == 31337


def test_unit_the_chain_id_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("COALITION_MODE", "rpc")
    with pytest.raises(ValidationError, match="COALITION_CHAIN_ID"):
        ChainSettings()
    monkeypatch.setenv("COALITION_CHAIN_ID", "8453")
    assert ChainSettings().chain_id == 8453


def test_unit_outside_local_mode_the_public_url_must_be_named(monkeypatch):
    with pytest.raises(ValidationError, match="COALITION_PUBLIC_URL must be set outside local mode"):
        gateway(chain_id=NAMED["chain_id"])
    assert gateway(**NAMED).public_url == "https://coalition.example"
    assert GatewaySettings(mode="local").public_url == "http://127.0.0.1:8000"
    monkeypatch.setenv("COALITION_PUBLIC_URL", "https://coalition.example/")
    assert gateway(chain_id=8453).public_url == "https://coalition.example"


@pytest.mark.parametrize("url", ["coalition.example", "ftp://coalition.example", "https://", "https:///"])
def test_unit_the_public_url_must_be_an_http_url(url):
    with pytest.raises(ValidationError, match="COALITION_PUBLIC_URL must be an http"):
        gateway(chain_id=8453, public_url=url)


@pytest.mark.parametrize("chain_id", [0, -1])
def test_unit_the_chain_id_must_be_positive(chain_id):
    with pytest.raises(ValidationError, match="positive"):
        ChainSettings(chain_id=chain_id)
