"""The partner SDK: a typed client of the gateway's partner API, sync and async (httpx).

    from partners.client import PartnerClient

    with PartnerClient("http://127.0.0.1:8000", api_key="ck_...") as coalition:
        purchase = coalition.post_purchase("order-1042", wallet="0xAbc…", amount="42.50", currency="EUR")
        coalition.wait(purchase.status_url)            # accepted -> submitted -> confirmed

What it does for the integrator:

- Idempotency is built in: every write carries the partner's own id (``purchase_id``,
  ``refund_id``, ``redemption_id``) and a body made of the arguments only, so a write is retried
  with the same id and body after a timeout, a dropped connection, a 429 or a 5xx (or a crash of
  the caller), and the gateway answers with the first result.
- Retries back off exponentially with jitter and honour ``Retry-After``.
- Results are typed (frozen dataclasses, partners/sdk/models.py: ``Purchase``, ``Refund``,
  ``Redemption``, ``Webhook``, ``Delivery``, ``History``...); ``result["field"]`` still reads the JSON.
- Errors share one root, :class:`CoalitionError`, each with a problem whose ``slug`` is stable:
  :class:`ProblemError` when the gateway refuses a request (``status``: the HTTP status),
  :class:`OperationFailed` when :meth:`~PartnerClient.wait` finds an accepted purchase, refund or
  redemption failed (e.g. ``partner-funds-exhausted``, ``points-already-spent``; the raw reason in
  ``failure_reason``), :class:`WaitTimeout` when it is still going (a held purchase says why).

The calls cover the partner API: purchases (one, or up to 1,000 with ``post_purchases``),
refunds, rewards, redemptions and consents, members (``enrol``, ``member``, ``update_profile``,
``record_consents``, ``consents``, ``import_customers`` from CSV, ``export_customers``),
customers (wallet links, custodial wallets and their release, balances and histories,
coalition-wide tiers), webhook endpoints, their deliveries, secret rotation and a test event, and
the partner's own account (``account()``: funds, free funds, issuance headroom, exposure and
pending credit in ``Clearing``, recent purchases, its statement lines and webhook deliveries),
and its messages' templates and brand (``message_templates``, ``save_message_template``,
``preview_message``, ``save_message_brand``...).
:class:`AsyncPartnerClient` has every method of :class:`PartnerClient`, awaited: both run the
same builders (partners/sdk/calls.py). The SDK imports nothing of the gateway: it needs only
httpx.
"""

from __future__ import annotations

from partners.sdk.aio import AsyncPartnerClient
from partners.sdk.calls import UNSET, customer, purchase_body, signed_consent
from partners.sdk.errors import CoalitionError, OperationFailed, ProblemError, WaitTimeout
from partners.sdk.models import (
    AccountMoney,
    AccountPurchase,
    AccountStatement,
    Balance,
    BatchOutcome,
    BatchResult,
    Campaign,
    CampaignResults,
    CampaignSimulation,
    Challenge,
    ConsentHistory,
    Customer,
    Delivery,
    Failure,
    History,
    HistoryEntry,
    ImportReport,
    Kpis,
    Member,
    MemberConsent,
    MembershipPayment,
    MembershipPlan,
    Message,
    MessageBrand,
    MessageKind,
    MessageLogEntry,
    MessagePage,
    MessagePreview,
    MessageTemplate,
    MessageTemplates,
    PartnerAccount,
    Perks,
    PointsHold,
    PreparedConsent,
    PreparedHoldConsent,
    Problem,
    Purchase,
    Redemption,
    Refund,
    Release,
    Reward,
    RfmMember,
    RfmSegments,
    RuleSet,
    SignInLink,
    Subscription,
    Tier,
    TierMovement,
    Webhook,
)
from partners.sdk.sync import PartnerClient

__all__ = [
    "UNSET",
    "AccountMoney",
    "AccountPurchase",
    "AccountStatement",
    "AsyncPartnerClient",
    "Balance",
    "BatchOutcome",
    "BatchResult",
    "Campaign",
    "CampaignResults",
    "CampaignSimulation",
    "Challenge",
    "CoalitionError",
    "ConsentHistory",
    "Customer",
    "Delivery",
    "Failure",
    "History",
    "HistoryEntry",
    "ImportReport",
    "Kpis",
    "Member",
    "MemberConsent",
    "MembershipPayment",
    "MembershipPlan",
    "Message",
    "MessageBrand",
    "MessageKind",
    "MessageLogEntry",
    "MessagePage",
    "MessagePreview",
    "MessageTemplate",
    "MessageTemplates",
    "OperationFailed",
    "PartnerAccount",
    "PartnerClient",
    "Perks",
    "PointsHold",
    "PreparedConsent",
    "PreparedHoldConsent",
    "Problem",
    "ProblemError",
    "Purchase",
    "Redemption",
    "Refund",
    "Release",
    "Reward",
    "RfmMember",
    "RfmSegments",
    "RuleSet",
    "SignInLink",
    "Subscription",
    "Tier",
    "TierMovement",
    "WaitTimeout",
    "Webhook",
    "customer",
    "purchase_body",
    "signed_consent",
]
