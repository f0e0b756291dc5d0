"""Enrolment in the program, and the member's profile and consents as partners and the customer
see them.

The rules:

- **Enrolment is idempotent on the partner's ref.** The request's normalized content
  (loyalty/members.py) is kept by (partner, ref): the same content again answers the member as
  it is now (a replay, 200), other content is refused (``customer-enrolled``, 409): an
  enrolment happens once, and a change of profile or consent has its own call (PATCH profile,
  POST consents), which keeps the consents' history honest. On ``/me`` the key is the customer.
- **Every member has a wallet.** Points need somewhere to go from the first purchase, and a
  partner's ref links to a wallet (network/store/customers.py). The wallet choice: the
  customer's own, proven by signing the ref's link challenge (POST .../wallet-challenge), or
  (the default for a ref not linked yet) a custodial wallet the gateway holds and the customer
  can take later; a ref linked already keeps its wallet ("linked").
- **One profile per customer**, coalition-wide: the latest write of a field wins, whichever
  partner (or the customer) wrote it. A partner reads and writes the profile of its own refs only,
  and sees the consents in its own scope and the coalition's, never another partner's.
- **Referral codes.** A member gets their own code at enrolment (to share); the code they
  enrolled with must be another member's (``referral-code-unknown``), and the first one given
  stays.

Nothing here commits: the caller does, after building its answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.errors import (
    ConsentRefused,
    CustomerEnrolled,
    NotEnrolled,
    NotFound,
    ProfileRefused,
    ReferralCodeUnknown,
)
from gateway.services import custody, customer_links, customer_records
from gateway.services.consents import record_change
from gateway.settings import GatewaySettings
from gateway.timeutil import as_utc
from loyalty.customers import ConsentChange, ConsentInvalid, ProfileInvalid, check_profile, in_force
from loyalty.members import (
    ConsentGiven,
    ReferralCodeInvalid,
    check_consents,
    check_referral_code,
    enrolment_content,
    fingerprint,
    new_referral_code,
)
from network.store import CustomerLink, Member, MemberEnrolment, utcnow
from network.store.events import record


@dataclass(frozen=True)
class SignedWallet:
    """The customer's own wallet: the ref's link challenge, signed."""

    message: str
    signature: str


WalletChoice = str | SignedWallet | None  # "custodial", a signed challenge, or None (custodial unless linked)


@dataclass(frozen=True)
class ConsentView:
    channel: str
    scope: str  # partner (the partner named) | coalition
    partner_id: int | None
    granted: bool
    source: str
    recorded_at: datetime
    confirmed: bool = True  # an email grant: whether its address was confirmed (double opt-in)
    text_shown: str | None = None  # the words the customer was shown


@dataclass(frozen=True)
class MemberView:
    """A member as a partner (its ``ref``) or the customer (``ref`` None) sees them."""

    customer_id: int
    ref: str | None
    wallets: list[str]
    wallet: str | None  # the ref's wallet (a partner's view), else the customer's first
    custodial: bool
    referral_code: str | None
    referred_by_code: str | None
    enrolled_at: datetime
    profile: dict[str, Any]
    consents: list[ConsentView]  # in force, in the viewer's scopes


# --- checks


def checked_profile(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` checked by loyalty/customers.py; ProfileRefused otherwise."""
    try:
        return check_profile(fields, today=utcnow().date())
    except ProfileInvalid as exc:
        raise ProfileRefused(str(exc), field=exc.field) from exc


def checked_consents(consents: Sequence[ConsentGiven]) -> list[ConsentGiven]:
    try:
        return check_consents(consents)
    except ConsentInvalid as exc:
        raise ConsentRefused(str(exc)) from exc


def _referrer(session: Session, code: str | None) -> Member | None:
    if code is None:
        return None
    try:
        normalized = check_referral_code(code)
    except ReferralCodeInvalid as exc:
        raise ReferralCodeUnknown(str(exc)) from exc
    referrer = session.scalar(select(Member).where(Member.referral_code == normalized))
    if referrer is None:
        raise ReferralCodeUnknown(f"no member has the referral code {normalized}")
    return referrer


# --- enrolling


