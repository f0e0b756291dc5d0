"""Message templates and brands: a partner reads, overrides and previews the templates of its own
messages and sets its brand; the operator does the same for the coalition's own messages, which
partners without an override of their own inherit (gateway/services/message_templates.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from sqlalchemy.orm import Session

from gateway.deps import CurrentPartner, OperatorDep, SessionDep
from gateway.problems import problem_responses
from gateway.schemas_message_templates import (
    ChannelName,
    KindName,
    LocaleName,
    MessageBrandBody,
    MessageBrandPublic,
    MessageKindPublic,
    MessagePreviewPublic,
    MessagePreviewRequest,
    MessageTemplateCatalogue,
    MessageTemplatePublic,
    MessageTemplateSources,
)
from gateway.services import message_templates as service
from loyalty.messages.render import LOCALES, sample_data

router = APIRouter(tags=["message templates"], responses=problem_responses("rate-limited"))
Kind = Annotated[KindName, Path(description="The kind of message", examples=["points_earned"])]
Channel = Annotated[ChannelName, Path(description="The channel: email, sms or push", examples=["email"])]
Locale = Annotated[LocaleName, Path(description="The locale: en, pl, cs or ru", examples=["pl"])]
READ = problem_responses("unauthorized", "not-found", "validation-error")
WRITE = problem_responses("unauthorized", "not-found", "validation-error", "template-invalid")
PARTNER, OPERATOR = "/v1/message-templates", "/v1/operator/message-templates"


def _catalogue(session: Session, partner_id: int | None) -> MessageTemplateCatalogue:
    kinds = [
        MessageKindPublic(
            kind=k.kind,
            category=k.category,  # type: ignore[arg-type]
            trigger=k.trigger,
            description=k.description,
            channels=list(k.channels),  # type: ignore[arg-type]
            overridden=k.overridden,
            sample=sample_data(k.kind),
        )
        for k in service.catalogue(session, partner_id=partner_id)
    ]
    session.commit()
    return MessageTemplateCatalogue(locales=list(LOCALES), default_locale="en", kinds=kinds)


def _template(view: service.TemplateView) -> MessageTemplatePublic:
    return MessageTemplatePublic(
        kind=view.kind,
        channel=view.channel,  # type: ignore[arg-type]
        locale=view.locale,
        overridden=view.overridden,
        subject=view.subject,
        text=view.text,
        html=view.html,
        version=view.version,
        updated_at=view.updated_at,
    )


def _brand(view: service.BrandView) -> MessageBrandPublic:
    return MessageBrandPublic(
        name=view.name, colour=view.colour, accent=view.accent, custom=view.custom, updated_at=view.updated_at
    )


def _preview(session: Session, partner_id: int | None, body: MessagePreviewRequest) -> MessagePreviewPublic:
    r = service.preview(session, partner_id=partner_id, **body.model_dump())
    session.commit()
    return MessagePreviewPublic(
        subject=r.subject, text=r.text, html=r.html, locale=r.locale, source=r.source, override_error=r.override_error
    )


def _save(
    session: Session,
    partner_id: int | None,
    by: str,
    kind: str,
    channel: str,
    locale: str,
    body: MessageTemplateSources,
) -> MessageTemplatePublic:
    view = service.save(
        session, partner_id=partner_id, kind=kind, channel=channel, locale=locale, by=by, **body.model_dump()
    )
    session.commit()
    return _template(view)


# ---------------------------------------------------------------------- partner


@router.get(
    PARTNER,
    response_model=MessageTemplateCatalogue,
    summary="The kinds of message and your overrides",
    responses=problem_responses("unauthorized"),
)
def partner_catalogue(partner: CurrentPartner, session: SessionDep) -> MessageTemplateCatalogue:
    """Every kind of message the coalition sends for you, its channels, variables and sample data,
    the locales, and which (channel, locale) you override."""
    return _catalogue(session, partner.id)


@router.get(
    PARTNER + "/{kind}/{channel}/{locale}",
    response_model=MessageTemplatePublic,
    summary="A template's sources: your override, or the built-in one",
    responses=READ,
)
def partner_template(
    kind: Kind, channel: Channel, locale: Locale, partner: CurrentPartner, session: SessionDep
) -> MessageTemplatePublic:
    """Your override's Jinja2 sources, or the built-in template's (``overridden`` false) to start from."""
    view = service.template(session, partner_id=partner.id, kind=kind, channel=channel, locale=locale)
    session.commit()
    return _template(view)


@router.put(
    PARTNER + "/{kind}/{channel}/{locale}",
    response_model=MessageTemplatePublic,
    summary="Override a template for your messages",
    responses=WRITE,
)
def partner_save(
    kind: Kind,
    channel: Channel,
    locale: Locale,
    body: MessageTemplateSources,
    partner: CurrentPartner,
    session: SessionDep,
) -> MessageTemplatePublic:
    """Checked before it is stored: it must compile in the sandbox and render the kind's sample
    data with your brand (422 ``template-invalid`` names the part and line). Used for your
    customers' next messages (within seconds on every sender)."""
    return _save(session, partner.id, f"partner:{partner.id}", kind, channel, locale, body)


