"""Every call of the partner API, written once: each builder returns a :class:`Call` (method,
path, body, query, and how to read the answer), which :class:`~partners.sdk.sync.PartnerClient`
runs and :class:`~partners.sdk.aio.AsyncPartnerClient` awaits. A new endpoint is one builder
here and one line in each client (a unit test holds the three in step)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlsplit

from partners.sdk.models import (
    Balance,
    BatchOutcome,
    Campaign,
    CampaignResults,
    CampaignSimulation,
    Challenge,
    ConsentHistory,
    Customer,
    Delivery,
    Expiry,
    History,
    ImportReport,
    Kpis,
    Member,
    MembershipPayment,
    MembershipPlan,
    Message,
    MessageBrand,
    MessagePage,
    MessagePreview,
    MessageTemplate,
    MessageTemplates,
    Model,
    PartnerAccount,
    Perks,
    PointsHold,
    PreparedConsent,
    PreparedHoldConsent,
    Purchase,
    Redemption,
    Refund,
    Release,
    Reward,
    RfmSegments,
    RuleSet,
    SignInLink,
    Subscription,
    Tier,
    Webhook,
)

T = TypeVar("T")
M = TypeVar("M", bound=Model)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "leave as it is" in an update (None means something: e.g. unlimited stock)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: Mapping[str, Any] | None = None
    content: str | None = None  # a file sent as it is (text/csv), instead of ``json``
    text: bool = False  # the answer is read as text (a CSV), not JSON


def _seg(value: str | int) -> str:
    return quote(str(value), safe="")


def _one(model: type[M]) -> Callable[[Any], M]:
    return model.from_json


def _many(model: type[M]) -> Callable[[Any], list[M]]:
    return lambda data: [model.from_json(item) for item in data]


def _nothing(_: Any) -> None:
    return None


def _query(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# ---------------------------------------------------------------------- bodies


def customer(wallet: str | None = None, ref: str | None = None) -> dict[str, str]:
    """The ``customer`` of a body: the wallet, or the partner's own reference linked to one."""
    if (wallet is None) == (ref is None):
        raise ValueError("give the customer's wallet or the partner's customer ref, not both")
    return {"wallet": wallet} if wallet is not None else {"ref": ref}  # type: ignore[dict-item]


def purchase_body(
    purchase_id: str,
    *,
    amount: str | Decimal,
    currency: str,
    wallet: str | None = None,
    ref: str | None = None,
    purchased_at: datetime | None = None,
    lines: Sequence[Mapping[str, Any]] | None = None,
    paid_with: Mapping[str, str | Decimal] | None = None,
) -> dict[str, Any]:
    """The body of ``POST /v1/purchases``: the customer by wallet or by the partner's reference.

    ``lines`` (each ``sku``, ``unit_price``, and optionally ``quantity``, ``category``, ``labels``,
    ``discount``) let the partner's earning rules see the basket; their nets must add up to
    ``amount``. ``paid_with`` (``points``, ``gift_cards``: money) is the part of the amount that
    earns nothing. Decimals are sent as strings.

    The body is a function of the arguments only, so that a retry of the same order (after a
    crash, on another day) is the same request and is answered the first answer. Give
    ``purchased_at`` as your POS recorded the sale (a timezone-aware datetime), or leave it out
    and the gateway stamps the purchase with the time it first accepts it; never the time of the
    attempt, which would make every retry another body (409 ``idempotency-conflict``)."""
    body: dict[str, Any] = {
        "purchase_id": purchase_id,
        "customer": customer(wallet, ref),
        "amount": str(amount),
        "currency": currency,
    }
    if purchased_at is not None:
        if purchased_at.tzinfo is None:
            raise ValueError("purchased_at must be timezone-aware (e.g. datetime.now(UTC) when the sale happened)")
        body["purchased_at"] = purchased_at.isoformat()
    if lines is not None:
        body["lines"] = [{k: _text(v) for k, v in line.items()} for line in lines]
    if paid_with is not None:
        body["paid_with"] = {k: str(v) for k, v in paid_with.items()}
    return body


def _text(value: Any) -> Any:
    """A Decimal (or float) as the decimal string the API reads exactly; anything else as it is."""
    return str(value) if isinstance(value, Decimal | float) else value


def signed_consent(
    prepared: Mapping[str, Any] | PreparedConsent | PreparedHoldConsent, signature: bytes | str
) -> dict[str, Any]:
    """The ``consent`` of a redemption from :func:`redemption_consent`'s answer and the customer's
    signature of its ``typed_data`` (EIP-712, e.g. eth_account's
    ``Account.sign_typed_data(key, full_message=prepared.typed_data)``)."""
    hex_signature = signature if isinstance(signature, str) else "0x" + signature.hex()
    return {"nonce": int(prepared["nonce"]), "deadline": prepared["deadline"], "signature": hex_signature}