def enrol(
    session: Session,
    settings: GatewaySettings,
    *,
    partner_id: int,
    ref: str,
    profile: dict[str, Any],
    consents: Sequence[ConsentGiven],
    referral_code: str | None,
    wallet: WalletChoice,
) -> tuple[MemberView, bool]:
    """Enrols ``partner_id``'s customer ``ref`` (see the module's rules); answers the member and
    whether this was a replay. Raises CustomerEnrolled, ProfileRefused, ConsentRefused,
    ReferralCodeUnknown, CustomerAlreadyLinked and the signed challenge's problems."""
    fields = checked_profile(profile)
    given = checked_consents(consents)
    code = check_referral_code(referral_code) if referral_code is not None and _valid(referral_code) else referral_code
    digest = fingerprint(enrolment_content(fields, given, code, _choice(wallet)))
    done = session.scalar(
        select(MemberEnrolment).where(MemberEnrolment.partner_id == partner_id, MemberEnrolment.ref == ref)
    )
    if done is not None:
        if done.request_hash != digest:
            raise CustomerEnrolled(
                f"customer {ref!r} is enrolled already with other data; change it with PATCH "
                f"/v1/customers/{ref}/profile or POST /v1/customers/{ref}/consents"
            )
        return partner_view(session, partner_id=partner_id, ref=ref), True
    link = _link_for(session, settings, partner_id=partner_id, ref=ref, wallet=wallet)
    _make_member(session, customer_id=link.customer_id, code=code, fields=fields)
    for c in given:
        _consent(session, settings, link.customer_id, c, partner_id=partner_id)
    session.add(
        MemberEnrolment(partner_id=partner_id, ref=ref, customer_id=link.customer_id, request_hash=digest, source="api")
    )
    _enrolled_event(session, customer_id=link.customer_id, partner_id=partner_id, source="api", wallet=link.wallet)
    session.flush()
    return partner_view(session, partner_id=partner_id, ref=ref), False


def _choice(wallet: WalletChoice) -> str:
    """The wallet choice as the enrolment's content has it: without a choice, "custodial" (what
    an import's row and a ref not linked yet get), "linked", or the signed challenge's hash."""
    if isinstance(wallet, SignedWallet):
        return "own:" + fingerprint({"message": wallet.message, "signature": wallet.signature})
    return wallet or "custodial"


def _valid(code: str) -> bool:
    try:
        check_referral_code(code)
    except ReferralCodeInvalid:
        return False
    return True


def _link_for(
    session: Session, settings: GatewaySettings, *, partner_id: int, ref: str, wallet: WalletChoice
) -> CustomerLink:
    existing = customer_records.find_link(session, partner_id=partner_id, ref=ref)
    if isinstance(wallet, SignedWallet):
        return customer_links.link_wallet(
            session, settings, partner_id=partner_id, ref=ref, message=wallet.message, signature=wallet.signature
        )
    if wallet == "custodial" or existing is None:
        return customer_links.link_custodial_wallet(session, settings, partner_id=partner_id, ref=ref)
    if wallet not in (None, "linked"):
        raise ValueError(f"unknown wallet choice {wallet!r}")
    return existing


def enrol_me(
    session: Session,
    settings: GatewaySettings,
    *,
    wallet: str,
    profile: dict[str, Any],
    consents: Sequence[ConsentGiven],
    referral_code: str | None,
) -> tuple[MemberView, bool]:
    """Enrols the signed-in ``wallet``'s customer (a new customer if the wallet is nobody's yet),
    with no partner: consents are in the coalition's scope. Idempotent on the customer: the same
    content again is a replay; other content, CustomerEnrolled."""
    fields = checked_profile(profile)
    given = [
        ConsentGiven(c.channel, c.granted, c.source, "coalition", c.text_shown) for c in checked_consents(consents)
    ]
    code = check_referral_code(referral_code) if referral_code is not None and _valid(referral_code) else referral_code
    digest = fingerprint(enrolment_content(fields, given, code, "me"))
    customer = customer_records.customer_of_wallet(session, wallet=wallet)
    done = session.scalar(
        select(MemberEnrolment).where(MemberEnrolment.customer_id == customer.id, MemberEnrolment.source == "me")
    )
    if done is not None:
        if done.request_hash != digest:
            raise CustomerEnrolled(
                "you are enrolled already with other data; change it with PATCH /v1/me/profile or POST /v1/me/consents"
            )
        return customer_view(session, customer_id=customer.id), True
    _make_member(session, customer_id=customer.id, code=code, fields=fields)
    for c in given:
        _consent(session, settings, customer.id, c, partner_id=None)
    session.add(MemberEnrolment(customer_id=customer.id, request_hash=digest, source="me"))
    _enrolled_event(session, customer_id=customer.id, partner_id=None, source="me", wallet=wallet)
    session.flush()
    return customer_view(session, customer_id=customer.id), False


