"""Typed results of the partner API: frozen dataclasses built from the gateway's JSON answers.

Times are timezone-aware ``datetime``, amounts ``Decimal``, nested objects dataclasses. Fields a
newer gateway adds are kept in ``raw`` (the answer as received); ``result["field"]`` and
``result.get("field")`` read ``raw`` too, for code written against the dict answers of before.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

M = TypeVar("M", bound="Model")


@dataclass(frozen=True, kw_only=True)
class Model:
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls: type[M], data: Mapping[str, Any]) -> M:
        hints = _hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "raw":
                continue
            if f.name in data:
                values[f.name] = _convert(hints[f.name], data[f.name])
            elif f.default is MISSING and f.default_factory is MISSING:
                values[f.name] = None  # an older gateway that does not send it yet
        return cls(raw=dict(data), **values)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _convert(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(kind) if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if origin is list:
        (item,) = get_args(kind)
        return [_convert(item, v) for v in value]
    if kind is datetime:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if kind is Decimal:
        return Decimal(str(value))
    if kind is int and isinstance(value, str):
        return int(value)  # token amounts in base units: decimal strings in the JSON, exact
    if isinstance(kind, type) and is_dataclass(kind) and issubclass(kind, Model):
        return kind.from_json(value)
    return value


# ---------------------------------------------------------------------- problems


@dataclass(frozen=True, kw_only=True)
class Failure(Model):
    """Why an accepted purchase, refund or redemption failed (or why a purchase is held)."""

    type: str
    title: str
    detail: str

    @property
    def slug(self) -> str:
        return self.type.rsplit("/", 1)[-1]


@dataclass(frozen=True, kw_only=True)
class Problem(Failure):
    """A problem answer (a refused purchase of a batch)."""

    status: int
    errors: list[dict[str, Any]] | None = None


# ---------------------------------------------------------------------- purchases and refunds


@dataclass(frozen=True, kw_only=True)
class Purchase(Model):
    purchase_id: str
    status: Literal["accepted", "held", "submitted", "confirmed", "failed"]
    customer_wallet: str
    amount: Decimal
    currency: str
    points: int
    rule: dict[str, Any]
    seq: int
    purchased_at: datetime
    accepted_at: datetime
    tx_hash: str | None = None
    batch_id: int | None = None
    failure_reason: str | None = None
    failure: Failure | None = None
    status_url: str
    breakdown: list[dict[str, Any]] | None = None  # which rule gave which points (earned under rules)


@dataclass(frozen=True, kw_only=True)
class BatchResult(Model):
    index: int
    purchase_id: str | None
    outcome: Literal["accepted", "duplicate", "rejected"]
    purchase: Purchase | None = None
    problem: Problem | None = None


@dataclass(frozen=True, kw_only=True)
class BatchOutcome(Model):
    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchResult]


@dataclass(frozen=True, kw_only=True)
class Refund(Model):
    refund_id: str
    purchase_id: str
    status: Literal["accepted", "submitted", "confirmed", "failed"]
    amount: Decimal | None
    points: int
    reason: str | None
    customer_wallet: str
    tx_hash: str | None
    failure_reason: str | None
    failure: Failure | None = None
    created_at: datetime
    status_url: str


# ---------------------------------------------------------------------- rewards and redemptions


@dataclass(frozen=True, kw_only=True)
class Reward(Model):
    sku: str
    name: str
    points: int
    stock: int | None
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class PreparedConsent(Model):
    """What the customer's wallet signs: ``typed_data`` to ``eth_signTypedData_v4`` (see ``signed_consent``)."""

    redemption_id: str
    customer_wallet: str
    points: int
    ref: str
    nonce: str
    deadline: int
    typed_data: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Redemption(Model):
    redemption_id: str
    status: Literal["accepted", "burning", "burned", "fulfilled", "failed"]
    sku: str
    quantity: int
    points: int
    customer_wallet: str
    custodial: bool
    ref: str
    nonce: str
    deadline: int
    tx_hash: str | None = None
    block_number: int | None = None
    voucher_code: str | None = None
    failure_reason: str | None = None
    failure: Failure | None = None
    accepted_at: datetime
    burned_at: datetime | None = None
    finished_at: datetime | None = None
    status_url: str


