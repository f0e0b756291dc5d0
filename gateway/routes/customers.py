"""Customer API (wallet sign-in, balance, history) and the partner's customer links and custodial wallets.

Two kinds of caller. A partner (its API key) manages its own customer refs: links one to a
wallet the customer proves with an EIP-4361 signature, or to a custodial wallet the gateway
holds, and reads the balance and the history *at this partner*. A customer (a token from
signing in with their wallet) reads their whole history across partners. A partner asking
about a ref or wallet it does not know gets 404, whether or not it exists elsewhere.

Taking ownership of a custodial wallet: the customer has no key to sign in with, so the
partner, having authenticated its customer its own way, calls ``.../custodial-wallet/release``.
The first call only asks (202, ``available_at``): the partner is told by a webhook and the
operator by an alert, and the partner can cancel (DELETE) during the notice period
(``COALITION_CUSTODIAL_RELEASE_NOTICE_S``). A call after ``available_at``, with a password the
customer chose, answers the key as an encrypted JSON keystore (the only copy handed out); the
gateway never signs for that address again. The link and the points stay at the same address,
which is now the customer's own wallet (gateway/services/custody.py has the rule).
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.deps import ChainDep, CurrentPartner, SessionDep, SettingsDep, _bearer, limit_client
from gateway.errors import (
    CustodialReleasePending,
    CustodialWalletReleased,
    CustomerAlreadyLinked,
    GatewayError,
    NotFound,
    WalletNotCustodial,
)
from gateway.problems import problem_responses
from gateway.schemas import Address, Ident
from gateway.schemas_customers import (
    AuthChallengeCreate,
    BalancePublic,
    ChallengePublic,
    CustomerPublic,
    HistoryEntry,
    HistoryPublic,
    MeLink,
    MePublic,
    ReleasedWallet,
    ReleasePending,
    ReleaseRequest,
    SessionPublic,
    SignedMessage,
    SignInLinkPublic,
    WalletChallengeCreate,
)
from gateway.services import custody, history, sign_in_links, wallet_auth
from gateway.timeutil import as_utc
from network.store import CustodialWallet, CustomerLink, Partner, utcnow

router = APIRouter(tags=["customers"])

Cursor = Annotated[int | None, Query(ge=1, lt=2**62, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=200)]
READ_PROBLEMS = ("unauthorized", "not-found", "validation-error", "chain-unavailable")
SIGNED_PROBLEMS = (
    "challenge-unknown",
    "challenge-mismatch",
    "challenge-expired",
    "challenge-used",
    "wallet-signature-invalid",
    "validation-error",
)


# the sign-in routes need no credentials: a token bucket per client address (COALITION_AUTH_RATE_LIMIT_*)
SIGN_IN_LIMIT = Depends(limit_client("sign-in", "sign-in requests"))


def current_customer(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> str:
    wallet = wallet_auth.session_wallet(session, _bearer(authorization))
    session.commit()
    return wallet


CurrentCustomer = Annotated[str, Depends(current_customer)]


def _link(session: Session, partner: Partner, ref: str) -> CustomerLink:
    link = session.scalar(select(CustomerLink).where(CustomerLink.partner_id == partner.id, CustomerLink.ref == ref))
    if link is None:
        raise NotFound(f"no customer {ref!r} of this partner")
    return link


def _customer_public(session: Session, link: CustomerLink) -> CustomerPublic:
    wallet = session.get(CustodialWallet, link.wallet)
    return CustomerPublic(
        ref=link.ref,
        wallet=link.wallet,
        custodial=wallet is not None and wallet.released_at is None,
        released=wallet is not None and wallet.released_at is not None,
        release_available_at=custody.pending_release(wallet, utcnow()),
        linked_at=as_utc(link.created_at),
    )


def _history(chain: ChainDep, page: history.HistoryPage, wallet: str) -> HistoryPublic:
    return HistoryPublic(
        wallet=wallet,
        balance=history.balance_of(chain, wallet),
        entries=[
            HistoryEntry(
                kind=e.kind,
                points=e.points,
                partner_id=e.partner_id,
                partner_name=name,
                seq=e.seq,
                ref=e.ref,
                block_number=e.block_number,
                block_time=e.block_time,
                tx_hash=e.tx_hash,
            )
            for e, name in page.entries
        ],
        next_cursor=page.next_cursor,
    )


def _statement(partner: Partner, ref: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", f"Link your wallet to {partner.name} customer {ref}")


# --- the partner's customers


@router.post(
    "/v1/customers/{ref}/wallet-challenge",
    status_code=status.HTTP_201_CREATED,
    response_model=ChallengePublic,
    summary="An EIP-4361 message for the customer to sign, to link this ref to their wallet",
    responses=problem_responses("unauthorized", "validation-error"),
)
def wallet_challenge(
    ref: Ident, body: WalletChallengeCreate, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> ChallengePublic:
    """Single use, expires after ``COALITION_WALLET_CHALLENGE_TTL_S`` (10 minutes by default)."""
    challenge = wallet_auth.issue_challenge(
        session,
        settings,
        address=body.wallet,
        statement=_statement(partner, ref),
        purpose="link",
        partner_id=partner.id,
        ref=ref,
    )
    answer = ChallengePublic(message=challenge.message, nonce=challenge.nonce, expires_at=as_utc(challenge.expires_at))
    session.commit()
    return answer


@router.put(
    "/v1/customers/{ref}/wallet",
    response_model=CustomerPublic,
    summary="Link the ref to the wallet that signed the challenge (replaces an earlier link)",
    responses=problem_responses("unauthorized", "customer-already-linked", *SIGNED_PROBLEMS),
)
def link_wallet(
    ref: Ident, body: SignedMessage, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> CustomerPublic:
    """Refused (409) while the ref is linked to a custodial wallet the gateway still holds: its
    points would be stranded there. Release it first; the customer then owns both wallets."""
    link = session.scalar(select(CustomerLink).where(CustomerLink.partner_id == partner.id, CustomerLink.ref == ref))
    if link is not None and custody.is_custodial(session, link.wallet):
        raise CustomerAlreadyLinked(f"customer {ref!r} has a custodial wallet {link.wallet}: release it first")
    challenge = wallet_auth.verify_challenge(
        session,
        settings,
        message=body.message,
        signature=body.signature,
        purpose="link",
        partner_id=partner.id,
        ref=ref,
    )
    if link is None:
        link = CustomerLink(partner_id=partner.id, ref=ref, wallet=challenge.address)
        session.add(link)
    else:
        link.wallet = challenge.address
    session.flush()
    answer = _customer_public(session, link)
    session.commit()
    return answer


@router.post(
    "/v1/customers/{ref}/custodial-wallet",
    status_code=status.HTTP_201_CREATED,
    response_model=CustomerPublic,
    summary="Create a custodial wallet for a customer who has none, and link the ref to it",
    responses=problem_responses("unauthorized", "customer-already-linked", "validation-error"),
)
def create_custodial(ref: Ident, partner: CurrentPartner, session: SessionDep, settings: SettingsDep) -> CustomerPublic:
    """For a customer with no wallet of their own: the gateway creates one, holds its key (encrypted)
    and signs for it; the customer can take the key later (``.../custodial-wallet/release``)."""
    existing = session.scalar(
        select(CustomerLink).where(CustomerLink.partner_id == partner.id, CustomerLink.ref == ref)
    )
    if existing is not None:
        raise CustomerAlreadyLinked(f"customer {ref!r} is linked to {existing.wallet} already")
    wallet = custody.create_custodial_wallet(session, settings, partner_id=partner.id)
    link = CustomerLink(partner_id=partner.id, ref=ref, wallet=wallet)
    session.add(link)
    session.flush()
    answer = _customer_public(session, link)
    session.commit()
    return answer


RELEASE_PROBLEMS = ("unauthorized", "not-found", "wallet-not-custodial", "custodial-wallet-released")


def _release_problem(ref: str, wallet: str, exc: Exception) -> GatewayError:
    """The answer to a release call that custody refused. A wallet that is not custodial, or
    whose custodian is another partner, answers alike (no hint of whose custody it is)."""
    if isinstance(exc, custody.ReleaseNotYet):
        wait_s = max(1, math.ceil((exc.available_at - utcnow()).total_seconds()))
        return CustodialReleasePending(str(exc), available_at=exc.available_at, retry_after_s=wait_s)
    if isinstance(exc, custody.AlreadyReleased):
        return CustodialWalletReleased(str(exc))
    return WalletNotCustodial(f"customer {ref!r} is linked to their own wallet {wallet}")


@router.post(
    "/v1/customers/{ref}/custodial-wallet/release",
    response_model=ReleasedWallet,
    response_description="The notice is over: the key, once, as a keystore encrypted with this call's password",
    summary="Release the custodial wallet: the first call asks (202), a call after the notice gets the key (200)",
    responses={
        status.HTTP_202_ACCEPTED: {
            "model": ReleasePending,
            "description": "The release is asked for: the key is handed over from available_at, unless cancelled",
        },
        **problem_responses(*RELEASE_PROBLEMS, "custodial-release-pending", "validation-error"),
    },
)
def release_custodial(
    ref: Ident, body: ReleaseRequest, partner: CurrentPartner, session: SessionDep, settings: SettingsDep
) -> ReleasedWallet | JSONResponse:
    """Call it only after authenticating the customer yourself: whoever gets the keystore (and
    the password) owns the points. The first call records the request and answers 202 with
    ``available_at`` (now + ``COALITION_CUSTODIAL_RELEASE_NOTICE_S``, 72 h by default); you get
    the webhook event ``customer.custodial_release_requested`` and the operator an alert, so a
    request you did not make can be cancelled (DELETE). Calls before ``available_at`` answer 409
    ``custodial-release-pending``; the first call from then on (for 7 days; later, the request
    lapses and this call asks again) answers the keystore, encrypted with the ``password`` of
    that call, once. The customer's points are untouched throughout, and custodial spending goes
    on (within the daily limit) until the key is handed over."""
    link = _link(session, partner, ref)
    try:
        outcome = custody.release_custodial_wallet(
            session, settings, link.wallet, body.password, partner_id=partner.id, ref=ref
        )
    except (LookupError, custody.AlreadyReleased, custody.ReleaseNotYet) as exc:
        session.rollback()  # ends the hold on the wallet's row at once
        raise _release_problem(ref, link.wallet, exc) from exc
    session.commit()
    if isinstance(outcome, custody.ReleaseRequested):
        pending = ReleasePending(wallet=outcome.wallet, available_at=outcome.available_at)
        return JSONResponse(pending.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    return ReleasedWallet(wallet=outcome.wallet, keystore=outcome.keystore)


@router.delete(
    "/v1/customers/{ref}/custodial-wallet/release",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Cancel a release asked for and not yet handed over (nothing pending: nothing to do)",
    responses=problem_responses(*RELEASE_PROBLEMS, "validation-error"),
)
def cancel_custodial_release(ref: Ident, partner: CurrentPartner, session: SessionDep) -> Response:
    """Your recovery from a release you did not ask for (the webhook or the operator tells you
    of every request). Answers 409 ``custodial-wallet-released`` once the key was handed over."""
    link = _link(session, partner, ref)
    try:
        custody.cancel_release(session, link.wallet, partner_id=partner.id)
    except (LookupError, custody.AlreadyReleased) as exc:
        session.rollback()
        raise _release_problem(ref, link.wallet, exc) from exc
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/customers/{ref}/sign-in-link",
    status_code=status.HTTP_201_CREATED,
    response_model=SignInLinkPublic,
    summary="A one-time link that opens the customer page, read-only, for your custodial customer",
    responses=problem_responses("unauthorized", "not-found", "wallet-not-custodial", "custodial-wallet-released"),
)
def sign_in_link(ref: Ident, partner: CurrentPartner, session: SessionDep, settings: SettingsDep) -> SignInLinkPublic:
    """For a customer whose custodial wallet you are the custodian of (they hold no key to sign
    in with): call it only after authenticating the customer yourself, and hand the URL to them
    alone (e.g. open it in your app). The link opens ``/me`` once, within
    ``COALITION_SIGN_IN_LINK_TTL_S`` (10 minutes by default), for a read-only session of
    ``COALITION_SIGN_IN_LINK_SESSION_TTL_S`` (30 minutes). A customer with their own wallet
    (linked with a signature, or released) signs in with it: 409 ``wallet-not-custodial``
    or ``custodial-wallet-released``."""
    link = _link(session, partner, ref)
    url, row = sign_in_links.issue(session, settings, partner_id=partner.id, ref=ref, wallet=link.wallet)
    answer = SignInLinkPublic(url=url, wallet=row.wallet, expires_at=as_utc(row.expires_at))
    session.commit()
    return answer


@router.get(
    "/v1/customers/{ref}",
    response_model=CustomerPublic,
    summary="The customer's link: wallet, custodial or not",
    responses=problem_responses("unauthorized", "not-found", "validation-error"),
)
def get_customer(ref: Ident, partner: CurrentPartner, session: SessionDep) -> CustomerPublic:
    """The wallet the ref is linked to, and whether the gateway holds its key."""
    answer = _customer_public(session, _link(session, partner, ref))
    session.commit()
    return answer


@router.get(
    "/v1/customers/{ref}/balance",
    response_model=BalancePublic,
    summary="The customer's points, from the chain",
    responses=problem_responses(*READ_PROBLEMS),
)
def customer_balance(ref: Ident, partner: CurrentPartner, session: SessionDep, chain: ChainDep) -> BalancePublic:
    """The points of the ref's wallet, read from the chain (its whole balance, earned at any partner)."""
    wallet = _link(session, partner, ref).wallet
    session.commit()
    return BalancePublic(wallet=wallet, points=history.balance_of(chain, wallet))


