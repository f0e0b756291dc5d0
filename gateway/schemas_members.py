"""Request and response bodies of enrolment, profiles, consents, imports and the customer's data
(gateway/routes/members.py, me_members.py, operator_members.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import EXAMPLE_WALLET, Strict
from gateway.schemas_customers import SignedMessage
from gateway.services.members import ConsentView, MemberView

EXAMPLE_PROFILE = {
    "email": "alice@example.com",
    "phone": "+33612345678",
    "birthday": "1990-04-01",
    "locale": "fr-FR",
    "time_zone": "Europe/Paris",
    "attributes": {"store": "Lyon 2"},
}
EXAMPLE_TEXT_SHOWN = "Yes, Grocery may email me offers and news. I can unsubscribe at any time."
EXAMPLE_CONSENT = {
    "channel": "email",
    "granted": True,
    "source": "pos",
    "scope": "partner",
    "text_shown": EXAMPLE_TEXT_SHOWN,
}
EXAMPLE_CONSENT_PUBLIC = EXAMPLE_CONSENT | {"partner_id": 1, "recorded_at": "2026-11-23T10:00:00Z", "confirmed": False}
_T = "2026-03-01T12:00:00Z"
# GET /v1/me/data and GET /v1/operator/customers/{id}/data (gateway/services/gdpr.py data_of), shortened
EXAMPLE_DATA = {
    "customer": {"id": 42, "created_at": _T},
    "member": {"referral_code": "7KQ4M2XW9P", "referred_by_code": None, "enrolled_at": _T, "erased_at": None},
    "profile": EXAMPLE_PROFILE | {"updated_at": _T},
    "consents": [
        {"channel": "email", "partner_id": 1, "granted": True, "source": "pos", "recorded_at": _T,
         "text_shown": EXAMPLE_TEXT_SHOWN, "confirmed_at": None, "partner_name": "Grocery"}
    ],
    "enrolments": [{"partner_id": 1, "ref": "card-123", "source": "partner", "created_at": _T}],
    "wallets": [{"address": EXAMPLE_WALLET, "custodial": True, "custodian_partner_id": 1, "released_at": None}],
    "links": [
        {"partner_id": 1, "ref": "card-123", "wallet": EXAMPLE_WALLET, "created_at": _T, "partner_name": "Grocery"}
    ],
    "purchases": [
        {"partner_id": 1, "purchase_id": "till-7-000123", "seq": 17, "customer_wallet": EXAMPLE_WALLET,
         "customer_ref": "card-123", "amount": "42.50", "currency": "EUR", "points": 64, "qualifying_points": 43,
         "purchased_at": _T, "created_at": _T, "lines": None, "paid_with": None,
         "breakdown": [{"rule": "base", "version": 3, "kind": "base", "points": 43},
                       {"rule": "weekend-x1.5", "version": 3, "kind": "bonus_window", "points": 21}],
         "partner_name": "Grocery"}
    ],
    "refunds": [],
    "redemptions": [],
    "points_holds": [],
    "sessions": [{"wallet": EXAMPLE_WALLET, "via": "wallet", "created_at": _T, "expires_at": "2026-03-02T12:00:00Z"}],
    "tier": {
        "state": {"ladder_version": 1, "tier": "Silver", "earned": "Silver", "since": _T, "manual_tier": None,
                  "manual_until": None, "review_at": "2027-03-01T00:00:00Z"},
        "changes": [{"from_tier": "Member", "to_tier": "Silver", "reason": "qualified", "at": _T, "ladder_version": 1}],
        "qualifying_movements": [
            {"points": 43, "kind": "purchase", "at": _T, "counts_at": _T, "source": "purchase:1:till-7-000123",
             "partner_id": 1}
        ],
    },
    "erasures": [],
}  # fmt: skip
# GET /v1/exports/customers.csv (gateway/services/member_import.py EXPORT_COLUMNS) and the operator's
EXAMPLE_EXPORT = (
    "ref,wallet,custodial,email,phone,birthday,locale,time_zone,attributes,referral_code,referred_by_code,"
    "consent_email,consent_sms,consent_push,enrolled_at\n"
    f'card-123,{EXAMPLE_WALLET},yes,alice@example.com,+33612345678,1990-04-01,fr-FR,Europe/Paris,"{{""store"":""Lyon""}}",'
    "7KQ4M2XW9P,,yes,no,,2026-03-01T12:00:00Z\n"
)
EXAMPLE_OPERATOR_EXPORT = "customer_id,partner_id," + EXAMPLE_EXPORT.replace("\ncard-123", "\n42,1,card-123", 1)


class ConsentIn(Strict):
    """A consent given (``granted``) or withdrawn, and how it was collected."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_CONSENT]})

    channel: str = Field(max_length=16, description="email | sms | push")
    granted: bool = Field(description="true: given; false: withdrawn")
    source: str = Field(max_length=64, description="How it was collected: pos, web-form, app...")
    scope: Literal["partner", "coalition"] = Field(
        default="partner", description="partner: you may contact the customer; coalition: the coalition may"
    )
    text_shown: str | None = Field(
        default=None,
        max_length=2_000,
        description="The words the customer was shown when consenting (recommended; kept with the consent). "
        "An email grant is confirmed by the customer (double opt-in) before any marketing email",
    )


