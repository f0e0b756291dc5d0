"""The customer's own API: sign in with a wallet (an EIP-4361 message signed, exchanged for a
token) and read, with that token, the wallet's partners, its balance and its whole history
across partners. The partner's side of customers is gateway/routes/customers.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response, status

from gateway.deps import ChainDep, SessionDep, SettingsDep, _bearer, limit_client
from gateway.problems import problem_responses
from gateway.routes.customer_common import SIGNED_PROBLEMS, Cursor, Limit, history_public
from gateway.schemas_customers import (
    AuthChallengeCreate,
    BalancePublic,
    ChallengePublic,
    HistoryPublic,
    MeLink,
    MePublic,
    SessionPublic,
    SignedMessage,
)
from gateway.services import custody, customer_links, history, wallet_auth
from gateway.timeutil import as_utc

router = APIRouter(tags=["customers"])

# the sign-in routes need no credentials: a token bucket per client address (COALITION_AUTH_RATE_LIMIT_*)
SIGN_IN_LIMIT = Depends(limit_client("sign-in", "sign-in requests"))


def current_customer(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> str:
    wallet = wallet_auth.session_wallet(session, _bearer(authorization))
    session.commit()
    return wallet


CurrentCustomer = Annotated[str, Depends(current_customer)]


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
    links = [
        MeLink(partner_id=p.partner_id, partner_name=p.partner_name, ref=p.ref)
        for p in customer_links.partners_of(session, wallet=wallet)
    ]
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
    return history_public(page, wallet=wallet, balance=history.balance_of(chain, wallet))
