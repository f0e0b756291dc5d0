"""Request and response bodies of the message templates and brands
(gateway/routes/message_templates.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import Strict
from loyalty.messages.kinds import KINDS
from loyalty.messages.render import LOCALES, MAX_SOURCE_CHARS, sample_data

KindName = Literal[tuple(KINDS)]  # type: ignore[valid-type]
ChannelName = Literal["email", "sms", "push"]
TriggerName = Literal[tuple(sorted({k.trigger for k in KINDS.values()}))]  # type: ignore[valid-type]
LocaleName = Literal[tuple(LOCALES)]  # type: ignore[valid-type]
COLOUR = r"^#[0-9a-fA-F]{6}$"
T0 = "2026-12-05T09:00:00Z"

SOURCES_EXAMPLE: dict[str, Any] = {
    "subject": "+{{ points|points }} w {{ brand.name }}",
    "text": "Cześć {{ first_name }}!\n\n{{ day|date }}: +{{ points|points }}. "
    "Stan konta: {{ points_balance|points }}.\n\nWypisz się: {{ unsubscribe_url }}\n",
    "html": '{% extends "pl/_layout.html.j2" %}{% block body %}<p>Cześć {{ first_name }}!</p>'
    "<p>{{ day|date }}: <strong>+{{ points|points }}</strong></p>{% endblock %}",
}


def _source(part: str) -> Any:
    return Field(default=None, max_length=MAX_SOURCE_CHARS, description=part)


class MessageKindPublic(BaseModel):
    """A kind of message the coalition sends, and which of its templates the caller overrides."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "points_earned",
                    "category": "marketing",
                    "trigger": "schedule:points-earned-daily",
                    "description": KINDS["points_earned"].description,
                    "channels": ["email", "sms", "push"],
                    "overridden": ["email/pl"],
                    "sample": sample_data("points_earned"),
                }
            ]
        }
    )

    kind: KindName = Field(description="The kind of message")
    category: Literal["transactional", "marketing"] = Field(
        description="transactional (answers what the customer did) or marketing (needs consent, carries unsubscribe)"
    )
    trigger: TriggerName = Field(description="The domain event type that sends it, or schedule:<name>")
    description: str = Field(description="When it is sent")
    channels: list[ChannelName] = Field(description="The channels it may go out on")
    overridden: list[str] = Field(description="The caller's overrides of it, as channel/locale")
    sample: dict[str, Any] = Field(description="Its variables, with sample values (a preview's default data)")


class MessageTemplateCatalogue(BaseModel):
    """The kinds of message, the channels and the locales templates exist for."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "locales": list(LOCALES),
                    "default_locale": "en",
                    "kinds": [MessageKindPublic.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
                }
            ]
        }
    )

    locales: list[LocaleName] = Field(description="The locales of the built-in templates")
    default_locale: LocaleName = Field(description="The fallback for a customer's language we do not write")
    kinds: list[MessageKindPublic] = Field(description="Every kind of message")


class MessageTemplateSources(Strict):
    """The Jinja2 sources of an override, part by part (email: subject, text, html; sms: text;
    push: subject as the title, text as the body). A part left out keeps the built-in one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SOURCES_EXAMPLE]})

    subject: str | None = _source("The subject (email) or the title (push)")
    text: str | None = _source("The plain text (email), the message (sms), the body (push)")
    html: str | None = _source("The HTML (email); it may extend '<locale>/_layout.html.j2' and fill its body block")


class MessageTemplatePublic(BaseModel):
    """The sources of one kind, channel and locale: the caller's override, or the built-in ones."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "points_earned",
                    "channel": "email",
                    "locale": "pl",
                    "overridden": True,
                    **SOURCES_EXAMPLE,
                    "version": 2,
                    "updated_at": T0,
                }
            ]
        }
    )

    kind: KindName = Field(description="The kind of message")
    channel: ChannelName = Field(description="The channel")
    locale: LocaleName = Field(description="The locale")
    overridden: bool = Field(description="True: the caller's override; false: the built-in template")
    subject: str | None = Field(description="The subject or title source (null: the channel has none)")
    text: str | None = Field(description="The text source (null in an override: the built-in text)")
    html: str | None = Field(description="The HTML source (email only)")
    version: int | None = Field(description="How many times the override was saved (null: built-in)")
    updated_at: datetime | None = Field(description="When the override was last saved")


class MessageBrandBody(Strict):
    """How the caller's messages look: its display name and two colours (#rrggbb)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Café Noir", "colour": "#3b1f0e", "accent": "#d4a373"}]},
    )

    name: str = Field(min_length=1, max_length=80, description="The name the messages show")
    colour: str = Field(pattern=COLOUR, description="The header's and buttons' colour, #rrggbb")
    accent: str = Field(pattern=COLOUR, description="The accent colour (the rule under the header), #rrggbb")


class MessageBrandPublic(BaseModel):
    """The caller's brand in its messages."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Café Noir", "colour": "#3b1f0e", "accent": "#d4a373", "custom": True, "updated_at": T0}
            ]
        }
    )

    name: str = Field(description="The name the messages show")
    colour: str = Field(description="The header's and buttons' colour")
    accent: str = Field(description="The accent colour")
    custom: bool = Field(description="False: nothing saved yet, these are the defaults")
    updated_at: datetime | None = Field(description="When it was last saved")


class MessagePreviewRequest(Strict):
    """What to preview: a kind, channel and locale; sources to try (else the saved override or the
    built-in template); data (else the kind's sample)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "points_earned", "channel": "email", "locale": "pl", **SOURCES_EXAMPLE, "data": None},
                {"kind": "tier_up", "channel": "sms", "locale": "cs-CZ"},
            ]
        },
    )

    kind: KindName = Field(description="The kind of message")
    channel: ChannelName = Field(description="The channel")
    locale: str = Field(
        max_length=35,
        pattern=r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$",
        description="A customer's BCP 47 language tag (pl-PL); a language without templates previews the English",
    )
    subject: str | None = _source("A subject or title source to try")
    text: str | None = _source("A text source to try")
    html: str | None = _source("An HTML source to try")
    data: dict[str, Any] | None = Field(
        default=None, description="The variables (default: the kind's sample); every sample variable is needed"
    )


class MessagePreviewPublic(BaseModel):
    """The message as a customer would read it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subject": "+320 punktów w Café Noir",
                    "text": "Cześć Ada!\n\n5 grudnia 2026: +320 punktów. Stan konta: 1250 punktów.\n\n"
                    "Wypisz się: https://coalition.example/v1/unsubscribe/SAMPLE\n",
                    "html": '<!DOCTYPE html>\n<html lang="pl">...</html>\n',
                    "locale": "pl",
                    "source": "override",
                    "override_error": None,
                }
            ]
        }
    )

    subject: str | None = Field(description="The subject (email) or title (push)")
    text: str = Field(description="The plain text, SMS or push body")
    html: str | None = Field(description="The HTML (email)")
    locale: LocaleName = Field(description="The locale it is written in")
    source: Literal["builtin", "override"] = Field(description="Whether an override or the built-in template wrote it")
    override_error: str | None = Field(description="Why the saved override could not be used (the built-in was)")
