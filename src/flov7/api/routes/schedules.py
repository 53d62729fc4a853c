"""``/api/v1/schedules``: runs of a stored workflow on a cron line or an interval.

On Temporal each schedule is a Temporal Schedule (:mod:`flov7.temporal.schedules`); on
the local engine an in-process scheduler (:mod:`flov7.local.schedules`, with stated
limits). An engine without schedules answers 501. Invalid cron lines, unknown time
zones and unknown workflows or versions answer 422 naming the field.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from flov7.api.deps import ContextDep
from flov7.api.errors import ApiError, NotFoundError
from flov7.api.schemas.common import error_responses
from flov7.store.repository import Repository
from flov7.triggers.schedules import (
    ScheduleCreate,
    ScheduleDocument,
    ScheduleFieldError,
    ScheduleNotFoundError,
    SchedulePage,
    SchedulePatch,
    Schedules,
    SchedulesUnavailableError,
    ScheduleView,
    resolve_target,
    schedules_of,
)

router = APIRouter(prefix="/schedules", tags=["schedules"])

ScheduleId = Annotated[str, Path(min_length=1, max_length=200, description="The schedule's id.")]


class InvalidScheduleError(ApiError):
    """422: a schedule field is unusable; ``details.field`` names it."""

    status_code = 422
    code = "invalid_schedule"


class NoSchedulesError(ApiError):
    """501: this engine has no schedules."""

    status_code = 501
    code = "not_supported"


class NoteRequest(BaseModel):
    """Why (kept as the schedule's note)."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=1000)


class BackfillRequest(BaseModel):
    """A past window whose runs to start now."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"start": "2026-12-01T00:00:00Z", "end": "2026-12-01T01:00:00Z"}]
        },
    )
    start: datetime
    end: datetime


class ScheduleAccepted(BaseModel):
    """The engine took the request; the runs show in the schedule and the run listing."""

    schedule_id: str
    engine: str
    status: str


async def _schedules(context: ContextDep) -> Schedules:
    try:
        return await schedules_of(context.backend)
    except SchedulesUnavailableError as exc:
        raise NoSchedulesError(str(exc)) from exc


async def _target(
    repository: Repository, workflow_id: str, version: int | str | None
) -> ScheduleDocument:
    try:
        return await resolve_target(repository, workflow_id, version)
    except ScheduleFieldError as exc:
        raise InvalidScheduleError(str(exc), details={"field": exc.field}) from exc


def _checked(fields: ScheduleCreate | SchedulePatch) -> None:
    try:
        fields.check()
    except ScheduleFieldError as exc:
        raise InvalidScheduleError(str(exc), details={"field": exc.field}) from exc


async def _call(coroutine: Any) -> Any:
    try:
        return await coroutine
    except ScheduleNotFoundError as exc:
        raise NotFoundError(str(exc)) from exc
    except ScheduleFieldError as exc:
        raise InvalidScheduleError(str(exc), details={"field": exc.field}) from exc


@router.post(
    "",
    status_code=201,
    response_model=ScheduleView,
    responses=error_responses(409, 503),
    summary="Create a schedule",
    operation_id="create_schedule",
)
async def create_schedule(context: ContextDep, body: ScheduleCreate) -> ScheduleView:
    """A schedule of a stored workflow: `cron` (one line or several) or
    `interval_seconds`, in `timezone`. 422 names the field that is wrong."""
    _checked(body)
    target = await _target(context.repository, body.workflow_id, body.version)
    schedules = await _schedules(context)
    schedule_id = body.schedule_id or f"{body.workflow_id}-{uuid.uuid4().hex[:8]}"
    view: ScheduleView = await _call(schedules.create(schedule_id, body, target))
    return view


@router.get(
    "",
    response_model=SchedulePage,
    responses=error_responses(400, 503),
    summary="List schedules",
    operation_id="list_schedules",
)
async def list_schedules(
    context: ContextDep,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    page_token: Annotated[str | None, Query(max_length=8192)] = None,
) -> SchedulePage:
    """Flov7's schedules, a page at a time (without their recent runs)."""
    page: SchedulePage = await (await _schedules(context)).list(page_token, page_size)
    return page


@router.get(
    "/{schedule_id}",
    response_model=ScheduleView,
    responses=error_responses(404, 503),
    summary="Show a schedule",
    operation_id="get_schedule",
)
async def get_schedule(context: ContextDep, schedule_id: ScheduleId) -> ScheduleView:
    """Spec, paused state and note, the next 5 fire times, the last runs with their
    execution ids and statuses."""
    view: ScheduleView = await _call((await _schedules(context)).get(schedule_id))
    return view


@router.patch(
    "/{schedule_id}",
    response_model=ScheduleView,
    responses=error_responses(404, 503),
    summary="Change a schedule",
    operation_id="update_schedule",
)
async def update_schedule(
    context: ContextDep, schedule_id: ScheduleId, body: SchedulePatch
) -> ScheduleView:
    """Replace the fields given; `version` (a number or `latest`) picks the document
    again."""
    _checked(body)
    schedules = await _schedules(context)
    target = None
    if "version" in body.model_fields_set:
        current: ScheduleView = await _call(schedules.get(schedule_id, details=False))
        target = await _target(context.repository, current.workflow_id or "", body.version)
    view: ScheduleView = await _call(schedules.update(schedule_id, body, target))
    return view


@router.post(
    "/{schedule_id}/pause",
    response_model=ScheduleView,
    responses=error_responses(404, 503),
    summary="Pause a schedule",
    operation_id="pause_schedule",
)
async def pause_schedule(
    context: ContextDep,
    schedule_id: ScheduleId,
    body: Annotated[NoteRequest | None, Body()] = None,
) -> ScheduleView:
    """Stop firing until resumed (the note says why)."""
    schedules = await _schedules(context)
    await _call(schedules.pause(schedule_id, body.note if body else None))
    view: ScheduleView = await _call(schedules.get(schedule_id))
    return view


@router.post(
    "/{schedule_id}/resume",
    response_model=ScheduleView,
    responses=error_responses(404, 503),
    summary="Resume a schedule",
    operation_id="resume_schedule",
)
async def resume_schedule(
    context: ContextDep,
    schedule_id: ScheduleId,
    body: Annotated[NoteRequest | None, Body()] = None,
) -> ScheduleView:
    """Fire again."""
    schedules = await _schedules(context)
    await _call(schedules.resume(schedule_id, body.note if body else None))
    view: ScheduleView = await _call(schedules.get(schedule_id))
    return view


@router.post(
    "/{schedule_id}/trigger",
    status_code=202,
    response_model=ScheduleAccepted,
    responses=error_responses(404, 503),
    summary="Run a schedule now",
    operation_id="trigger_schedule",
)
async def trigger_schedule(context: ContextDep, schedule_id: ScheduleId) -> ScheduleAccepted:
    """Start one run now, even when one is running; it shows in `recent_runs`."""
    schedules = await _schedules(context)
    await _call(schedules.trigger(schedule_id))
    return ScheduleAccepted(schedule_id=schedule_id, engine=schedules.engine, status="triggered")


@router.post(
    "/{schedule_id}/backfill",
    status_code=202,
    response_model=ScheduleAccepted,
    responses=error_responses(404, 503),
    summary="Start the runs of a past window",
    operation_id="backfill_schedule",
)
async def backfill_schedule(
    context: ContextDep, schedule_id: ScheduleId, body: BackfillRequest
) -> ScheduleAccepted:
    """Start now the runs the schedule would have started between `start` and `end`."""
    if body.end <= body.start:
        raise InvalidScheduleError("end must be after start", details={"field": "end"})
    schedules = await _schedules(context)
    await _call(schedules.backfill(schedule_id, body.start, body.end))
    return ScheduleAccepted(schedule_id=schedule_id, engine=schedules.engine, status="backfilling")


@router.delete(
    "/{schedule_id}",
    status_code=204,
    responses=error_responses(404, 503),
    summary="Delete a schedule",
    operation_id="delete_schedule",
)
async def delete_schedule(context: ContextDep, schedule_id: ScheduleId) -> Response:
    """Delete the schedule; the runs it started stay."""
    await _call((await _schedules(context)).delete(schedule_id))
    return Response(status_code=204)
