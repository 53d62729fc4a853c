"""Schedules: what one says, how it is checked, what the API answers.

A schedule starts runs of a stored workflow on a cron expression (or several) or every
``interval_seconds``, in a time zone. On Temporal it is a Temporal Schedule
(:mod:`flov7.temporal.schedules`): visible in the Temporal UI, firing while Flov7's API
is down, with Temporal's overlap policies, catch-up window and jitter. This module
knows no engine: it checks the fields (a bad one is a :class:`ScheduleFieldError`
naming it, 422) and defines the :class:`Schedules` protocol an engine implements.
"""

from __future__ import annotations

import builtins
import logging
import re
from datetime import datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flov7.errors import Flov7Error, RunServiceError
from flov7.store.repository import Repository, WorkflowNotFoundError

__all__ = [
    "OVERLAP_POLICIES",
    "Overlap",
    "ScheduleCreate",
    "ScheduleDocument",
    "ScheduleFieldError",
    "ScheduleNotFoundError",
    "SchedulePage",
    "SchedulePatch",
    "ScheduleRun",
    "ScheduleView",
    "Schedules",
    "SchedulesUnavailableError",
    "follow_new_version",
    "resolve_target",
    "schedules_of",
]

Overlap = Literal[
    "skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"
]
OVERLAP_POLICIES: tuple[Overlap, ...] = (
    "skip",
    "buffer_one",
    "buffer_all",
    "cancel_other",
    "terminate_other",
    "allow_all",
)
log = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
MAX_CRON_EXPRESSIONS = 10


