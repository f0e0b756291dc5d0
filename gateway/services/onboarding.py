"""Onboarding a partner: a minter key of its own (encrypted keystore), its registration in the
on-chain registry, optional test funds on a local chain, and its API key (shown once)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import requests
from eth_account import Account
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.auth import new_api_key
from gateway.chain import Chain
from gateway.errors import ChainUnavailable, IdempotencyConflict, PartnerExists
from gateway.models import Partner, PartnerOnboarding
from gateway.operator_key import transact_as_operator
from gateway.schemas import PartnerCreate
from gateway.settings import GatewaySettings
from network.direct import transact
from network.errors import TransientRpcError
from network.keys import load_keystore, write_keystore

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
        raise ChainUnavailable(
            f"the chain cannot be reached ({type(exc).__name__}); post the same body again to finish the onboarding"
        ) from exc


def _onboard(session: Session, *, chain: Chain, settings: GatewaySettings, body: PartnerCreate) -> tuple[Partner, str]:
    """Resumable: the record of the onboarding and the minter's keystore are written before the
    chain is touched, so a crash anywhere leaves something to finish, not an unknown partner on
    chain. Posting the same body again (same name) finishes it; each step checks the chain first."""
    c = chain.contracts
    password = keystore_password(settings)
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    record = session.scalar(select(PartnerOnboarding).where(PartnerOnboarding.name == body.name))
    if record is not None and record.status == "done":
        raise PartnerExists(f"a partner named {body.name!r} is onboarded already (id {record.partner_id})")
    if record is not None and record.request_hash != digest:
        raise IdempotencyConflict(f"the onboarding of {body.name!r} was started with another body")
    if record is None:
        minter = Account.create()
        write_keystore(minter, password, _pending_keystore(settings, minter.address))
        record = PartnerOnboarding(name=body.name, request_hash=digest, minter=minter.address)
        session.add(record)
        session.commit()
    else:
        minter = load_keystore(_pending_keystore(settings, record.minter), password)
    partner_id = c.partner_id_of(minter.address)
    if partner_id == 0:
        transact_as_operator(
            chain,
            c.registry.functions.onboard(
                minter.address, body.treasury, body.issue_price, body.reimbursement_rate, body.issuance_limit
            ),
        )
        partner_id = c.partner_id_of(minter.address)
    write_keystore(minter, password, settings.keystore_dir / f"{minter_key_name(partner_id)}.json")
    if settings.mode == "local":
        _local_funds(chain, minter.address, partner_id, body.deposit)
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
    record.status, record.partner_id = "done", partner_id
    session.commit()
    _pending_keystore(settings, minter.address).unlink(missing_ok=True)
    return partner, key.key


def _pending_keystore(settings: GatewaySettings, minter: str) -> Path:
    return settings.keystore_dir / f"onboarding-{minter.lower()}.json"


def _local_funds(chain: Chain, minter: str, partner_id: int, deposit: int) -> None:
    """Local chains: gas money for the new key, and test stablecoins deposited in its name (up
    to ``deposit``, counting what a crashed earlier attempt deposited)."""
    c = chain.contracts
    chain.w3.provider.make_request("anvil_setBalance", [minter, hex(10**21)])
    missing = deposit - int(c.clearing.functions.fundsOf(partner_id).call())
    if missing > 0 and chain.admin is not None:
        transact(chain.w3, chain.admin, c.token.functions.mint(chain.admin.address, missing))
        transact(chain.w3, chain.admin, c.token.functions.approve(c.clearing.address, missing))
        transact(chain.w3, chain.admin, c.clearing.functions.deposit(partner_id, missing))
