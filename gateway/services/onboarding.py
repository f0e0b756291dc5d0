"""Onboarding a partner: a minter key of its own (encrypted keystore), its registration in the
on-chain registry, optional test funds on a local chain, and its API key (shown once)."""

from __future__ import annotations

import requests
from eth_account import Account
from sqlalchemy.orm import Session

from gateway.auth import new_api_key
from gateway.chain import Chain
from gateway.errors import ChainUnavailable
from gateway.models import Partner
from gateway.operator_key import transact_as_operator
from gateway.schemas import PartnerCreate
from gateway.settings import GatewaySettings
from network.direct import transact
from network.errors import TransientRpcError
from network.keys import write_keystore

LOCAL_KEYSTORE_PASSWORD = "local-keystore-password"  # local mode only


def minter_key_name(partner_id: int) -> str:
    return f"partner-{partner_id}"


def keystore_password(settings: GatewaySettings) -> str:
    password = settings.keystore_password or (LOCAL_KEYSTORE_PASSWORD if settings.mode == "local" else None)
    if password is None:
        raise RuntimeError("COALITION_KEYSTORE_PASSWORD must be set to store partner keys")
    return password


def onboard(session: Session, *, chain: Chain, settings: GatewaySettings, body: PartnerCreate) -> tuple[Partner, str]:
    """Registers the partner on chain and in the store; returns it with its API key."""
    try:
        return _onboard(session, chain=chain, settings=settings, body=body)
    except (requests.ConnectionError, requests.Timeout, TransientRpcError) as exc:
        session.rollback()
        raise ChainUnavailable(f"the chain cannot be reached ({type(exc).__name__}); nothing was onboarded") from exc


def _onboard(session: Session, *, chain: Chain, settings: GatewaySettings, body: PartnerCreate) -> tuple[Partner, str]:
    c = chain.contracts
    minter = Account.create()
    transact_as_operator(
        chain,
        c.registry.functions.onboard(
            minter.address, body.treasury, body.issue_price, body.reimbursement_rate, body.issuance_limit
        ),
    )
    partner_id = c.partner_id_of(minter.address)
    write_keystore(minter, keystore_password(settings), settings.keystore_dir / f"{minter_key_name(partner_id)}.json")
    if settings.mode == "local":
        # gas money for the new key, and test stablecoins deposited in its name
        chain.w3.provider.make_request("anvil_setBalance", [minter.address, hex(10**21)])
        if body.deposit and chain.admin is not None:
            transact(chain.w3, chain.admin, c.token.functions.mint(chain.admin.address, body.deposit))
            transact(chain.w3, chain.admin, c.token.functions.approve(c.clearing.address, body.deposit))
            transact(chain.w3, chain.admin, c.clearing.functions.deposit(partner_id, body.deposit))
    key = new_api_key()
    partner = Partner(
        id=partner_id,
        name=body.name,
        minter=minter.address,
        treasury=body.treasury,
        api_key_prefix=key.prefix,
        api_key_hash=key.hash,
        currency=body.currency,
        points_per_unit=body.points_per_unit,
        issue_price=body.issue_price,
        reimbursement_rate=body.reimbursement_rate,
        issuance_limit=body.issuance_limit,
    )
    session.add(partner)
    session.commit()
    return partner, key.key