@router.get(
    "/v1/customers/{ref}/history",
    response_model=HistoryPublic,
    summary="The customer's movements at this partner (newest first) and their whole balance",
    responses=problem_responses(*READ_PROBLEMS),
)
def customer_history(
    ref: Ident, partner: CurrentPartner, session: SessionDep, chain: ChainDep, cursor: Cursor = None, limit: Limit = 50
) -> HistoryPublic:
    """Earns, redemptions and clawbacks at this partner, newest first, a page at a time (``cursor``),
    and the wallet's whole balance."""
    wallet = _link(session, partner, ref).wallet
    page = history.history(session, wallet, partner_id=partner.id, cursor=cursor, limit=limit)
    session.commit()
    return _history(chain, page, wallet)


def _known_wallet(session: Session, partner: Partner, address: str) -> str:
    if not history.wallet_known_to(session, partner.id, address):
        raise NotFound(f"no customer wallet {address} at this partner")
    return address


@router.get(
    "/v1/wallets/{address}/balance",
    response_model=BalancePublic,
    summary="A wallet's points, if it is linked to this partner or bought here",
    responses=problem_responses(*READ_PROBLEMS),
)
def wallet_balance(address: Address, partner: CurrentPartner, session: SessionDep, chain: ChainDep) -> BalancePublic:
    """A wallet this partner knows (linked, or one of its purchases): its points, from the chain.
    Any other wallet is 404."""
    wallet = _known_wallet(session, partner, address)
    session.commit()
    return BalancePublic(wallet=wallet, points=history.balance_of(chain, wallet))