# ---------------------------------------------------------------------- points at the till


@dataclass(frozen=True, kw_only=True)
class PreparedHoldConsent(Model):
    """What the customer's wallet signs to pay with points (see ``signed_consent``)."""

    hold_id: str
    customer_wallet: str
    points: int
    money_value: Decimal
    ref: str
    nonce: str
    deadline: int
    typed_data: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class PointsHold(Model):
    """A hold of a customer's points at the till: authorised, captured (its burn is the redemption
    ``redemption_id``) or released (by you, or at ``expires_at``)."""

    hold_id: str
    status: Literal["authorised", "captured", "released"]
    customer_wallet: str
    custodial: bool
    points: int
    point_value: Decimal
    money_value: Decimal
    expires_at: datetime
    purchase_id: str | None = None
    captured_points: int | None = None
    captured_value: Decimal | None = None
    redemption_id: str | None = None
    redemption_status: str | None = None
    tx_hash: str | None = None
    given_back_points: int = 0
    release_reason: str | None = None
    authorised_at: datetime
    status_url: str


# ---------------------------------------------------------------------- customers


@dataclass(frozen=True, kw_only=True)
class Challenge(Model):
    """An EIP-4361 message the customer's wallet signs as is (personal_sign)."""

    message: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class Customer(Model):
    ref: str
    wallet: str
    custodial: bool
    released: bool
    release_available_at: datetime | None = None
    linked_at: datetime


@dataclass(frozen=True, kw_only=True)
class Release(Model):
    """A custodial release: ``release-pending`` (``available_at``) or ``released`` (``keystore``, once)."""

    wallet: str
    status: Literal["release-pending", "released"]
    available_at: datetime | None = None
    keystore: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class Balance(Model):
    wallet: str
    points: int


@dataclass(frozen=True, kw_only=True)
class ExpiryDate(Model):
    expires_at: datetime
    points: int
    reminders: list[datetime]


@dataclass(frozen=True, kw_only=True)
class Expiry(Model):
    """When a wallet's points expire: one date for the whole balance (expiry by inactivity)."""

    wallet: str
    points: int
    expires_at: datetime | None
    expired_points: int
    schedule: list[ExpiryDate]
    window_days: int
    rule: str


@dataclass(frozen=True, kw_only=True)
class TierMovement(Model):
    at: datetime
    points: int


@dataclass(frozen=True, kw_only=True)
class Tier(Model):
    """A customer's coalition-wide tier: the one in force, the points to the next one, and the
    next review, when its verdict falls and the points still needed by then to keep the tier."""

    customer_id: int | None
    customer_ref: str | None
    tier: str
    earned: str
    multiplier: Decimal
    qualifying_points: int
    next_tier: str | None
    points_to_next: int | None
    review_at: datetime | None
    decided_at: datetime | None
    points_to_keep: int
    points_leaving: int
    leaving: list[TierMovement]
    manual_until: datetime | None
    ladder_version: int


@dataclass(frozen=True, kw_only=True)
class MembershipPlan(Model):
    """A paid membership plan you own or honour."""

    id: int
    name: str
    owner_partner_id: int | None
    honoured_by: list[int]
    price: Decimal
    currency: str
    period: str  # monthly | yearly
    trial_days: int
    earn_multiplier: Decimal
    tier_protection: bool
    perks: list[str]
    members_only_skus: list[str]
    coalition_share: Decimal


