"""Onboarding a partner: a minter key of its own (encrypted keystore), its registration in the
on-chain registry, optional test funds on a local chain, and its API key (shown once)."""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import timedelta
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.auth import new_api_key
from gateway.chain import Chain
from gateway.errors import ChainUnavailable, IdempotencyConflict, PartnerExists
from gateway.operator_key import transact_as_operator
from gateway.schemas import PartnerCreate
from gateway.settings import GatewaySettings
from network.direct import transact
from network.errors import TransientRpcError, failure_name
from network.keys import load_keystore, write_keystore
from network.store import Partner, PartnerOnboarding, utcnow

LOCAL_KEYSTORE_PASSWORD = "local-keystore-password"  # local mode only
log = logging.getLogger(__name__)
CLAIM = timedelta(minutes=5)  # one request's hold on an onboarding: longer than its chain calls take
_admin_lock = threading.Lock()  # local mode: the admin key mints test funds, one transaction chain at a time


def minter_key_name(partner_id: int) -> str:
    return f"partner-{partner_id}"


def keystore_password(settings: GatewaySettings) -> str:
    password = settings.keystore_password or (LOCAL_KEYSTORE_PASSWORD if settings.mode == "local" else None)
    if password is None:
        raise RuntimeError("COALITION_KEYSTORE_PASSWORD must be set to store partner keys")
    return password


def onboard(session: Session, *, chain: Chain, settings: GatewaySettings, body: PartnerCreate) -> tuple[Partner, str]:
    """Registers the partner on chain and in the store; returns it with its API key."""
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    password = keystore_password(settings)
    record, minter = _claim(session, settings=settings, body=body, digest=digest, password=password)
    try:
        return _onboard(session, chain=chain, settings=settings, body=body, record=record, minter=minter)
    except TransientRpcError as exc:
        _release(session, record.id)
        raise ChainUnavailable(
            f"the chain cannot be reached ({failure_name(exc)}); post the same body again to finish the onboarding"
        ) from exc
    except BaseException:
        _release(session, record.id)
        raise


def _claim(
    session: Session, *, settings: GatewaySettings, body: PartnerCreate, digest: str, password: str
) -> tuple[PartnerOnboarding, LocalAccount]:
    """The onboarding of ``body.name``, held by this request (for ``CLAIM`` at most): a new
    record, whose insert is the hold (the name is unique), or one that was cut off, held again
    by one conditional UPDATE. While another request holds it, or once it is done, the answer is
    409 ``partner-exists``; with another body, 409 ``idempotency-conflict``."""
    now = utcnow()
    record = session.scalar(select(PartnerOnboarding).where(PartnerOnboarding.name == body.name))
    if record is None:
        minter = Account.create()
        pending = _pending_keystore(settings, minter.address)
        write_keystore(minter, password, pending)
        record = PartnerOnboarding(
            name=body.name, request_hash=digest, minter=minter.address, claimed_until=now + CLAIM
        )
        session.add(record)
        try:
            session.commit()
            return record, minter
        except IntegrityError:  # another request inserted it first, and holds it
            session.rollback()
            pending.unlink(missing_ok=True)
        record = session.scalar(select(PartnerOnboarding).where(PartnerOnboarding.name == body.name))
        assert record is not None
    if record.status == "done":
        raise PartnerExists(f"a partner named {body.name!r} is onboarded already (id {record.partner_id})")
    if record.request_hash != digest:
        raise IdempotencyConflict(f"the onboarding of {body.name!r} was started with another body")
    held = session.execute(
        update(PartnerOnboarding)
        .where(
            PartnerOnboarding.id == record.id,
            PartnerOnboarding.status == "pending",
            or_(PartnerOnboarding.claimed_until.is_(None), PartnerOnboarding.claimed_until < now),
        )
        .values(claimed_until=now + CLAIM)
    ).rowcount  # type: ignore[attr-defined]
    session.commit()
    if held != 1:
        raise PartnerExists(
            f"a partner named {body.name!r} is being onboarded by another request; if it was cut off, "
            f"post the same body again after {int(CLAIM.total_seconds())} s"
        )
    return record, load_keystore(_pending_keystore(settings, record.minter), password)


def _release(session: Session, record_id: int) -> None:
    """Ends this request's hold on an onboarding that did not finish: the same body posted
    again resumes it at once."""
    session.rollback()
    try:
        session.execute(
            update(PartnerOnboarding)
            .where(PartnerOnboarding.id == record_id, PartnerOnboarding.status == "pending")
            .values(claimed_until=None)
        )
        session.commit()
    except Exception:  # the store failed too: the hold expires by itself
        session.rollback()
        log.exception("could not release the hold on onboarding %s", record_id)


def _onboard(
    session: Session,
    *,
    chain: Chain,
    settings: GatewaySettings,
    body: PartnerCreate,
    record: PartnerOnboarding,
    minter: LocalAccount,
) -> tuple[Partner, str]:
    """Resumable: the record of the onboarding and the minter's keystore are written before the
    chain is touched, so a crash anywhere leaves something to finish, not an unknown partner on
    chain. Posting the same body again (same name) finishes it; each step checks the chain first."""
    c = chain.contracts
    password = keystore_password(settings)
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
    record.status, record.partner_id, record.claimed_until = "done", partner_id, None
    session.commit()
    _pending_keystore(settings, minter.address).unlink(missing_ok=True)
    return partner, key.key


def _pending_keystore(settings: GatewaySettings, minter: str) -> Path:
    return settings.keystore_dir / f"onboarding-{minter.lower()}.json"


def _local_funds(chain: Chain, minter: str, partner_id: int, deposit: int) -> None:
    """Local chains: gas money for the new key, and test stablecoins deposited in its name (up
    to ``deposit``, counting what a crashed earlier attempt deposited)."""
    chain.w3.provider.make_request("anvil_setBalance", [minter, hex(10**21)])
    missing = deposit - int(chain.contracts.clearing.functions.fundsOf(partner_id).call())
    if missing > 0 and chain.admin is not None:
        deposit_test_funds(chain, partner_id, missing)


def deposit_test_funds(chain: Chain, partner_id: int, amount: int) -> str:
    """Local chains: ``amount`` test stablecoins minted by the admin and deposited in the
    partner's name (``Clearing.deposit``: anyone may pay in for a partner). Returns the deposit's
    transaction hash. One at a time per process: the admin's nonces are read per transaction."""
    c = chain.contracts
    if chain.admin is None:
        raise RuntimeError("test funds exist on local chains only (no admin key)")
    with _admin_lock:
        transact(chain.w3, chain.admin, c.token.functions.mint(chain.admin.address, amount))
        transact(chain.w3, chain.admin, c.token.functions.approve(c.clearing.address, amount))
        receipt = transact(chain.w3, chain.admin, c.clearing.functions.deposit(partner_id, amount))
    return receipt["transactionHash"].to_0x_hex()
