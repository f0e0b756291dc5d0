"""Partner API: the partner's customers. A partner (its API key) manages its own customer refs:
links one to a wallet the customer proves with an EIP-4361 signature, or to a custodial wallet
the gateway holds, and reads the balance and the history *at this partner*. A partner asking
about a ref or wallet it does not know gets 404, whether or not it exists elsewhere
(gateway/services/customer_links.py). The customer's own API (sign-in, their whole history
across partners) is gateway/routes/me_api.py.

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

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse

from gateway.deps import ChainDep, CurrentPartner, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.routes.customer_common import SIGNED_PROBLEMS, Cursor, Limit, history_public
from gateway.schemas import Address, Ident
from gateway.schemas_customers import (
    BalancePublic,
    ChallengePublic,
    CustomerPublic,
    HistoryPublic,
    ReleasedWallet,
    ReleasePending,
    ReleaseRequest,
    SignedMessage,
    SignInLinkPublic,
    WalletChallengeCreate,
)
from gateway.services import custody, customer_links, history, sign_in_links
from gateway.services.customer_links import LinkView
from gateway.timeutil import as_utc

router = APIRouter(tags=["customers"])

READ_PROBLEMS = ("unauthorized", "not-found", "validation-error", "chain-unavailable")
RELEASE_PROBLEMS = ("unauthorized", "not-found", "wallet-not-custodial", "custodial-wallet-released")


def _customer_public(view: LinkView) -> CustomerPublic:
    return CustomerPublic(
        ref=view.ref,
        wallet=view.wallet,
        custodial=view.custodial,
        released=view.released,
        release_available_at=view.release_available_at,
        linked_at=view.linked_at,
    )


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
    challenge = customer_links.issue_link_challenge(session, settings, partner=partner, ref=ref, wallet=body.wallet)
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
    link = customer_links.link_wallet(
        session, settings, partner_id=partner.id, ref=ref, message=body.message, signature=body.signature
    )
    answer = _customer_public(customer_links.view_of(session, link))
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
    link = customer_links.link_custodial_wallet(session, settings, partner_id=partner.id, ref=ref)
    answer = _customer_public(customer_links.view_of(session, link))
    session.commit()
    return answer


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
    outcome = customer_links.release_custodial_wallet(
        session, settings, partner_id=partner.id, ref=ref, password=body.password
    )
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
    customer_links.cancel_release(session, partner_id=partner.id, ref=ref)
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
    link = customer_links.get_link(session, partner_id=partner.id, ref=ref)
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
    answer = _customer_public(
        customer_links.view_of(session, customer_links.get_link(session, partner_id=partner.id, ref=ref))
    )
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
    wallet = customer_links.get_link(session, partner_id=partner.id, ref=ref).wallet
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
    wallet = customer_links.get_link(session, partner_id=partner.id, ref=ref).wallet
    page = history.history(session, wallet, partner_id=partner.id, cursor=cursor, limit=limit)
    session.commit()
    return history_public(page, wallet=wallet, balance=history.balance_of(chain, wallet))


@router.get(
    "/v1/wallets/{address}/balance",
    response_model=BalancePublic,
    summary="A wallet's points, if it is linked to this partner or bought here",
    responses=problem_responses(*READ_PROBLEMS),
)
def wallet_balance(address: Address, partner: CurrentPartner, session: SessionDep, chain: ChainDep) -> BalancePublic:
    """A wallet this partner knows (linked, or one of its purchases): its points, from the chain.
    Any other wallet is 404."""
    wallet = customer_links.known_wallet(session, partner_id=partner.id, address=address)
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
    wallet = customer_links.known_wallet(session, partner_id=partner.id, address=address)
    page = history.history(session, wallet, partner_id=partner.id, cursor=cursor, limit=limit)
    session.commit()
    return history_public(page, wallet=wallet, balance=history.balance_of(chain, wallet))