@dataclass(frozen=True, kw_only=True)
class Subscription(Model):
    """A customer's subscription to a plan (``amount_due``: what a change of plan charges now)."""

    id: int
    customer_id: int
    plan_id: int
    seller_partner_id: int
    status: str  # trialing | active | past_due | lapsed
    started_at: datetime
    period_start: datetime
    period_end: datetime
    next_renewal: datetime | None
    cancel_at_period_end: bool
    grace_until: datetime | None
    entitled_until: datetime | None
    credit: Decimal
    amount_due: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class MembershipPayment(Model):
    """A payment you reported, and the subscription after it."""

    id: int
    subscription: Subscription
    provider_ref: str
    outcome: str  # succeeded | failed
    amount: Decimal
    currency: str
    coalition_amount: Decimal
    at: datetime


@dataclass(frozen=True, kw_only=True)
class Perks(Model):
    """The perk check: the customer's plans honoured here now, their perks and earn multiplier."""

    customer_ref: str
    plans: list[int]
    perks: list[str]
    earn_multiplier: Decimal
    tier_protection: bool
    members_only_skus: list[str]


@dataclass(frozen=True, kw_only=True)
class HistoryEntry(Model):
    kind: str  # earned | redeemed | reversed | restored | sent | received
    points: int  # signed
    partner_id: int | None
    partner_name: str | None
    seq: int | None
    ref: str | None
    block_number: int
    block_time: int
    tx_hash: str


@dataclass(frozen=True, kw_only=True)
class History(Model):
    """One page, newest first; ask for the next with ``cursor=next_cursor`` (None: the last page)."""

    wallet: str
    balance: int
    entries: list[HistoryEntry]
    next_cursor: int | None


# ---------------------------------------------------------------------- members


@dataclass(frozen=True, kw_only=True)
class MemberConsent(Model):
    """A consent: given (``granted``) or withdrawn, on a channel, in your scope or the coalition's."""

    channel: str
    scope: str
    partner_id: int | None
    granted: bool
    source: str
    recorded_at: datetime
    confirmed: bool | None  # an email grant: confirmed by the customer (double opt-in); None: an older gateway
    text_shown: str | None  # the words the customer was shown


@dataclass(frozen=True, kw_only=True)
class Profile(Model):
    email: str | None
    phone: str | None
    birthday: str | None  # YYYY-MM-DD
    locale: str | None
    time_zone: str | None
    attributes: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Member(Model):
    """A member: your ref, the wallet, their own referral code and the one they came with, the
    profile and the consents in force in your scope and the coalition's."""

    ref: str | None
    wallet: str | None
    custodial: bool
    referral_code: str | None
    referred_by_code: str | None
    enrolled_at: datetime
    profile: Profile
    consents: list[MemberConsent]


@dataclass(frozen=True, kw_only=True)
class RuleSet(Model):
    """Your earning rules in force: version 0 is your rate alone (no rule set yet). Each rule is
    a dict with its ``kind``, ``id`` and own ``version`` (the operator writes them)."""

    partner_id: int
    version: int
    status: str  # draft | active | retired
    currency: str
    time_zone: str
    rounding: str
    rules: list[dict[str, Any]]
    created_at: datetime | None
    created_by: str | None
    activated_at: datetime | None
    activated_by: str | None


@dataclass(frozen=True, kw_only=True)
class SignInLink(Model):
    """A one-time link that opens ``/me`` read-only for your custodial customer: hand ``url`` to them alone."""

    url: str
    wallet: str
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class ConsentHistory(Model):
    history: list[MemberConsent]


@dataclass(frozen=True, kw_only=True)
class RefusedRow(Model):
    line: int
    ref: str | None
    field: str | None
    reason: str


@dataclass(frozen=True, kw_only=True)
class ImportReport(Model):
    """An import: the valid rows enrolled all together (none with ``dry_run``), each refused row by line."""

    rows: int
    enrolled: int
    unchanged: int
    refused_count: int
    dry_run: bool
    duration_ms: int
    refused: list[RefusedRow]


# ---------------------------------------------------------------------- webhooks


