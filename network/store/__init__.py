"""The store: every table of the system, its migrations and its sessions (SQLAlchemy 2).

The bottom layer: it imports nothing of the chain code, the gateway or anything above it.
``base`` (the declarative base), ``chain_tables`` (the chain layer's outboxes, transactions and
indexed events), ``tables`` (partners, purchases, redemptions, webhooks, custody, settlement,
sessions), ``customers`` (customers, their wallets, partners' refs, profiles, consents), ``members``
(enrolment, referral codes, erasures, imports), ``events``
(domain events and their consumers' cursors), ``analytics`` (the daily RFM snapshot),
``analytics_totals`` (per-member purchase totals),
``tiers`` (the tier ladder's versions, members'
qualifying movements, tier states and changes, recalculation runs), ``consent_nonces`` (the
redemption nonces handed out per wallet), ``segments`` (operator-defined segments), ``churn`` (churn models and scores),
``memberships`` (paid membership plans, subscriptions, payments),
``group_commit`` (many callers' writes in one transaction), ``engine`` (engines, migrations,
session factories); ``migrations/`` is Alembic's.
"""

from network.store.achievements import Achievement, AchievementEvent, MemberAchievement  # issue 20: badges
from network.store.analytics import COALITION, RfmRun, RfmSnapshot
from network.store.analytics_totals import AnalyticsMark, MemberPartnerTotal
from network.store.base import (
    Base,
    UTCDateTime,
    utcnow,
)
from network.store.campaigns import Campaign, CampaignAward, CampaignExposure, CampaignSpend
from network.store.chain_tables import (
    ChainEvent,
    ChainTransaction,
    IndexedBlock,
    IndexerCheckpoint,
    LedgerEntry,
    OutboxPurchase,
    OutboxReversal,
    PurchaseStatus,
    ReversalStatus,
    TxStatus,
)
from network.store.churn import ChurnModel, ChurnScore
from network.store.consent_nonces import RedeemNonce
from network.store.customers import (
    Customer,
    CustomerConsent,
    CustomerLink,
    CustomerProfile,
    CustomerWallet,
)
from network.store.earning_rules import (
    EarningCapUsage,
    EarningRuleSet,
)
from network.store.engine import (
    MIGRATIONS,
    StoreNotMigrated,
    current_revision,
    head_revision,
    make_engine,
    migrate,
    open_store,
)
from network.store.events import (
    DomainEvent,
    EventCursor,
)
from network.store.expiry import ExpiryReminder
from network.store.members import (
    CustomerErasure,
    Member,
    MemberEnrolment,
    MemberImport,
)
from network.store.memberships import (
    MembershipEvent,
    MembershipPayment,
    MembershipPlan,
    MembershipPlanPartner,
    MembershipSubscription,
    MembershipTrial,
)
from network.store.message_digests import MessageDigest
from network.store.message_templates import MessageBrand, MessageTemplate
from network.store.messages import Message, MessageEvent, MessageSuppression
from network.store.points_payments import (
    PointsGiveBack,
    PointsHold,
    PointsWalletLock,
)
from network.store.referrals import Referral, ReferralAward, ReferralEvent  # issue 20: referrals
from network.store.restores import OutboxRestore
from network.store.segments import Segment
from network.store.tables import (
    CustodialWallet,
    CustomerSession,
    OperatorAlert,
    OperatorSession,
    Partner,
    PartnerOnboarding,
    Purchase,
    ReconciliationReport,
    Redemption,
    Refund,
    Reward,
    SettlementPeriod,
    SignInLink,
    WalletChallenge,
    WebhookDelivery,
    WebhookEndpoint,
)
from network.store.tiers import (
    TierChangeRecord,
    TierLadder,
    TierMovement,
    TierRecalculation,
    TierState,
)

__all__ = [
    "COALITION",
    "MIGRATIONS",
    "Achievement",
    "AchievementEvent",
    "AnalyticsMark",
    "Base",
    "Campaign",
    "CampaignAward",
    "CampaignExposure",
    "CampaignSpend",
    "ChainEvent",
    "ChainTransaction",
    "ChurnModel",
    "ChurnScore",
    "CustodialWallet",
    "Customer",
    "CustomerConsent",
    "CustomerErasure",
    "CustomerLink",
    "CustomerProfile",
    "CustomerSession",
    "CustomerWallet",
    "DomainEvent",
    "EarningCapUsage",
    "EarningRuleSet",
    "EventCursor",
    "ExpiryReminder",
    "IndexedBlock",
    "IndexerCheckpoint",
    "LedgerEntry",
    "Member",
    "MemberAchievement",
    "MemberEnrolment",
    "MemberImport",
    "MemberPartnerTotal",
    "MembershipEvent",
    "MembershipPayment",
    "MembershipPlan",
    "MembershipPlanPartner",
    "MembershipSubscription",
    "MembershipTrial",
    "Message",
    "MessageBrand",
    "MessageDigest",
    "MessageEvent",
    "MessageSuppression",
    "MessageTemplate",
    "OperatorAlert",
    "OperatorSession",
    "OutboxPurchase",
    "OutboxRestore",
    "OutboxReversal",
    "Partner",
    "PartnerOnboarding",
    "PointsGiveBack",
    "PointsHold",
    "PointsWalletLock",
    "Purchase",
    "PurchaseStatus",
    "ReconciliationReport",
    "RedeemNonce",
    "Redemption",
    "Referral",
    "ReferralAward",
    "ReferralEvent",
    "Refund",
    "ReversalStatus",
    "Reward",
    "RfmRun",
    "RfmSnapshot",
    "Segment",
    "SettlementPeriod",
    "SignInLink",
    "StoreNotMigrated",
    "TierChangeRecord",
    "TierLadder",
    "TierMovement",
    "TierRecalculation",
    "TierState",
    "TxStatus",
    "UTCDateTime",
    "WalletChallenge",
    "WebhookDelivery",
    "WebhookEndpoint",
    "current_revision",
    "head_revision",
    "make_engine",
    "migrate",
    "open_store",
    "utcnow",
]
