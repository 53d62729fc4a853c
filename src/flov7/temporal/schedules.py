"""Flov7 schedules as Temporal Schedules.

Each Flov7 schedule is one Temporal Schedule with the same id (so the Temporal UI's
Schedules page shows it), whose action starts ``WorkflowExecution`` with the resolved
workflow document. Its runs' ids are the schedule id plus the fire time (Temporal adds
it), their memo carries ``trigger: {type: schedule, schedule_id}`` and Temporal tags
them with the ``TemporalScheduledById`` search attribute, which the run listing filters
on. The schedule's own memo keeps what Flov7 needs to show it again (workflow id,
versions, input): Temporal's copy of the action holds the prepared document.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from flov7.config import TemporalSettings
from flov7.errors import EngineUnavailableError, ExecutionNotFoundError, InvalidQueryError
from flov7.runs.pages import decode_bytes, encode_bytes
from flov7.runs.views import RunStatus
from flov7.temporal.executions import MEMO_KEY, prepare_document
from flov7.temporal.names import EXECUTION_WORKFLOW
from flov7.temporal.search_attributes import start_attributes
from flov7.triggers.schedules import (
    Overlap,
    ScheduleCreate,
    ScheduleDocument,
    ScheduleFieldError,
    ScheduleNotFoundError,
    SchedulePage,
    SchedulePatch,
    ScheduleRun,
    ScheduleView,
)

__all__ = ["TemporalSchedules"]

ENGINE = "temporal"
_OVERLAP = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "buffer_all": ScheduleOverlapPolicy.BUFFER_ALL,
    "cancel_other": ScheduleOverlapPolicy.CANCEL_OTHER,
    "terminate_other": ScheduleOverlapPolicy.TERMINATE_OTHER,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
}
_OVERLAP_NAMES: dict[ScheduleOverlapPolicy, Overlap] = {v: k for k, v in _OVERLAP.items()}  # type: ignore[misc]
_RECENT_RUNS = 10


class TemporalSchedules:
    """:class:`~flov7.triggers.schedules.Schedules` on Temporal Schedules."""

    engine = ENGINE

    def __init__(
        self,
        client: Client,
        settings: TemporalSettings,
        *,
        search_attributes: bool,
        status_of: Any,
    ) -> None:
        """``status_of``: ``async (execution_id) -> RunStatus`` (the run backend's)."""
        self.client = client
        self.settings = settings
        self.search_attributes = search_attributes
        self._status_of = status_of

    async def create(
        self, schedule_id: str, request: ScheduleCreate, target: ScheduleDocument
    ) -> ScheduleView:
        """Create the Temporal Schedule (paused at once when ``paused``)."""
        fields = request.model_dump(exclude={"schedule_id", "workflow_id"})
        schedule = self._schedule(schedule_id, fields, target)
        with _translated(schedule_id):
            try:
                await self.client.create_schedule(schedule_id, schedule)
            except ScheduleAlreadyRunningError as exc:
                raise ScheduleFieldError(
                    "schedule_id", f"schedule_id '{schedule_id}' is taken by another schedule"
                ) from exc
        return await self.get(schedule_id)

    async def get(self, schedule_id: str, *, details: bool = True) -> ScheduleView:
        """The schedule: spec, state, next 5 fire times, the last runs and their status."""
        handle = self.client.get_schedule_handle(schedule_id)
        with _translated(schedule_id):
            description = await handle.describe()
        memo = await _flov7_memo(description)
        if memo is None:
            raise ScheduleNotFoundError(f"No schedule '{schedule_id}'")
        view = _view(schedule_id, description, memo)
        if details:
            view.recent_runs = [await self._run(action) for action in _recent(description)]
        return view

    async def list(self, page_token: str | None, page_size: int) -> SchedulePage:
        """Flov7's schedules (those with a Flov7 memo), a page at a time."""
        token = decode_bytes(page_token)
        with _translated(None):
            iterator = await self.client.list_schedules(page_size=page_size, next_page_token=token)
            await iterator.fetch_next_page()
        views = []
        for listed in iterator.current_page or []:
            with contextlib.suppress(ScheduleNotFoundError):
                views.append(await self.get(listed.id, details=False))
        next_token = iterator.next_page_token
        return SchedulePage(
            schedules=views,
            next_page_token=encode_bytes(next_token),
            engine=ENGINE,
        )

    async def update(
        self, schedule_id: str, patch: SchedulePatch, target: ScheduleDocument | None
    ) -> ScheduleView:
        """Apply the fields ``patch`` gives; the rest stays."""
        current = await self.get(schedule_id, details=False)
        handle = self.client.get_schedule_handle(schedule_id)
        given = patch.model_dump(exclude_unset=True)
        fields = {**_fields_of(current), **given}
        if "paused" not in given:
            fields["paused"] = current.paused
        if target is None:
            target = await self._target_of(schedule_id, current)
        schedule = self._schedule(schedule_id, fields, target)

        def updated(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        with _translated(schedule_id):
            await handle.update(updated)
        # The memo cannot be updated in place: what it says now is kept in the action's.
        return await self.get(schedule_id)

    async def pause(self, schedule_id: str, note: str | None) -> None:
        """Pause (Temporal keeps the note)."""
        await self.get(schedule_id, details=False)
        with _translated(schedule_id):
            await self.client.get_schedule_handle(schedule_id).pause(note=note or "paused")

    async def resume(self, schedule_id: str, note: str | None) -> None:
        """Unpause."""
        await self.get(schedule_id, details=False)
        with _translated(schedule_id):
            await self.client.get_schedule_handle(schedule_id).unpause(note=note or "resumed")

    async def trigger(self, schedule_id: str) -> None:
        """One run now, even if one is running (overlap ``allow_all``)."""
        await self.get(schedule_id, details=False)
        with _translated(schedule_id):
            await self.client.get_schedule_handle(schedule_id).trigger(
                overlap=ScheduleOverlapPolicy.ALLOW_ALL
            )

    async def backfill(self, schedule_id: str, start: datetime, end: datetime) -> None:
        """The runs of ``[start, end)``, all started (overlap ``allow_all``)."""
        await self.get(schedule_id, details=False)
        with _translated(schedule_id):
            await self.client.get_schedule_handle(schedule_id).backfill(
                ScheduleBackfill(
                    start_at=_aware(start),
                    end_at=_aware(end),
                    overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                )
            )

    async def delete(self, schedule_id: str) -> None:
        """Delete the Temporal Schedule; its runs go on and stay listed."""
        await self.get(schedule_id, details=False)
        with _translated(schedule_id):
            await self.client.get_schedule_handle(schedule_id).delete()

    async def follow_latest(self, target: ScheduleDocument) -> builtins.list[str]:
        """Every Flov7 schedule of the workflow that asked for ``latest`` runs ``target``."""
        changed: builtins.list[str] = []
        token: bytes | None = None
        while True:
            with _translated(None):
                iterator = await self.client.list_schedules(page_size=100, next_page_token=token)
                await iterator.fetch_next_page()
            for listed in iterator.current_page or []:
                try:
                    view = await self.get(listed.id, details=False)
                except ScheduleNotFoundError:
                    continue
                if view.workflow_id == target.workflow_id and view.requested_version == "latest":
                    await self.update(listed.id, SchedulePatch(), target)
                    changed.append(listed.id)
            token = iterator.next_page_token
            if not token:
                return changed

    # -- internals --------------------------------------------------------------------

    def _schedule(
        self, schedule_id: str, fields: dict[str, Any], target: ScheduleDocument
    ) -> Schedule:
        prepared = prepare_document(target.document, self.settings, run_input=fields.get("input"))
        defaults = prepared.get("defaults")
        prepared["defaults"] = {
            **(defaults if isinstance(defaults, dict) else {}),
            "search_attributes": self.search_attributes,
        }
        labels = _memo(fields, target)
        labels["trigger"] = {"type": "schedule", "schedule_id": schedule_id}
        interval = fields.get("interval_seconds")
        jitter = fields.get("jitter_seconds")
        catchup = fields.get("catchup_window_seconds")
        action = ScheduleActionStartWorkflow(
            EXECUTION_WORKFLOW,
            args=[prepared],
            id=schedule_id,
            task_queue=self.settings.task_queue,
            execution_timeout=self.settings.workflow_timeout,
            retry_policy=self.settings.workflow_retry_policy(),
            memo={MEMO_KEY: labels},
            typed_search_attributes=(
                start_attributes(target.workflow_id, target.version)
                if self.search_attributes
                else TypedSearchAttributes.empty
            ),
        )
        return Schedule(
            action=action,
            spec=ScheduleSpec(
                cron_expressions=list(fields.get("cron") or []),
                intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval))]
                if interval
                else [],
                jitter=timedelta(seconds=jitter) if jitter else None,
                time_zone_name=fields.get("timezone") or "UTC",
            ),
            policy=SchedulePolicy(
                overlap=_OVERLAP[fields.get("overlap") or "skip"],
                catchup_window=timedelta(seconds=catchup) if catchup else None,
            ),
            state=ScheduleState(paused=bool(fields.get("paused")), note=fields.get("note")),
        )

    async def _target_of(self, schedule_id: str, current: ScheduleView) -> ScheduleDocument:
        """The document the schedule runs now (from its action)."""
        handle = self.client.get_schedule_handle(schedule_id)
        with _translated(schedule_id):
            description = await handle.describe()
        action = description.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        document = await _decoded_document(self.client, action)
        return ScheduleDocument(
            workflow_id=current.workflow_id or "",
            version=current.version,
            requested_version=current.requested_version or "latest",
            document=document,
        )

    async def _run(self, action: Any) -> ScheduleRun:
        run = ScheduleRun(
            execution_id=action.action.workflow_id,
            run_id=action.action.first_execution_run_id,
            scheduled_at=_iso(action.scheduled_at),
            started_at=_iso(action.started_at),
        )
        try:
            status: RunStatus = await self._status_of(run.execution_id)
            run.status = status.status
        except (ExecutionNotFoundError, EngineUnavailableError):
            run.status = None
        return run