@dataclass(frozen=True, kw_only=True)
class Webhook(Model):
    id: int
    url: str
    event_types: list[str]
    description: str | None
    created_at: datetime
    secret: str | None = None  # only when created or rotated


@dataclass(frozen=True, kw_only=True)
class Delivery(Model):
    id: int
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]


# ---------------------------------------------------------------------- messages to customers


@dataclass(frozen=True, kw_only=True)
class MessageLogEntry(Model):
    status: str
    detail: str | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class Message(Model):
    """A message sent (or planned, or suppressed) on your behalf; ``log`` with ``message(id)`` only."""

    id: int
    kind: str
    category: str
    customer_id: int
    customer_ref: str | None
    partner_id: int | None
    channel: str
    address: str | None
    locale: str
    status: str
    reason: str | None
    send_after: datetime
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    data: dict[str, Any]
    log: list[MessageLogEntry] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class MessagePage(Model):
    """One page, newest first; ask for the next with ``cursor=next_cursor`` (None: the last page)."""

    messages: list[Message]
    next_cursor: int | None


# ---------------------------------------------------------------------- the partner's own account


@dataclass(frozen=True, kw_only=True)
class AccountMoney(Model):
    """The partner's position in ``Clearing``, read from the chain when asked; amounts are
    settlement-token base units (``in_token`` turns one into the token, e.g. cUSD)."""

    token_symbol: str
    token_decimals: int
    funds: int  # deposits + settled nets − withdrawals
    free_funds: int  # what the treasury may withdraw
    issuance_headroom: int  # value of points it may still issue; purchases beyond it are held
    exposure: int  # value of its issuance not yet settled
    pending_credit: int  # value of its refunds not yet settled
    issuance_limit: int
    headroom_low: bool
    headroom_warning_ratio: float

    def in_token(self, base_units: int) -> Decimal:
        """``base_units`` in the settlement token: ``in_token(money.funds)`` is e.g. ``Decimal("1000.5")``."""
        return Decimal(base_units).scaleb(-self.token_decimals)


@dataclass(frozen=True, kw_only=True)
class AccountPurchase(Model):
    purchase_id: str
    status: Literal["accepted", "held", "submitted", "confirmed", "failed"]
    points: int
    amount: Decimal
    currency: str
    customer_wallet: str
    customer_ref: str | None
    purchased_at: datetime
    created_at: datetime
    tx_hash: str | None
    reason: str | None  # why it is held or failed


@dataclass(frozen=True, kw_only=True)
class AccountStatement(Model):
    """The partner's own line of a settlement statement (``line["net"] > 0``: it is paid)."""

    period_id: int
    status: Literal["computing", "submitted", "settled", "failed"]
    from_block: int
    to_block: int
    statement_hash: str | None
    settled_at: datetime | None
    token: dict[str, Any]
    line: dict[str, Any]
    bilateral: list[dict[str, Any]]
    membership_fees: list[dict[str, Any]] = field(default_factory=list)  # statement v5: fees it reported, per plan


@dataclass(frozen=True, kw_only=True)
class PartnerAccount(Model):
    """``GET /v1/account``: the partner's rates, its money in ``Clearing``, its latest purchases
    (newest first), its lines of the latest statements and its webhook deliveries (newest first)."""

    id: int
    name: str
    status: str
    currency: str
    points_per_unit: Decimal
    issue_price: int
    reimbursement_rate: int
    scheduled_rerate: dict[str, Any] | None
    money: AccountMoney
    recent_purchases: list[AccountPurchase]
    statements: list[AccountStatement]
    webhook_deliveries: list[Delivery]


# ---------------------------------------------------------------------- analytics


