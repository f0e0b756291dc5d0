"""Accepting redemptions: every check that can be made off chain (signature, deadline, nonce,
balance, reward, partner), the stock reserved and the redemption stored in one database
transaction; and the later steps of a redemption (burned, fulfilled, failed), each one
conditional on the step before, so that a task delivered twice never does a step twice.

The redeem ``ref`` (bytes32 of the ``Redeemed`` event) is keccak256(abi.encode(chain id,
partner id, redemption_id)): deterministic, so the event of a redemption can always be found.

Who may spend a custodial customer's points (the gateway signs the ``Redeem`` with the key it
holds): only the custodian partner, naming the customer by its own ref, and at most
``custodial_daily_points_limit`` points of one wallet in any 24 h (redemptions not failed), so a
stolen API key takes at most that much per customer per day. Every other redemption without a
consent (by wallet, or by a ref linked to a wallet this partner is not the custodian of) answers
exactly as for a wallet the gateway holds no key for: ``consent-required``, one fixed detail, and
nothing looked up that could take a different time.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import requests
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.chain import Chain
from gateway.errors import (
    ChainUnavailable,
    ConsentRequired,
    CustodialLimitReached,
    CustomerNotLinked,
    InsufficientPoints,
    InvalidSignature,
    NonceUsed,
    NotFound,
    PartnerSuspended,
    RewardUnavailable,
    SignatureExpired,
)
from gateway.failures import failure_of
from gateway.schemas import CustomerRef
from gateway.schemas_redemptions import ConsentRequest, RedemptionCreate
from gateway.services import custody, webhooks
from gateway.services.idempotency import body_hash, same_or_conflict
from gateway.services.rewards import find_reward, release_stock, reserve_stock
from gateway.settings import GatewaySettings
from network.signatures import REDEEM_TYPES, RedeemConsent, domain, recover_redeem_signer, sign_redeem
from network.store import CustodialWallet, CustomerLink, Partner, Redemption, Reward

BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
NONCE_USED = function_signature_to_4byte_selector("redeemNonceUsed(address,uint256)")
IN_FLIGHT = ("accepted", "burning")  # points not yet burned on chain: still in the customer's balance
OPEN = ("accepted", "burning", "burned")  # not final: the worker (or the sweep) has more to do
CUSTODIAL_WINDOW = timedelta(hours=24)
CONSENT_REQUIRED = (
    "send the customer's signed consent (POST /v1/redemptions/consent gives the typed data to sign); "
    "only a custodial customer named by its custodian partner's own ref is redeemed without one"
)
EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


class PointsView(Protocol):
    """What acceptance reads from the points contract (the unit tests give a fake)."""

    chain_id: int
    points_address: str

    def balance_of(self, wallet: str) -> int: ...
    def nonce_used(self, wallet: str, nonce: int) -> bool: ...


class ChainPointsView:
    """The points contract on the gateway's chain; an unreachable node is a 503.

    Two view calls per redemption, sent as bare ``eth_call`` requests with their calldata
    encoded here: web3's contract call would add an ``eth_chainId`` request (its validation
    middleware) and hash the function's signature again on every call."""

    def __init__(self, chain: Chain, settings: GatewaySettings) -> None:
        self._provider = chain.w3.provider
        self.chain_id = settings.chain_id
        self.points_address = str(chain.contracts.points.address)

    def balance_of(self, wallet: str) -> int:
        return int.from_bytes(self._call(BALANCE_OF + abi_encode(["address"], [wallet])), "big")

    def nonce_used(self, wallet: str, nonce: int) -> bool:
        return int.from_bytes(self._call(NONCE_USED + abi_encode(["address", "uint256"], [wallet, nonce])), "big") != 0

    def _call(self, data: bytes) -> bytes:
        call = {"to": self.points_address, "data": "0x" + data.hex()}
        try:
            reply = self._provider.make_request("eth_call", [call, "latest"])  # type: ignore[arg-type]
        except (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError) as exc:
            raise ChainUnavailable(f"the chain cannot be reached ({type(exc).__name__}); retry later") from exc
        result = reply.get("result")
        if "error" in reply or not isinstance(result, str) or len(result) != 66:
            raise ChainUnavailable(f"the chain answered eth_call with {reply.get('error', result)!r}; retry later")
        return bytes.fromhex(result[2:])


def redeem_ref(chain_id: int, partner_id: int, redemption_id: str) -> str:
    return "0x" + keccak(abi_encode(["uint256", "uint32", "string"], [chain_id, partner_id, redemption_id])).hex()


