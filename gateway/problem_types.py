"""The catalogue of problem types: every error a client can see, and every reason an accepted
operation failed or waits, has a stable slug; its ``type`` is ``/problems/<slug>``, with a title,
the HTTP status of an answer of that type, an example detail and how to fix it.

Data only: the problem pages (gateway/routes/problems.py), the OpenAPI document and the
problem+json answers (gateway/problems.py), and the failures of the status answers and webhooks
(gateway/failures.py, which workers import) read it. No HTTP framework here.
"""

from __future__ import annotations

from typing import Any

# slug -> (status, title): the catalogue of every problem type the API returns
PROBLEMS: dict[str, tuple[int, str]] = {
    "validation-error": (422, "The request is not valid"),
    "unauthorized": (401, "Missing or unknown credentials"),
    "forbidden": (403, "Not allowed with these credentials"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "idempotency-conflict": (409, "The same id was used with another body"),
    "partner-exists": (409, "A partner with this name or minter is onboarded already"),
    "customer-not-linked": (422, "The customer reference is linked to no wallet"),
    "currency-not-accepted": (422, "The partner's earn rule does not cover this currency"),
    "no-points": (422, "The purchase earns no points"),
    "amount-too-large": (422, "The amount is above the largest purchase accepted"),
    "partner-suspended": (409, "The partner is suspended"),
    "rate-limited": (429, "Too many requests"),
    "chain-unavailable": (503, "The chain cannot be reached; retry later"),
    "internal-error": (500, "Internal error"),
    "sku-exists": (409, "The partner has a reward with this sku already"),
    "reward-unavailable": (409, "The reward is not active"),
    "out-of-stock": (409, "Not enough of the reward is left in stock"),
    "consent-required": (422, "A self-custody wallet must send its signed consent"),
    "invalid-signature": (422, "The consent is not signed by the customer's wallet"),
    "signature-expired": (422, "The consent's deadline has passed"),
    "nonce-used": (409, "The consent's nonce was used already (a replayed consent)"),
    "insufficient-points": (422, "The customer has fewer points than the redemption needs"),
    # --- redemptions and rewards (add above this line)
    "purchase-not-confirmed": (409, "The purchase is not confirmed on chain yet"),
    "refund-exceeds-purchase": (422, "The refund is more than what remains of the purchase"),
    "refund-window-closed": (409, "The purchase's refund window has closed on chain"),
    "webhook-url-not-allowed": (422, "The webhook URL is not allowed"),
    "too-many-webhooks": (409, "The partner has the most webhook endpoints allowed"),
    # --- refunds, webhooks, rate limit (add above this line)
    "challenge-unknown": (422, "The message is not a challenge this gateway issued for this purpose"),
    "challenge-mismatch": (422, "The message is for another domain, chain, customer, or was altered"),
    "challenge-expired": (422, "The challenge has expired; ask for a new one"),
    "challenge-used": (409, "The challenge was used already; ask for a new one"),
    "wallet-signature-invalid": (422, "The signature is not the message's address signing this message"),
    "customer-already-linked": (409, "The customer reference is linked to a wallet already"),
    "wallet-not-custodial": (409, "The customer's wallet is not a custodial wallet the gateway holds"),
    "custodial-wallet-released": (409, "The custodial wallet's key was released to its customer"),
    "custodial-limit-reached": (422, "The custodial wallet's spending in the last 24 h would pass the daily limit"),
    "custodial-release-pending": (409, "The custodial wallet's release was asked for; its key is handed over later"),
    # --- customers and custody (add above this line)
    "customer-enrolled": (409, "The customer is enrolled already with other data"),
    "profile-invalid": (422, "A profile field cannot be stored"),
    "consent-invalid": (422, "The consent names no known channel or scope, or no source"),
    "referral-code-unknown": (422, "The referral code is not a member's"),
    "not-enrolled": (404, "The customer is not a member of the program yet"),
    "import-invalid": (422, "The file is not a CSV of the import's columns"),
    "read-only-session": (403, "A read-only customer session may not change anything"),
    # --- members: enrolment, profiles, consents, imports, erasure (add above this line)
    "link-invalid": (404, "The link was altered, cut short or is not this coalition's"),
    "link-expired": (410, "The confirmation link has expired"),
    "consent-already-confirmed": (409, "The email consent is confirmed already"),
    "consent-withdrawn": (409, "The email consent was withdrawn since the link was sent"),
    "provider-signature-invalid": (403, "The request does not carry the SMS provider's valid signature"),
    # --- messages: consent links, SMS provider (add above this line)
    "points-amount-too-small": (422, "The money amount buys no point at the partner's point value"),
    "capture-exceeds-hold": (422, "The capture asks for more points than the hold holds"),
    "hold-not-open": (409, "The points hold was released, has expired or was captured already"),
    "points-payment-mismatch": (422, "paid_with.points is not what the holds captured for the purchase are worth"),
    # --- paying with points at the till (add above this line)
    "nothing-to-settle": (409, "No points activity to settle since the last settled period"),
    "chain-rejected": (409, "The chain refused the operator's transaction"),
    # --- operator: partners, settlement, reconciliation (add above this line)
    "lines-mismatch": (422, "The purchase's lines do not add up to its amount"),
    "lines-invalid": (422, "A line of the purchase cannot be evaluated"),
    "rules-invalid": (422, "The rule set is not valid"),
    "ruleset-not-draft": (409, "Only a draft rule set version can be activated"),
    # --- earning rules (add above this line)
    "tier-ladder-invalid": (422, "The tier ladder or its policy cannot be used"),
    "tier-unknown": (422, "The tier is not on the ladder in force"),
    "tier-ladder-not-set": (409, "No tier ladder is in force yet"),
    "manual-tier-end-invalid": (422, "A manual tier's end date must be in the future"),
    # --- tiers (add above this line)
    "template-invalid": (422, "The message template or its preview data cannot be used"),
    # --- message templates (add above this line)
    "segment-invalid": (422, "The segment condition cannot be used"),
    "segment-exists": (409, "A segment with this name exists already"),
    # --- segments (add above this line)
    "achievement-invalid": (422, "The achievement's rule cannot be used"),
    "achievement-exists": (409, "An achievement with this slug exists already"),
    # --- achievements (add above this line)
    "campaign-invalid": (422, "The campaign cannot run as written"),
    "campaign-status-conflict": (409, "The campaign's status does not allow this"),
    "house-partner-missing": (422, "No partner funds the coalition's own campaigns"),
    # --- campaigns (add above this line)
    "membership-plan-invalid": (422, "The membership plan cannot be used"),
    "membership-transition-invalid": (409, "The subscription's state does not allow this change"),
    # --- memberships (add above this line)
    "content-too-large": (413, "The request body is larger than the gateway accepts"),
    # --- request limits (add above this line)
    "partner-funds-exhausted": (409, "The partner's issuance headroom is used up"),
    "partner-minter-unknown": (409, "The gateway's minter key for the partner is not its minter on chain"),
    "points-already-spent": (409, "The customer has spent the points the refund would claw back"),
    "network-paused": (503, "The coalition's operator has paused the points token"),
    "transaction-refused": (409, "The chain refused the transaction; the coalition's operator has to look at it"),
    # --- why an accepted purchase, refund or redemption failed or waits: the ``failure`` of
    # --- their status answers, from gateway/failures.py (add above this line)
}


# slug -> (an example detail, how to fix it): the problem pages (/problems/<slug>) and the OpenAPI
# examples. Every slug of PROBLEMS has its entry (a test says which are missing).
PROBLEM_HELP: dict[str, tuple[str, str]] = {
    "validation-error": (
        "body.customer.wallet: must be a checksummed (EIP-55) 20-byte hex address",
        "Correct each field named in `errors` (and in the detail) as its message says, then send the request again; "
        "the schema of every body is in the OpenAPI document (/openapi.json).",
    ),
    "unauthorized": (
        "unknown API key",
        "Send the header `Authorization: Bearer <key>`: a partner's API key (given once at onboarding), the operator "
        "token, or a customer token from POST /v1/auth/session, as the operation asks.",
    ),
    "forbidden": (
        "this key may not do that",
        "Use the credentials of the party the operation belongs to (a partner key, the operator token).",
    ),
    "not-found": (
        "no purchase 'order-1042' of this partner",
        "Check the id in the path. Ids are per partner: another partner's purchase, refund, customer or endpoint "
        "answers 404 as one that does not exist.",
    ),
    "method-not-allowed": (
        "Method Not Allowed",
        "Use one of the methods the OpenAPI document lists for this path.",
    ),
    "idempotency-conflict": (
        "purchase_id 'order-1042' was first posted with another body; use a new purchase_id",
        "Send the same id only to retry the same request, with the same body. For a different request, use a new id.",
    ),
    "partner-exists": (
        "a partner named 'Corner Bakery' is onboarded already (id 3)",
        "Choose another name, or post the exact body of the first onboarding to resume it.",
    ),
    "customer-not-linked": (
        "customer ref 'loyalty-0042' is not linked to a wallet; link it first",
        "Link the ref first (PUT /v1/customers/{ref}/wallet with the customer's signature, or POST "
        "/v1/customers/{ref}/custodial-wallet), or name the customer by `wallet` instead.",
    ),
    "currency-not-accepted": (
        "partner earns points on EUR purchases, not USD",
        "Post the purchase in the partner's currency (its earn rule); the operator can change the rule.",
    ),
    "no-points": (
        "0.10 EUR earns no points at 1.5 per unit",
        "Nothing to post: a purchase must earn at least one point at the partner's rate (points are rounded down), "
        "or under its earning rules (below their minimum order, only excluded lines, or all paid with points or gift "
        "cards earns nothing: the detail says which).",
    ),
    "amount-too-large": (
        "2000000 EUR is above the largest purchase accepted (1000000)",
        "Check the amount (units of the currency, not cents); a larger purchase must be split or is refused.",
    ),
    "partner-suspended": (
        "partner 3 is suspended; purchases are not accepted",
        "Ask the network's operator why the partner is suspended; nothing is accepted until it is reactivated.",
    ),
    "rate-limited": (
        "more than 200 requests a second (burst 400) with this key; retry after 1 s",
        "Wait the seconds of the Retry-After header, then retry; send fewer requests a second (or use the batch "
        "endpoint).",
    ),
    "chain-unavailable": (
        "the chain cannot be reached (ConnectionError); retry later",
        "Retry later, with backoff: nothing was changed. Posting the same request with the same id is safe.",
    ),
    "internal-error": (
        "an unexpected error occurred; it was logged",
        "Retry later with the same id (requests are idempotent); if it persists, tell the operator the time and path.",
    ),
    "sku-exists": (
        "a reward with sku 'COFFEE-1' exists already; change it with PATCH",
        "Change the existing reward with PATCH /v1/rewards/{sku}, or choose another sku.",
    ),
    "reward-unavailable": (
        "reward 'COFFEE-1' is not active",
        "Activate the reward (PATCH /v1/rewards/{sku} with active: true) or offer another one.",
    ),
    "out-of-stock": (
        "reward 'COFFEE-1' has 0 left; 1 asked",
        "Ask for fewer units, or raise the stock with PATCH /v1/rewards/{sku}.",
    ),
    "consent-required": (
        "send the customer's signed consent (POST /v1/redemptions/consent gives the typed data to sign); only a "
        "custodial customer named by its custodian partner's own ref is redeemed without one",
        "Get the typed data from POST /v1/redemptions/consent, have the customer's wallet sign it "
        "(eth_signTypedData_v4) and post the redemption with `consent`.",
    ),
    "invalid-signature": (
        "the consent is not signed by 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 for 500 points at partner 3 with "
        "ref loyalty-0042",
        "Have the customer's own wallet sign the exact typed data of POST /v1/redemptions/consent, with the same "
        "redemption_id, sku, quantity, nonce and deadline.",
    ),
    "signature-expired": (
        "the consent's deadline 1767225600 has passed; ask the customer to sign again",
        "Ask for a new consent (POST /v1/redemptions/consent) and have the customer sign it again.",
    ),
    "nonce-used": (
        "nonce 1234 of 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 was used by another redemption: a consent works once",
        "Ask for a new consent: each signed consent redeems once.",
    ),
    "insufficient-points": (
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8 has 120 points, 0 of them promised to redemptions in flight; "
        "500 needed",
        "Offer a reward the customer's balance covers (GET /v1/customers/{ref}/balance).",
    ),
    # --- redemptions and rewards (add above this line)
    "purchase-not-confirmed": (
        "purchase 'order-1042' is submitted: it can be refunded once confirmed on chain",
        "Wait until the purchase is confirmed (its status_url, or the purchase.confirmed webhook), then refund.",
    ),
    "refund-exceeds-purchase": (
        "the 63 points of purchase 'order-1042' are refunded",
        "Refund at most what remains of the purchase (GET /v1/purchases/{purchase_id}/refunds lists what was).",
    ),
    "refund-window-closed": (
        "purchase 'order-1042' was minted in batch 17, whose refund window closed at 2026-12-23T10:00:00Z: its "
        "points can no longer be clawed back on chain",
        "Points can no longer be clawed back for this purchase; settle the refund outside the network.",
    ),
    "webhook-url-not-allowed": (
        "10.0.0.5 is a private address: webhooks go to public addresses only",
        "Register an https URL whose host is public (not loopback, private or link-local) and resolves.",
    ),
    "too-many-webhooks": (
        "at most 20 endpoints; delete one first",
        "Delete an endpoint you no longer use (DELETE /v1/webhooks/{endpoint_id}), or subscribe one endpoint to "
        "more event types.",
    ),
    # --- refunds, webhooks, rate limit (add above this line)
    "challenge-unknown": (
        "no challenge with this nonce was issued here for this purpose",
        "Ask for a new challenge (POST /v1/auth/challenge or /v1/customers/{ref}/wallet-challenge) and sign that "
        "exact message.",
    ),
    "challenge-mismatch": (
        "the message differs from the one issued for this nonce",
        "Sign the message exactly as the challenge gave it, for the same customer ref, and send it to this gateway.",
    ),
    "challenge-expired": (
        "the challenge has expired; ask for a new one",
        "Ask for a new challenge and have it signed within its expiry (10 minutes by default).",
    ),
    "challenge-used": (
        "this challenge was used already; ask for a new one",
        "Ask for a new challenge: each one is used once.",
    ),
    "wallet-signature-invalid": (
        "the signature is not the message's address signing this exact message",
        "Sign the message with the wallet of the address it names (personal_sign), without changing a character.",
    ),
    "customer-already-linked": (
        "customer 'loyalty-0042' is linked to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 already",
        "Use the existing link (GET /v1/customers/{ref}); a custodial wallet must be released before the ref is "
        "linked to another wallet.",
    ),
    "wallet-not-custodial": (
        "customer 'loyalty-0042' is linked to their own wallet 0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "Nothing to release: the customer holds the key of this wallet already.",
    ),
    "custodial-wallet-released": (
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8 was released to its customer already",
        "Nothing to do: the key was handed over once; the customer signs for this wallet themselves now.",
    ),
    "custodial-limit-reached": (
        "custodial wallet 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 may spend 10000 points in any 24 h on its "
        "custodian's word; 9500 spent, 1000 asked",
        "Wait until older spending leaves the 24 h window, or have the customer take ownership of the wallet and sign.",
    ),
    "custodial-release-pending": (
        "the release of 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 was asked for; its key is available from "
        "2026-01-04T09:30:00Z",
        "Call again from `available_at` (the Retry-After header gives the seconds), or cancel the release with DELETE.",
    ),
    # --- customers and custody (add above this line)
    "customer-enrolled": (
        "customer 'loyalty-0042' is enrolled already with other data; change it with PATCH "
        "/v1/customers/loyalty-0042/profile or POST .../consents",
        "Send the first request again as it was to read the member (a replay), or change the profile and consents "
        "with their own calls: an enrolment is made once.",
    ),
    "profile-invalid": (
        "email: expected an address like name@example.com, got 'alice@'",
        "Correct the field named in `field` (and in the detail) and send the request again.",
    ),
    "consent-invalid": (
        "channel 'fax' is not one of email, sms, push",
        "Name a channel among email, sms and push, a scope (partner or coalition), and say in `source` how the "
        "consent was collected (1 to 64 characters, e.g. pos, web-form).",
    ),
    "referral-code-unknown": (
        "no member has the referral code 7KQ4M2XW9P",
        "Check the code with the customer (it is 10 characters, no 0, O, 1, I or L), or enrol without it.",
    ),
    "link-invalid": (
        "this link was altered, cut short, or is not one of this coalition's",
        "Open the whole link from the message, as it was sent (some mail programs cut long links). A link is "
        "signed: any change to it is refused.",
    ),
    "link-expired": (
        "this confirmation link has expired: ask for a new one where you gave your consent",
        "Confirmation links work for COALITION_CONSENT_CONFIRM_TTL_DAYS (7) days; give the consent again (on /me "
        "or at the partner) to receive a new one.",
    ),
    "consent-already-confirmed": (
        "your email consent is confirmed already",
        "Nothing to do: the address is confirmed. The consents in force are on /me.",
    ),
    "consent-withdrawn": (
        "this email consent was withdrawn after the link was sent",
        "Give the consent again (on /me or at the partner): a new confirmation link is sent.",
    ),
    "provider-signature-invalid": (
        "X-Twilio-Signature does not match the request",
        "The provider signs each request with its auth token (COALITION_SMS_AUTH_TOKEN) over the URL it called "
        "(COALITION_PUBLIC_URL + the path) and the sorted POST fields; check both match the provider's settings.",
    ),
    "not-enrolled": (
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8 is not a member of the program yet",
        "Enrol first (POST /v1/me/enrolment), then read or change the profile.",
    ),
    "import-invalid": (
        "the header must name distinct columns among ref, email, phone, ...; got name, mail",
        "Send a CSV (UTF-8) whose first line names its columns, `ref` included; the import's columns are in the "
        "description of POST /v1/imports/customers. Nothing was imported.",
    ),
    "read-only-session": (
        "this session was opened by a sign-in link and is read-only",
        "Sign in with the wallet itself (POST /v1/auth/challenge, then /v1/auth/session) to change anything.",
    ),
    # --- members: enrolment, profiles, consents, imports, erasure (add above this line)
    "points-amount-too-small": (
        "0.004 cUSD buys no point at this partner's point value of 0.010000 cUSD",
        "Ask for at least one point's worth (the partner's point value is its reimbursement rate), or give `points`.",
    ),
    "capture-exceeds-hold": (
        "the hold has 500 points; 650 asked",
        "Capture at most what the hold holds; for more, authorise a new hold.",
    ),
    "hold-not-open": (
        "hold 'till-7-0042' was released at its expiry (2026-11-23T10:20:00Z); nothing was burned",
        "Authorise a new hold (POST /v1/points-holds). A hold captured for another purchase cannot be captured again.",
    ),
    "points-payment-mismatch": (
        "paid_with.points is 6.50; the holds captured for purchase 'movie-6' are worth 6.000000 cUSD (750 points)",
        "Capture the hold for the purchase first (POST /v1/points-holds/{hold_id}/capture with its purchase_id), then "
        "post the purchase with paid_with.points equal to the capture's money_value.",
    ),
    # --- paying with points at the till (add above this line)
    "nothing-to-settle": (
        "no Earned, Redeemed, Reversed, Restored or Expired event in blocks 1201..1250 (indexed through 1250); "
        "period 4 is the last settled",
        "Nothing to do: settle again once partners have issued or redeemed points.",
    ),
    "chain-rejected": (
        "the registry refused the transaction: PartnerRegistryUnknownPartner(7)",
        "Read the reason in the detail; correct the request (or the partner's state on chain) before trying again.",
    ),
    # --- operator: partners, settlement, reconciliation (add above this line)
    "lines-mismatch": (
        "the lines add up to 95.00 EUR, 5.00 less than the amount 100.00",
        "Each line's net is quantity × unit_price − discount, rounded half-up to the currency's minor unit; the nets "
        "must add up to the amount exactly. Send the receipt's lines as printed, or leave lines out.",
    ),
    "lines-invalid": (
        "lines[2].discount: 30.00 is more than the line's 25.00",
        "Fix the named field: a discount is at most its line, and quantity × unit_price must fit the amounts accepted.",
    ),
    "rules-invalid": (
        "wine-x2: factor must be at least 1 (exclude lines to earn nothing), not 0.5",
        "Fix the rule named first in the detail (its id), or the rule set itself; exactly one base rule is needed.",
    ),
    "ruleset-not-draft": (
        "version 3 of partner 7's rules is active, not a draft",
        "Post the rules as a new draft (POST .../rules) and activate that version; an active or retired version is "
        "kept as it was.",
    ),
    # --- earning rules (add above this line)
    "tier-ladder-invalid": (
        "tier 'Gold' at 500 points must be above 'Silver' at 1000",
        "Give the tiers from the bottom up: the first at 0 points, thresholds strictly increasing, names unique, "
        "multipliers positive decimals; a grace of 0 to 180 days; a calendar-year window is reviewed on 1 January.",
    ),
    "tier-unknown": (
        "tier 'Diamond' is not on the ladder; known: Member, Silver, Gold, Platinum",
        "Name a tier of the ladder in force (GET /v1/operator/tiers/ladder).",
    ),
    "tier-ladder-not-set": (
        "no tier ladder is in force yet",
        "Define the ladder (PUT /v1/operator/tiers/ladder), then apply it (POST /v1/operator/tiers/recalculations).",
    ),
    "manual-tier-end-invalid": (
        "a manual tier ends after it is set: until 2026-01-01T00:00:00Z is not after 2026-11-23T10:00:00Z",
        "Give an end date in the future: a tier set by hand always ends, and the earned tier applies from then.",
    ),
    "template-invalid": (
        "html line 3: 'frist_name' is undefined",
        "Fix the part and line the detail names: templates are Jinja2 in a sandbox, with the kind's variables "
        "(GET /v1/message-templates lists the kinds; the built-in template shows them) and the filters points, "
        "plural, number, money and date. A marketing email shows {{ unsubscribe_url }}, a confirmation "
        "{{ confirm_url }}; no macros, at most 2 nested loops, 20,000 characters a part. Preview before saving.",
    ),
    # --- tiers (add above this line)
    "segment-invalid": (
        "$.all[1].op: tier (string) takes the operators =, !=, in, not in, not '<'",
        "Fix the node the path names ($ is the root): nodes are {all: [...]}, {any: [...]}, {not: {...}} or a leaf "
        "{field, op, value}; the README's Segments section lists the fields, their operators and the limits "
        "(8 levels, 200 nodes, 500 values in a list).",
    ),
    "segment-exists": (
        "a segment named 'Gold at risk' exists already: choose another name",
        "Give the segment another name, or change the existing one with PUT /v1/operator/segments/{id}.",
    ),
    # --- segments (add above this line)
    "achievement-invalid": (
        "days must be between 1 and 3650, not 0",
        "Give a rule of one of the kinds {kind: count, purchases, days}, {kind: streak, weeks, grace_weeks} or "
        "{kind: partners, partners}, within the bounds the README's Achievements section gives.",
    ),
    "achievement-exists": (
        "an achievement with the slug 'regular' exists already",
        "Choose another slug, or change the existing badge with PUT /v1/operator/achievements/{id}.",
    ),
    # --- achievements (add above this line)
    "campaign-invalid": (
        "effects[0].points: an integer from 1 to 1000000000, not 0",
        "Fix the field the detail names (also in the answer's `field`): the README's Campaigns section lists the "
        "triggers, conditions, effects and limits.",
    ),
    "campaign-status-conflict": (
        "campaign 4 is stopped: a stopped campaign never runs again",
        "draft → running ⇄ paused → stopped; only a draft's content can change. Create a new campaign instead.",
    ),
    "house-partner-missing": (
        "the coalition's own campaigns need a funder: set COALITION_HOUSE_PARTNER_ID",
        "Onboard and fund a partner for the coalition itself (coalition partner add / fund), set "
        "COALITION_HOUSE_PARTNER_ID to its id, or give funder_partner_id.",
    ),
    # --- campaigns (add above this line)
    "membership-plan-invalid": (
        "an earn multiplier is between 1 and 10, got 0.5",
        "Fix the named field: a positive price with at most 2 decimals, a period monthly or yearly, "
        "0-366 trial days, a multiplier from 1 to 10, each perk once, honouring partners that exist.",
    ),
    "membership-transition-invalid": (
        "the subscription is cancelled at its period's end: resume it before renewing",
        "Read the subscription (its status says what it allows); a lapsed one is final: subscribe again.",
    ),
    # --- memberships (add above this line)
    "content-too-large": (
        "the request body is over 1048576 bytes, the most this gateway accepts",
        "Send a smaller body: split a batch of purchases into several requests.",
    ),
    # --- request limits (add above this line)
    "partner-funds-exhausted": (
        "The partner's issuance headroom is used up: its deposit (or its issuance limit) does not cover these "
        "points yet. The purchase waits and is minted as soon as a deposit, a settlement or a higher limit makes "
        "room; it fails if it waits longer than COALITION_HELD_PURCHASE_TIMEOUT_S.",
        "Not an error answer: it is the `failure` of a held or failed purchase (its status answer and webhooks). "
        "Deposit funds (GET /v1/account shows funds and headroom; the partner.headroom_low webhook warns first) or "
        "ask the operator for a higher issuance limit; held purchases are then minted, failed ones must be posted "
        "again under a new purchase_id.",
    ),
    "partner-minter-unknown": (
        "The key the gateway signs with for the partner is no longer the partner's minter on chain (its treasury "
        "set another one). No points were minted. Ask the coalition's operator to install the partner's current "
        "minter key, then post the purchase again under a new purchase_id.",
        "Not an error answer: it is the `failure` of a failed purchase. Ask the coalition's operator to install the "
        "partner's current minter key (or set the gateway's minter back on chain), then post the purchase again "
        "under a new purchase_id.",
    ),
    "points-already-spent": (
        "The customer has already spent (or moved) the points this refund would claw back. No points were clawed "
        "back. The chain cannot take back points the customer no longer holds: settle the refund with the customer "
        "another way.",
        "Not an error answer: it is the `failure` of a failed refund. The chain cannot take back points the customer "
        "no longer holds: settle the refund with the customer another way.",
    ),
    "network-paused": (
        "The coalition's operator has paused the points token. No points were minted. Nothing moves until the "
        "operator resumes it; then post the purchase again under a new purchase_id.",
        "Not an error answer: it is the `failure` of a failed purchase, refund or redemption. Nothing moves on chain "
        "until the operator resumes the points token; then post the operation again under a new id.",
    ),
    "transaction-refused": (
        "The partner is not registered on chain. No points were minted. This is for the coalition's operator to "
        "look at: give them the id and the failure_reason.",
        "Not an error answer: it is the `failure` of a failed purchase, refund or redemption whose reason only the "
        "operator can fix. Give the coalition's operator the id and the raw `failure_reason` of the status answer.",
    ),
    # --- why an accepted operation failed or waits, gateway/failures.py (add above this line)
}
EXAMPLE_FIELD_ERROR = {
    "field": "body.customer.wallet",
    "message": "Value error, must be a checksummed (EIP-55) 20-byte hex address",
    "kind": "value_error",
}


def problem_type(slug: str) -> str:
    return f"/problems/{slug}"


def problem_example(slug: str) -> dict[str, Any]:
    """An answer of the problem ``slug`` as the API gives it (its detail from PROBLEM_HELP)."""
    status, title = PROBLEMS[slug]
    example: dict[str, Any] = {"type": problem_type(slug), "title": title, "status": status}
    example["detail"] = PROBLEM_HELP[slug][0]
    if slug == "validation-error":
        example["errors"] = [EXAMPLE_FIELD_ERROR]
    return example
