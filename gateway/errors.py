"""The gateway's domain errors: plain exceptions that services, deps and routes raise.

Each class names one problem type of the catalogue (gateway/problem_types.py) by its ``slug``
and carries a ``detail``, a sentence that says what was wrong and what to do; a few carry the
data their answer needs (the seconds to wait). gateway/problems.py, the one HTTP module of
errors, turns them into application/problem+json. Nothing here imports a web framework, so a
worker that raises or catches them loads none.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar


class GatewayError(Exception):
    """Root of the gateway's domain errors; each subclass maps to one problem type."""

    slug: ClassVar[str] = "internal-error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# --- credentials, lookups, retries


class Unauthorized(GatewayError):
    """No credentials, or credentials the gateway does not know (an API key, a token, a session)."""

    slug = "unauthorized"


class Forbidden(GatewayError):
    """Known credentials that may not do this."""

    slug = "forbidden"


class NotFound(GatewayError):
    """No such resource for these credentials (another partner's resource is not found either)."""

    slug = "not-found"


class IdempotencyConflict(GatewayError):
    """An id the partner gives (purchase_id, refund_id, redemption_id...) was first used with another body."""

    slug = "idempotency-conflict"


class RateLimited(GatewayError):
    """Too many requests from one key or one address; ``retry_after_s`` is how long to wait."""

    slug = "rate-limited"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class ChainUnavailable(GatewayError):
    """The chain cannot be reached (or refuses to answer) right now; nothing was changed."""

    slug = "chain-unavailable"


class ContentTooLarge(GatewayError):
    """The request body is larger than the gateway accepts."""

    slug = "content-too-large"


# --- partners and purchases


class PartnerExists(GatewayError):
    """A partner with this name or minter is onboarded already (with another body)."""

    slug = "partner-exists"


class PartnerSuspended(GatewayError):
    """The partner is suspended: nothing of it is accepted until the operator reactivates it."""

    slug = "partner-suspended"


class CustomerNotLinked(GatewayError):
    """A purchase names a customer ref that is linked to no wallet."""

    slug = "customer-not-linked"


class CurrencyNotAccepted(GatewayError):
    """The purchase's currency is not the one of the partner's earn rule."""

    slug = "currency-not-accepted"


class NoPoints(GatewayError):
    """The purchase earns no point at the partner's rate (points are rounded down), or under its
    earning rules (below the minimum order, only excluded lines, all paid with points or gift cards)."""

    slug = "no-points"


class LinesMismatch(GatewayError):
    """The purchase's lines do not add up to its amount (the detail names the difference)."""

    slug = "lines-mismatch"


class LinesInvalid(GatewayError):
    """A line or tender of the purchase cannot be evaluated (the detail names the field)."""

    slug = "lines-invalid"


class RulesInvalid(GatewayError):
    """A proposed rule set does not compile (the detail names the rule)."""

    slug = "rules-invalid"


class RulesetNotDraft(GatewayError):
    """Only a draft version of a rule set can be activated."""

    slug = "ruleset-not-draft"


class AmountTooLarge(GatewayError):
    """The purchase's amount is above the largest one accepted."""

    slug = "amount-too-large"


# --- rewards and redemptions


class SkuExists(GatewayError):
    """The partner has a reward with this sku already."""

    slug = "sku-exists"


class RewardUnavailable(GatewayError):
    """The reward is not active."""

    slug = "reward-unavailable"


class OutOfStock(GatewayError):
    """Fewer units of the reward are left than asked for."""

    slug = "out-of-stock"


class ConsentRequired(GatewayError):
    """A redemption of a self-custody wallet came without the customer's signed consent."""

    slug = "consent-required"


class InvalidSignature(GatewayError):
    """The consent is not signed by the wallet that holds the points."""

    slug = "invalid-signature"


class SignatureExpired(GatewayError):
    """The consent's deadline has passed."""

    slug = "signature-expired"


class NonceUsed(GatewayError):
    """The consent's nonce was used already: a consent redeems once."""

    slug = "nonce-used"


class InsufficientPoints(GatewayError):
    """The customer has fewer points (less those promised to redemptions in flight) than needed."""

    slug = "insufficient-points"


