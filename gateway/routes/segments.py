"""Operator-defined segments: save, read, change and delete a named condition on members, count a
condition without saving it, and list a segment's members now (gateway/services/segments.py; the
condition language: loyalty/segments.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from gateway.deps import OperatorDep, SessionDep, SettingsDep
from gateway.problems import problem_responses
from gateway.schemas_segments import (
    SegmentBody,
    SegmentCount,
    SegmentList,
    SegmentMembers,
    SegmentPreviewBody,
    SegmentPublic,
)
from gateway.services import segments as service
from network.store import Segment

router = APIRouter(prefix="/v1/operator/segments", tags=["operator"], responses=problem_responses("rate-limited"))
SegmentId = Annotated[int, Path(ge=1, lt=2**31, description="The segment's id", examples=[3])]
READ = problem_responses("unauthorized", "not-found", "validation-error")
MEMBERS = problem_responses("unauthorized", "not-found", "validation-error", "segment-invalid")
WRITE = problem_responses("unauthorized", "not-found", "validation-error", "segment-invalid", "segment-exists")
CHECK = problem_responses("unauthorized", "validation-error", "segment-invalid")


def _public(s: Segment) -> SegmentPublic:
    return SegmentPublic(
        id=s.id, name=s.name, description=s.description, condition=s.condition, owner=s.owner,
        created_at=s.created_at, updated_at=s.updated_at,
    )  # fmt: skip


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SegmentPublic, responses=WRITE)
def create_segment(_: OperatorDep, session: SessionDep, body: SegmentBody) -> SegmentPublic:
    """Saves a segment: a unique name, a description and a condition (checked: ``segment-invalid``
    names the path of the bad node)."""
    segment = service.create(session, name=body.name, description=body.description, condition=body.condition)
    session.commit()
    return _public(segment)


@router.get("", response_model=SegmentList, responses=problem_responses("unauthorized"))
def list_segments(_: OperatorDep, session: SessionDep) -> SegmentList:
    """Every saved segment, oldest first."""
    found = [_public(s) for s in service.listed(session)]
    session.commit()
    return SegmentList(segments=found)


@router.post("/preview", response_model=SegmentCount, responses=CHECK)
def preview_segment(
    _: OperatorDep, session: SessionDep, settings: SettingsDep, body: SegmentPreviewBody
) -> SegmentCount:
    """How many members, not erased, a condition holds for now, without saving it."""
    n = service.count(session, condition=body.condition, chain_id=settings.chain_id)
    session.commit()
    return SegmentCount(count=n)


@router.get("/{segment_id}", response_model=SegmentPublic, responses=READ)
def get_segment(_: OperatorDep, session: SessionDep, segment_id: SegmentId) -> SegmentPublic:
    """One saved segment."""
    segment = _public(service.get(session, segment_id=segment_id))
    session.commit()
    return segment


@router.put("/{segment_id}", response_model=SegmentPublic, responses=WRITE)
def update_segment(_: OperatorDep, session: SessionDep, segment_id: SegmentId, body: SegmentBody) -> SegmentPublic:
    """Replaces a segment's name, description and condition."""
    segment = service.update(
        session, segment_id=segment_id, name=body.name, description=body.description, condition=body.condition
    )
    session.commit()
    return _public(segment)


@router.delete("/{segment_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=READ)
def delete_segment(_: OperatorDep, session: SessionDep, segment_id: SegmentId) -> Response:
    """Deletes a segment (its members are computed, never stored: nothing else goes)."""
    service.delete(session, segment_id=segment_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{segment_id}/members", response_model=SegmentMembers, responses=MEMBERS)
def segment_members(
    _: OperatorDep,
    session: SessionDep,
    settings: SettingsDep,
    segment_id: SegmentId,
    cursor: Annotated[
        int | None, Query(ge=0, description="The `next_cursor` of the previous page", examples=[108])
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.PAGE_MAX, description="Customer ids per page", examples=[100])] = 100,
) -> SegmentMembers:
    """The segment's members now (not erased): their number and a page of customer ids, ascending."""
    segment = service.get(session, segment_id=segment_id)
    page = service.members(session, condition=segment.condition, chain_id=settings.chain_id, after=cursor, limit=limit)
    session.commit()
    return SegmentMembers(count=page.count, customer_ids=page.customer_ids, next_cursor=page.next_cursor)