class ScheduleFieldError(Flov7Error):
    """A schedule field is unusable (422, naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ScheduleNotFoundError(Flov7Error):
    """No schedule has this id (404)."""


class SchedulesUnavailableError(Flov7Error):
    """This engine has no schedules (the local engine, see docs/triggers.md)."""


def check_cron(expressions: list[str]) -> None:
    """Each expression is a 5-field cron line (minute hour day month weekday)."""
    for index, expression in enumerate(expressions):
        fields = expression.split()
        if len(fields) != 5 or not croniter.is_valid(expression):
            raise ScheduleFieldError(
                f"cron[{index}]",
                f"cron[{index}] '{expression}' is not a cron expression of 5 fields "
                "(minute hour day-of-month month day-of-week), e.g. '*/5 * * * *'",
            )


def check_timezone(name: str) -> None:
    """``name`` is an IANA time zone."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleFieldError(
            "timezone", f"timezone '{name}' is not an IANA time zone, e.g. 'Europe/Paris'"
        ) from exc


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | Literal["latest"] | None = Field(
        default=None,
        description="Version of the stored workflow to run: a number, or `latest` (the "
        "default): the current version when the schedule is created or patched.",
    )
    cron: list[str] | None = Field(
        default=None,
        max_length=MAX_CRON_EXPRESSIONS,
        description="Cron expressions (5 fields each); a string is one expression.",
        examples=[["*/5 * * * *"]],
    )
    interval_seconds: float | None = Field(
        default=None, ge=1, le=366 * 86400, description="Or: fire every this many seconds."
    )
    timezone: str | None = Field(default=None, description="IANA time zone (default UTC).")
    input: dict[str, Any] | None = Field(default=None, description="Run input of every run.")
    overlap: Overlap | None = Field(
        default=None,
        description="When a fire comes while the last run still runs: skip (default), "
        "buffer_one, buffer_all, cancel_other, terminate_other, allow_all (Temporal's "
        "overlap policies).",
    )
    catchup_window_seconds: float | None = Field(
        default=None,
        ge=10,
        description="Fires missed (server down) within this window are still started.",
    )
    jitter_seconds: float | None = Field(
        default=None, ge=0, description="Each fire is delayed by a random time up to this."
    )
    paused: bool | None = None
    note: str | None = Field(default=None, max_length=1000)

    @field_validator("cron", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def check(self) -> None:
        """Fields that pydantic cannot check: cron syntax, time zone."""
        if self.cron is not None:
            check_cron(self.cron)
        if self.timezone is not None:
            check_timezone(self.timezone)


class ScheduleCreate(_Fields):
    """``POST /api/v1/schedules``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"workflow_id": "orders", "cron": "0 7 * * 1-5", "timezone": "Europe/Paris"},
                {"workflow_id": "orders", "interval_seconds": 300, "input": {"batch": 1}},
            ]
        },
    )

    schedule_id: str | None = Field(
        default=None, description="Default: the workflow id plus a random suffix."
    )
    workflow_id: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_spec(self) -> ScheduleCreate:
        if self.schedule_id is not None and not _ID.match(self.schedule_id):
            raise ValueError(
                "schedule_id: letters, digits and . _ : - only, at most 200 characters"
            )
        if not self.cron and self.interval_seconds is None:
            raise ValueError("give 'cron' or 'interval_seconds'")
        return self


class SchedulePatch(_Fields):
    """``PATCH /api/v1/schedules/{id}``: the fields given replace the schedule's."""


class ScheduleDocument(BaseModel):
    """What the engine stores with a schedule: the resolved document and labels."""

    workflow_id: str
    version: int | None
    requested_version: int | Literal["latest"]
    document: dict[str, Any]


class ScheduleRun(BaseModel):
    """One run a schedule started."""

    execution_id: str
    run_id: str | None = None
    scheduled_at: str | None = None
    started_at: str | None = None
    status: str | None = Field(default=None, description="The run's Flov7 status now.")


class ScheduleView(BaseModel):
    """A schedule as the API shows it."""

    schedule_id: str
    engine: str
    workflow_id: str | None = None
    version: int | None = Field(default=None, description="The version its runs execute.")
    requested_version: int | Literal["latest"] | None = None
    cron: list[str] = Field(default_factory=list)
    interval_seconds: float | None = None
    timezone: str = "UTC"
    input: dict[str, Any] | None = None
    overlap: Overlap = "skip"
    catchup_window_seconds: float | None = None
    jitter_seconds: float | None = None
    paused: bool = False
    note: str | None = None
    next_fire_times: list[str] = Field(
        default_factory=list, description="The next 5 (none while paused)."
    )
    recent_runs: list[ScheduleRun] = Field(default_factory=list)
    fired: int | None = Field(default=None, description="Runs started so far.")
    created_at: str | None = None
    limits: str | None = Field(
        default=None, description="What this engine's schedules cannot do (local engine)."
    )


class SchedulePage(BaseModel):
    """One page of schedules."""

    schedules: list[ScheduleView]
    next_page_token: str | None = None
    engine: str


class Schedules(Protocol):
    """What an engine offers for schedules (:mod:`flov7.temporal.schedules`)."""

    engine: str

    async def create(
        self, schedule_id: str, request: ScheduleCreate, target: ScheduleDocument
    ) -> ScheduleView:
        """Create the schedule (:class:`ScheduleFieldError` when the id is taken)."""
        ...

    async def get(self, schedule_id: str, *, details: bool = True) -> ScheduleView:
        """The schedule, with its next fire times and recent runs."""
        ...

    async def list(self, page_token: str | None, page_size: int) -> SchedulePage:
        """One page of Flov7 schedules."""
        ...

    async def update(
        self, schedule_id: str, patch: SchedulePatch, target: ScheduleDocument | None
    ) -> ScheduleView:
        """Replace the fields ``patch`` gives (and the document, when ``target``)."""
        ...

    async def pause(self, schedule_id: str, note: str | None) -> None:
        """Stop firing until resumed."""
        ...

    async def resume(self, schedule_id: str, note: str | None) -> None:
        """Fire again."""
        ...

    async def trigger(self, schedule_id: str) -> None:
        """Start one run now (whatever the overlap policy says)."""
        ...

    async def backfill(self, schedule_id: str, start: datetime, end: datetime) -> None:
        """Start the runs the schedule would have started between ``start`` and ``end``."""
        ...

    async def delete(self, schedule_id: str) -> None:
        """Delete the schedule (its runs stay)."""
        ...

    async def follow_latest(self, target: ScheduleDocument) -> builtins.list[str]:
        """Point every ``latest`` schedule of ``target.workflow_id`` at ``target`` (a new
        current version); the ids of the schedules changed."""
        ...


async def resolve_target(
    repository: Repository, workflow_id: str, version: int | str | None
) -> ScheduleDocument:
    """The stored document a schedule runs: ``version``, or the current one
    (``latest``, None). :class:`ScheduleFieldError` for an unknown workflow or version."""
    try:
        if isinstance(version, int):
            stored = await repository.get_version(workflow_id, version)
            document, resolved = stored.document, stored.version
        else:
            workflow = await repository.get_workflow(workflow_id)
            document, resolved = workflow.document, workflow.current_version
    except WorkflowNotFoundError as exc:
        field = "version" if isinstance(version, int) and "version" in str(exc) else "workflow_id"
        raise ScheduleFieldError(field, f"{field}: {exc}") from exc
    assert document is not None
    return ScheduleDocument(
        workflow_id=workflow_id,
        version=resolved,
        requested_version=version if isinstance(version, int) else "latest",
        document=document,
    )


async def schedules_of(backend: Any) -> Schedules:
    """The schedules of an execution backend; :class:`SchedulesUnavailableError` when
    its engine has none (the local engine)."""
    opener = getattr(backend, "schedules", None)
    if opener is None:
        raise SchedulesUnavailableError(
            f"The {backend.engine} engine has no schedules: they are Temporal Schedules "
            "(see docs/triggers.md)"
        )
    schedules: Schedules = await opener()
    return schedules


async def follow_new_version(
    backend: Any, workflow_id: str, version: int, document: dict[str, Any]
) -> None:
    """After a stored workflow got ``version``: its ``latest`` schedules run it from now
    on. A failure (Temporal down) is logged, not raised: the new version is stored; a
    ``PATCH {"version": "latest"}`` catches the schedule up later."""
    if getattr(backend, "schedules", None) is None:
        return
    target = ScheduleDocument(
        workflow_id=workflow_id, version=version, requested_version="latest", document=document
    )
    try:
        changed = await (await schedules_of(backend)).follow_latest(target)
    except (Flov7Error, RunServiceError) as exc:
        log.warning(
            "Workflow %s is now version %d, but its 'latest' schedules could not be "
            'updated (%s): PATCH them with {"version": "latest"}',
            workflow_id,
            version,
            exc,
        )
        return
    if changed:
        log.info("Schedules now running %s version %d: %s", workflow_id, version, changed)