# --- refunds and webhooks


class PurchaseNotConfirmed(GatewayError):
    """The purchase is not confirmed on chain yet, so it cannot be refunded."""

    slug = "purchase-not-confirmed"


class RefundExceedsPurchase(GatewayError):
    """The refund is more than what remains of the purchase."""

    slug = "refund-exceeds-purchase"


class RefundWindowClosed(GatewayError):
    """The refund window of the batch that minted the purchase has closed on chain."""

    slug = "refund-window-closed"


class WebhookUrlNotAllowed(GatewayError):
    """The webhook URL is not an https URL of a public host."""

    slug = "webhook-url-not-allowed"


class TooManyWebhooks(GatewayError):
    """The partner has the most webhook endpoints allowed."""

    slug = "too-many-webhooks"


# --- customers, their wallets and custody


class ChallengeUnknown(GatewayError):
    """The signed message is not a challenge this gateway issued for this purpose."""

    slug = "challenge-unknown"


class ChallengeMismatch(GatewayError):
    """The signed message is for another domain, chain or customer, or was altered."""

    slug = "challenge-mismatch"


class ChallengeExpired(GatewayError):
    """The challenge has expired."""

    slug = "challenge-expired"


class ChallengeUsed(GatewayError):
    """The challenge was used already."""

    slug = "challenge-used"


class WalletSignatureInvalid(GatewayError):
    """The signature is not the message's address signing this exact message."""

    slug = "wallet-signature-invalid"


class CustomerAlreadyLinked(GatewayError):
    """The customer ref is linked to a wallet already."""

    slug = "customer-already-linked"


class WalletNotCustodial(GatewayError):
    """The customer's wallet is not a custodial wallet the gateway holds (for this partner)."""

    slug = "wallet-not-custodial"


class CustodialWalletReleased(GatewayError):
    """The custodial wallet's key was handed over to its customer already."""

    slug = "custodial-wallet-released"


class CustodialLimitReached(GatewayError):
    """The custodial wallet's spending in the last 24 h would pass its daily limit."""

    slug = "custodial-limit-reached"


class CustodialReleasePending(GatewayError):
    """The custodial wallet's release was asked for; its key is handed over from ``available_at``,
    ``retry_after_s`` seconds from when this was raised."""

    slug = "custodial-release-pending"

    def __init__(self, detail: str, *, available_at: datetime, retry_after_s: int) -> None:
        super().__init__(detail)
        self.available_at = available_at
        self.retry_after_s = retry_after_s


# --- members: enrolment, profiles, consents, imports, erasure


class CustomerEnrolled(GatewayError):
    """The ref (or the signed-in customer) is enrolled already, with other data than this request's."""

    slug = "customer-enrolled"


class ProfileRefused(GatewayError):
    """A profile field that cannot be stored (loyalty/customers.py says why); ``field`` names it."""

    slug = "profile-invalid"

    def __init__(self, detail: str, *, field: str) -> None:
        super().__init__(detail)
        self.field = field


class ConsentRefused(GatewayError):
    """A consent change that names no known channel or scope, or no source."""

    slug = "consent-invalid"


class ReferralCodeUnknown(GatewayError):
    """The referral code is not a member's (or is the customer's own)."""

    slug = "referral-code-unknown"


class NotEnrolled(GatewayError):
    """The signed-in customer is not a member of the program yet (POST /v1/me/enrolment)."""

    slug = "not-enrolled"


class ImportRefused(GatewayError):
    """The file is not a CSV of the import's columns; nothing was imported."""

    slug = "import-invalid"


class ReadOnlySession(GatewayError):
    """A read-only customer session (a sign-in link's) may not change anything."""

    slug = "read-only-session"


# --- messages: consent links (double opt-in, one-click unsubscribe) and the SMS provider


class LinkInvalid(GatewayError):
    """A message's link whose token was altered, cut short, signed elsewhere or for another action."""

    slug = "link-invalid"


class LinkExpired(GatewayError):
    """An email confirmation link past its expiry."""

    slug = "link-expired"