def _recent(description: ScheduleDescription) -> list[Any]:
    actions = [
        action
        for action in description.info.recent_actions
        if isinstance(action.action, ScheduleActionExecutionStartWorkflow)
    ]
    return list(reversed(actions))[:_RECENT_RUNS]  # newest first


def _memo(fields: dict[str, Any], target: ScheduleDocument) -> dict[str, Any]:
    return {
        "workflow_id": target.workflow_id,
        "version": target.version,
        "requested_version": target.requested_version,
        "input": fields.get("input"),
        # Temporal turns cron lines into calendar specs: keep them as written.
        "cron": list(fields.get("cron") or []),
    }


async def _flov7_memo(description: ScheduleDescription) -> dict[str, Any] | None:
    """The labels of a Flov7 schedule: from its action's memo (kept current by updates)."""
    action = description.schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or action.workflow != EXECUTION_WORKFLOW:
        return None
    raw = action.memo or {}
    payload = raw.get(MEMO_KEY)
    if payload is None:
        return None
    if isinstance(payload, dict):
        return payload
    try:
        value = await _decode(payload)
    except Exception:
        return None
    return value if isinstance(value, dict) else None


async def _decode(payload: Any) -> Any:
    from temporalio.converter import DataConverter

    return DataConverter.default.payload_converter.from_payload(payload)


