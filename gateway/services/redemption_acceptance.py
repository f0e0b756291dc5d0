"""Accepting redemptions: every check that can be made off chain (signature, deadline, nonce,
balance, reward, partner), the stock reserved and the redemption stored in one database
transaction. What happens to a redemption after that (burned, fulfilled, failed) is
gateway/services/redemptions.py.

Who may spend a custodial customer's points (the gateway signs the ``Redeem`` with the key it
holds): only the custodian partner, naming the customer by its own ref, and at most
``custodial_daily_points_limit`` points of one wallet in any 24 h (redemptions not failed), so a
stolen API key takes at most that much per customer per day. Every other redemption without a
consent (by wallet, or by a ref linked to a wallet this partner is not the custodian of) answers
exactly as for a wallet the gateway holds no key for: ``consent-required``, one fixed detail, and
nothing looked up that could take a different time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import (
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
from gateway.schemas import CustomerRef
from gateway.schemas_redemptions import ConsentRequest, RedemptionCreate
from gateway.services import custody, customer_records
from gateway.services.consent_nonces import next_nonce
from gateway.services.idempotency import body_hash, same_or_conflict
from gateway.services.redemptions import PointsView, consent_now, find_redemption, redeem_ref
from gateway.services.rewards import find_reward, reserve_stock
from gateway.services.wallet_promises import lock_wallet, promised
from gateway.settings import GatewaySettings
from network.signatures import REDEEM_TYPES, RedeemConsent, domain, recover_redeem_signer, sign_redeem
from network.store import CustodialWallet, Partner, PointsHold, Redemption, Reward

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
    assert customer.ref is not None  # the schema asks for exactly one of the two
    link = customer_records.find_link(session, partner_id=partner.id, ref=customer.ref)
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
    """The typed data the customer's wallet must sign for this redemption, with the wallet's next
    nonce (gateway/services/consent_nonces.py; taken in the caller's transaction, which commits it)."""
    reward = _active_reward(session, partner, body.sku)
    wallet = _wallet(session, partner, body.customer)
    consent = RedeemConsent(
        customer=wallet,
        partner_id=partner.id,
        points=reward.points * body.quantity,
        ref=bytes.fromhex(redeem_ref(view.chain_id, partner.id, body.redemption_id)[2:]),
        nonce=next_nonce(session, wallet),
        deadline=consent_now(view) + settings.redemption_consent_ttl_s,
    )
    return PreparedConsent(redemption_id=body.redemption_id, consent=consent, typed_data=typed_data(view, consent))


def accept_redemption(
    session: Session, *, partner: Partner, body: RedemptionCreate, view: PointsView, settings: GatewaySettings
) -> tuple[Redemption, bool]:
    """Checks the consent and the balance, reserves the stock and stores the redemption (status
    accepted), or returns the first one for the same id and body. Returns (redemption, created)."""
    digest = request_hash(body)
    existing = find_redemption(session, partner_id=partner.id, redemption_id=body.redemption_id)
    if existing is not None:
        return same_or_conflict(existing, digest, "redemption_id", existing.redemption_id), False
    reward = _active_reward(session, partner, body.sku)
    wallet = _wallet(session, partner, body.customer)
    points = reward.points * body.quantity
    ref = redeem_ref(view.chain_id, partner.id, body.redemption_id)
    consent, signature, custodial = _consent(session, settings, view, body, wallet, partner.id, points, ref)
    try:
        # the wallet's lock first, then what it promised, then the chain's balance
        # (gateway/services/wallet_promises.py says why in that order)
        lock_wallet(session, wallet)
        in_flight, held = promised(session, wallet, now=datetime.now(UTC))
        balance = view.balance_of(wallet)
        if balance - in_flight - held < points:
            raise InsufficientPoints(
                f"{wallet} has {balance} points, {in_flight} of them promised to redemptions in flight and {held} "
                f"held at tills; {points} needed"
            )
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
        existing = find_redemption(session, partner_id=partner.id, redemption_id=body.redemption_id)
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
            next_nonce(session, wallet),
            consent_now(view) + settings.redemption_consent_ttl_s,
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
    held = session.scalar(  # points held at tills count too (gateway/services/points_holds.py)
        select(func.coalesce(func.sum(PointsHold.points), 0)).where(
            PointsHold.customer_wallet == wallet,
            PointsHold.custodial.is_(True),
            PointsHold.status == "authorised",
            PointsHold.expires_at > datetime.now(UTC),
        )
    )
    spent = int(spent or 0) + int(held or 0)
    if spent + points > limit:
        frees = f"; the oldest of them counts until {(oldest + CUSTODIAL_WINDOW).isoformat()}" if oldest else ""
        raise CustodialLimitReached(
            f"custodial wallet {wallet} may spend {limit} points in any 24 h on its custodian's word; "
            f"{spent} spent{frees}, {points} asked. For more, the customer takes the wallet's key "
            "(POST /v1/customers/{ref}/custodial-wallet/release) and signs the consent themselves"
        )