# ---------------------------------------------------------------------- purchases


def post_purchase(
    purchase_id: str,
    *,
    amount: str | Decimal,
    currency: str,
    wallet: str | None = None,
    ref: str | None = None,
    purchased_at: datetime | None = None,
    lines: Sequence[Mapping[str, Any]] | None = None,
    paid_with: Mapping[str, str | Decimal] | None = None,
) -> Call[Purchase]:
    """Posts a purchase (see :func:`purchase_body`); idempotent on ``purchase_id``: answers 202
    ``accepted``, or the first answer again for the same body; follow ``status_url`` with ``wait()``."""
    body = purchase_body(
        purchase_id, amount=amount, currency=currency, wallet=wallet, ref=ref, purchased_at=purchased_at,
        lines=lines, paid_with=paid_with,
    )  # fmt: skip
    return Call("POST", "/v1/purchases", _one(Purchase), json=body)


def post_purchases(purchases: Sequence[Mapping[str, Any]]) -> Call[BatchOutcome]:
    """Up to 1,000 purchases at once (bodies of :func:`purchase_body`), each judged alone:
    ``results[i].outcome`` is ``accepted``, ``duplicate`` (its first answer) or ``rejected`` (its ``problem``)."""
    return Call("POST", "/v1/purchases/batch", _one(BatchOutcome), json={"purchases": list(purchases)})


def purchase(purchase_id: str) -> Call[Purchase]:
    """Where a purchase stands; ``failure`` says why it failed or is held."""
    return Call("GET", f"/v1/purchases/{_seg(purchase_id)}", _one(Purchase))


# ---------------------------------------------------------------------- refunds


def refund(
    purchase_id: str, refund_id: str, *, amount: str | Decimal | None = None, reason: str | None = None
) -> Call[Refund]:
    """Refunds a confirmed purchase, whole (no amount) or in part; idempotent on ``refund_id``."""
    body = {"refund_id": refund_id, **_query(amount=None if amount is None else str(amount), reason=reason)}
    return Call("POST", f"/v1/purchases/{_seg(purchase_id)}/refunds", _one(Refund), json=body)


def refunds(purchase_id: str) -> Call[list[Refund]]:
    """The refunds of a purchase, oldest first."""
    return Call("GET", f"/v1/purchases/{_seg(purchase_id)}/refunds", _many(Refund))


def get_refund(purchase_id: str, refund_id: str) -> Call[Refund]:
    return Call("GET", f"/v1/purchases/{_seg(purchase_id)}/refunds/{_seg(refund_id)}", _one(Refund))


# ---------------------------------------------------------------------- rewards


def add_reward(sku: str, name: str, points: int, *, stock: int | None = None, active: bool = True) -> Call[Reward]:
    """A reward of the catalogue: ``points`` per unit, ``stock`` units (None: unlimited)."""
    body = {"sku": sku, "name": name, "points": points, "stock": stock, "active": active}
    return Call("POST", "/v1/rewards", _one(Reward), json=body)


def rewards() -> Call[list[Reward]]:
    return Call("GET", "/v1/rewards", lambda data: [Reward.from_json(r) for r in data["rewards"]])


def reward(sku: str) -> Call[Reward]:
    return Call("GET", f"/v1/rewards/{_seg(sku)}", _one(Reward))


def update_reward(sku: str, *, name: str = UNSET, stock: int | None = UNSET, active: bool = UNSET) -> Call[Reward]:
    """Changes only what is given (``stock=None``: unlimited)."""
    body = {k: v for k, v in {"name": name, "stock": stock, "active": active}.items() if v is not UNSET}
    return Call("PATCH", f"/v1/rewards/{_seg(sku)}", _one(Reward), json=body)


# ---------------------------------------------------------------------- redemptions


def redemption_consent(
    redemption_id: str, sku: str, *, wallet: str | None = None, ref: str | None = None, quantity: int = 1
) -> Call[PreparedConsent]:
    """The EIP-712 typed data the customer's wallet signs (then :func:`signed_consent`)."""
    body = {"redemption_id": redemption_id, "sku": sku, "quantity": quantity, "customer": customer(wallet, ref)}
    return Call("POST", "/v1/redemptions/consent", _one(PreparedConsent), json=body)