@router.delete(
    PARTNER + "/{kind}/{channel}/{locale}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove your override of a template",
    responses=READ,
)
def partner_remove(
    kind: Kind, channel: Channel, locale: Locale, partner: CurrentPartner, session: SessionDep
) -> Response:
    """Your messages use the coalition's template again; 404 if you had no override."""
    service.remove(session, partner_id=partner.id, kind=kind, channel=channel, locale=locale)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    PARTNER + "/preview",
    response_model=MessagePreviewPublic,
    summary="Render a template with sample or given data",
    responses=problem_responses("unauthorized", "not-found", "validation-error", "template-invalid"),
)
def partner_preview(body: MessagePreviewRequest, partner: CurrentPartner, session: SessionDep) -> MessagePreviewPublic:
    """The message as your customers would read it, with your brand: with the sources you send
    (checked as a save checks them), else your saved override or the built-in template; with the
    data you send, else the kind's sample. Nothing is stored, nothing is sent."""
    return _preview(session, partner.id, body)


@router.get(
    "/v1/message-brand",
    response_model=MessageBrandPublic,
    summary="Your brand in your messages",
    responses=problem_responses("unauthorized"),
)
def partner_brand(partner: CurrentPartner, session: SessionDep) -> MessageBrandPublic:
    """Your name and colours as your messages show them (``custom`` false: the defaults)."""
    view = service.brand(session, partner_id=partner.id)
    session.commit()
    return _brand(view)


@router.put(
    "/v1/message-brand",
    response_model=MessageBrandPublic,
    summary="Set your brand in your messages",
    responses=problem_responses("unauthorized", "validation-error"),
)
def partner_save_brand(body: MessageBrandBody, partner: CurrentPartner, session: SessionDep) -> MessageBrandPublic:
    """Your display name, the header's colour and the accent (#rrggbb) of your HTML emails."""
    view = service.save_brand(session, partner_id=partner.id, **body.model_dump())
    session.commit()
    return _brand(view)


# ---------------------------------------------------------------------- operator: the coalition's own


@router.get(
    OPERATOR,
    response_model=MessageTemplateCatalogue,
    summary="The kinds of message and the coalition's overrides",
    responses=problem_responses("unauthorized"),
)
def operator_catalogue(_: OperatorDep, session: SessionDep) -> MessageTemplateCatalogue:
    """As a partner's, for the coalition's own messages (which partners without an override inherit)."""
    return _catalogue(session, None)


@router.get(
    OPERATOR + "/{kind}/{channel}/{locale}",
    response_model=MessageTemplatePublic,
    summary="A template's sources: the coalition's override, or the built-in one",
    responses=READ,
)
def operator_template(
    kind: Kind, channel: Channel, locale: Locale, _: OperatorDep, session: SessionDep
) -> MessageTemplatePublic:
    """The coalition's override's sources, or the built-in template's."""
    view = service.template(session, partner_id=None, kind=kind, channel=channel, locale=locale)
    session.commit()
    return _template(view)


@router.put(
    OPERATOR + "/{kind}/{channel}/{locale}",
    response_model=MessageTemplatePublic,
    summary="Override a template for the coalition's messages",
    responses=WRITE,
)
def operator_save(
    kind: Kind, channel: Channel, locale: Locale, body: MessageTemplateSources, _: OperatorDep, session: SessionDep
) -> MessageTemplatePublic:
    """Checked like a partner's; used for the coalition's messages and every partner's that has no
    override of its own."""
    return _save(session, None, "operator", kind, channel, locale, body)


@router.delete(
    OPERATOR + "/{kind}/{channel}/{locale}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove the coalition's override of a template",
    responses=READ,
)
def operator_remove(kind: Kind, channel: Channel, locale: Locale, _: OperatorDep, session: SessionDep) -> Response:
    """The built-in template is used again; 404 if there was no override."""
    service.remove(session, partner_id=None, kind=kind, channel=channel, locale=locale)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    OPERATOR + "/preview",
    response_model=MessagePreviewPublic,
    summary="Render a coalition template with sample or given data",
    responses=problem_responses("unauthorized", "not-found", "validation-error", "template-invalid"),
)
def operator_preview(body: MessagePreviewRequest, _: OperatorDep, session: SessionDep) -> MessagePreviewPublic:
    """As a partner's preview, with the coalition's brand and overrides."""
    return _preview(session, None, body)


@router.get(
    "/v1/operator/message-brand",
    response_model=MessageBrandPublic,
    summary="The coalition's brand in its messages",
    responses=problem_responses("unauthorized"),
)
def operator_brand(_: OperatorDep, session: SessionDep) -> MessageBrandPublic:
    """The coalition's name and colours; partners without a brand show their name in these colours."""
    view = service.brand(session, partner_id=None)
    session.commit()
    return _brand(view)


@router.put(
    "/v1/operator/message-brand",
    response_model=MessageBrandPublic,
    summary="Set the coalition's brand in its messages",
    responses=problem_responses("unauthorized", "validation-error"),
)
def operator_save_brand(body: MessageBrandBody, _: OperatorDep, session: SessionDep) -> MessageBrandPublic:
    """The coalition's display name and colours (#rrggbb)."""
    view = service.save_brand(session, partner_id=None, **body.model_dump())
    session.commit()
    return _brand(view)