@dataclass(frozen=True)
class PreparedConsent:
    """A consent for the customer's wallet to sign: the Redeem it names, and the same as EIP-712
    typed data (what ``eth_signTypedData_v4`` takes)."""

    redemption_id: str
    consent: RedeemConsent
    typed_data: dict[str, Any]


def typed_data(view: PointsView, consent: RedeemConsent) -> dict[str, Any]:
    """The EIP-712 message a wallet signs (``eth_signTypedData_v4``), uint256 as decimal strings."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, **REDEEM_TYPES},
        "primaryType": "Redeem",
        "domain": domain(view.chain_id, view.points_address),
        "message": {
            "customer": consent.customer,
            "partnerId": consent.partner_id,
            "points": str(consent.points),
            "ref": "0x" + consent.ref.hex(),
            "nonce": str(consent.nonce),
            "deadline": str(consent.deadline),
        },
    }


def request_hash(body: RedemptionCreate) -> str:
    return body_hash(body.model_dump(mode="json"))


def _wallet(session: Session, partner: Partner, customer: CustomerRef) -> str:
    if customer.wallet is not None:
        return customer.wallet
    link = session.scalar(
        select(CustomerLink).where(CustomerLink.partner_id == partner.id, CustomerLink.ref == customer.ref)
    )
    if link is None:
        raise CustomerNotLinked(f"customer ref {customer.ref!r} is not linked to a wallet; link it first")
    return link.wallet


def _active_reward(session: Session, partner: Partner, sku: str) -> Reward:
    if partner.status != "active":
        raise PartnerSuspended(f"partner {partner.id} is suspended; redemptions are not accepted")
    reward = find_reward(session, partner_id=partner.id, sku=sku)
    if reward is None:
        raise NotFound(f"no reward {sku!r} in this partner's catalogue")
    if not reward.active:
        raise RewardUnavailable(f"reward {sku!r} is not active")
    return reward


def prepare_consent(
    session: Session, *, partner: Partner, body: ConsentRequest, view: PointsView, settings: GatewaySettings
) -> PreparedConsent:
    """The typed data the customer's wallet must sign for this redemption, with a fresh nonce."""
    reward = _active_reward(session, partner, body.sku)
    wallet = _wallet(session, partner, body.customer)
    consent = RedeemConsent(
        customer=wallet,
        partner_id=partner.id,
        points=reward.points * body.quantity,
        ref=bytes.fromhex(redeem_ref(view.chain_id, partner.id, body.redemption_id)[2:]),
        nonce=secrets.randbits(64),
        deadline=int(time.time()) + settings.redemption_consent_ttl_s,
    )
    return PreparedConsent(redemption_id=body.redemption_id, consent=consent, typed_data=typed_data(view, consent))


def accept_redemption(
    session: Session, *, partner: Partner, body: RedemptionCreate, view: PointsView, settings: GatewaySettings
) -> tuple[Redemption, bool]:
    """Checks the consent and the balance, reserves the stock and stores the redemption (status
    accepted), or returns the first one for the same id and body. Returns (redemption, created)."""
    digest = request_hash(body)
    existing = _find(session, partner.id, body.redemption_id)
    if existing is not None:
        return same_or_conflict(existing, digest, "redemption_id", existing.redemption_id), False
    reward = _active_reward(session, partner, body.sku)
    wallet = _wallet(session, partner, body.customer)
    points = reward.points * body.quantity
    ref = redeem_ref(view.chain_id, partner.id, body.redemption_id)
    consent, signature, custodial = _consent(session, settings, view, body, wallet, partner.id, points, ref)
    in_flight = session.scalar(
        select(func.coalesce(func.sum(Redemption.points), 0)).where(
            Redemption.customer_wallet == wallet, Redemption.status.in_(IN_FLIGHT)
        )
    )
    balance = view.balance_of(wallet)
    if balance - int(in_flight or 0) < points:
        raise InsufficientPoints(
            f"{wallet} has {balance} points, {in_flight} of them promised to redemptions in flight; {points} needed"
        )
    try:
        if custodial:
            _claim_custodial_spend(session, settings, wallet, points)
        reserved = reserve_stock(session, reward, body.quantity)
        redemption = Redemption(
            partner_id=partner.id,
            redemption_id=body.redemption_id,
            request_hash=digest,
            reward_id=reward.id,
            sku=reward.sku,
            quantity=body.quantity,
            points=points,
            stock_reserved=reserved,
            customer_wallet=wallet,
            customer_ref=body.customer.ref,
            custodial=custodial,
            ref=ref,
            nonce=str(consent.nonce),
            deadline=consent.deadline,
            signature=signature,
            status="accepted",
            attempts=0,
        )
        session.add(redemption)
        session.commit()
    except IntegrityError:
        session.rollback()  # a concurrent request took this redemption_id, or this nonce
        existing = _find(session, partner.id, body.redemption_id)
        if existing is not None:
            return same_or_conflict(existing, digest, "redemption_id", existing.redemption_id), False
        raise NonceUsed(f"nonce {consent.nonce} of {wallet} is used by another redemption") from None
    except BaseException:
        session.rollback()  # out of stock, over the custodial limit: nothing of this request stays
        raise
    session.refresh(redemption)
    return redemption, True