async def _decoded_document(client: Client, action: ScheduleActionStartWorkflow) -> dict[str, Any]:
    args = list(action.args)
    if not args:
        return {}
    first = args[0]
    if isinstance(first, dict):
        return first
    value = client.data_converter.payload_converter.from_payload(first)
    return value if isinstance(value, dict) else {}


def _view(schedule_id: str, description: ScheduleDescription, memo: dict[str, Any]) -> ScheduleView:
    schedule = description.schedule
    spec = schedule.spec
    interval = spec.intervals[0].every.total_seconds() if spec.intervals else None
    policy = schedule.policy
    return ScheduleView(
        schedule_id=schedule_id,
        engine=ENGINE,
        workflow_id=memo.get("workflow_id"),
        version=memo.get("version"),
        requested_version=memo.get("requested_version"),
        cron=list(memo.get("cron") or []) or _cron_of(spec),
        interval_seconds=interval,
        timezone=spec.time_zone_name or "UTC",
        input=memo.get("input"),
        overlap=_OVERLAP_NAMES.get(policy.overlap, "skip"),
        catchup_window_seconds=(
            policy.catchup_window.total_seconds() if policy.catchup_window else None
        ),
        jitter_seconds=spec.jitter.total_seconds() if spec.jitter else None,
        paused=schedule.state.paused,
        note=schedule.state.note or None,
        # Temporal still lists the times of a paused schedule, which will not fire.
        next_fire_times=(
            []
            if schedule.state.paused
            else [_iso(t) or "" for t in description.info.next_action_times[:5]]
        ),
        fired=description.info.num_actions,
        created_at=_iso(description.info.created_at),
    )


def _cron_of(spec: ScheduleSpec) -> list[str]:
    return list(spec.cron_expressions)


def _fields_of(view: ScheduleView) -> dict[str, Any]:
    return {
        "cron": view.cron,
        "interval_seconds": view.interval_seconds,
        "timezone": view.timezone,
        "input": view.input,
        "overlap": view.overlap,
        "catchup_window_seconds": view.catchup_window_seconds,
        "jitter_seconds": view.jitter_seconds,
        "note": view.note,
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@contextlib.contextmanager
def _translated(schedule_id: str | None) -> Iterator[None]:
    try:
        yield
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND and schedule_id is not None:
            raise ScheduleNotFoundError(f"No schedule '{schedule_id}'") from exc
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise InvalidQueryError(f"Temporal refused the schedule: {exc.message}") from exc
        raise EngineUnavailableError(
            f"Temporal failed the schedule request ({exc.status.name}): {exc.message}"
        ) from exc