def redeem(
    redemption_id: str,
    sku: str,
    *,
    wallet: str | None = None,
    ref: str | None = None,
    quantity: int = 1,
    consent: Mapping[str, Any] | None = None,
) -> Call[Redemption]:
    """Redeems a reward with the customer's ``consent``; a custodial customer, named by your own
    ``ref`` (you created its wallet), needs none (within the gateway's daily limit). Idempotent on
    ``redemption_id``; follow ``status_url`` with ``wait()`` (``fulfilled`` carries the voucher code)."""
    body: dict[str, Any] = {
        "redemption_id": redemption_id,
        "sku": sku,
        "quantity": quantity,
        "customer": customer(wallet, ref),
    }
    if consent is not None:
        body["consent"] = dict(consent)
    return Call("POST", "/v1/redemptions", _one(Redemption), json=body)


def redemption(redemption_id: str) -> Call[Redemption]:
    return Call("GET", f"/v1/redemptions/{_seg(redemption_id)}", _one(Redemption))


# ---------------------------------------------------------------------- points at the till


def _amount_or_points(amount: str | Decimal | None, points: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if amount is not None:
        out["amount"] = str(amount)
    if points is not None:
        out["points"] = points
    return out


def points_hold_consent(
    hold_id: str,
    *,
    wallet: str | None = None,
    ref: str | None = None,
    amount: str | Decimal | None = None,
    points: int | None = None,
) -> Call[PreparedHoldConsent]:
    """The EIP-712 typed data the customer's wallet signs to pay ``amount`` (cUSD) or ``points``
    with points (then :func:`signed_consent`)."""
    body = {"hold_id": hold_id, "customer": customer(wallet, ref), **_amount_or_points(amount, points)}
    return Call("POST", "/v1/points-holds/consent", _one(PreparedHoldConsent), json=body)


def authorise_points(
    hold_id: str,
    *,
    wallet: str | None = None,
    ref: str | None = None,
    amount: str | Decimal | None = None,
    points: int | None = None,
    consent: Mapping[str, Any] | None = None,
) -> Call[PointsHold]:
    """Holds the customer's points at the till (answered at once): ``amount`` (cUSD, at your point
    value) or ``points``, with the customer's ``consent`` (a custodial customer named by your own
    ``ref`` needs none). Refusals raise ``ProblemError`` (``insufficient-points``, ...). Idempotent
    on ``hold_id``."""
    body: dict[str, Any] = {"hold_id": hold_id, "customer": customer(wallet, ref), **_amount_or_points(amount, points)}
    if consent is not None:
        body["consent"] = dict(consent)
    return Call("POST", "/v1/points-holds", _one(PointsHold), json=body)


def capture_points(
    hold_id: str,
    purchase_id: str,
    *,
    amount: str | Decimal | None = None,
    points: int | None = None,
    consent: Mapping[str, Any] | None = None,
) -> Call[PointsHold]:
    """Captures the hold for ``purchase_id`` (all, or ``amount``/``points`` of it; a part of a
    signed hold needs the customer's ``consent`` for that part): its points burn as a redemption."""
    body: dict[str, Any] = {"purchase_id": purchase_id, **_amount_or_points(amount, points)}
    if consent is not None:
        body["consent"] = dict(consent)
    return Call("POST", f"/v1/points-holds/{_seg(hold_id)}/capture", _one(PointsHold), json=body)


def release_points(hold_id: str) -> Call[PointsHold]:
    """Releases the hold: its points are free again."""
    return Call("POST", f"/v1/points-holds/{_seg(hold_id)}/release", _one(PointsHold))


def points_hold(hold_id: str) -> Call[PointsHold]:
    return Call("GET", f"/v1/points-holds/{_seg(hold_id)}", _one(PointsHold))


# ---------------------------------------------------------------------- customers


def wallet_challenge(ref: str, wallet: str) -> Call[Challenge]:
    """The EIP-4361 message the customer signs (personal_sign) to link ``wallet`` to ``ref``."""
    return Call("POST", f"/v1/customers/{_seg(ref)}/wallet-challenge", _one(Challenge), json={"wallet": wallet})


def link_wallet(ref: str, message: str, signature: str) -> Call[Customer]:
    body = {"message": message, "signature": signature}
    return Call("PUT", f"/v1/customers/{_seg(ref)}/wallet", _one(Customer), json=body)


def custodial_wallet(ref: str) -> Call[Customer]:
    """A wallet the gateway keeps for a customer who has none (it signs redemptions for them)."""
    return Call("POST", f"/v1/customers/{_seg(ref)}/custodial-wallet", _one(Customer))


def release_custodial_wallet(ref: str, password: str) -> Call[Release]:
    """Hands a custodial wallet's key to your customer, in two calls. The first asks: the answer
    is ``status == "release-pending"`` with ``available_at`` and no key (you get the
    ``customer.custodial_release_requested`` webhook event, the operator an alert). A call before
    ``available_at`` raises ``ProblemError`` ``custodial-release-pending`` (its
    ``problem["available_at"]`` says when); the first one from then on answers ``status ==
    "released"`` and the ``keystore``, encrypted with ``password`` (the customer's), once."""
    body = {"password": password}
    return Call("POST", f"/v1/customers/{_seg(ref)}/custodial-wallet/release", _one(Release), json=body)


def cancel_custodial_release(ref: str) -> Call[None]:
    """Withdraws a release asked for and not yet handed over (one you did not ask for: your API
    key may be in other hands; tell the operator)."""
    return Call("DELETE", f"/v1/customers/{_seg(ref)}/custodial-wallet/release", _nothing)


def enrol(
    ref: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    birthday: str | None = None,
    locale: str | None = None,
    time_zone: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    consents: Sequence[Mapping[str, Any]] = (),
    referral_code: str | None = None,
    wallet: str | Mapping[str, str] | None = None,
) -> Call[Member]:
    """Enrols your customer ``ref`` (idempotent: the same arguments again answer the member as it
    is now; others raise ``ProblemError`` ``customer-enrolled``). ``consents``: dicts of
    ``channel``, ``granted``, ``source`` (and ``scope``: partner or coalition; ``text_shown``: the
    words the customer saw; an email grant waits for the customer's confirmation); ``wallet``:
    "custodial", "linked", or ``{"message", "signature"}`` of the ref's signed wallet challenge."""
    body: dict[str, Any] = {
        k: v
        for k, v in {
            "email": email,
            "phone": phone,
            "birthday": birthday,
            "locale": locale,
            "time_zone": time_zone,
            "attributes": None if attributes is None else dict(attributes),
            "referral_code": referral_code,
            "wallet": None if wallet is None else (wallet if isinstance(wallet, str) else dict(wallet)),
        }.items()
        if v is not None
    }
    if consents:
        body["consents"] = [dict(c) for c in consents]
    return Call("POST", f"/v1/customers/{_seg(ref)}/enrolment", _one(Member), json=body)


def member(ref: str) -> Call[Member]:
    """The member ``ref``: profile, referral codes, consents in force in your scope and the coalition's."""
    return Call("GET", f"/v1/customers/{_seg(ref)}/profile", _one(Member))


def update_profile(ref: str, **fields: Any) -> Call[Member]:
    """Changes the profile fields given (None clears one): email, phone, birthday, locale, time_zone, attributes."""
    return Call("PATCH", f"/v1/customers/{_seg(ref)}/profile", _one(Member), json=fields)


def record_consents(ref: str, consents: Sequence[Mapping[str, Any]]) -> Call[ConsentHistory]:
    """Records consents given or withdrawn (each a new entry of the history: dicts of ``channel``,
    ``granted``, ``source``, ``scope``, ``text_shown``); answers the history. An email grant is
    ``confirmed`` only once the customer confirms it from the email the coalition sends (double
    opt-in)."""
    body = {"consents": [dict(c) for c in consents]}
    return Call("POST", f"/v1/customers/{_seg(ref)}/consents", _one(ConsentHistory), json=body)


def consents(ref: str) -> Call[ConsentHistory]:
    return Call("GET", f"/v1/customers/{_seg(ref)}/consents", _one(ConsentHistory))


def import_customers(csv_text: str, *, dry_run: bool = False) -> Call[ImportReport]:
    """Imports customers from CSV (the columns: POST /v1/imports/customers in the API reference):
    the valid rows all together, each refused row reported with its line and reason. Sending the
    same file again is safe (rows enrolled already with the same data are ``unchanged``)."""
    params = {"dry_run": "true"} if dry_run else None
    return Call("POST", "/v1/imports/customers", _one(ImportReport), params=params, content=csv_text)


def export_customers() -> Call[str]:
    """Your members as CSV text (the import reads it back)."""
    return Call("GET", "/v1/exports/customers.csv", lambda text: str(text), text=True)


def get_customer(ref: str) -> Call[Customer]:
    return Call("GET", f"/v1/customers/{_seg(ref)}", _one(Customer))


def customer_balance(ref: str) -> Call[Balance]:
    return Call("GET", f"/v1/customers/{_seg(ref)}/balance", _one(Balance))


def customer_history(ref: str, *, cursor: int | None = None, limit: int | None = None) -> Call[History]:
    """The customer's movements at this partner, newest first, a page at a time (``next_cursor``)."""
    return Call("GET", f"/v1/customers/{_seg(ref)}/history", _one(History), params=_query(cursor=cursor, limit=limit))


def customer_expiry(ref: str) -> Call[Expiry]:
    """When the customer's points expire, from the chain: one date for the whole balance, moved out by any
    earn, spend or transfer before it (your own customers only, by your ref)."""
    return Call("GET", f"/v1/customers/{_seg(ref)}/expiry", _one(Expiry))


def customer_tier(ref: str) -> Call[Tier]:
    """The customer's coalition-wide tier and progress (your own customers only, by your ref)."""
    return Call("GET", f"/v1/customers/{_seg(ref)}/tier", _one(Tier))


def campaigns() -> Call[list[Campaign]]:
    """Your campaigns, oldest first."""
    return Call("GET", "/v1/campaigns", lambda data: [Campaign.from_json(c) for c in data["campaigns"]])


def create_campaign(
    name: str, *, trigger: Mapping[str, Any], effects: Sequence[Mapping[str, Any]],
    conditions: Mapping[str, Any] | None = None, limits: Mapping[str, Any] | None = None, holdout_bp: int = 1000,
    starts_at: datetime | None = None, ends_at: datetime | None = None,
) -> Call[Campaign]:  # fmt: skip
    """A draft campaign funded by you, on your own purchases (start it with ``start_campaign``)."""
    body: dict[str, Any] = {
        "name": name, "trigger": dict(trigger), "conditions": dict(conditions or {}),
        "effects": [dict(e) for e in effects], "limits": dict(limits or {}), "holdout_bp": holdout_bp,
    }  # fmt: skip
    if starts_at is not None:
        body["starts_at"] = starts_at.isoformat()
    if ends_at is not None:
        body["ends_at"] = ends_at.isoformat()
    return Call("POST", "/v1/campaigns", _one(Campaign), json=body)


def campaign(campaign_id: int) -> Call[Campaign]:
    return Call("GET", f"/v1/campaigns/{_seg(campaign_id)}", _one(Campaign))


def simulate_campaign(campaign_id: int, *, days: int = 30) -> Call[CampaignSimulation]:
    """How many members and what cost the campaign would have had over your last ``days`` of purchases."""
    path = f"/v1/campaigns/{_seg(campaign_id)}/simulate"
    return Call("POST", path, _one(CampaignSimulation), params={"days": str(days)})


def _move_campaign(campaign_id: int, action: str) -> Call[Campaign]:
    return Call("POST", f"/v1/campaigns/{_seg(campaign_id)}/{action}", _one(Campaign))


def start_campaign(campaign_id: int) -> Call[Campaign]:
    """Starts a draft or paused campaign."""
    return _move_campaign(campaign_id, "start")


def pause_campaign(campaign_id: int) -> Call[Campaign]:
    """Pauses a running campaign (its triggers expose nobody until it is started again)."""
    return _move_campaign(campaign_id, "pause")


def stop_campaign(campaign_id: int) -> Call[Campaign]:
    """Stops a campaign for good."""
    return _move_campaign(campaign_id, "stop")


def campaign_results(campaign_id: int) -> Call[CampaignResults]:
    """The campaign measured against its control group (the README's "Measuring a campaign")."""
    return Call("GET", f"/v1/campaigns/{_seg(campaign_id)}/results", _one(CampaignResults))


def membership_plans() -> Call[list[MembershipPlan]]:
    """The paid membership plans you own or honour."""
    return Call("GET", "/v1/memberships/plans", lambda data: [MembershipPlan.from_json(p) for p in data["plans"]])


def add_membership_plan(
    name: str, *, price: Decimal | str, currency: str, period: str, trial_days: int = 0,
    earn_multiplier: Decimal | str = "1", tier_protection: bool = False, perks: Sequence[str] = (),
    members_only_skus: Sequence[str] = (), honoured_by: Sequence[int] = (),
) -> Call[MembershipPlan]:  # fmt: skip
    """A plan you own, honoured by you and the partners you name."""
    body = {
        "name": name, "price": str(price), "currency": currency, "period": period, "trial_days": trial_days,
        "earn_multiplier": str(earn_multiplier), "tier_protection": tier_protection, "perks": list(perks),
        "members_only_skus": list(members_only_skus), "honoured_by": list(honoured_by),
    }  # fmt: skip
    return Call("POST", "/v1/memberships/plans", _one(MembershipPlan), json=body)


def subscribe(ref: str, plan_id: int, *, provider_ref: str | None = None) -> Call[Subscription]:
    """Subscribes your customer: a free trial if the plan has one and the customer never had one,
    else the first paid period, whose payment you took (``provider_ref``)."""
    body = {"plan_id": plan_id, "provider_ref": provider_ref}
    return Call("POST", f"/v1/customers/{_seg(ref)}/memberships", _one(Subscription), json=body)


def customer_perks(ref: str) -> Call[Perks]:
    """The perk check at your checkout: the customer's plans you honour that hold now, and their perks."""
    return Call("GET", f"/v1/customers/{_seg(ref)}/perks", _one(Perks))


def subscription(subscription_id: int) -> Call[Subscription]:
    return Call("GET", f"/v1/memberships/subscriptions/{_seg(subscription_id)}", _one(Subscription))


def report_membership_payment(
    subscription_id: int, *, provider_ref: str, outcome: str, amount: Decimal | str, currency: str
) -> Call[MembershipPayment]:
    """What your payment provider answered for a renewal or a change (idempotent by ``provider_ref``)."""
    body = {"provider_ref": provider_ref, "outcome": outcome, "amount": str(amount), "currency": currency}
    path = f"/v1/memberships/subscriptions/{_seg(subscription_id)}/payments"
    return Call("POST", path, _one(MembershipPayment), json=body)


def cancel_membership(subscription_id: int) -> Call[Subscription]:
    """Cancels at the period's end on the customer's behalf."""
    return Call("POST", f"/v1/memberships/subscriptions/{_seg(subscription_id)}/cancel", _one(Subscription))


def change_membership_plan(subscription_id: int, plan_id: int) -> Call[Subscription]:
    """Upgrades or downgrades now, prorated: charge the answer's ``amount_due`` and report it."""
    path = f"/v1/memberships/subscriptions/{_seg(subscription_id)}/change"
    return Call("POST", path, _one(Subscription), json={"plan_id": plan_id})


def customer_subscriptions(ref: str) -> Call[list[Subscription]]:
    """Your customer's subscriptions that you sold, newest first."""
    path = f"/v1/customers/{_seg(ref)}/memberships"
    return Call("GET", path, lambda data: [Subscription.from_json(x) for x in data["subscriptions"]])


def resume_membership(subscription_id: int) -> Call[Subscription]:
    """Undoes a cancellation before the period's end."""
    return Call("POST", f"/v1/memberships/subscriptions/{_seg(subscription_id)}/resume", _one(Subscription))


def sign_in_link(ref: str) -> Call[SignInLink]:
    """A one-time link to ``/me`` for your custodial customer ``ref``; call it only after
    authenticating the customer yourself."""
    return Call("POST", f"/v1/customers/{_seg(ref)}/sign-in-link", _one(SignInLink))


def rules() -> Call[RuleSet]:
    """Your earning rules in force (what a purchase earns at your shop now)."""
    return Call("GET", "/v1/rules", _one(RuleSet))


def wallet_balance(address: str) -> Call[Balance]:
    """A wallet's points, if it is linked to this partner or bought here (else 404)."""
    return Call("GET", f"/v1/wallets/{_seg(address)}/balance", _one(Balance))


def wallet_history(address: str, *, cursor: int | None = None, limit: int | None = None) -> Call[History]:
    return Call("GET", f"/v1/wallets/{_seg(address)}/history", _one(History), params=_query(cursor=cursor, limit=limit))


# ---------------------------------------------------------------------- webhooks


def add_webhook(url: str, event_types: Sequence[str], *, description: str | None = None) -> Call[Webhook]:
    """Registers an endpoint (https to a public host); the answer's ``secret`` is shown this once
    (verify deliveries with ``partners.webhooks.verify``)."""
    body = {"url": url, "event_types": list(event_types), "description": description}
    return Call("POST", "/v1/webhooks", _one(Webhook), json=body)


def webhooks() -> Call[list[Webhook]]:
    return Call("GET", "/v1/webhooks", _many(Webhook))


def webhook(webhook_id: int) -> Call[Webhook]:
    return Call("GET", f"/v1/webhooks/{_seg(webhook_id)}", _one(Webhook))


def delete_webhook(webhook_id: int) -> Call[None]:
    """Nothing more is sent to it; its pending deliveries fail."""
    return Call("DELETE", f"/v1/webhooks/{_seg(webhook_id)}", _nothing)


def rotate_webhook_secret(webhook_id: int) -> Call[Webhook]:
    """A new signing secret (in the answer's ``secret``, once), in force at once for every attempt."""
    return Call("POST", f"/v1/webhooks/{_seg(webhook_id)}/rotate-secret", _one(Webhook))


def webhook_deliveries(webhook_id: int, *, status: str | None = None, limit: int | None = None) -> Call[list[Delivery]]:
    """The endpoint's latest deliveries, newest first (``status``: pending, delivered or failed)."""
    params = _query(status=status, limit=limit)
    return Call("GET", f"/v1/webhooks/{_seg(webhook_id)}/deliveries", _many(Delivery), params=params)


def messages(
    *,
    status: str | None = None,
    kind: str | None = None,
    ref: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: int | None = None,
    limit: int | None = None,
) -> Call[MessagePage]:
    """Your messages to your customers, newest first, a page at a time (filters: ``status``,
    ``kind``, your customer's ``ref``, planned from ``since`` until before ``until``)."""
    params = _query(
        status=status,
        kind=kind,
        ref=ref,
        since=None if since is None else since.isoformat(),
        until=None if until is None else until.isoformat(),
        cursor=cursor,
        limit=limit,
    )
    return Call("GET", "/v1/messages", _one(MessagePage), params=params)


def message(message_id: int) -> Call[Message]:
    """One of your messages and its log (every change of its status)."""
    return Call("GET", f"/v1/messages/{_seg(message_id)}", _one(Message))


def test_webhook(webhook_id: int) -> Call[Delivery]:
    """Sends a ``webhook.test`` event to the endpoint now, signed like any other; answers its delivery."""
    return Call("POST", f"/v1/webhooks/{_seg(webhook_id)}/test", _one(Delivery))


test_webhook.__test__ = False  # type: ignore[attr-defined] - not a pytest test, despite its name


# ---------------------------------------------------------------------- the partner's own account


def account(*, limit: int | None = None) -> Call[PartnerAccount]:
    """The partner's own account: its rates, its funds, free funds, issuance headroom, exposure
    and pending credit in ``Clearing`` (read from the chain now), its ``limit`` latest purchases
    with their status (held and failed ones with the reason), its lines of the latest settlement
    statements and its ``limit`` latest webhook deliveries (gateway default 20, at most 100)."""
    return Call("GET", "/v1/account", _one(PartnerAccount), params=_query(limit=limit))


# ---------------------------------------------------------------------- analytics


def kpis(*, start: str | None = None, end: str | None = None) -> Call[Kpis]:
    """Your KPIs over ``start..end`` (``YYYY-MM-DD``, UTC days; default: the 30 days to yesterday):
    members, activity, repeat rate, basket, frequency, points issued/redeemed/reversed, liability,
    churn, CLV, cohorts, tiers, the points flowing between you and other partners."""
    return Call("GET", "/v1/analytics/kpis", _one(Kpis), params=_query(**{"from": start, "to": end}))


def rfm_segments(*, ref: str | None = None) -> Call[RfmSegments]:
    """Your customers' RFM segments in the latest daily snapshot, and with ``ref`` that customer's
    values, scores and segment."""
    return Call("GET", "/v1/analytics/rfm", _one(RfmSegments), params=_query(ref=ref))


# ---------------------------------------------------------------------- message templates


def _template_path(kind: str, channel: str, locale: str) -> str:
    return f"/v1/message-templates/{_seg(kind)}/{_seg(channel)}/{_seg(locale)}"


def message_templates() -> Call[MessageTemplates]:
    """The kinds of message the coalition sends for you, their channels, variables and sample
    data, the locales (en, pl, cs, ru), and which templates you override."""
    return Call("GET", "/v1/message-templates", _one(MessageTemplates))


def message_template(kind: str, channel: str, locale: str) -> Call[MessageTemplate]:
    """Your override's Jinja2 sources, or the built-in ones (``overridden`` False) to start from."""
    return Call("GET", _template_path(kind, channel, locale), _one(MessageTemplate))


def save_message_template(
    kind: str,
    channel: str,
    locale: str,
    *,
    subject: str | None = None,
    text: str | None = None,
    html: str | None = None,
) -> Call[MessageTemplate]:
    """Overrides a template for your messages (a part left None keeps the built-in one); refused
    with ``template-invalid`` (the part and line) unless it renders the kind's sample in the sandbox."""
    body = {"subject": subject, "text": text, "html": html}
    return Call("PUT", _template_path(kind, channel, locale), _one(MessageTemplate), json=body)


def delete_message_template(kind: str, channel: str, locale: str) -> Call[None]:
    """Your messages use the coalition's template again."""
    return Call("DELETE", _template_path(kind, channel, locale), _nothing)


def preview_message(
    kind: str,
    channel: str,
    locale: str,
    *,
    subject: str | None = None,
    text: str | None = None,
    html: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> Call[MessagePreview]:
    """The message rendered with your brand: with the sources given (else your saved override or
    the built-in template) and ``data`` (else the kind's sample). Nothing is stored or sent."""
    body = {"kind": kind, "channel": channel, "locale": locale, "subject": subject, "text": text, "html": html}
    body["data"] = None if data is None else dict(data)
    return Call("POST", "/v1/message-templates/preview", _one(MessagePreview), json=body)


def message_brand() -> Call[MessageBrand]:
    """Your name and colours as your messages show them."""
    return Call("GET", "/v1/message-brand", _one(MessageBrand))


def save_message_brand(name: str, colour: str, accent: str) -> Call[MessageBrand]:
    """Your display name and the two colours (``#rrggbb``) of your HTML emails."""
    return Call("PUT", "/v1/message-brand", _one(MessageBrand), json={"name": name, "colour": colour, "accent": accent})


# ---------------------------------------------------------------------- following a status URL

STATUS_MODELS: tuple[tuple[re.Pattern[str], type[Model]], ...] = (
    (re.compile(r"^/v1/purchases/[^/]+/refunds/[^/]+$"), Refund),
    (re.compile(r"^/v1/purchases/[^/]+$"), Purchase),
    (re.compile(r"^/v1/redemptions/[^/]+$"), Redemption),
)
SUCCEEDED = frozenset({"confirmed", "fulfilled"})  # final; "failed" raises OperationFailed


def status(path: str) -> Call[Any]:
    """A status URL's answer (a purchase's, a refund's, a redemption's) as its typed result."""
    for pattern, model in STATUS_MODELS:
        if pattern.match(path):
            return Call("GET", path, model.from_json)
    raise ValueError(f"{path} is not the status URL of a purchase, a refund or a redemption")


def status_path(status_url: str | Model, base_url: str) -> str:
    """The path of a status URL (or of a result's ``status_url``), relative to the gateway."""
    url = status_url if isinstance(status_url, str) else str(status_url["status_url"])
    if url.startswith(base_url):
        return url.removeprefix(base_url)
    return urlsplit(url).path if "://" in url else url  # the gateway's public URL may differ from ours


# The client methods, by name: PartnerClient and AsyncPartnerClient expose each (a unit test checks).
OPERATIONS: dict[str, Callable[..., Call[Any]]] = {
    "enrol": enrol,
    "member": member,
    "update_profile": update_profile,
    "record_consents": record_consents,
    "consents": consents,
    "import_customers": import_customers,
    "export_customers": export_customers,
    "post_purchase": post_purchase,
    "post_purchases": post_purchases,
    "purchase": purchase,
    "refund": refund,
    "refunds": refunds,
    "get_refund": get_refund,
    "add_reward": add_reward,
    "rewards": rewards,
    "reward": reward,
    "update_reward": update_reward,
    "redemption_consent": redemption_consent,
    "redeem": redeem,
    "redemption": redemption,
    "points_hold_consent": points_hold_consent,
    "authorise_points": authorise_points,
    "capture_points": capture_points,
    "release_points": release_points,
    "points_hold": points_hold,
    "wallet_challenge": wallet_challenge,
    "link_wallet": link_wallet,
    "custodial_wallet": custodial_wallet,
    "release_custodial_wallet": release_custodial_wallet,
    "cancel_custodial_release": cancel_custodial_release,
    "customer": get_customer,
    "customer_balance": customer_balance,
    "customer_history": customer_history,
    "customer_tier": customer_tier,
    "customer_expiry": customer_expiry,
    "sign_in_link": sign_in_link,
    "campaigns": campaigns,
    "create_campaign": create_campaign,
    "campaign": campaign,
    "simulate_campaign": simulate_campaign,
    "start_campaign": start_campaign,
    "pause_campaign": pause_campaign,
    "stop_campaign": stop_campaign,
    "campaign_results": campaign_results,
    "membership_plans": membership_plans,
    "add_membership_plan": add_membership_plan,
    "subscribe": subscribe,
    "customer_perks": customer_perks,
    "subscription": subscription,
    "report_membership_payment": report_membership_payment,
    "cancel_membership": cancel_membership,
    "change_membership_plan": change_membership_plan,
    "customer_subscriptions": customer_subscriptions,
    "resume_membership": resume_membership,
    "rules": rules,
    "wallet_balance": wallet_balance,
    "wallet_history": wallet_history,
    "add_webhook": add_webhook,
    "webhooks": webhooks,
    "webhook": webhook,
    "delete_webhook": delete_webhook,
    "rotate_webhook_secret": rotate_webhook_secret,
    "webhook_deliveries": webhook_deliveries,
    "test_webhook": test_webhook,
    "account": account,
    "kpis": kpis,
    "rfm_segments": rfm_segments,
    "message_templates": message_templates,
    "message_template": message_template,
    "save_message_template": save_message_template,
    "delete_message_template": delete_message_template,
    "preview_message": preview_message,
    "message_brand": message_brand,
    "save_message_brand": save_message_brand,
    "messages": messages,
    "message": message,
}