class MeConsentIn(Strict):
    """A consent the customer gives or withdraws: to the coalition (``partner_id`` null) or to a partner."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"channel": "sms", "granted": False, "partner_id": None, "source": "me", "text_shown": None}]
        },
    )

    channel: str = Field(max_length=16, description="email | sms | push")
    granted: bool = Field(description="true: given; false: withdrawn")
    partner_id: int | None = Field(default=None, ge=1, lt=2**32, description="null: the coalition itself")
    source: str = Field(default="me", max_length=64, description="How it was collected (default: me)")
    text_shown: str | None = Field(default=None, max_length=2_000, description="The words shown, if any")


class ProfileFields(Strict):
    """Profile fields, all optional: an email, an E.164 phone, a birthday, a BCP 47 locale, an
    IANA time zone, and your own attributes (a JSON object, at most 16 KiB)."""

    email: str | None = Field(default=None, max_length=254, description="An email address")
    phone: str | None = Field(default=None, max_length=16, description="An E.164 number, e.g. +33612345678")
    birthday: date | None = Field(default=None, description="YYYY-MM-DD")
    locale: str | None = Field(default=None, max_length=35, description="A BCP 47 tag, e.g. fr-FR")
    time_zone: str | None = Field(default=None, max_length=64, description="An IANA zone, e.g. Europe/Paris")
    attributes: dict[str, Any] | None = Field(default=None, description="Your own fields: a JSON object")

    def given(self) -> dict[str, Any]:
        """The fields set in the request (null included: it clears the field)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class EnrolmentCreate(ProfileFields):
    """The partner's customer to enrol: profile fields, consents, the referral code they came
    with, and their wallet: ``"custodial"`` (the gateway holds a new wallet for them; the
    default for a ref not linked yet), ``"linked"`` (the ref's wallet already linked), or the
    ref's link challenge (POST .../wallet-challenge) signed by their own wallet."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                EXAMPLE_PROFILE | {"consents": [EXAMPLE_CONSENT], "referral_code": "7KQ4M2XW9P", "wallet": "custodial"}
            ]
        },
    )

    consents: list[ConsentIn] = Field(default_factory=list, max_length=20, description="Consents given at enrolment")
    referral_code: str | None = Field(default=None, max_length=32, description="Another member's code")
    wallet: Literal["custodial", "linked"] | SignedMessage | None = Field(
        default=None, description='"custodial", "linked", or the signed link challenge; absent: custodial unless linked'
    )


class MeEnrolmentCreate(ProfileFields):
    """The signed-in customer's enrolment: profile fields, consents to the coalition, a referral code."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                EXAMPLE_PROFILE | {"consents": [EXAMPLE_CONSENT | {"scope": "coalition"}], "referral_code": None}
            ]
        },
    )

    consents: list[ConsentIn] = Field(default_factory=list, max_length=20, description="Consents to the coalition")
    referral_code: str | None = Field(default=None, max_length=32, description="Another member's code")


class ProfilePatch(ProfileFields):
    """The fields to change (null clears one); the others keep their value."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_PROFILE | {"email": None}]})


class ConsentChangesCreate(Strict):
    """Consents given or withdrawn, recorded in this order (each a new row of the history)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"consents": [EXAMPLE_CONSENT | {"granted": False}]}]}
    )

    consents: list[ConsentIn] = Field(min_length=1, max_length=20, description="The changes, 1 to 20")


class MeConsentChangesCreate(Strict):
    """The customer's consent changes, recorded in this order."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"consents": [{"channel": "sms", "granted": False, "partner_id": None, "source": "me"}]}]
        },
    )

    consents: list[MeConsentIn] = Field(min_length=1, max_length=20, description="The changes, 1 to 20")


class ProfilePublic(BaseModel):
    """What the customer told about themselves (null: not given)."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_PROFILE]})

    email: str | None = Field(description="An email address")
    phone: str | None = Field(description="An E.164 number")
    birthday: date | None = Field(description="YYYY-MM-DD")
    locale: str | None = Field(description="A BCP 47 tag")
    time_zone: str | None = Field(description="An IANA zone")
    attributes: dict[str, Any] = Field(description="The partner's or the program's own fields")