def _make_member(session: Session, *, customer_id: int, code: str | None, fields: dict[str, Any]) -> Member:
    referrer = _referrer(session, code)
    member = session.get(Member, customer_id)
    if referrer is not None and referrer.customer_id == customer_id:
        raise ReferralCodeUnknown("a member cannot enrol with their own referral code")
    if member is None:
        member = Member(customer_id=customer_id, referral_code=_unused_code(session), enrolled_at=utcnow())
        session.add(member)
    elif member.referral_code is None:  # enrolled again after an erasure: a new code to share
        member.referral_code, member.erased_at = _unused_code(session), None
    if referrer is not None and member.referred_by_id is None:
        member.referred_by_id, member.referred_by_code = referrer.customer_id, referrer.referral_code
    session.flush()
    if fields:
        customer_records.set_profile(session, customer_id=customer_id, **fields)
    return member


def _unused_code(session: Session) -> str:
    for _ in range(5):
        code = new_referral_code()
        if session.scalar(select(Member.customer_id).where(Member.referral_code == code)) is None:
            return code
    raise RuntimeError("no unused referral code after 5 draws: the codes are too short for this many members")


def _consent(
    session: Session, settings: GatewaySettings, customer_id: int, c: ConsentGiven, *, partner_id: int | None
) -> None:
    """One change, through gateway/services/consents.py (its event; an email grant's double opt-in)."""
    record_change(
        session,
        settings,
        customer_id=customer_id,
        channel=c.channel,
        partner_id=partner_id if c.scope == "partner" else None,
        granted=c.granted,
        source=c.source,
        text_shown=c.text_shown,
    )


def _enrolled_event(session: Session, *, customer_id: int, partner_id: int | None, source: str, wallet: str) -> None:
    payload = {"customer_id": customer_id, "partner_id": partner_id, "source": source}
    record(session, "member.enrolled", payload=payload, partner_id=partner_id, customer_wallet=wallet)


# --- profile and consents


def _member_link(session: Session, *, partner_id: int, ref: str) -> tuple[CustomerLink, Member]:
    link = customer_links.get_link(session, partner_id=partner_id, ref=ref)
    member = session.get(Member, link.customer_id)
    if member is None:
        raise NotFound(f"customer {ref!r} is linked but not enrolled: POST /v1/customers/{ref}/enrolment")
    return link, member


def _me_member(session: Session, wallet: str) -> Member:
    customer = customer_records.find_by_wallet(session, wallet=wallet)
    member = None if customer is None else session.get(Member, customer.id)
    if member is None or member.referral_code is None:
        raise NotEnrolled(f"{wallet} is not a member of the program yet")
    return member


def customer_of_me(session: Session, *, wallet: str) -> int:
    """The signed-in wallet's customer id, if it is a member; NotEnrolled otherwise."""
    return _me_member(session, wallet).customer_id


def update_profile(session: Session, *, customer_id: int, fields: dict[str, Any]) -> None:
    """Sets the given fields (None clears one); ProfileRefused for a bad one. Not committed."""
    checked = checked_profile(fields)
    customer_records.set_profile(session, customer_id=customer_id, **checked)


def partner_update_profile(session: Session, *, partner_id: int, ref: str, fields: dict[str, Any]) -> MemberView:
    link, _ = _member_link(session, partner_id=partner_id, ref=ref)
    update_profile(session, customer_id=link.customer_id, fields=fields)
    return partner_view(session, partner_id=partner_id, ref=ref)