@dataclass(frozen=True, kw_only=True)
class Kpis(Model):
    """Your KPIs over a period of UTC days (definitions: the gateway's README, "Analytics: RFM and
    KPIs"); amounts per currency as decimal strings, rates as fractions (None when undefined)."""

    start: str | None = None  # "from" in the JSON
    end: str | None = None  # "to" in the JSON
    partner_id: int | None
    churn_days: int
    members_enrolled: int
    members_new: int
    active_30d: int
    active_90d: int
    purchases: int
    buyers: int
    repeat_purchase_rate: float | None
    average_basket: dict[str, str]
    purchase_frequency: float | None
    points_issued: int
    points_redeemed: int
    points_reversed: int
    points_expired: int | None
    redemption_rate: float | None
    breakage_rate: float | None
    outstanding_points: int
    outstanding_value_low: int | None
    outstanding_value_high: int | None
    churn_rate: float | None
    clv: dict[str, str]
    cohorts: list[dict[str, Any]]
    tiers: dict[str, int]
    tier_moves: list[dict[str, Any]]
    flow: list[dict[str, Any]]
    shared_members: list[dict[str, Any]]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Kpis:
        kpis = super().from_json(data)
        return replace(kpis, start=data.get("from"), end=data.get("to"))


@dataclass(frozen=True, kw_only=True)
class RfmMember(Model):
    """A customer's RFM values, scores (1..5) and segment in the latest daily snapshot."""

    customer_id: int
    day: str
    recency_days: int
    frequency: int
    monetary: Decimal
    r: int
    f: int
    m: int
    segment: str


@dataclass(frozen=True, kw_only=True)
class RfmSegments(Model):
    """Your customers' RFM segments' sizes in the latest daily snapshot, and one customer's scores."""

    scope: str
    partner_id: int | None
    day: str | None
    members: int
    changes: int
    sizes: dict[str, int]
    score_rule: str
    segment_rule: str
    member: RfmMember | None


# ---------------------------------------------------------------------- message templates


@dataclass(frozen=True, kw_only=True)
class MessageKind(Model):
    """A kind of message the coalition sends for you: its channels, variables (``sample``) and
    your overrides (``"email/pl"``)."""

    kind: str
    category: str  # transactional | marketing
    trigger: str
    description: str
    channels: list[str]
    overridden: list[str]
    sample: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class MessageTemplates(Model):
    """The kinds of message and the locales templates exist for."""

    locales: list[str]
    default_locale: str
    kinds: list[MessageKind]


@dataclass(frozen=True, kw_only=True)
class MessageTemplate(Model):
    """The Jinja2 sources of one kind, channel and locale: yours (``overridden``) or the built-in ones."""

    kind: str
    channel: str
    locale: str
    overridden: bool
    subject: str | None
    text: str | None
    html: str | None
    version: int | None
    updated_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class MessageBrand(Model):
    """Your name and colours in your messages (``custom`` False: the defaults)."""

    name: str
    colour: str
    accent: str
    custom: bool
    updated_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class MessagePreview(Model):
    """A message as your customers would read it."""

    subject: str | None
    text: str
    html: str | None
    locale: str
    source: str  # builtin | override
    override_error: str | None


@dataclass(frozen=True, kw_only=True)
class Campaign(Model):
    """One of your campaigns: its trigger, conditions, effects, limits, control group and spend."""

    id: int
    name: str
    funder_partner_id: int
    owner: str  # operator | partner
    trigger: dict[str, Any]
    conditions: dict[str, Any]
    effects: list[dict[str, Any]]
    limits: dict[str, Any]
    holdout_bp: int
    starts_at: datetime | None
    ends_at: datetime | None
    status: str  # draft | running | paused | stopped
    spent_points: int
    members_awarded: int
    awards: int
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class CampaignSimulation(Model):
    """What a campaign would have done over the last ``days`` of your purchases."""

    days: int
    purchases: int
    members: int
    treatment_members: int
    points: int
    cost: Decimal


@dataclass(frozen=True, kw_only=True)
class CampaignResults(Model):
    """A campaign measured against its control group (``result``: the arms, the intervals, the verdict)."""

    campaign_id: int
    window_days: int
    window_closes_at: datetime | None
    result: dict[str, Any]