class ConsentAlreadyConfirmed(GatewayError):
    """The email grant a confirmation link names is confirmed already."""

    slug = "consent-already-confirmed"


class ConsentWithdrawn(GatewayError):
    """The email grant a confirmation link names was withdrawn since."""

    slug = "consent-withdrawn"


class ProviderSignatureInvalid(GatewayError):
    """A request said to come from the SMS provider without its valid signature."""

    slug = "provider-signature-invalid"


# --- paying with points at the till


class PointsAmountTooSmall(GatewayError):
    """The money amount buys no point at the partner's point value (or no point was asked)."""

    slug = "points-amount-too-small"


class CaptureExceedsHold(GatewayError):
    """A capture asks for more points than the hold holds."""

    slug = "capture-exceeds-hold"


class HoldNotOpen(GatewayError):
    """The hold was released, lapsed at its expiry, or captured for another purchase."""

    slug = "hold-not-open"


class PointsPaymentMismatch(GatewayError):
    """A purchase's ``paid_with.points`` is not the money value of the holds captured for it."""

    slug = "points-payment-mismatch"


# --- the operator: partners, settlement


class NothingToSettle(GatewayError):
    """No points activity to settle since the last settled period."""

    slug = "nothing-to-settle"


class ChainRejected(GatewayError):
    """The chain refused the operator's transaction (the detail names its reason)."""

    slug = "chain-rejected"


# --- tiers (gateway/services/tiers.py)


class TierLadderInvalid(GatewayError):
    """A tier ladder or policy that cannot be used (the detail names the tier and the value)."""

    slug = "tier-ladder-invalid"


class TierUnknown(GatewayError):
    """A tier that is not on the ladder in force."""

    slug = "tier-unknown"


class TierLadderNotSet(GatewayError):
    """No tier ladder is in force yet: the operator applies one first."""

    slug = "tier-ladder-not-set"


class ManualTierEndInvalid(GatewayError):
    """A manual tier's end date is not in the future."""

    slug = "manual-tier-end-invalid"


# --- message templates (gateway/services/message_templates.py)


class TemplateRefused(GatewayError):
    """A partner's template that does not compile, render or show what its kind needs, or preview
    data that lacks a variable (the detail names the part and line)."""

    slug = "template-invalid"


# --- operator-defined segments (gateway/services/segments.py, loyalty/segments.py)


class SegmentRefused(GatewayError):
    """A segment condition the language does not accept; ``path`` names the bad node (``$.all[1].op``)."""

    slug = "segment-invalid"

    def __init__(self, detail: str, *, path: str) -> None:
        super().__init__(detail)
        self.path = path


class SegmentExists(GatewayError):
    """Another segment has this name."""

    slug = "segment-exists"


# --- achievements (gateway/services/achievements.py, loyalty/campaigns/achievements.py)


class AchievementInvalid(GatewayError):
    """An achievement rule that is not one of the kinds, or out of its bounds."""

    slug = "achievement-invalid"


class AchievementExists(GatewayError):
    """Another achievement has this slug."""

    slug = "achievement-exists"


# --- campaigns (gateway/services/campaigns.py, loyalty/campaigns/evaluation.py)


class CampaignRefused(GatewayError):
    """A campaign that cannot run; ``field`` names the bad part (``effects[0].points``)."""

    slug = "campaign-invalid"

    def __init__(self, detail: str, *, field: str) -> None:
        super().__init__(detail)
        self.field = field


class CampaignStatusConflict(GatewayError):
    """The campaign's status does not allow the change asked (start a stopped one, change a running one)."""

    slug = "campaign-status-conflict"


class HousePartnerMissing(GatewayError):
    """An operator's campaign without a funder while ``COALITION_HOUSE_PARTNER_ID`` names none."""

    slug = "house-partner-missing"


class MembershipPlanInvalid(GatewayError):
    """A membership plan that cannot be used: the detail names the field and value."""

    slug = "membership-plan-invalid"


class MembershipTransitionInvalid(GatewayError):
    """A change the subscription's state does not allow (a lapsed one renewed, a second trial...)."""

    slug = "membership-transition-invalid"