def change_consents(
    session: Session,
    settings: GatewaySettings,
    *,
    customer_id: int,
    consents: Sequence[ConsentGiven],
    partner_id: int | None,
) -> None:
    """Records each consent change (a new row each: the history is kept); a partner's changes
    are in its scope or the coalition's, the customer's own in the coalition's or a partner's
    named by ``partner_id`` of the change. Not committed."""
    for c in checked_consents(consents):
        _consent(session, settings, customer_id, c, partner_id=partner_id)


def partner_consents(session: Session, *, partner_id: int, ref: str) -> tuple[int, list[ConsentView]]:
    """The customer id and the consent history of ``ref`` in the partner's and the coalition's scope."""
    link, _ = _member_link(session, partner_id=partner_id, ref=ref)
    history = [c for c in customer_records.consent_history(session, customer_id=link.customer_id)]
    return link.customer_id, [_consent_view(c) for c in history if c.partner_id in (None, partner_id)]


def customer_id_of_ref(session: Session, *, partner_id: int, ref: str) -> int:
    return _member_link(session, partner_id=partner_id, ref=ref)[0].customer_id


def consents_of(session: Session, *, customer_id: int) -> list[ConsentView]:
    """Every consent change of the customer, in the order recorded."""
    return [_consent_view(c) for c in customer_records.consent_history(session, customer_id=customer_id)]


def _consent_view(c: ConsentChange) -> ConsentView:
    scope = "coalition" if c.partner_id is None else "partner"
    return ConsentView(
        c.channel, scope, c.partner_id, c.granted, c.source, as_utc(c.recorded_at), c.confirmed, c.text_shown
    )


# --- views


def _profile_dict(session: Session, customer_id: int) -> dict[str, Any]:
    row = customer_records.profile(session, customer_id=customer_id)
    if row is None:
        return {"email": None, "phone": None, "birthday": None, "locale": None, "time_zone": None, "attributes": {}}
    return {
        "email": row.email,
        "phone": row.phone,
        "birthday": row.birthday,
        "locale": row.locale,
        "time_zone": row.time_zone,
        "attributes": row.attributes or {},
    }


def _view(
    session: Session, member: Member, *, ref: str | None, wallet: str | None, scopes: set[int | None] | None
) -> MemberView:
    wallets = customer_records.wallets_of(session, customer_id=member.customer_id)
    shown = wallet or (wallets[0] if wallets else None)
    history = customer_records.consent_history(session, customer_id=member.customer_id)
    current = [
        _consent_view(c)
        for c in in_force(history).values()
        if scopes is None or c.partner_id in scopes  # None: every scope (the customer's own view)
    ]
    return MemberView(
        customer_id=member.customer_id,
        ref=ref,
        wallets=wallets,
        wallet=shown,
        custodial=shown is not None and custody.is_custodial(session, shown),
        referral_code=member.referral_code,
        referred_by_code=member.referred_by_code,
        enrolled_at=as_utc(member.enrolled_at),
        profile=_profile_dict(session, member.customer_id),
        consents=sorted(current, key=lambda c: (c.scope, c.channel)),
    )


def partner_view(session: Session, *, partner_id: int, ref: str) -> MemberView:
    """The member ``ref`` as its partner sees them; NotFound if not linked or not enrolled."""
    link, member = _member_link(session, partner_id=partner_id, ref=ref)
    return _view(session, member, ref=ref, wallet=link.wallet, scopes={None, partner_id})


def customer_view(session: Session, *, customer_id: int) -> MemberView:
    """The member as they see themselves (every scope)."""
    member = session.get(Member, customer_id)
    if member is None:
        raise NotEnrolled(f"customer {customer_id} is not a member of the program")
    return _view(session, member, ref=None, wallet=None, scopes=None)


def me_view(session: Session, *, wallet: str) -> MemberView:
    member = _me_member(session, wallet)
    return _view(session, member, ref=None, wallet=wallet, scopes=None)


def customer_id_of_wallet(session: Session, *, wallet: str) -> int:
    """The customer ``wallet`` belongs to (member or not); NotFound if nobody's."""
    customer = customer_records.find_by_wallet(session, wallet=wallet)
    if customer is None:
        raise NotFound(f"nothing is held about {wallet}: it is no customer's wallet")
    return customer.id


def is_member(session: Session, *, customer_id: int) -> bool:
    return session.get(Member, customer_id) is not None
