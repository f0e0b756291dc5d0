"""The gateway's settings by concern, from the environment (prefix ``COALITION_``), each read in one
place: the chain's (network/settings.py, :data:`network.settings.get_chain_settings`), the workers'
(:class:`WorkerSettings`, :data:`get_worker_settings`) and the API's (:class:`GatewaySettings`,
:data:`get_settings`), each extending the one before. Tests change them with
:func:`network.settings.override_settings`, which every getter honours (the API's routes also honour
``app.dependency_overrides[get_settings]``).

Secrets have no default outside local mode: the operator token and the secrets key must be set,
and a placeholder is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, model_validator

from network.settings import STATE_DIR, ChainSettings, SettingsGetter

LOCAL_OPERATOR_TOKEN = "local-operator-token"  # local mode only: printed by `make demo`
LOCAL_SECRETS_KEY = "local-secrets-key-not-for-production"  # local mode only
LOCAL_SMS_AUTH_TOKEN = "local-sms-auth-token"  # local mode only: the embedded SMS provider's


class WorkerSettings(ChainSettings):
    """The workers' settings (Celery on Redis, the earn pipeline, webhooks, settlement, the keys
    they sign with), on top of the chain's: :data:`get_worker_settings`."""

    # Celery on Redis: COALITION_REDIS_URL (ChainSettings.redis_url); none in local mode starts
    # an embedded redis-server (gateway/redis_server.py) on redis_port, its files in STATE_DIR.
    redis_port: int = 6399
    task_visibility_timeout_s: int = Field(default=3_600, ge=60)  # longer than any task or countdown
    task_time_limit_s: int = Field(default=600, ge=10)  # hard limit of every task, < visibility timeout
    earn_drain_budget_s: float = Field(default=20.0, gt=0)  # one drain task's time on a key before it yields
    earn_dispatch_every_s: float = Field(default=1.0, gt=0)
    key_lease_ms: int = Field(default=5_000, ge=500)  # a dead drain's hold on its key expires after this
    index_every_s: float = Field(default=1.0, gt=0)
    settlement_period: Literal["hourly", "daily"] | int = "daily"  # or a number of seconds
    reconcile_every_s: float = Field(default=300.0, gt=0)
    partner_changes_every_s: float = Field(default=60.0, gt=0)  # how often due scheduled rerates are applied
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_base_s: float = Field(default=10.0, gt=0)  # first retry after ~this, doubling, with jitter
    webhook_backoff_cap_s: float = Field(default=3_600.0, gt=0)  # longest wait between two attempts
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)  # one POST to a partner's endpoint
    # local development and tests only: webhooks may go to loopback (127.0.0.0/8, ::1, localhost,
    # plain http included); never to private or link-local addresses (gateway/netpolicy.py)
    webhook_allow_loopback: bool = False
    # relays customers' signed redemptions; local mode falls back to anvil dev account #2
    relayer_key: str = "relayer"
    # more relayer keys sharing the burns (issue 22), comma-separated keystore names, each its own
    # nonces and lease: redemption N is burned by key N mod (1 + how many). Local mode falls back to
    # anvil's public dev accounts labelled in gateway/tasks/context.py (relayer-2..relayer-4: #6..#8)
    relayer_keys: str = ""
    # redemptions: when a stuck one is enqueued again (beat's sweep)
    redemption_stuck_after_s: float = Field(default=30.0, gt=0)
    # encrypts custodial wallets' keys and webhook secrets at rest (local mode: a fixed dev key)
    secrets_key: str | None = None
    # how often beat deletes expired challenges and sessions
    purge_every_s: float = Field(default=3_600.0, gt=0)
    # domain events every consumer has read are deleted by that purge once older than this; 0 keeps them
    event_retention_days: int = Field(default=30, ge=0)
    # a partner is told (webhook partner.headroom_low, once per episode) when its issuance headroom
    # falls below this share of min(funds, issuance limit); 0 turns the warning off
    headroom_warning_ratio: float = Field(default=0.1, ge=0, lt=1)
    # tiers: how often beat runs the tier consumer (purchases and refunds confirmed -> upgrades) and
    # resumes ladder recalculations, how often the review pass runs, members per recalculation chunk
    tiers_every_s: float = Field(default=5.0, gt=0)
    tier_review_every_s: float = Field(default=3_600.0, gt=0)
    tier_recalculation_chunk: int = Field(default=500, ge=1, le=10_000)
    # tests only (local mode): a file holding seconds added to the tiers' clock (reviews, grace, end dates)
    tier_clock_file: Path | None = None
    # paid memberships: days of grace after a failed or missing renewal (benefits held), how often
    # beat moves subscriptions on by time alone (renewals missed, graces and cancelled periods ended),
    # the coalition's share of a partner plan's fees unless the operator sets another (0..1)
    membership_grace_days: int = Field(default=7, ge=0, le=60)
    membership_sweep_every_s: float = Field(default=60.0, gt=0)
    membership_default_coalition_share: Decimal = Field(default=Decimal("0.10"), ge=0, le=1)
    # paying with points at the till: how often beat releases the holds past their expiry
    points_hold_expire_every_s: float = Field(default=10.0, gt=0)
    # points expiry: how often beat sweeps the holders whose points are due, holders per expire
    # batch (~9,000 gas each: 2,000 fill 18M), the sweeper's key (local mode: anvil dev account #9)
    expiry_sweep_every_s: float = Field(default=300.0, gt=0)
    expiry_sweep_batch: int = Field(default=1_000, ge=1, le=2_000)
    sweeper_key: str = "sweeper"
    # points.expiring reminders: days before a holder's expiry time, and how often beat looks
    expiry_reminder_days: list[int] = Field(default=[30, 7])
    expiry_remind_every_s: float = Field(default=3_600.0, gt=0)
    # messages to customers (gateway/messaging/, gateway/services/message_delivery.py): the SMTP
    # server (local mode: the embedded one on 127.0.0.1:smtp_port, gateway/messaging/smtp_server.py),
    # STARTTLS and AUTH when set, the sender's address (its domain names every Message-ID)
    smtp_host: str | None = None
    smtp_port: int = Field(default=8025, ge=1, le=65_535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_ca_file: Path | None = None  # a private CA's certificate to trust for STARTTLS (else the system's)
    smtp_from: str = "Coalition <no-reply@coalition.localhost>"
    smtp_timeout_s: float = Field(default=15.0, gt=0, le=120)
    # the SMS and push provider (a Twilio-shaped Messages API; local mode: the embedded one,
    # gateway/messaging/sms_server.py, on sms_port): base URL, account sid and auth token (HTTP Basic
    # auth; the token also signs each request body and verifies the status callbacks), sender number
    sms_api_url: str | None = None
    sms_port: int = Field(default=8026, ge=1, le=65_535)
    sms_account_sid: str = "AC00000000000000000000000000000000"
    sms_auth_token: str | None = None
    sms_from: str = "+15005550006"
    sms_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # the gateway's public address as the workers write it into messages (unsubscribe links, the
    # provider's status callback URL); the API's own COALITION_PUBLIC_URL, read by the workers too
    public_url: str = "http://127.0.0.1:8000"
    # messages' links that work without signing in (one-click unsubscribe, email confirmation): the
    # HMAC key of their tokens (loyalty/messages/tokens.py); unset, one derived from secrets_key
    # (messages_link_key() below; consent18's gateway/services/message_links.py link_key derives the same)
    messages_link_key: str | None = None
    # the sender (beat every messages_send_every_s): rows claimed per batch (one SMTP connection per
    # batch), how long a claim holds before another worker may take the row again, the most
    # attempts of one message, the backoff between them (doubling from base, capped, jittered)
    messages_send_every_s: float = Field(default=2.0, gt=0)
    messages_batch: int = Field(default=200, ge=1, le=5_000)
    # results recorded in one transaction per this many messages: fewer commits, and at most this
    # many resent (same Message-ID / Idempotency-Key) after a worker dies between a send and its commit
    messages_commit_every: int = Field(default=20, ge=1, le=1_000)
    messages_lease_s: float = Field(default=120.0, ge=5)
    messages_max_attempts: int = Field(default=6, ge=1)
    messages_backoff_base_s: float = Field(default=60.0, gt=0)
    messages_backoff_cap_s: float = Field(default=6 * 3_600.0, gt=0)
    # analytics (issue 19): how often beat looks for the last complete UTC day's RFM snapshot (a scope
    # already done is skipped), the seconds one run may spend before leaving the remaining scopes to
    # the next, and the KPIs' churn: a member without a counted purchase for this many days
    rfm_snapshot_every_s: float = Field(default=3_600.0, gt=0)
    rfm_snapshot_budget_s: float = Field(default=300.0, gt=0)
    churn_days: int = Field(default=90, ge=1, le=3_650)
    # churn risk (gateway/services/churn.py): how often beat looks for today's model and yesterday's
    # scores (each done once), the fewest members a training set needs, and the most it takes (beyond:
    # a deterministic sample, members whose id is a multiple of ceil(members / churn_train_max))
    churn_model_every_s: float = Field(default=3_600.0, gt=0)
    churn_min_members: int = Field(default=20, ge=2)
    churn_train_max: int = Field(default=100_000, ge=100)
    # messages to customers, the planner (gateway/services/message_planner.py): at most
    # messages_cap_marketing marketing messages per customer in messages_cap_days days (every
    # partner, every channel); quiet hours (HH:MM, the customer's zone, else the default zone)
    # hold marketing messages until they end; the locale when the profile has none; how often beat
    # plans from the domain events, and how often it plans the scheduled ones (the daily points
    # digest, tier at risk) with how many past days it back-fills
    messages_cap_marketing: int = Field(default=3, ge=0)
    messages_cap_days: float = Field(default=7.0, gt=0)
    messages_quiet_start: str = Field(default="21:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    messages_quiet_end: str = Field(default="08:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    messages_default_time_zone: str = "UTC"
    messages_default_locale: str = Field(default="en", min_length=2, max_length=35)
    messages_plan_every_s: float = Field(default=5.0, gt=0)
    messages_schedule_every_s: float = Field(default=600.0, gt=0)
    messages_backfill_days: int = Field(default=3, ge=1, le=30)
    messages_tier_at_risk_days: int = Field(default=30, ge=1, le=365)
    messages_trial_ending_days: int = Field(default=3, ge=1, le=60)  # membership_trial_ending: days before
    # tests only (local mode): a file holding seconds added to the messages' clock (caps, quiet hours, digests)
    messages_clock_file: Path | None = None
    # referrals (issue 20): points minted to the referrer and to the new member once the new member's
    # first purchase is confirmed and its refund window closed unrefunded; at most referral_cap paid
    # referrals per referrer (0: no cap); who funds the referrals of members enrolled on /me (None:
    # they are qualified and recorded, not paid); how often beat runs the qualification pass
    referral_referrer_points: int = Field(default=500, ge=0, le=10**9)
    referral_referee_points: int = Field(default=250, ge=0, le=10**9)
    referral_cap: int = Field(default=20, ge=0)
    referral_funding_partner_id: int | None = Field(default=None, ge=1)
    referrals_every_s: float = Field(default=300.0, gt=0)
    # achievements (issue 20): how often beat runs the badge consumer (purchases and refunds confirmed)
    achievements_every_s: float = Field(default=10.0, gt=0)
    # campaigns' scheduled and transition triggers (issue 20 item 6): how often beat runs them
    # (birthday, win_back, segment_entered), and how many days back a run looks for what a missed
    # run left undone (each occurrence fires once: the exposures' unique trigger_ref)
    campaign_triggers_every_s: float = Field(default=300.0, gt=0)
    campaign_backfill_days: int = Field(default=7, ge=0, le=366)

    @model_validator(mode="after")
    def _secrets_key(self) -> WorkerSettings:
        if self.secrets_key is None:
            if self.mode != "local":
                raise ValueError("COALITION_SECRETS_KEY must be set outside local mode")
            self.secrets_key = LOCAL_SECRETS_KEY
        elif self.mode != "local" and (self.secrets_key == LOCAL_SECRETS_KEY or len(self.secrets_key) < 32):
            raise ValueError("COALITION_SECRETS_KEY is a placeholder or shorter than 32 characters")
        if self.webhook_allow_loopback and self.mode != "local":
            raise ValueError("COALITION_WEBHOOK_ALLOW_LOOPBACK is for local mode only")
        if self.tier_clock_file is not None and self.mode != "local":
            raise ValueError("COALITION_TIER_CLOCK_FILE is for tests in local mode only")
        if self.messages_clock_file is not None and self.mode != "local":
            raise ValueError("COALITION_MESSAGES_CLOCK_FILE is for tests in local mode only")
        try:
            ZoneInfo(self.messages_default_time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                "COALITION_MESSAGES_DEFAULT_TIME_ZONE must be an IANA time zone, not "
                f"{self.messages_default_time_zone!r}"
            ) from exc
        self._messaging_defaults()
        return self

    def _messaging_defaults(self) -> None:
        """Local mode sends to the embedded SMTP server and SMS provider with a dev token; elsewhere
        a channel without its host (SMTP) or URL (SMS) stays off, and the provider's token must be set."""
        if self.mode == "local":
            self.smtp_host = self.smtp_host or "127.0.0.1"
            self.sms_api_url = self.sms_api_url or f"http://127.0.0.1:{self.sms_port}"
            self.sms_auth_token = self.sms_auth_token or LOCAL_SMS_AUTH_TOKEN
        elif self.sms_api_url is not None and self.sms_auth_token in (None, LOCAL_SMS_AUTH_TOKEN):
            raise ValueError("COALITION_SMS_AUTH_TOKEN must be set with COALITION_SMS_API_URL outside local mode")
        if self.messages_link_key is not None and self.mode != "local" and len(self.messages_link_key) < 32:
            raise ValueError("COALITION_MESSAGES_LINK_KEY is shorter than 32 characters")

    @property
    def settlement_period_s(self) -> int:
        if self.settlement_period == "hourly":
            return 3_600
        if self.settlement_period == "daily":
            return 86_400
        return int(self.settlement_period)


class GatewaySettings(WorkerSettings):
    """The API process's settings (partners' and customers' routes, the dashboard, sign-in), on top
    of the workers' (the API enqueues their tasks and shares their Redis): :data:`get_settings`."""

    operator_token: str | None = None
    max_purchase_amount: str = "1000000"  # per purchase, in the currency's units
    rate_limit_per_second: int = Field(default=2_000, ge=1)  # per partner key, a token bucket
    rate_limit_burst: int = Field(default=4_000, ge=1)
    public_url: str = "http://127.0.0.1:8000"
    earn_start_on_accept: bool = True  # the gateway starts a partner's drain at once, not at the next tick
    # redemptions: how long a consent the gateway prepares stays valid
    redemption_consent_ttl_s: int = Field(default=900, ge=30, le=7 * 86_400)
    # customers' wallet sign-in (EIP-4361): how long a challenge may be signed, how long a session lasts
    wallet_challenge_ttl_s: int = Field(default=600, ge=30, le=86_400)
    customer_session_ttl_s: int = Field(default=86_400, ge=60, le=30 * 86_400)
    # a custodian partner's one-time sign-in link for its custodial customer: how long the link
    # may be opened, and how long the read-only session it opens lasts
    sign_in_link_ttl_s: int = Field(default=600, ge=1, le=3_600)
    sign_in_link_session_ttl_s: int = Field(default=1_800, ge=60, le=86_400)
    # the JSON-RPC URL a customer's wallet is given to add the chain (wallet_addEthereumChain on
    # /me): public, without secrets. Local mode falls back to rpc_url; unset elsewhere, the page
    # only asks the wallet to switch to the chain (never hands out rpc_url, which may hold a key)
    wallet_rpc_url: str | None = None
    # the most points of one custodial wallet its custodian partner may spend in any 24 h (the
    # gateway signs for them); 0: none, the customer takes the key (release) and signs themselves
    custodial_daily_points_limit: int = Field(default=5_000, ge=0, lt=2**63)
    # a custodial wallet's key is handed over only this long after its custodian asked for it
    # (the partner and the operator are told at once; the partner can cancel meanwhile)
    custodial_release_notice_s: int = Field(default=72 * 3_600, ge=0, le=90 * 86_400)
    # paying with points at the till: how long an authorised hold holds the customer's points
    # before it lapses unless captured (never past its signed consent's deadline)
    points_hold_ttl_s: int = Field(default=900, ge=1, le=7 * 86_400)
    # unauthenticated routes (customer sign-in, the operator's login, a wrong operator token): a
    # token bucket per client address, far below the partner keys' limit
    auth_rate_limit_per_second: float = Field(default=1.0, gt=0, le=1_000)
    auth_rate_limit_burst: int = Field(default=30, ge=1, le=100_000)
    # the `coalition` command's pid files and process logs (coalition/processes.py)
    state_dir: Path = STATE_DIR
    # the Maildir the embedded SMTP server (make demo, coalition up) writes what it receives to, and
    # the dashboard's mailbox (/dashboard/messages/mailbox) reads; unset: <state_dir>/mailbox
    # (mailbox_path); a folder that does not exist: no mailbox
    mailbox_dir: Path | None = None
    # the operator dashboard's and the customer page's header
    display_name: str = Field(default="Coalition loyalty network", min_length=1, max_length=80)
    # the time zone (IANA name) the dashboard states its dates and days in (the chart's days too)
    display_timezone: str = Field(default="UTC", min_length=1, max_length=64)
    # FastAPI's native OpenTelemetry per request (spans, metrics, logs) when a provider is
    # configured; off by default: it checks for providers on every request (~5 % of a purchase)
    request_telemetry: bool = False
    # the largest request body read (413 above it): a batch of 1,000 purchases is under 400 kB even
    # with the longest ids and indented JSON; the cap is checked before a byte is read (gateway/guard.py)
    max_request_body_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    # the CSV import's body (POST /v1/imports/customers): 100,000 rows are ~10 MiB
    import_max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024, le=256 * 1024 * 1024)
    # days an email confirmation link (double opt-in, gateway/services/message_links.py) may be used
    consent_confirm_ttl_days: int = Field(default=7, ge=1, le=90)
    # campaigns (issue 20): the partner that funds the coalition's own campaigns (a participant like
    # any other: its minter, its deposit, its settlement line); None: the operator funds none yet
    house_partner_id: int | None = Field(default=None, ge=1, lt=2**32)
    # days after a member's exposure in which a purchase counts as a conversion (and before it: the pre-period)
    campaign_window_days: int = Field(default=14, ge=1, le=365)

    @property
    def mailbox_path(self) -> Path:
        """The local mailbox's Maildir: ``mailbox_dir``, else ``<state_dir>/mailbox``."""
        return self.mailbox_dir if self.mailbox_dir is not None else self.state_dir / "mailbox"

    @model_validator(mode="after")
    def _operator_token(self) -> GatewaySettings:
        if self.operator_token is None:
            if self.mode != "local":
                raise ValueError("COALITION_OPERATOR_TOKEN must be set outside local mode")
            self.operator_token = LOCAL_OPERATOR_TOKEN
        elif self.mode != "local" and (self.operator_token == LOCAL_OPERATOR_TOKEN or len(self.operator_token) < 24):
            raise ValueError("COALITION_OPERATOR_TOKEN is a placeholder or shorter than 24 characters")
        return self

    @model_validator(mode="after")
    def _display_timezone(self) -> GatewaySettings:
        try:
            ZoneInfo(self.display_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"COALITION_DISPLAY_TIMEZONE must be an IANA time zone, not {self.display_timezone!r}"
            ) from exc
        return self

    @model_validator(mode="after")
    def _public_url(self) -> GatewaySettings:
        """Outside local mode the address partners are sent to (``status_url``, EIP-4361's domain)
        must be named: the local default would send them to 127.0.0.1."""
        if self.mode != "local" and "public_url" not in self.model_fields_set:
            raise ValueError(
                "COALITION_PUBLIC_URL must be set outside local mode: the gateway's public https address "
                "(status URLs and sign-in messages name it)"
            )
        scheme, _, rest = self.public_url.partition("://")
        if scheme not in ("http", "https") or not rest.strip("/"):
            raise ValueError(f"COALITION_PUBLIC_URL must be an http(s) URL, not {self.public_url!r}")
        self.public_url = self.public_url.rstrip("/")
        return self


def max_countdown_s(settings: WorkerSettings) -> int:
    """The longest a task may be scheduled ahead (retries, backoff): well inside the
    visibility timeout, or Redis would deliver the waiting message a second time."""
    return settings.task_visibility_timeout_s // 2


def messages_link_key(settings: WorkerSettings) -> bytes:
    """The key of the signed links in messages (one-click unsubscribe, email confirmation):
    ``COALITION_MESSAGES_LINK_KEY``, else derived from the secrets key (HMAC under a label), so that
    the workers that sign and the gateway that verifies agree without one more secret."""
    if settings.messages_link_key:
        return settings.messages_link_key.encode()
    return hmac.new(str(settings.secrets_key).encode(), b"coalition messages link key v1", hashlib.sha256).digest()


def redis_url(settings: WorkerSettings) -> str | None:
    """The one rule for the Redis every process shares (Celery's broker, leases, rate limits):
    ``COALITION_REDIS_URL``; else, in local mode, the embedded server's on ``redis_port``
    (gateway/redis_server.py, ``coalition up``); else None (nothing to connect to)."""
    if settings.redis_url:
        return settings.redis_url
    if settings.mode == "local":
        return f"redis://127.0.0.1:{settings.redis_port}/0"
    return None


get_worker_settings: SettingsGetter[WorkerSettings] = SettingsGetter(WorkerSettings)
get_settings: SettingsGetter[GatewaySettings] = SettingsGetter(GatewaySettings)
