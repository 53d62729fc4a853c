"""Schedules on the local engine: an in-process scheduler with the schedules API.

The same :class:`~flov7.triggers.schedules.Schedules` as on Temporal, kept in the store
(table ``schedules``) and fired by one task of the process running the local engine
(``flov7 serve`` with ``ENABLE_TEMPORAL_FEATURES=false``). Its limits (docs/triggers.md,
and every answer's ``limits``):

- nothing fires while the process is down. At start, the fires missed meanwhile
  collapse into one run (the latest missed fire time) if it is within the catch-up
  window (default: one year, as on Temporal); older ones are dropped.
- the scheduler looks at the clock every half second: fires are up to 0.5 s late.
- overlap: ``skip``, ``buffer_one`` and ``buffer_all`` skip a fire while the last run
  still runs (no buffering); ``cancel_other`` cancels it, ``terminate_other``
  terminates it, ``allow_all`` starts anyway. ``jitter_seconds`` is ignored.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from croniter import croniter  # type: ignore[import-untyped]

from flov7.errors import Flov7Error
from flov7.runs.contract import WorkflowRef
from flov7.runs.pages import decode_position, encode_position
from flov7.store.schedules import ScheduleRecord, ScheduleRepository
from flov7.triggers.schedules import (
    ScheduleCreate,
    ScheduleDocument,
    ScheduleFieldError,
    ScheduleNotFoundError,
    SchedulePage,
    SchedulePatch,
    ScheduleRun,
    ScheduleView,
)

if TYPE_CHECKING:
    from flov7.local.backend import LocalBackend

__all__ = ["LIMITS", "LocalSchedules"]

log = logging.getLogger(__name__)

ENGINE = "local"
LIMITS = (
    "Local engine: fires only while this process runs; fires missed while it was down "
    "collapse into one run at start (within the catch-up window); up to 0.5 s late; "
    "buffer overlap policies skip; jitter is ignored"
)
_TICK_SECONDS = 0.5
_DEFAULT_CATCHUP = timedelta(days=365)
_PAGES = "local-schedules"
_RECENT_RUNS = 10
_FIELDS = (
    "cron",
    "interval_seconds",
    "timezone",
    "input",
    "overlap",
    "catchup_window_seconds",
    "jitter_seconds",
    "note",
)


def _times(record: ScheduleRecord, after: datetime) -> Iterator[datetime]:
    """Fire times strictly after ``after``, in order (UTC)."""
    fields = record.fields
    interval = fields.get("interval_seconds")
    if interval:
        step = timedelta(seconds=float(interval))
        anchor = record.created_at
        count = max(int((after - anchor) / step) + 1, 1)
        while True:
            yield anchor + count * step
            count += 1
    zone = ZoneInfo(fields.get("timezone") or "UTC")
    iterators = [croniter(line, after.astimezone(zone)) for line in fields.get("cron") or []]
    upcoming = [it.get_next(datetime) for it in iterators]
    while upcoming:
        index = min(range(len(upcoming)), key=upcoming.__getitem__)
        yield upcoming[index].astimezone(UTC)
        upcoming[index] = iterators[index].get_next(datetime)


def _next_times(record: ScheduleRecord, after: datetime, count: int) -> list[datetime]:
    times: list[datetime] = []
    for when in _times(record, after):
        if len(times) == count:
            break
        times.append(when)
    return times


class LocalSchedules:
    """:class:`~flov7.triggers.schedules.Schedules` in this process."""

    engine = ENGINE

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend
        self.store = ScheduleRepository(backend.repository.database)
        self._lock = asyncio.Lock()

    # -- the scheduler ----------------------------------------------------------------

    async def run(self) -> None:
        """Fire due schedules until cancelled (started by the local backend)."""
        while True:
            try:
                await self.tick(datetime.now(UTC))
            except Exception:  # one bad schedule or a store hiccup must not stop the loop
                log.exception("The local scheduler failed a tick; it goes on")
            await asyncio.sleep(_TICK_SECONDS)

    async def tick(self, now: datetime) -> None:
        """Start the runs of every schedule due by ``now``."""
        async with self._lock:
            for record in await self.store.all():
                if record.paused:
                    continue
                since = record.last_fire_at or record.created_at
                due = None
                for when in _times(record, since):
                    if when > now:
                        break
                    due = when  # missed fires collapse into the latest
                if due is None:
                    continue
                catchup = record.fields.get("catchup_window_seconds")
                window = timedelta(seconds=catchup) if catchup else _DEFAULT_CATCHUP
                fired = record.fired
                if now - due <= window and await self._may_overlap(record):
                    await self._start(record, due)
                    fired += 1
                await self.store.save(_replace(record, last_fire_at=due, fired=fired))

    async def _may_overlap(self, record: ScheduleRecord) -> bool:
        """Apply the overlap policy against the schedule's last run."""
        overlap = record.fields.get("overlap") or "skip"
        if overlap == "allow_all":
            return True
        last = await self._runs(record.id, 1)
        if not last or last[0].status not in ("running", "pending", None):
            return True
        running = last[0].execution_id
        with contextlib.suppress(Flov7Error):
            if overlap == "cancel_other":
                await self.backend.cancel(running, f"schedule {record.id}: cancel_other")
                return True
            if overlap == "terminate_other":
                await self.backend.terminate(running, f"schedule {record.id}: terminate_other")
                return True
        return False

    async def _start(self, record: ScheduleRecord, when: datetime, suffix: str = "") -> None:
        target = ScheduleDocument.model_validate(record.target)
        execution_id = f"{record.id}-{when.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}{suffix}"
        ref = WorkflowRef(
            workflow_id=target.workflow_id,
            version=target.version,
            trigger={"type": "schedule", "schedule_id": record.id},
        )
        try:
            await self.backend.start(target.document, record.fields.get("input"), execution_id, ref)
        except Flov7Error as exc:
            log.warning("Schedule %s could not start its run %s: %s", record.id, execution_id, exc)

    # -- Schedules ----------------------------------------------------------------------

    async def create(
        self, schedule_id: str, request: ScheduleCreate, target: ScheduleDocument
    ) -> ScheduleView:
        """Keep the schedule; it fires from now on."""
        fields = {name: getattr(request, name) for name in _FIELDS}
        record = ScheduleRecord(
            id=schedule_id,
            workflow_id=target.workflow_id,
            fields=fields,
            target=target.model_dump(mode="json"),
            paused=bool(request.paused),
            created_at=datetime.now(UTC),
        )
        if not await self.store.add(record):
            raise ScheduleFieldError(
                "schedule_id", f"schedule_id '{schedule_id}' is taken by another schedule"
            )
        return await self.get(schedule_id)

    async def get(self, schedule_id: str, *, details: bool = True) -> ScheduleView:
        """The schedule, its next 5 fire times (none while paused) and last runs."""
        record = await self._known(schedule_id)
        view = self._view(record)
        if details:
            view.recent_runs = await self._runs(schedule_id, _RECENT_RUNS)
        return view

    async def list(self, page_token: str | None, page_size: int) -> SchedulePage:
        """Schedules by id."""
        after = decode_position(page_token, _PAGES)
        records = await self.store.page(after if isinstance(after, str) else None, page_size + 1)
        more = len(records) > page_size
        records = records[:page_size]
        return SchedulePage(
            schedules=[self._view(record) for record in records],
            next_page_token=encode_position(_PAGES, records[-1].id) if more else None,
            engine=ENGINE,
        )

    async def update(
        self, schedule_id: str, patch: SchedulePatch, target: ScheduleDocument | None
    ) -> ScheduleView:
        """Replace the fields given."""
        async with self._lock:
            record = await self._known(schedule_id)
            given = patch.model_dump(exclude_unset=True)
            fields = {**record.fields, **{k: v for k, v in given.items() if k in _FIELDS}}
            paused = bool(given["paused"]) if "paused" in given else record.paused
            changed = _replace(
                record,
                fields=fields,
                paused=paused,
                target=target.model_dump(mode="json") if target else record.target,
            )
            await self.store.save(changed)
        return await self.get(schedule_id)

    async def pause(self, schedule_id: str, note: str | None) -> None:
        """Stop firing."""
        await self._set_paused(schedule_id, True, note or "paused")

    async def resume(self, schedule_id: str, note: str | None) -> None:
        """Fire again (fires missed while paused are not started)."""
        await self._set_paused(schedule_id, False, note or "resumed")

    async def trigger(self, schedule_id: str) -> None:
        """One run now."""
        record = await self._known(schedule_id)
        now = datetime.now(UTC)
        await self._start(record, now, suffix=f"-manual-{now.microsecond:06d}")
        await self.store.save(_replace(record, fired=record.fired + 1))

    async def backfill(self, schedule_id: str, start: datetime, end: datetime) -> None:
        """The runs of ``[start, end)``, all started."""
        record = await self._known(schedule_id)
        begin = _aware(start) - timedelta(microseconds=1)
        started = 0
        for when in _times(record, begin):
            if when >= _aware(end):
                break
            await self._start(record, when, suffix="-backfill")
            started += 1
        await self.store.save(_replace(record, fired=record.fired + started))

    async def delete(self, schedule_id: str) -> None:
        """Forget it; its runs stay."""
        if not await self.store.delete(schedule_id):
            raise ScheduleNotFoundError(f"No schedule '{schedule_id}'")

    async def follow_latest(self, target: ScheduleDocument) -> builtins.list[str]:
        """Point the workflow's ``latest`` schedules at ``target``."""
        changed: builtins.list[str] = []
        async with self._lock:
            for record in await self.store.all():
                kept = record.target
                if kept.get("workflow_id") == target.workflow_id and (
                    kept.get("requested_version") == "latest"
                ):
                    await self.store.save(_replace(record, target=target.model_dump(mode="json")))
                    changed.append(record.id)
        return changed

    # -- internals --------------------------------------------------------------------

    async def _known(self, schedule_id: str) -> ScheduleRecord:
        record = await self.store.get(schedule_id)
        if record is None:
            raise ScheduleNotFoundError(f"No schedule '{schedule_id}'")
        return record

    async def _set_paused(self, schedule_id: str, paused: bool, note: str) -> None:
        async with self._lock:
            record = await self._known(schedule_id)
            # Resuming starts from now: what was missed while paused is not caught up.
            last = record.last_fire_at if paused else datetime.now(UTC)
            fields = {**record.fields, "note": note}
            await self.store.save(_replace(record, paused=paused, fields=fields, last_fire_at=last))

    async def _runs(self, schedule_id: str, limit: int) -> builtins.list[ScheduleRun]:
        records = await self.backend.repository.find_executions(
            ENGINE, id_prefix=f"{schedule_id}-", limit=limit
        )
        return [
            ScheduleRun(
                execution_id=record.execution_id,
                run_id=record.run_id,
                # The id holds the fire time: <schedule id>-<YYYY-MM-DDTHH:MM:SSZ>[...].
                scheduled_at=_fire_time(record.execution_id, schedule_id),
                started_at=record.created_at.isoformat(),
                status=record.status,
            )
            for record in records
            if (record.trigger or {}).get("schedule_id") == schedule_id
        ]

    def _view(self, record: ScheduleRecord) -> ScheduleView:
        target = record.target
        fields = record.fields
        now = datetime.now(UTC)
        return ScheduleView(
            schedule_id=record.id,
            engine=ENGINE,
            workflow_id=record.workflow_id,
            version=target.get("version"),
            requested_version=target.get("requested_version"),
            cron=list(fields.get("cron") or []),
            interval_seconds=fields.get("interval_seconds"),
            timezone=fields.get("timezone") or "UTC",
            input=fields.get("input"),
            overlap=fields.get("overlap") or "skip",
            catchup_window_seconds=fields.get("catchup_window_seconds"),
            jitter_seconds=fields.get("jitter_seconds"),
            paused=record.paused,
            note=fields.get("note"),
            next_fire_times=[]
            if record.paused
            else [
                t.isoformat() for t in _next_times(record, max(now, record.last_fire_at or now), 5)
            ],
            fired=record.fired,
            created_at=record.created_at.isoformat(),
            limits=LIMITS,
        )


def _replace(record: ScheduleRecord, **changes: Any) -> ScheduleRecord:
    return dataclasses.replace(record, **changes)


def _fire_time(execution_id: str, schedule_id: str) -> str | None:
    stamp = execution_id[len(schedule_id) + 1 :][:20]
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).isoformat()
    except ValueError:
        return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
