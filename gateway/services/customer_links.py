"""A partner's customers: its own refs, each linked to one wallet, the customer's (proven by an
EIP-4361 signature) or a custodial one the gateway holds; and which partners a wallet is a
customer of.

A partner asking about a ref or a wallet it does not know gets ``not-found``, whether or not it
exists at another partner. A ref linked to a custodial wallet the gateway still holds is not
linked to another wallet: its points would be stranded there (release it first). Releasing a
custodial wallet follows gateway/services/custody.py; a release refused answers alike for a
wallet that is not custodial and for one of another custodian (no hint of whose it is).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import (
    CustodialReleasePending,
    CustodialWalletReleased,
    CustomerAlreadyLinked,
    GatewayError,
    NotFound,
    WalletNotCustodial,
)
from gateway.services import custody, customer_records, history, wallet_auth
from gateway.settings import GatewaySettings
from gateway.timeutil import as_utc
from network.store import CustodialWallet, CustomerLink, Partner, WalletChallenge, utcnow


@dataclass(frozen=True)
class LinkView:
    """A ref's link as its partner reads it."""

    ref: str
    wallet: str
    custodial: bool  # the gateway holds the wallet's key
    released: bool  # a custodial wallet whose key was handed over to its customer
    release_available_at: datetime | None  # a release asked for: the key is handed over from then
    linked_at: datetime


@dataclass(frozen=True)
class PartnerLink:
    """A partner a wallet is a customer of, under the partner's ref."""

    partner_id: int
    partner_name: str
    ref: str


def get_link(session: Session, *, partner_id: int, ref: str) -> CustomerLink:
    """The partner's link of ``ref``; NotFound if it has none."""
    link = customer_records.find_link(session, partner_id=partner_id, ref=ref)
    if link is None:
        raise NotFound(f"no customer {ref!r} of this partner")
    return link


def view_of(session: Session, link: CustomerLink) -> LinkView:
    wallet = session.get(CustodialWallet, link.wallet)
    return LinkView(
        ref=link.ref,
        wallet=link.wallet,
        custodial=wallet is not None and wallet.released_at is None,
        released=wallet is not None and wallet.released_at is not None,
        release_available_at=custody.pending_release(wallet, utcnow()),
        linked_at=as_utc(link.created_at),
    )


def link_statement(partner: Partner, ref: str) -> str:
    """The statement of a link challenge, one line (no control characters of the partner's name)."""
    return re.sub(r"[\x00-\x1f\x7f]", " ", f"Link your wallet to {partner.name} customer {ref}")


def issue_link_challenge(
    session: Session, settings: GatewaySettings, *, partner: Partner, ref: str, wallet: str
) -> WalletChallenge:
    """The message ``wallet`` signs to link ``ref`` to it (stored, not committed)."""
    return wallet_auth.issue_challenge(
        session,
        settings,
        address=wallet,
        statement=link_statement(partner, ref),
        purpose="link",
        partner_id=partner.id,
        ref=ref,
    )


def link_wallet(
    session: Session, settings: GatewaySettings, *, partner_id: int, ref: str, message: str, signature: str
) -> CustomerLink:
    """Links ``ref`` to the wallet that signed its link challenge, replacing an earlier link; not
    while the ref is linked to a custodial wallet the gateway still holds (not committed)."""
    link = customer_records.find_link(session, partner_id=partner_id, ref=ref)
    if link is not None and custody.is_custodial(session, link.wallet):
        raise CustomerAlreadyLinked(f"customer {ref!r} has a custodial wallet {link.wallet}: release it first")
    challenge = wallet_auth.verify_challenge(
        session, settings, message=message, signature=signature, purpose="link", partner_id=partner_id, ref=ref
    )
    return customer_records.link(session, partner_id=partner_id, ref=ref, wallet=challenge.address)


def link_custodial_wallet(session: Session, settings: GatewaySettings, *, partner_id: int, ref: str) -> CustomerLink:
    """Creates a custodial wallet and links ``ref`` to it; a ref linked already is refused (not committed)."""
    existing = customer_records.find_link(session, partner_id=partner_id, ref=ref)
    if existing is not None:
        raise CustomerAlreadyLinked(f"customer {ref!r} is linked to {existing.wallet} already")
    wallet = custody.create_custodial_wallet(session, settings, partner_id=partner_id)
    return customer_records.link(session, partner_id=partner_id, ref=ref, wallet=wallet)


def _release_refused(ref: str, wallet: str, exc: Exception) -> GatewayError:
    """The domain error of a release call that custody refused."""
    if isinstance(exc, custody.ReleaseNotYet):
        wait_s = max(1, math.ceil((exc.available_at - utcnow()).total_seconds()))
        return CustodialReleasePending(str(exc), available_at=exc.available_at, retry_after_s=wait_s)
    if isinstance(exc, custody.AlreadyReleased):
        return CustodialWalletReleased(str(exc))
    return WalletNotCustodial(f"customer {ref!r} is linked to their own wallet {wallet}")


def release_custodial_wallet(
    session: Session, settings: GatewaySettings, *, partner_id: int, ref: str, password: str
) -> custody.ReleaseRequested | custody.KeyReleased:
    """One release call of the custodian for its customer ``ref`` (gateway/services/custody.py).
    A refusal rolls back at once (it ends the hold on the wallet's row); otherwise not committed."""
    link = get_link(session, partner_id=partner_id, ref=ref)
    try:
        return custody.release_custodial_wallet(
            session, settings, link.wallet, password, partner_id=partner_id, ref=ref
        )
    except (LookupError, custody.AlreadyReleased, custody.ReleaseNotYet) as exc:
        session.rollback()
        raise _release_refused(ref, link.wallet, exc) from exc


def cancel_release(session: Session, *, partner_id: int, ref: str) -> None:
    """Withdraws a standing release request of ``ref``'s custodial wallet (none: nothing to do).
    A refusal rolls back at once; otherwise not committed."""
    link = get_link(session, partner_id=partner_id, ref=ref)
    try:
        custody.cancel_release(session, link.wallet, partner_id=partner_id)
    except (LookupError, custody.AlreadyReleased) as exc:
        session.rollback()
        raise _release_refused(ref, link.wallet, exc) from exc


def known_wallet(session: Session, *, partner_id: int, address: str) -> str:
    """``address``, if the partner may read it (linked to one of its customers, or it bought
    there); NotFound otherwise."""
    if not history.wallet_known_to(session, partner_id, address):
        raise NotFound(f"no customer wallet {address} at this partner")
    return address


def partners_of(session: Session, *, wallet: str) -> list[PartnerLink]:
    """The partners ``wallet`` is linked at, in the order of linking."""
    rows = session.execute(
        select(CustomerLink.partner_id, Partner.name, CustomerLink.ref)
        .join(Partner, Partner.id == CustomerLink.partner_id)
        .where(CustomerLink.wallet == wallet)
        .order_by(CustomerLink.id)
    )
    return [PartnerLink(partner_id=partner_id, partner_name=name, ref=ref) for partner_id, name, ref in rows]
