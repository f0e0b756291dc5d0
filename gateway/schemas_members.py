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
EXAMPLE_CONSENT = {"channel": "email", "granted": True, "source": "pos", "scope": "partner"}


class ConsentIn(Strict):
    """A consent given (``granted``) or withdrawn, and how it was collected."""

    channel: str = Field(max_length=16, description="email | sms | push")
    granted: bool
    source: str = Field(max_length=64, description="How it was collected: pos, web-form, app...")
    scope: Literal["partner", "coalition"] = Field(
        default="partner", description="partner: you may contact the customer; coalition: the coalition may"
    )


class MeConsentIn(Strict):
    """A consent the customer gives or withdraws: to the coalition (``partner_id`` null) or to a partner."""

    channel: str = Field(max_length=16, description="email | sms | push")
    granted: bool
    partner_id: int | None = Field(default=None, ge=1, lt=2**32, description="null: the coalition itself")
    source: str = Field(default="me", max_length=64)


class ProfileFields(Strict):
    """Profile fields, all optional: an email, an E.164 phone, a birthday, a BCP 47 locale, an
    IANA time zone, and your own attributes (a JSON object, at most 16 KiB)."""

    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=16)
    birthday: date | None = None
    locale: str | None = Field(default=None, max_length=35)
    time_zone: str | None = Field(default=None, max_length=64)
    attributes: dict[str, Any] | None = None

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

    consents: list[ConsentIn] = Field(default_factory=list, max_length=20)
    referral_code: str | None = Field(default=None, max_length=32, description="Another member's code")
    wallet: Literal["custodial", "linked"] | SignedMessage | None = None


class MeEnrolmentCreate(ProfileFields):
    """The signed-in customer's enrolment: profile fields, consents to the coalition, a referral code."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [EXAMPLE_PROFILE | {"consents": [EXAMPLE_CONSENT | {"scope": "coalition"}]}]},
    )

    consents: list[ConsentIn] = Field(default_factory=list, max_length=20)
    referral_code: str | None = Field(default=None, max_length=32)


class ProfilePatch(ProfileFields):
    """The fields to change (null clears one); the others keep their value."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"email": "a.new@example.com"}]})


class ConsentChangesCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"consents": [EXAMPLE_CONSENT | {"granted": False}]}]})

    consents: list[ConsentIn] = Field(min_length=1, max_length=20)


class MeConsentChangesCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"consents": [{"channel": "sms", "granted": False}]}]})

    consents: list[MeConsentIn] = Field(min_length=1, max_length=20)


class ProfilePublic(BaseModel):
    email: str | None
    phone: str | None
    birthday: date | None
    locale: str | None
    time_zone: str | None
    attributes: dict[str, Any]


class ConsentPublic(BaseModel):
    channel: str
    scope: str = Field(description="partner (partner_id) or coalition")
    partner_id: int | None
    granted: bool
    source: str
    recorded_at: datetime

    @classmethod
    def of(cls, c: ConsentView) -> ConsentPublic:
        return cls(
            channel=c.channel,
            scope=c.scope,
            partner_id=c.partner_id,
            granted=c.granted,
            source=c.source,
            recorded_at=c.recorded_at,
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
                    "consents": [EXAMPLE_CONSENT | {"partner_id": 1, "recorded_at": "2026-11-23T10:00:00Z"}],
                }
            ]
        }
    )

    ref: str | None
    wallet: str | None
    custodial: bool
    referral_code: str | None = Field(description="The member's own code, to share")
    referred_by_code: str | None = Field(description="The code the member enrolled with")
    enrolled_at: datetime
    profile: ProfilePublic
    consents: list[ConsentPublic] = Field(description="In force, in the scopes the reader may see")

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
            consents=[ConsentPublic.of(c) for c in view.consents],
        )


class ConsentHistoryPublic(BaseModel):
    history: list[ConsentPublic] = Field(description="Every change, oldest first")


class RefusedRow(BaseModel):
    line: int = Field(description="The line in the file (the header is line 1)")
    ref: str | None
    field: str | None = Field(description="The column at fault; null: the row as a whole")
    reason: str


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

    rows: int
    enrolled: int
    unchanged: int = Field(description="Rows of refs enrolled already with the same data")
    refused_count: int
    dry_run: bool
    duration_ms: int
    refused: list[RefusedRow]


class ErasureCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"confirm": "erase"}]})

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

    customer_id: int
    requested_by: str
    erased_at: datetime
    erased: dict[str, int]


class CustomerFound(BaseModel):
    customer_id: int
    wallets: list[str]
    member: bool
