"""Unit tests of the partner SDK (partners/client.py, partners/sdk/): the request each call
sends, the typed result it reads, retries, ``wait()`` and its errors, sync and async in step.
The gateway is an ``httpx.MockTransport`` that records requests and answers canned JSON; the real
gateway is tests/e2e/test_partner_sdk_e2e.py."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from partners.client import (
    UNSET,
    AccountMoney,
    AccountPurchase,
    AccountStatement,
    AsyncPartnerClient,
    BatchOutcome,
    Campaign,
    CampaignResults,
    CampaignSimulation,
    CoalitionError,
    ConsentHistory,
    Delivery,
    History,
    ImportReport,
    Member,
    MembershipPayment,
    MembershipPlan,
    Message,
    MessageBrand,
    MessageKind,
    MessagePage,
    MessagePreview,
    MessageTemplate,
    MessageTemplates,
    OperationFailed,
    PartnerAccount,
    PartnerClient,
    Perks,
    ProblemError,
    Purchase,
    Redemption,
    Refund,
    Release,
    Reward,
    Subscription,
    WaitTimeout,
    Webhook,
)
from partners.sdk import calls

URL = "https://gateway.example"
WALLET = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
T0 = "2026-11-23T10:00:00Z"
FAILURE = {"type": "/problems/partner-suspended", "title": "The partner is suspended", "detail": "It was. Sorry."}
PURCHASE = {
    "purchase_id": "p-1",
    "status": "accepted",
    "customer_wallet": WALLET,
    "amount": "42.5000",
    "currency": "EUR",
    "points": 42,
    "rule": {"currency": "EUR", "points_per_unit": "1", "rounding": "down"},
    "seq": 1,
    "purchased_at": T0,
    "accepted_at": T0,
    "tx_hash": None,
    "batch_id": None,
    "failure_reason": None,
    "failure": None,
    "status_url": f"{URL}/v1/purchases/p-1",
}
REFUND = {
    "refund_id": "r-1",
    "purchase_id": "p-1",
    "status": "accepted",
    "amount": "10.00",
    "points": 10,
    "reason": None,
    "customer_wallet": WALLET,
    "tx_hash": None,
    "failure_reason": None,
    "failure": None,
    "created_at": T0,
    "status_url": f"{URL}/v1/purchases/p-1/refunds/r-1",
}
REWARD = {
    "sku": "COFFEE",
    "name": "Coffee",
    "points": 10,
    "stock": None,
    "active": True,
    "created_at": T0,
    "updated_at": T0,
}
CONSENT = {
    "redemption_id": "x-1",
    "customer_wallet": WALLET,
    "points": 10,
    "ref": "0x" + "ab" * 32,
    "nonce": "12345678901234567890",
    "deadline": 1_900_000_000,
    "typed_data": {"types": {}, "primaryType": "Redeem", "domain": {}, "message": {}},
}
REDEMPTION = {
    "redemption_id": "x-1",
    "status": "accepted",
    "sku": "COFFEE",
    "quantity": 1,
    "points": 10,
    "customer_wallet": WALLET,
    "custodial": False,
    "ref": "0x" + "ab" * 32,
    "nonce": "1",
    "deadline": 1_900_000_000,
    "accepted_at": T0,
    "status_url": f"{URL}/v1/redemptions/x-1",
}
CUSTOMER = {"ref": "card-1", "wallet": WALLET, "custodial": True, "released": False, "linked_at": T0}
HOLD = {
    "hold_id": "h-1",
    "status": "authorised",
    "customer_wallet": WALLET,
    "custodial": False,
    "points": 625,
    "point_value": "0.008000",
    "money_value": "5.000000",
    "expires_at": T0,
    "given_back_points": 0,
    "authorised_at": T0,
    "status_url": "http://gw/v1/points-holds/h-1",
}
HOLD_CONSENT = {
    "hold_id": "h-1",
    "customer_wallet": WALLET,
    "points": 625,
    "money_value": "5.000000",
    "ref": "0x01",
    "nonce": "7",
    "deadline": 1,
    "typed_data": {},
}
HISTORY = {
    "wallet": WALLET,
    "balance": 32,
    "entries": [
        {
            "kind": "earned",
            "points": 42,
            "partner_id": 1,
            "partner_name": "Grocer",
            "seq": 1,
            "ref": None,
            "block_number": 9,
            "block_time": 1_800_000_000,
            "tx_hash": "0x" + "cd" * 32,
        }
    ],
    "next_cursor": None,
}
WEBHOOK = {
    "id": 7,
    "url": "https://pos.example/hooks",
    "event_types": ["purchase.failed"],
    "description": None,
    "created_at": T0,
}
DELIVERY = {
    "id": 3,
    "event_id": "evt_1",
    "event_type": "webhook.test",
    "status": "pending",
    "attempts": 0,
    "next_attempt_at": T0,
    "last_status_code": None,
    "last_error": None,
    "delivered_at": None,
    "created_at": T0,
    "payload": {"type": "webhook.test"},
}
ACCOUNT = {
    "id": 1,
    "name": "Grocer",
    "status": "active",
    "currency": "EUR",
    "points_per_unit": "1.5",
    "issue_price": 10_000,
    "reimbursement_rate": 8_000,
    "scheduled_rerate": None,
    "money": {
        "token_symbol": "cUSD",
        "token_decimals": 6,
        "funds": "1000500000",
        "free_funds": "999000000",
        "issuance_headroom": "999080000",
        "exposure": "420000",
        "pending_credit": "0",
        "issuance_limit": "1000000000000000",
        "headroom_low": False,
        "headroom_warning_ratio": 0.1,
    },
    "recent_purchases": [
        {
            "purchase_id": "p-2",
            "status": "held",
            "points": 42,
            "amount": "42.50",
            "currency": "EUR",
            "customer_wallet": WALLET,
            "customer_ref": "card-1",
            "purchased_at": T0,
            "created_at": T0,
            "tx_hash": None,
            "reason": "partner-funds-exhausted: waits for a deposit",
        }
    ],
    "statements": [
        {
            "period_id": 3,
            "status": "settled",
            "from_block": 1,
            "to_block": 90,
            "statement_hash": "0x" + "ef" * 32,
            "settled_at": T0,
            "token": {"symbol": "cUSD", "decimals": 6},
            "line": {"partner_id": 1, "net": "-420000"},
            "bilateral": [],
        }
    ],
    "webhook_deliveries": [DELIVERY],
}
MESSAGE = {
    "id": 42,
    "kind": "reward_ready",
    "category": "transactional",
    "customer_id": 7,
    "customer_ref": "card-1",
    "partner_id": 1,
    "channel": "email",
    "address": "ada@example.com",
    "locale": "pl-PL",
    "status": "suppressed",
    "reason": "opted-out",
    "send_after": "2026-12-05T09:12:33Z",
    "attempts": 0,
    "created_at": "2026-12-05T09:12:33Z",
    "sent_at": None,
    "data": {"reward": "Coffee voucher"},
}
MESSAGE_LOG = [{"status": "suppressed", "detail": "not sent: opted-out", "at": "2026-12-05T09:12:33Z"}]
BATCH = {
    "accepted": 1,
    "duplicates": 0,
    "rejected": 1,
    "results": [
        {"index": 0, "purchase_id": "p-1", "outcome": "accepted", "purchase": PURCHASE, "problem": None},
        {
            "index": 1,
            "purchase_id": "p-2",
            "outcome": "rejected",
            "purchase": None,
            "problem": {
                "type": "/problems/no-points",
                "title": "No points",
                "status": 422,
                "detail": "0.01 earns none",
            },
        },
    ],
}

# operation: (args, kwargs, method, path, body, params, answer status, answer, result type)
CONSENT = {"channel": "email", "scope": "partner", "partner_id": 1, "granted": True, "source": "pos", "recorded_at": T0}
MEMBER = {
    "ref": "card-1",
    "wallet": WALLET,
    "custodial": True,
    "referral_code": "H3T8NW2QKD",
    "referred_by_code": None,
    "enrolled_at": T0,
    "profile": {
        "email": "a@example.com",
        "phone": None,
        "birthday": "1990-04-01",
        "locale": None,
        "time_zone": None,
        "attributes": {},
    },
    "consents": [CONSENT],
}
IMPORT = {
    "rows": 2,
    "enrolled": 1,
    "unchanged": 0,
    "refused_count": 1,
    "dry_run": True,
    "duration_ms": 3,
    "refused": [{"line": 3, "ref": "c-2", "field": "email", "reason": "expected an address"}],
}
CSV = "ref,email\nc-1,a@example.com\nc-2,b@\n"
KPIS_EXAMPLE = {
    "from": "2026-11-01", "to": "2026-11-30", "partner_id": 1, "churn_days": 90, "members_enrolled": 5400,
    "members_new": 310, "active_30d": 2100, "active_90d": 3900, "purchases": 8450, "buyers": 2100,
    "repeat_purchase_rate": 0.62, "average_basket": {"EUR": "42.80"}, "purchase_frequency": 4.02,
    "points_issued": 361000, "points_redeemed": 120400, "points_reversed": 3100, "points_expired": None,
    "redemption_rate": 0.3335, "breakage_rate": None, "outstanding_points": 2450000,
    "outstanding_value_low": 19600000000, "outstanding_value_high": 23275000000, "churn_rate": 0.28,
    "clv": {"EUR": "1845.27"}, "cohorts": [{"cohort": "2026-10", "members": 120, "active": [80, 41]}],
    "tiers": {"Silver": 1000}, "tier_moves": [{"from_tier": "Member", "to_tier": "Silver", "members": 12}],
    "flow": [{"earned_at": 1, "redeemed_at": 2, "points": 1520.5}],
    "shared_members": [{"a": 1, "b": 2, "members": 310}],
}  # fmt: skip
RFM_MEMBER = {"customer_id": 42, "day": "2026-11-30", "recency_days": 3, "frequency": 14, "monetary": "612.4000",
              "r": 5, "f": 4, "m": 4, "segment": "Champions"}  # fmt: skip
RFM_EXAMPLE = {
    "scope": "partner", "partner_id": 1, "day": "2026-11-30", "members": 5120, "changes": 214,
    "sizes": {"Champions": 300, "Lost": 20}, "score_rule": "...", "segment_rule": "...", "member": RFM_MEMBER,
}  # fmt: skip

TEMPLATE = {
    "kind": "tier_up",
    "channel": "sms",
    "locale": "pl",
    "overridden": True,
    "subject": None,
    "text": "{{ tier }}!",
    "html": None,
    "version": 1,
    "updated_at": T0,
}
TEMPLATES = {
    "locales": ["en", "pl", "cs", "ru"],
    "default_locale": "en",
    "kinds": [
        {
            "kind": "tier_up",
            "category": "transactional",
            "trigger": "tier.changed",
            "description": "The member reached a higher tier.",
            "channels": ["email", "sms", "push"],
            "overridden": ["sms/pl"],
            "sample": {"tier": "Gold"},
        }
    ],
}
BRAND = {"name": "Café", "colour": "#112233", "accent": "#445566", "custom": True, "updated_at": T0}
PLAN = {
    "id": 3, "name": "Plus", "owner_partner_id": 1, "honoured_by": [2], "price": "9.99", "currency": "EUR",
    "period": "monthly", "trial_days": 14, "earn_multiplier": "1.5", "tier_protection": True,
    "perks": ["free_delivery"], "members_only_skus": [], "coalition_share": "0.1",
}  # fmt: skip
SUBSCRIPTION = {
    "id": 7, "customer_id": 42, "plan_id": 3, "seller_partner_id": 1, "status": "trialing", "started_at": T0,
    "period_start": T0, "period_end": T0, "next_renewal": T0, "cancel_at_period_end": False, "grace_until": None,
    "entitled_until": T0, "credit": "0.00", "amount_due": None,
}  # fmt: skip
PERKS = {"customer_ref": "card-1", "plans": [3], "perks": ["free_delivery"], "earn_multiplier": "1.5",
         "tier_protection": True, "members_only_skus": []}  # fmt: skip
PAYMENT = {"id": 11, "subscription": SUBSCRIPTION, "provider_ref": "pi_1", "outcome": "succeeded", "amount": "9.99",
           "currency": "EUR", "coalition_amount": "1.00", "at": T0}  # fmt: skip
PLAN_BODY = {
    "name": "Plus", "price": "9.99", "currency": "EUR", "period": "monthly", "trial_days": 14,
    "earn_multiplier": "1.5", "tier_protection": True, "perks": ["free_delivery"], "members_only_skus": [],
    "honoured_by": [2],
}  # fmt: skip
SUBS = "/v1/memberships/subscriptions/7"
CAMPAIGN = {
    "id": 4, "name": "Double points", "funder_partner_id": 1, "owner": "partner",
    "trigger": {"type": "purchase", "params": {}}, "conditions": {},
    "effects": [{"kind": "bonus_points", "mode": "multiplier", "factor": "2"}], "limits": {}, "holdout_bp": 2000,
    "starts_at": None, "ends_at": None, "status": "draft", "spent_points": 0, "members_awarded": 0, "awards": 0,
    "created_at": "2026-12-05T10:00:00Z", "started_at": None, "stopped_at": None, "warnings": [],
}  # fmt: skip
CASES: dict[str, tuple[tuple[Any, ...], dict[str, Any], str, str, Any, dict[str, str], int, Any, Any]] = {
    "campaigns": ((), {}, "GET", "/v1/campaigns", None, {}, 200, {"campaigns": [CAMPAIGN]}, list),
    "create_campaign": (
        ("Double points",),
        {"trigger": {"type": "purchase", "params": {}}, "effects": CAMPAIGN["effects"], "holdout_bp": 2000},
        "POST",
        "/v1/campaigns",
        {
            "name": "Double points",
            "trigger": {"type": "purchase", "params": {}},
            "conditions": {},
            "effects": CAMPAIGN["effects"],
            "limits": {},
            "holdout_bp": 2000,
        },
        {},
        201,
        CAMPAIGN,
        Campaign,
    ),
    "campaign": ((4,), {}, "GET", "/v1/campaigns/4", None, {}, 200, CAMPAIGN, Campaign),
    "simulate_campaign": (
        (4,),
        {"days": 14},
        "POST",
        "/v1/campaigns/4/simulate",
        None,
        {"days": "14"},
        200,
        {"days": 14, "purchases": 10, "members": 8, "treatment_members": 6, "points": 150, "cost": "1.5"},
        CampaignSimulation,
    ),
    "start_campaign": ((4,), {}, "POST", "/v1/campaigns/4/start", None, {}, 200, CAMPAIGN, Campaign),
    "pause_campaign": ((4,), {}, "POST", "/v1/campaigns/4/pause", None, {}, 200, CAMPAIGN, Campaign),
    "stop_campaign": ((4,), {}, "POST", "/v1/campaigns/4/stop", None, {}, 200, CAMPAIGN, Campaign),
    "campaign_results": (
        (4,),
        {},
        "GET",
        "/v1/campaigns/4/results",
        None,
        {},
        200,
        {"campaign_id": 4, "window_days": 14, "window_closes_at": None, "result": {"status": "collecting"}},
        CampaignResults,
    ),
    "membership_plans": ((), {}, "GET", "/v1/memberships/plans", None, {}, 200, {"plans": [PLAN]}, list),
    "add_membership_plan": (
        ("Plus",),
        {
            "price": "9.99",
            "currency": "EUR",
            "period": "monthly",
            "trial_days": 14,
            "earn_multiplier": "1.5",
            "tier_protection": True,
            "perks": ["free_delivery"],
            "honoured_by": [2],
        },
        "POST",
        "/v1/memberships/plans",
        PLAN_BODY,
        {},
        201,
        PLAN,
        MembershipPlan,
    ),
    "subscribe": (
        ("card-1", 3),
        {},
        "POST",
        "/v1/customers/card-1/memberships",
        {"plan_id": 3, "provider_ref": None},
        {},
        201,
        SUBSCRIPTION,
        Subscription,
    ),
    "customer_subscriptions": (
        ("card-1",),
        {},
        "GET",
        "/v1/customers/card-1/memberships",
        None,
        {},
        200,
        {"subscriptions": [SUBSCRIPTION]},
        list,
    ),
    "customer_perks": (("card-1",), {}, "GET", "/v1/customers/card-1/perks", None, {}, 200, PERKS, Perks),
    "subscription": ((7,), {}, "GET", SUBS, None, {}, 200, SUBSCRIPTION, Subscription),
    "report_membership_payment": (
        (7,),
        {"provider_ref": "pi_1", "outcome": "succeeded", "amount": "9.99", "currency": "EUR"},
        "POST",
        SUBS + "/payments",
        {"provider_ref": "pi_1", "outcome": "succeeded", "amount": "9.99", "currency": "EUR"},
        {},
        201,
        PAYMENT,
        MembershipPayment,
    ),
    "cancel_membership": ((7,), {}, "POST", SUBS + "/cancel", None, {}, 200, SUBSCRIPTION, Subscription),
    "resume_membership": ((7,), {}, "POST", SUBS + "/resume", None, {}, 200, SUBSCRIPTION, Subscription),
    "change_membership_plan": (
        (7, 4),
        {},
        "POST",
        SUBS + "/change",
        {"plan_id": 4},
        {},
        200,
        SUBSCRIPTION,
        Subscription,
    ),
    "post_purchase": (
        ("p-1",),
        {"wallet": WALLET, "amount": "42.50", "currency": "EUR"},
        "POST",
        "/v1/purchases",
        {"purchase_id": "p-1", "customer": {"wallet": WALLET}, "amount": "42.50", "currency": "EUR"},
        {},
        202,
        PURCHASE,
        Purchase,
    ),
    "post_purchases": (
        ([calls.purchase_body("p-1", ref="card-1", amount="1", currency="EUR")],),
        {},
        "POST",
        "/v1/purchases/batch",
        {"purchases": [{"purchase_id": "p-1", "customer": {"ref": "card-1"}, "amount": "1", "currency": "EUR"}]},
        {},
        200,
        BATCH,
        BatchOutcome,
    ),
    "purchase": (("p-1",), {}, "GET", "/v1/purchases/p-1", None, {}, 200, PURCHASE, Purchase),
    "refund": (
        ("p-1", "r-1"),
        {"amount": Decimal("10.00")},
        "POST",
        "/v1/purchases/p-1/refunds",
        {"refund_id": "r-1", "amount": "10.00"},
        {},
        202,
        REFUND,
        Refund,
    ),
    "refunds": (("p-1",), {}, "GET", "/v1/purchases/p-1/refunds", None, {}, 200, [REFUND], list),
    "get_refund": (("p-1", "r-1"), {}, "GET", "/v1/purchases/p-1/refunds/r-1", None, {}, 200, REFUND, Refund),
    "add_reward": (
        ("COFFEE", "Coffee", 10),
        {},
        "POST",
        "/v1/rewards",
        {"sku": "COFFEE", "name": "Coffee", "points": 10, "stock": None, "active": True},
        {},
        201,
        REWARD,
        Reward,
    ),
    "rewards": ((), {}, "GET", "/v1/rewards", None, {}, 200, {"rewards": [REWARD]}, list),
    "reward": (("COFFEE",), {}, "GET", "/v1/rewards/COFFEE", None, {}, 200, REWARD, Reward),
    "update_reward": (
        ("COFFEE",),
        {"stock": None},
        "PATCH",
        "/v1/rewards/COFFEE",
        {"stock": None},
        {},
        200,
        REWARD,
        Reward,
    ),
    "redemption_consent": (
        ("x-1", "COFFEE"),
        {"wallet": WALLET},
        "POST",
        "/v1/redemptions/consent",
        {"redemption_id": "x-1", "sku": "COFFEE", "quantity": 1, "customer": {"wallet": WALLET}},
        {},
        200,
        CONSENT,
        calls.PreparedConsent,
    ),
    "redeem": (
        ("x-1", "COFFEE"),
        {"ref": "card-1", "quantity": 2},
        "POST",
        "/v1/redemptions",
        {"redemption_id": "x-1", "sku": "COFFEE", "quantity": 2, "customer": {"ref": "card-1"}},
        {},
        202,
        REDEMPTION,
        Redemption,
    ),
    "redemption": (("x-1",), {}, "GET", "/v1/redemptions/x-1", None, {}, 200, REDEMPTION, Redemption),
    "points_hold_consent": (
        ("h-1",),
        {"wallet": WALLET, "amount": "5.00"},
        "POST",
        "/v1/points-holds/consent",
        {"hold_id": "h-1", "customer": {"wallet": WALLET}, "amount": "5.00"},
        {},
        200,
        HOLD_CONSENT,
        calls.PreparedHoldConsent,
    ),
    "authorise_points": (
        ("h-1",),
        {"ref": "card-1", "points": 625},
        "POST",
        "/v1/points-holds",
        {"hold_id": "h-1", "customer": {"ref": "card-1"}, "points": 625},
        {},
        201,
        HOLD,
        calls.PointsHold,
    ),
    "capture_points": (
        ("h-1", "order-1"),
        {"points": 200},
        "POST",
        "/v1/points-holds/h-1/capture",
        {"purchase_id": "order-1", "points": 200},
        {},
        202,
        HOLD | {"status": "captured"},
        calls.PointsHold,
    ),
    "release_points": (("h-1",), {}, "POST", "/v1/points-holds/h-1/release", None, {}, 200, HOLD, calls.PointsHold),
    "points_hold": (("h-1",), {}, "GET", "/v1/points-holds/h-1", None, {}, 200, HOLD, calls.PointsHold),
    "wallet_challenge": (
        ("card-1", WALLET),
        {},
        "POST",
        "/v1/customers/card-1/wallet-challenge",
        {"wallet": WALLET},
        {},
        200,
        {"message": "sign me", "nonce": "n", "expires_at": T0},
        calls.Challenge,
    ),
    "link_wallet": (
        ("card-1", "sign me", "0xsig"),
        {},
        "PUT",
        "/v1/customers/card-1/wallet",
        {"message": "sign me", "signature": "0xsig"},
        {},
        200,
        CUSTOMER,
        calls.Customer,
    ),
    "enrol": (
        ("card-1",),
        {"email": "a@example.com", "consents": [{"channel": "email", "granted": True, "source": "pos"}]},
        "POST",
        "/v1/customers/card-1/enrolment",
        {"email": "a@example.com", "consents": [{"channel": "email", "granted": True, "source": "pos"}]},
        {},
        201,
        MEMBER,
        Member,
    ),
    "member": (("card-1",), {}, "GET", "/v1/customers/card-1/profile", None, {}, 200, MEMBER, Member),
    "update_profile": (
        ("card-1",),
        {"email": None, "locale": "fr-FR"},
        "PATCH",
        "/v1/customers/card-1/profile",
        {"email": None, "locale": "fr-FR"},
        {},
        200,
        MEMBER,
        Member,
    ),
    "record_consents": (
        ("card-1", [{"channel": "sms", "granted": False, "source": "app"}]),
        {},
        "POST",
        "/v1/customers/card-1/consents",
        {"consents": [{"channel": "sms", "granted": False, "source": "app"}]},
        {},
        201,
        {"history": [CONSENT]},
        ConsentHistory,
    ),
    "consents": (
        ("card-1",),
        {},
        "GET",
        "/v1/customers/card-1/consents",
        None,
        {},
        200,
        {"history": [CONSENT]},
        ConsentHistory,
    ),
    "import_customers": (
        (CSV,),
        {"dry_run": True},
        "POST",
        "/v1/imports/customers",
        CSV,
        {"dry_run": "true"},
        200,
        IMPORT,
        ImportReport,
    ),
    "export_customers": ((), {}, "GET", "/v1/exports/customers.csv", None, {}, 200, CSV, str),
    "custodial_wallet": (
        ("card-1",),
        {},
        "POST",
        "/v1/customers/card-1/custodial-wallet",
        None,
        {},
        201,
        CUSTOMER,
        calls.Customer,
    ),
    "release_custodial_wallet": (
        ("card-1", "pass-word-1"),
        {},
        "POST",
        "/v1/customers/card-1/custodial-wallet/release",
        {"password": "pass-word-1"},
        {},
        202,
        {"wallet": WALLET, "status": "release-pending", "available_at": T0},
        Release,
    ),
    "cancel_custodial_release": (
        ("card-1",),
        {},
        "DELETE",
        "/v1/customers/card-1/custodial-wallet/release",
        None,
        {},
        204,
        None,
        type(None),
    ),
    "customer": (("card-1",), {}, "GET", "/v1/customers/card-1", None, {}, 200, CUSTOMER, calls.Customer),
    "customer_balance": (
        ("card-1",),
        {},
        "GET",
        "/v1/customers/card-1/balance",
        None,
        {},
        200,
        {"wallet": WALLET, "points": 3},
        calls.Balance,
    ),
    "customer_history": (
        ("card-1",),
        {"cursor": 5, "limit": 10},
        "GET",
        "/v1/customers/card-1/history",
        None,
        {"cursor": "5", "limit": "10"},
        200,
        HISTORY,
        History,
    ),
    "customer_expiry": (
        ("card-1",),
        {},
        "GET",
        "/v1/customers/card-1/expiry",
        None,
        {},
        200,
        {
            "wallet": WALLET,
            "points": 3,
            "expires_at": "2028-12-04T09:12:33Z",
            "expired_points": 0,
            "schedule": [{"expires_at": "2028-12-04T09:12:33Z", "points": 3, "reminders": ["2028-11-04T09:12:33Z"]}],
            "window_days": 730,
            "rule": "Points expire after 730 days without activity.",
        },
        calls.Expiry,
    ),
    "customer_tier": (
        ("card-1",),
        {},
        "GET",
        "/v1/customers/card-1/tier",
        None,
        {},
        200,
        {
            "customer_id": 42,
            "customer_ref": "card-1",
            "tier": "Silver",
            "earned": "Silver",
            "multiplier": "1.25",
            "qualifying_points": 3200,
            "next_tier": "Gold",
            "points_to_next": 1800,
            "review_at": T0,
            "decided_at": T0,
            "points_to_keep": 0,
            "points_leaving": 400,
            "leaving": [{"at": T0, "points": 400}],
            "manual_until": None,
            "ladder_version": 3,
        },
        calls.Tier,
    ),
    "sign_in_link": (
        ("card-1",),
        {},
        "POST",
        "/v1/customers/card-1/sign-in-link",
        None,
        {},
        201,
        {"url": "https://gateway.example/me/link#sl_x", "wallet": WALLET, "expires_at": T0},
        calls.SignInLink,
    ),
    "rules": (
        (),
        {},
        "GET",
        "/v1/rules",
        None,
        {},
        200,
        {
            "partner_id": 1,
            "version": 3,
            "status": "active",
            "currency": "EUR",
            "time_zone": "Europe/Paris",
            "rounding": "down",
            "rules": [{"kind": "base", "id": "base", "version": 1, "points_per_unit": "1"}],
            "created_at": T0,
            "created_by": "operator",
            "activated_at": T0,
            "activated_by": "operator",
        },
        calls.RuleSet,
    ),
    "wallet_balance": (
        (WALLET,),
        {},
        "GET",
        f"/v1/wallets/{WALLET}/balance",
        None,
        {},
        200,
        {"wallet": WALLET, "points": 3},
        calls.Balance,
    ),
    "wallet_history": ((WALLET,), {}, "GET", f"/v1/wallets/{WALLET}/history", None, {}, 200, HISTORY, History),
    "add_webhook": (
        ("https://pos.example/hooks", ["purchase.failed"]),
        {},
        "POST",
        "/v1/webhooks",
        {"url": "https://pos.example/hooks", "event_types": ["purchase.failed"], "description": None},
        {},
        201,
        WEBHOOK | {"secret": "whsec_1"},
        Webhook,
    ),
    "webhooks": ((), {}, "GET", "/v1/webhooks", None, {}, 200, [WEBHOOK], list),
    "webhook": ((7,), {}, "GET", "/v1/webhooks/7", None, {}, 200, WEBHOOK, Webhook),
    "delete_webhook": ((7,), {}, "DELETE", "/v1/webhooks/7", None, {}, 204, None, type(None)),
    "rotate_webhook_secret": (
        (7,),
        {},
        "POST",
        "/v1/webhooks/7/rotate-secret",
        None,
        {},
        200,
        WEBHOOK | {"secret": "whsec_2"},
        Webhook,
    ),
    "webhook_deliveries": (
        (7,),
        {"status": "failed"},
        "GET",
        "/v1/webhooks/7/deliveries",
        None,
        {"status": "failed"},
        200,
        [DELIVERY],
        list,
    ),
    "test_webhook": ((7,), {}, "POST", "/v1/webhooks/7/test", None, {}, 202, DELIVERY, Delivery),
    "account": ((), {"limit": 5}, "GET", "/v1/account", None, {"limit": "5"}, 200, ACCOUNT, PartnerAccount),
    "kpis": (
        (),
        {"start": "2026-11-01", "end": "2026-11-30"},
        "GET",
        "/v1/analytics/kpis",
        None,
        {"from": "2026-11-01", "to": "2026-11-30"},
        200,
        KPIS_EXAMPLE,
        calls.Kpis,
    ),
    "rfm_segments": (
        (),
        {"ref": "card-1"},
        "GET",
        "/v1/analytics/rfm",
        None,
        {"ref": "card-1"},
        200,
        RFM_EXAMPLE,
        calls.RfmSegments,
    ),
    "message_templates": ((), {}, "GET", "/v1/message-templates", None, {}, 200, TEMPLATES, MessageTemplates),
    "message_template": (
        ("tier_up", "sms", "pl"),
        {},
        "GET",
        "/v1/message-templates/tier_up/sms/pl",
        None,
        {},
        200,
        TEMPLATE,
        MessageTemplate,
    ),
    "save_message_template": (
        ("tier_up", "sms", "pl"),
        {"text": "{{ tier }}!"},
        "PUT",
        "/v1/message-templates/tier_up/sms/pl",
        {"subject": None, "text": "{{ tier }}!", "html": None},
        {},
        200,
        TEMPLATE,
        MessageTemplate,
    ),
    "delete_message_template": (
        ("tier_up", "sms", "pl"),
        {},
        "DELETE",
        "/v1/message-templates/tier_up/sms/pl",
        None,
        {},
        204,
        None,
        type(None),
    ),
    "preview_message": (
        ("tier_up", "sms", "pl"),
        {"data": {"tier": "Gold"}},
        "POST",
        "/v1/message-templates/preview",
        {
            "kind": "tier_up",
            "channel": "sms",
            "locale": "pl",
            "subject": None,
            "text": None,
            "html": None,
            "data": {"tier": "Gold"},
        },
        {},
        200,
        {"subject": None, "text": "Gold!", "html": None, "locale": "pl", "source": "builtin", "override_error": None},
        MessagePreview,
    ),
    "message_brand": ((), {}, "GET", "/v1/message-brand", None, {}, 200, BRAND, MessageBrand),
    "save_message_brand": (
        ("Café", "#112233", "#445566"),
        {},
        "PUT",
        "/v1/message-brand",
        {"name": "Café", "colour": "#112233", "accent": "#445566"},
        {},
        200,
        BRAND,
        MessageBrand,
    ),
    "messages": (
        (),
        {"status": "suppressed", "ref": "card-1", "since": datetime(2026, 12, 1, tzinfo=UTC), "cursor": 9},
        "GET",
        "/v1/messages",
        None,
        {"status": "suppressed", "ref": "card-1", "since": "2026-12-01T00:00:00+00:00", "cursor": "9"},
        200,
        {"messages": [MESSAGE], "next_cursor": None},
        MessagePage,
    ),
    "message": ((42,), {}, "GET", "/v1/messages/42", None, {}, 200, MESSAGE | {"log": MESSAGE_LOG}, Message),
}


class Gateway:
    """A MockTransport: answers ``answers`` in turn (the last one again), records every request."""

    def __init__(self, *answers: tuple[int, Any] | tuple[int, Any, dict[str, str]]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body, *headers = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        content = b"" if body is None else body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers=headers[0] if headers else None)

    def sync(self, **retry: Any) -> PartnerClient:
        client = PartnerClient(URL, "ck_test", backoff_s=0.001, **retry)
        client.http = httpx.Client(base_url=URL, headers=client.headers, transport=httpx.MockTransport(self.handle))
        return client

    def aio(self, **retry: Any) -> AsyncPartnerClient:
        client = AsyncPartnerClient(URL, "ck_test", backoff_s=0.001, **retry)
        client.http = httpx.AsyncClient(
            base_url=URL, headers=client.headers, transport=httpx.MockTransport(self.handle)
        )
        return client


def body_of(request: httpx.Request) -> Any:
    if request.headers.get("content-type") == "text/csv":
        return request.content.decode()
    return json.loads(request.content) if request.content else None


def test_unit_every_operation_has_a_case_and_both_clients_expose_it() -> None:
    assert set(CASES) == set(calls.OPERATIONS)
    for name, build in calls.OPERATIONS.items():
        sync, aio = getattr(PartnerClient, name), getattr(AsyncPartnerClient, name)
        assert sync.__builder__ is build and aio.__builder__ is build, name
        assert not inspect.iscoroutinefunction(sync) and inspect.iscoroutinefunction(aio), name
        assert list(inspect.signature(sync).parameters) == list(inspect.signature(aio).parameters), name
        assert sync.__doc__ == aio.__doc__ == build.__doc__


def test_unit_every_partner_operation_of_the_gateway_has_an_sdk_call() -> None:
    """Each method and path the gateway answers a partner key on (its OpenAPI, less the
    operator's, the customer's and the sign-in's) is sent by one of the SDK's calls."""
    from gateway.main import create_app

    spec = create_app().openapi()
    sent = {(method, path) for _, _, method, path, *_ in CASES.values()}
    missing = []
    for template, item in spec["paths"].items():
        if not template.startswith("/v1/") or template.startswith(("/v1/operator", "/v1/me", "/v1/auth")):
            continue
        pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$")
        for method, op in item.items():
            if not op.get("security"):  # no key at all: a message's link, the SMS provider's webhook
                continue
            if not any(m == method.upper() and pattern.match(p) for m, p in sent):
                missing.append(f"{method.upper()} {template}")
    assert not missing, missing


@pytest.mark.parametrize("name", sorted(CASES))
def test_unit_each_call_sends_its_request_and_reads_a_typed_result_sync_and_async(name: str) -> None:
    args, kwargs, method, path, body, params, status, answer, kind = CASES[name]
    gateway = Gateway((status, answer))
    with gateway.sync() as client:
        result = getattr(client, name)(*args, **kwargs)

    async def run() -> Any:
        async with gateway.aio() as client:
            return await getattr(client, name)(*args, **kwargs)

    assert asyncio.run(run()) == result  # the same request, the same typed result
    for request in gateway.requests:
        assert (request.method, request.url.path, body_of(request)) == (method, path, body)
        assert dict(request.url.params) == params
        assert request.headers["authorization"] == "Bearer ck_test"
    assert isinstance(result, kind)
    if isinstance(result, list):
        assert result and all(
            type(r).__name__
            in ("Refund", "Reward", "Webhook", "Delivery", "Subscription", "MembershipPlan", "Campaign")
            for r in result
        )
    if isinstance(result, PartnerAccount):
        assert isinstance(result.money, AccountMoney) and result.money.funds == 1_000_500_000


def test_unit_results_are_typed_and_still_read_as_the_json() -> None:
    purchase = Purchase.from_json(PURCHASE | {"status": "failed", "failure": FAILURE, "failure_reason": "X()"})
    assert purchase.amount == Decimal("42.5") and purchase.accepted_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert purchase.failure is not None and purchase.failure.slug == "partner-suspended"
    assert purchase["status_url"] == PURCHASE["status_url"] and purchase.get("absent") is None
    batch = BatchOutcome.from_json(BATCH)
    assert batch.results[0].purchase == Purchase.from_json(PURCHASE)
    assert batch.results[1].problem is not None and batch.results[1].problem.slug == "no-points"
    history = History.from_json(HISTORY)
    assert history.entries[0].partner_name == "Grocer" and history.next_cursor is None
    newer = Purchase.from_json(PURCHASE | {"something_new": 1})  # a newer gateway's field is kept
    assert newer["something_new"] == 1 and newer == Purchase.from_json(PURCHASE)


def test_unit_the_account_reads_amounts_as_exact_integers_and_nests_its_lists() -> None:
    account = PartnerAccount.from_json(ACCOUNT)
    m = account.money
    assert isinstance(m, AccountMoney) and (m.funds, m.issuance_headroom, m.exposure) == (
        1_000_500_000,
        999_080_000,
        420_000,
    )
    assert (
        m.in_token(m.funds) == Decimal("1000.5")
        and m.headroom_low is False
        and account.points_per_unit == Decimal("1.5")
    )
    (held,) = account.recent_purchases
    assert isinstance(held, AccountPurchase) and held.status == "held" and held.amount == Decimal("42.50")
    assert held.reason is not None and held.created_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    (statement,) = account.statements
    assert isinstance(statement, AccountStatement) and statement.line["net"] == "-420000"
    assert account.webhook_deliveries == [Delivery.from_json(DELIVERY)] and account["money"]["funds"] == "1000500000"
    assert calls.account().params == {}  # the gateway's default limit


def test_unit_the_account_has_every_field_the_gateway_answers() -> None:
    """The typed result is held in step with the gateway's response model (gateway/routes/account.py),
    and reads an answer the gateway's own model serialises."""
    from gateway.routes import account as api
    from gateway.routes.webhooks import DeliveryPublic

    def names(model: type) -> set[str]:
        return {f.name for f in dataclasses.fields(model)} - {"raw"}

    for ours, theirs in (
        (PartnerAccount, api.AccountPublic),
        (AccountMoney, api.AccountMoney),
        (AccountPurchase, api.AccountPurchase),
        (AccountStatement, api.AccountStatement),
        (Delivery, DeliveryPublic),
    ):
        assert names(ours) == set(theirs.model_fields), ours.__name__
    answer = api.AccountPublic.model_validate(ACCOUNT).model_dump(mode="json")
    assert PartnerAccount.from_json(answer) == PartnerAccount.from_json(ACCOUNT)


def test_unit_update_reward_sends_only_what_is_given() -> None:
    assert calls.update_reward("S").json == {}
    assert calls.update_reward("S", name="N", active=False).json == {"name": "N", "active": False}
    assert calls.update_reward("S", stock=None, name=UNSET).json == {"stock": None}


def test_unit_problems_raise_problem_error_with_the_stable_slug() -> None:
    problem = {"type": "/problems/idempotency-conflict", "title": "t", "status": 409, "detail": "another body"}
    with Gateway((409, problem)).sync() as client, pytest.raises(ProblemError) as raised:
        client.purchase("p-1")
    assert (raised.value.status, raised.value.slug, raised.value.detail) == (
        409,
        "idempotency-conflict",
        "another body",
    )
    assert isinstance(raised.value, CoalitionError)


def test_unit_429_and_5xx_are_retried_honouring_retry_after() -> None:
    gateway = Gateway((503, None), (429, None, {"Retry-After": "0"}), (200, PURCHASE))
    with gateway.sync() as client:
        assert client.purchase("p-1").purchase_id == "p-1"
    assert len(gateway.requests) == 3
    with Gateway((503, None)).sync(retries=1) as client, pytest.raises(ProblemError):
        client.purchase("p-1")


def statuses(*names: str, failure: dict[str, str] | None = None) -> list[tuple[int, Any]]:
    return [(200, PURCHASE | {"status": n, "failure": failure if n in ("failed", "held") else None}) for n in names]


def both_waits(gateway_for: Callable[[], Gateway], **kwargs: Any) -> list[Any]:
    """wait() of the sync and of the async client, each on a fresh gateway: results or raised errors."""
    outcomes: list[Any] = []
    with gateway_for().sync() as client:
        try:
            outcomes.append(client.wait(PURCHASE["status_url"], poll_s=0, **kwargs))
        except CoalitionError as exc:
            outcomes.append(exc)

    async def run() -> Any:
        async with gateway_for().aio() as client:
            try:
                return await client.wait(Purchase.from_json(PURCHASE), poll_s=0, **kwargs)
            except CoalitionError as exc:
                return exc

    outcomes.append(asyncio.run(run()))
    return outcomes


def test_unit_wait_returns_the_typed_result_once_confirmed() -> None:
    for done in both_waits(lambda: Gateway(*statuses("accepted", "submitted", "confirmed"))):
        assert isinstance(done, Purchase) and done.status == "confirmed"


def test_unit_wait_raises_operation_failed_with_the_problem() -> None:
    for failed in both_waits(lambda: Gateway(*statuses("accepted", "failed", failure=FAILURE))):
        assert isinstance(failed, OperationFailed)
        assert (failed.slug, failed.type, failed.detail) == ("partner-suspended", FAILURE["type"], FAILURE["detail"])
        assert isinstance(failed.resource, Purchase) and failed.resource.status == "failed"


def test_unit_wait_on_a_held_purchase_times_out_saying_why() -> None:
    held = {"type": "/problems/partner-funds-exhausted", "title": "t", "detail": "The purchase waits."}
    for timeout in both_waits(lambda: Gateway(*statuses("held", failure=held)), timeout_s=0):
        assert isinstance(timeout, WaitTimeout) and isinstance(timeout, TimeoutError)
        assert timeout.slug == "partner-funds-exhausted" and "waits" in str(timeout)


def test_unit_wait_follows_refunds_and_redemptions_as_their_types() -> None:
    gateway = Gateway((200, REFUND | {"status": "confirmed"}), (200, REDEMPTION | {"status": "fulfilled"}))
    with gateway.sync() as client:
        assert isinstance(client.wait(REFUND["status_url"]), Refund)
        assert isinstance(client.wait("http://another.host/v1/redemptions/x-1"), Redemption)  # its path is followed
        with pytest.raises(ValueError, match="not the status URL"):
            client.wait("/v1/rewards/COFFEE")


def test_unit_message_templates_read_as_nested_typed_results() -> None:
    catalogue = MessageTemplates.from_json(TEMPLATES)
    assert isinstance(catalogue.kinds[0], MessageKind) and catalogue.kinds[0].overridden == ["sms/pl"]
    assert MessageTemplate.from_json(TEMPLATE).updated_at == datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_unit_the_sdk_imports_nothing_of_the_server() -> None:
    code = (
        "import sys, partners.client, partners.webhooks; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('gateway', 'network', 'loyalty', 'coalition')); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unit_a_purchase_body_carries_lines_and_tenders_as_exact_strings() -> None:
    from partners.sdk import calls

    body = calls.purchase_body(
        "p-9", ref="card-1", amount=Decimal("35.00"), currency="EUR",
        lines=[{"sku": "wine-1", "category": "wine", "quantity": 2, "unit_price": Decimal("12.50")},
               {"sku": "bread", "unit_price": "10.00", "labels": ["bakery"]}],
        paid_with={"points": Decimal("5.00")},
    )  # fmt: skip
    assert body["lines"] == [
        {"sku": "wine-1", "category": "wine", "quantity": 2, "unit_price": "12.50"},
        {"sku": "bread", "unit_price": "10.00", "labels": ["bakery"]},
    ]
    assert body["paid_with"] == {"points": "5.00"}
    assert "lines" not in calls.purchase_body("p-1", ref="c", amount="1", currency="EUR")  # the same body as before


def test_unit_analytics_results_read_the_period_and_the_member() -> None:
    kpis = calls.Kpis.from_json(KPIS_EXAMPLE)
    assert (kpis.start, kpis.end, kpis.average_basket, kpis.flow[0]["redeemed_at"]) == (
        "2026-11-01",
        "2026-11-30",
        {"EUR": "42.80"},
        2,
    )
    segments = calls.RfmSegments.from_json(RFM_EXAMPLE)
    assert segments.member is not None and segments.member.monetary == Decimal("612.4")
    assert segments.member.segment == "Champions" and segments.sizes["Lost"] == 20
