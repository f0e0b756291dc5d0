"""One-time sign-in links (gateway/services/sign_in_links.py) on a real SQLite store migrated by
the real migrations: only the custodian of a held wallet gets one, it is stored hashed, opens one
read-only session once, expires, and the purge removes it once expired."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import CustodialWalletReleased, Unauthorized, WalletNotCustodial
from gateway.services import sign_in_links, wallet_auth
from gateway.services.purge import purge_expired
from gateway.settings import GatewaySettings
from network.store import CustodialWallet, Partner, SignInLink, utcnow

WALLET = "0x" + "a" * 40


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions() as session:
        for pid in (1, 2):
            session.add(
                Partner(
                    id=pid, name=f"P{pid}", minter=f"0x{pid:040x}", treasury=f"0x{pid:040x}", api_key_prefix=f"k{pid}",
                    api_key_hash="0" * 64, currency="EUR", points_per_unit=1, issue_price=1, reimbursement_rate=1,
                    issuance_limit=1,
                )
            )  # fmt: skip
        session.flush()
        session.add(CustodialWallet(address=WALLET, partner_id=1, key_ciphertext=b"x", key_nonce=b"n"))
        session.commit()
    return sessions


def test_a_link_is_stored_hashed_and_opens_one_read_only_session_once(store) -> None:  # type: ignore[no-untyped-def]
    settings = GatewaySettings(public_url="https://gw.example", sign_in_link_ttl_s=600)
    with store() as session:
        url, row = sign_in_links.issue(session, settings, partner_id=1, ref="carol", wallet=WALLET)
        session.commit()
        token = url.split("#", 1)[1]
        assert (
            url.startswith("https://gw.example/me/link#sl_")
            and row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        )
        session_token, opened = sign_in_links.redeem(session, settings, token)
        session.commit()
        assert (opened.wallet, opened.via) == (WALLET, "link")
        assert wallet_auth.customer_session(session, session_token).via == "link"
        with pytest.raises(Unauthorized, match="used already"):
            sign_in_links.redeem(session, settings, token)


def test_only_the_custodian_of_a_held_wallet_gets_a_link(store) -> None:  # type: ignore[no-untyped-def]
    settings = GatewaySettings()
    with store() as session:
        with pytest.raises(WalletNotCustodial):
            sign_in_links.issue(session, settings, partner_id=2, ref="carol", wallet=WALLET)  # not its custodian
        with pytest.raises(WalletNotCustodial):
            sign_in_links.issue(session, settings, partner_id=1, ref="dan", wallet="0x" + "b" * 40)  # own wallet
        session.execute(update(CustodialWallet).values(released_at=utcnow()))
        with pytest.raises(CustodialWalletReleased):
            sign_in_links.issue(session, settings, partner_id=1, ref="carol", wallet=WALLET)


def test_an_expired_link_is_refused_and_purged(store) -> None:  # type: ignore[no-untyped-def]
    settings = GatewaySettings()
    with store() as session:
        url, _ = sign_in_links.issue(session, settings, partner_id=1, ref="carol", wallet=WALLET)
        session.execute(update(SignInLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
        with pytest.raises(Unauthorized, match="expired"):
            sign_in_links.redeem(session, settings, url.split("#", 1)[1])
    assert purge_expired(store).sign_in_links == 1
    with store() as session:
        assert session.scalars(select(SignInLink)).all() == []