def _consent(
    session: Session,
    settings: GatewaySettings,
    view: PointsView,
    body: RedemptionCreate,
    wallet: str,
    partner_id: int,
    points: int,
    ref: str,
) -> tuple[RedeemConsent, bytes, bool]:
    """(consent, signature, custodial): the customer's checked signature, or the gateway's own
    for a custodial wallet. Checks in the order that says most to the partner: an expired or
    replayed consent is named as such even though its signature no longer matches the new ref."""
    ref_bytes = bytes.fromhex(ref[2:])
    if body.consent is None:
        # the gateway's key is looked up only for the partner's own ref: by wallet, a custodial
        # address is answered as any other (no lookup, the same detail)
        by_ref = body.customer.ref is not None
        account = custody.custodial_account(session, settings, wallet, partner_id=partner_id) if by_ref else None
        if account is None:
            raise ConsentRequired(CONSENT_REQUIRED)
        consent = RedeemConsent(
            wallet,
            partner_id,
            points,
            ref_bytes,
            secrets.randbits(64),
            int(time.time()) + settings.redemption_consent_ttl_s,
        )
        signature = sign_redeem(account.key, consent, chain_id=view.chain_id, points_address=view.points_address)
        return consent, signature, True
    given = body.consent
    if given.deadline <= int(time.time()):
        raise SignatureExpired(f"the consent's deadline {given.deadline} has passed; ask the customer to sign again")
    used = session.scalar(
        select(Redemption.redemption_id).where(
            Redemption.customer_wallet == wallet, Redemption.nonce == str(given.nonce)
        )
    )
    if used is not None or view.nonce_used(wallet, given.nonce):
        raise NonceUsed(f"nonce {given.nonce} of {wallet} was used by another redemption: a consent works once")
    consent = RedeemConsent(wallet, partner_id, points, ref_bytes, given.nonce, given.deadline)
    signature = bytes.fromhex(given.signature[2:])
    try:
        signer = recover_redeem_signer(signature, consent, chain_id=view.chain_id, points_address=view.points_address)
    except Exception:
        signer = None
    if signer != wallet:
        raise InvalidSignature(
            f"the consent is not signed by {wallet} for {points} points at partner {partner_id} with ref {ref}"
        )
    return consent, signature, False


def _claim_custodial_spend(session: Session, settings: GatewaySettings, wallet: str, points: int) -> None:
    """Checks the custodial wallet's daily limit in the caller's transaction (which then stores
    the redemption): the wallet's row is written first (a no-op update), which locks it until the
    commit (PostgreSQL's row lock, SQLite's write lock), so that two concurrent redemptions of one
    wallet never both fit under the limit. Raises CustodialLimitReached, or ConsentRequired if
    the key was released meanwhile (the caller rolls back)."""
    limit = settings.custodial_daily_points_limit
    held = session.execute(
        update(CustodialWallet)
        .where(CustodialWallet.address == wallet, CustodialWallet.released_at.is_(None))
        .values(released_at=None)
        .execution_options(synchronize_session=False)
    )
    if held.rowcount != 1:  # type: ignore[attr-defined]
        raise ConsentRequired(CONSENT_REQUIRED)
    since = datetime.now(UTC) - CUSTODIAL_WINDOW
    spent, oldest = session.execute(
        select(func.coalesce(func.sum(Redemption.points), 0), func.min(Redemption.created_at)).where(
            Redemption.customer_wallet == wallet,
            Redemption.custodial.is_(True),
            Redemption.status != "failed",
            Redemption.created_at > since,
        )
    ).one()
    spent = int(spent or 0)
    if spent + points > limit:
        frees = f"; the oldest of them counts until {(oldest + CUSTODIAL_WINDOW).isoformat()}" if oldest else ""
        raise CustodialLimitReached(
            f"custodial wallet {wallet} may spend {limit} points in any 24 h on its custodian's word; "
            f"{spent} spent{frees}, {points} asked. For more, the customer takes the wallet's key "
            "(POST /v1/customers/{ref}/custodial-wallet/release) and signs the consent themselves"
        )