class MemberConsentPublic(BaseModel):
    """One consent: given or withdrawn, on a channel, to a partner or the coalition."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [EXAMPLE_CONSENT_PUBLIC]},
    )

    channel: str = Field(description="email | sms | push")
    scope: str = Field(description="partner (partner_id) or coalition")
    partner_id: int | None = Field(description="The partner the consent is for; null: the coalition")
    granted: bool = Field(description="true: given; false: withdrawn")
    source: str = Field(
        description="How it was collected (double-opt-in: an email grant confirmed; one-click-unsubscribe, "
        "sms-stop, sms-start, me; erased: after an erasure)"
    )
    recorded_at: datetime = Field(description="When it was recorded")
    confirmed: bool = Field(
        description="An email grant: whether the customer confirmed the address (double opt-in); marketing email "
        "needs it. Other channels and withdrawals: true"
    )
    text_shown: str | None = Field(description="The words the customer was shown (null: not recorded)")

    @classmethod
    def of(cls, c: ConsentView) -> MemberConsentPublic:
        return cls(
            channel=c.channel,
            scope=c.scope,
            partner_id=c.partner_id,
            granted=c.granted,
            source=c.source,
            recorded_at=c.recorded_at,
            confirmed=c.confirmed,
            text_shown=c.text_shown,
        )


class MemberPublic(BaseModel):
    """A member: the ref (a partner's view), wallet, referral codes, profile, consents in force."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ref": "loyalty-0042",
                    "wallet": EXAMPLE_WALLET,
                    "custodial": True,
                    "referral_code": "H3T8NW2QKD",
                    "referred_by_code": "7KQ4M2XW9P",
                    "enrolled_at": "2026-11-23T10:00:00Z",
                    "profile": EXAMPLE_PROFILE,
                    "consents": [EXAMPLE_CONSENT_PUBLIC],
                }
            ]
        }
    )

    ref: str | None = Field(description="Your ref of the customer (null on /me)")
    wallet: str | None = Field(description="The ref's wallet (on /me: the wallet signed in)")
    custodial: bool = Field(description="Whether the gateway holds the wallet's key")
    referral_code: str | None = Field(description="The member's own code, to share")
    referred_by_code: str | None = Field(description="The code the member enrolled with")
    enrolled_at: datetime = Field(description="When the customer first enrolled")
    profile: ProfilePublic = Field(description="The profile, one for the coalition")
    consents: list[MemberConsentPublic] = Field(description="In force, in the scopes the reader may see")

    @classmethod
    def of(cls, view: MemberView) -> MemberPublic:
        return cls(
            ref=view.ref,
            wallet=view.wallet,
            custodial=view.custodial,
            referral_code=view.referral_code,
            referred_by_code=view.referred_by_code,
            enrolled_at=view.enrolled_at,
            profile=ProfilePublic(**view.profile),
            consents=[MemberConsentPublic.of(c) for c in view.consents],
        )


class ConsentHistoryPublic(BaseModel):
    """The consents' history, oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"history": [EXAMPLE_CONSENT_PUBLIC]}]})

    history: list[MemberConsentPublic] = Field(description="Every change, oldest first")


class RefusedRow(BaseModel):
    """A row of the file that was not imported, and why."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"line": 4, "ref": "c-3", "field": "email", "reason": "expected an address"}]}
    )

    line: int = Field(description="The line in the file (the header is line 1)")
    ref: str | None = Field(description="The row's ref, if it had one")
    field: str | None = Field(description="The column at fault; null: the row as a whole")
    reason: str = Field(description="Why, and what is expected")


class ImportReportPublic(BaseModel):
    """What an import did: the valid rows are enrolled all together (or, with dry_run, none),
    and each refused row is listed with its line and reason."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rows": 3,
                    "enrolled": 1,
                    "unchanged": 1,
                    "refused_count": 1,
                    "dry_run": False,
                    "duration_ms": 12,
                    "refused": [
                        {
                            "line": 4,
                            "ref": "c-3",
                            "field": "email",
                            "reason": "expected an address like name@example.com, got 'c3@'",
                        }
                    ],
                }
            ]
        }
    )

    rows: int = Field(description="Rows read (the header and blank lines aside)")
    enrolled: int = Field(description="Rows enrolled (with dry_run: that would be)")
    unchanged: int = Field(description="Rows of refs enrolled already with the same data")
    refused_count: int = Field(description="Rows refused")
    dry_run: bool = Field(description="Whether nothing was written")
    duration_ms: int = Field(description="The import's time in the gateway")
    refused: list[RefusedRow] = Field(description="Every refused row, by line")


class ErasureCreate(Strict):
    """The confirmation of an erasure."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"confirm": "erase"}]})

    confirm: Literal["erase"] = Field(description='"erase": the erasure is irreversible')


class ErasurePublic(BaseModel):
    """An erasure done: when, who asked, how many rows of each kind were erased (never the data)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": 17,
                    "requested_by": "customer",
                    "erased_at": "2026-11-23T10:00:00Z",
                    "erased": {"customer_profiles": 1, "customer_links.ref": 1, "purchases.customer_ref": 4},
                }
            ]
        }
    )

    customer_id: int = Field(description="The customer's internal id")
    requested_by: str = Field(description="customer | operator")
    erased_at: datetime = Field(description="When")
    erased: dict[str, int] = Field(description="A kind of row -> how many were erased or pseudonymised")


class CustomerFound(BaseModel):
    """A customer: the internal id the operator's customer routes take, the wallets, whether a member."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"customer_id": 17, "wallets": [EXAMPLE_WALLET], "member": True}]}
    )

    customer_id: int = Field(description="The customer's internal id")
    wallets: list[str] = Field(description="The customer's wallets, oldest first")
    member: bool = Field(description="Whether the customer is enrolled in the program")
