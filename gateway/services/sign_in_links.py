"""One-time sign-in links: how a custodial customer, who holds no key, opens the customer page.

Only the custodian partner of a custodial wallet (the partner that created it for its own
customer ref, and for which the gateway signs with it) may ask for a link, having
authenticated its customer its own way, as it does before a release. A self-custody
customer signs in with their wallet instead: a link from one partner would let that partner
read what the customer did at every other partner. A released wallet is the customer's own.

The link carries a random token (only its SHA-256 is stored) in the URL's fragment, which
browsers send to no server and put in no Referer; the page posts it once. It is single use
(one conditional UPDATE claims it) and expires after ``sign_in_link_ttl_s`` (10 minutes by
default). It opens a customer session marked ``via="link"`` that lasts
``sign_in_link_session_ttl_s`` (30 minutes) and, like every customer session, can read and
nothing else: spending and releases take the partner's key (and, for spending from a
self-custody wallet, the customer's signature).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.errors import CustodialWalletReleased, Unauthorized, WalletNotCustodial
from gateway.services.wallet_auth import open_session, token_hash
from gateway.settings import GatewaySettings
from gateway.timeutil import as_utc
from network.store import CustodialWallet, CustomerSession, SignInLink, utcnow

LINK_TOKEN_PREFIX = "sl_"
PAGE_PATH = "/me/link"


def _custodian_wallet(session: Session, wallet: str, partner_id: int) -> CustodialWallet:
    held = session.get(CustodialWallet, wallet)
    if held is None or held.partner_id != partner_id:
        raise WalletNotCustodial(
            f"{wallet} is not a custodial wallet held for this partner: a customer with their own wallet "
            "signs in with it"
        )
    if held.released_at is not None:
        raise CustodialWalletReleased(f"{wallet} was released to its customer, who signs in with it")
    return held


def issue(
    session: Session, settings: GatewaySettings, *, partner_id: int, ref: str, wallet: str
) -> tuple[str, SignInLink]:
    """A new link for the custodial customer ``ref`` of ``partner_id`` (its URL is returned once;
    not committed). WalletNotCustodial / CustodialWalletReleased otherwise."""
    _custodian_wallet(session, wallet, partner_id)
    token = LINK_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = SignInLink(
        token_hash=token_hash(token),
        wallet=wallet,
        partner_id=partner_id,
        ref=ref,
        expires_at=utcnow().replace(microsecond=0) + timedelta(seconds=settings.sign_in_link_ttl_s),
    )
    session.add(row)
    session.flush()
    return f"{settings.public_url.rstrip('/')}{PAGE_PATH}#{token}", row


def redeem(session: Session, settings: GatewaySettings, token: str) -> tuple[str, CustomerSession]:
    """Uses the link up and opens its read-only session (not committed). Unauthorized when the
    token is unknown, expired or used, or when the wallet is no longer in this partner's custody."""
    if not token.startswith(LINK_TOKEN_PREFIX) or len(token) > 100:
        raise Unauthorized("this is not a sign-in link; ask the partner's app for a new one")
    link = session.scalar(select(SignInLink).where(SignInLink.token_hash == token_hash(token)))
    now = utcnow()
    if link is None:
        raise Unauthorized("unknown sign-in link; ask the partner's app for a new one")
    if as_utc(link.expires_at) <= now:
        raise Unauthorized("this sign-in link has expired; ask the partner's app for a new one")
    claimed = session.execute(
        update(SignInLink).where(SignInLink.id == link.id, SignInLink.used_at.is_(None)).values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Unauthorized("this sign-in link was used already; ask the partner's app for a new one")
    try:
        _custodian_wallet(session, link.wallet, link.partner_id)
    except (WalletNotCustodial, CustodialWalletReleased) as exc:
        raise Unauthorized("this wallet is no longer held for you: sign in with your own wallet") from exc
    return open_session(session, settings, link.wallet, via="link")