def _find(session: Session, partner_id: int, redemption_id: str) -> Redemption | None:
    return session.scalar(
        select(Redemption).where(Redemption.partner_id == partner_id, Redemption.redemption_id == redemption_id)
    )


def get_redemption(session: Session, *, partner: Partner, redemption_id: str) -> Redemption | None:
    return _find(session, partner.id, redemption_id)


# ---------------------------------------------------------------------- later steps (the worker's)


def event_data(redemption: Redemption) -> dict[str, Any]:
    return {
        "redemption_id": redemption.redemption_id,
        "status": redemption.status,
        "sku": redemption.sku,
        "quantity": redemption.quantity,
        "points": redemption.points,
        "customer_wallet": redemption.customer_wallet,
        "ref": redemption.ref,
        "tx_hash": redemption.tx_hash,
        "voucher_code": redemption.voucher_code,
        "failure_reason": redemption.failure_reason,
        "failure": failure_public(redemption.failure_reason),
    }


def failure_public(reason: str | None) -> dict[str, str] | None:
    """The problem ``{type, title, detail}`` of a failed redemption's reason (gateway/failures.py)."""
    found = failure_of("redemption", reason)
    return None if found is None else found.public()


def _step(session: Session, pk: int, allowed: tuple[str, ...], **values: Any) -> bool:
    """Moves the redemption on only from one of ``allowed``: True when this call moved it."""
    result = session.execute(
        update(Redemption)
        .where(Redemption.id == pk, Redemption.status.in_(allowed))
        .values(updated_at=datetime.now(UTC), **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def store_signed_burn(session: Session, pk: int, *, tx_hash: str, raw_tx: bytes, tx_nonce: int) -> bool:
    """Stores the signed burn before it is broadcast (commits)."""
    moved = _step(session, pk, IN_FLIGHT, status="burning", tx_hash=tx_hash, raw_tx=raw_tx, tx_nonce=tx_nonce)
    session.commit()
    return moved


def store_signed_burns(session: Session, burns: list[tuple[int, str, bytes, int]]) -> set[int]:
    """Stores several signed burns, (pk, tx_hash, raw_tx, tx_nonce) each, in one transaction
    before any is broadcast; only redemptions still ``accepted`` (none signed yet) take theirs.
    Returns the pks stored (commits)."""
    stored = {
        pk
        for pk, tx_hash, raw_tx, tx_nonce in burns
        if _step(session, pk, ("accepted",), status="burning", tx_hash=tx_hash, raw_tx=raw_tx, tx_nonce=tx_nonce)
    }
    session.commit()
    return stored


def forget_signed_burn(session: Session, pk: int) -> None:
    """Its transaction will never be mined (its nonce went to another): sign again (commits)."""
    _step(session, pk, IN_FLIGHT, tx_hash=None, raw_tx=None, tx_nonce=None)
    session.commit()


def mark_burned(session: Session, pk: int, *, tx_hash: str, block_number: int) -> bool:
    moved = _step(
        session, pk, IN_FLIGHT, status="burned", tx_hash=tx_hash, block_number=block_number, burned_at=datetime.now(UTC)
    )
    session.commit()
    return moved


def mark_failed(session: Session, pk: int, reason: str) -> list[int]:
    """Failed, stock released and the partner told, in one transaction; only from before the
    burn. Returns the webhook deliveries to kick."""
    now = datetime.now(UTC)
    deliveries: list[int] = []
    if _step(session, pk, IN_FLIGHT, status="failed", failure_reason=reason[:2000], finished_at=now):
        redemption = session.get(Redemption, pk, populate_existing=True)
        assert redemption is not None
        release_stock(session, redemption)
        deliveries = webhooks.emit(session, redemption.partner_id, "redemption.failed", event_data(redemption))
    session.commit()
    return deliveries


def mark_fulfilled(session: Session, pk: int) -> list[int]:
    """Burned -> fulfilled with a fresh voucher code and the webhook, in one transaction
    guarded by the status: a redemption is never fulfilled twice."""
    deliveries: list[int] = []
    code = secrets.token_urlsafe(15)
    if _step(session, pk, ("burned",), status="fulfilled", voucher_code=code, finished_at=datetime.now(UTC)):
        redemption = session.get(Redemption, pk, populate_existing=True)
        assert redemption is not None
        deliveries = webhooks.emit(session, redemption.partner_id, "redemption.fulfilled", event_data(redemption))
    session.commit()
    return deliveries