@router.get(
    "/v1/wallets/{address}/history",
    response_model=HistoryPublic,
    summary="A wallet's movements at this partner, if it is linked to this partner or bought here",
    responses=problem_responses(*READ_PROBLEMS),
)
def wallet_history(
    address: Address,
    partner: CurrentPartner,
    session: SessionDep,
    chain: ChainDep,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> HistoryPublic:
    """A wallet this partner knows: its movements at this partner, newest first, a page at a time."""
    wallet = _known_wallet(session, partner, address)
    page = history.history(session, wallet, partner_id=partner.id, cursor=cursor, limit=limit)
    session.commit()
    return _history(chain, page, wallet)


# --- the customer's own API


@router.post(
    "/v1/auth/challenge",
    status_code=status.HTTP_201_CREATED,
    response_model=ChallengePublic,
    summary="An EIP-4361 message to sign in with a wallet",
    responses=problem_responses("validation-error", "rate-limited"),
    dependencies=[SIGN_IN_LIMIT],
)
def auth_challenge(body: AuthChallengeCreate, session: SessionDep, settings: SettingsDep) -> ChallengePublic:
    """The customer's wallet signs the message (personal_sign), then POST /v1/auth/session exchanges
    it for a token. Single use; expires after ``COALITION_WALLET_CHALLENGE_TTL_S``. Rate-limited per
    client address."""
    challenge = wallet_auth.issue_challenge(
        session, settings, address=body.address, statement="Sign in to the coalition loyalty network", purpose="session"
    )
    answer = ChallengePublic(message=challenge.message, nonce=challenge.nonce, expires_at=as_utc(challenge.expires_at))
    session.commit()
    return answer


@router.post(
    "/v1/auth/session",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionPublic,
    summary="Exchange the signed challenge for a customer token",
    responses=problem_responses(*SIGNED_PROBLEMS, "rate-limited"),
    dependencies=[SIGN_IN_LIMIT],
)
def auth_session(body: SignedMessage, session: SessionDep, settings: SettingsDep) -> SessionPublic:
    """The signed challenge of POST /v1/auth/challenge, for a customer token (the customerToken of
    /v1/me). Rate-limited per client address."""
    challenge = wallet_auth.verify_challenge(
        session, settings, message=body.message, signature=body.signature, purpose="session"
    )
    token, row = wallet_auth.open_session(session, settings, challenge.address)
    answer = SessionPublic(token=token, wallet=row.wallet, expires_at=as_utc(row.expires_at))
    session.commit()
    return answer


@router.post(
    "/v1/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the customer session of this token, at once",
    responses=problem_responses("unauthorized"),
    openapi_extra={"security": [{"customerToken": []}]},  # the token is read here, not by a dependency
)
def auth_logout(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    """The token answers 401 from now on, here and on the customer page (its cookie is the same
    token)."""
    token = _bearer(authorization)
    wallet_auth.session_wallet(session, token)  # Unauthorized if unknown or expired
    wallet_auth.close_session(session, token)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/me",
    response_model=MePublic,
    summary="The signed-in customer: wallet and the partners it is linked at",
    responses=problem_responses("unauthorized"),
)
def me(wallet: CurrentCustomer, session: SessionDep) -> MePublic:
    """The wallet signed in, whether the gateway holds its key, and the partners it is a customer of."""
    rows = session.execute(
        select(CustomerLink, Partner.name)
        .join(Partner, Partner.id == CustomerLink.partner_id)
        .where(CustomerLink.wallet == wallet)
        .order_by(CustomerLink.id)
    )
    links = [MeLink(partner_id=link.partner_id, partner_name=name, ref=link.ref) for link, name in rows]
    answer = MePublic(wallet=wallet, custodial=custody.is_custodial(session, wallet), links=links)
    session.commit()
    return answer


@router.get(
    "/v1/me/balance",
    response_model=BalancePublic,
    summary="The signed-in customer's points, from the chain",
    responses=problem_responses("unauthorized", "chain-unavailable"),
)
def me_balance(wallet: CurrentCustomer, chain: ChainDep) -> BalancePublic:
    """The signed-in wallet's points, from the chain."""
    return BalancePublic(wallet=wallet, points=history.balance_of(chain, wallet))


@router.get(
    "/v1/me/history",
    response_model=HistoryPublic,
    summary="The signed-in customer's movements at every partner, newest first",
    responses=problem_responses("unauthorized", "validation-error", "chain-unavailable"),
)
def me_history(
    wallet: CurrentCustomer, session: SessionDep, chain: ChainDep, cursor: Cursor = None, limit: Limit = 50
) -> HistoryPublic:
    """The signed-in wallet's movements at every partner, newest first, a page at a time (``cursor``)."""
    page = history.history(session, wallet, cursor=cursor, limit=limit)
    session.commit()
    return _history(chain, page, wallet)
