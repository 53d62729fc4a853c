"""The run service on the local runtime (``ENABLE_TEMPORAL_FEATURES=false``).

Runs execute in this process (:class:`~flov7.local.runtime.LocalRuntime`: the same
interpreter and node implementations as on Temporal); the store keeps one record per
run, written when it starts (``running``) and when it ends (status, result document,
the runtime's attempt events). So status, history, listing and cancel keep the
:class:`~flov7.runs.contract.ExecutionBackend` contract for runs of this process, running
or finished, and for runs of earlier processes.

What is lost without Temporal is durability, and every answer says which engine it
comes from (``"engine": "local"``):

- a run lives in this process: when the process stops, runs still going are cancelled
  (and recorded so); if it dies, they stop where they were. At the next start their
  records, still ``running``, become ``interrupted`` (a final status: cancelling one is
  a 409). Nothing resumes them.
- a run can only be followed live and cancelled by the process running it (its
  record names that process: ``owner``, ``host:pid``). A process starting marks the
  ``running`` local runs of the store whose process is gone as interrupted; runs of a
  live process on this host (``flov7 serve`` while ``flov7 run`` runs) are left alone.
  Run several API processes on Temporal, not on the local runtime.

This module imports neither the API nor Temporal: the local engine stands alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from flov7.engine.sub_workflow import SubWorkflowCall
from flov7.errors import (
    EngineUnavailableError,
    ExecutionAlreadyClosedError,
    ExecutionConflictError,
    ExecutionNotFoundError,
    InvalidQueryError,
    InvalidWorkflowError,
)
from flov7.local import views
from flov7.local.runtime import ENGINE, LocalRun, LocalRuntime, process_identity
from flov7.local.schedules import LocalSchedules
from flov7.local.sub_workflows import LocalSubWorkflows
from flov7.local.views import RunHistorySource
from flov7.nodes.resources import node_resources
from flov7.runs.contract import ExecutionFilters, ExecutionRef, WorkflowRef, run_fingerprint
from flov7.runs.pages import decode_position, encode_position, keyset_page
from flov7.runs.views import (
    FINAL_STATUSES,
    EngineHealth,
    EngineInfo,
    HistoryPage,
    NodeSummary,
    RunPage,
    RunStatus,
)
from flov7.store.database import Database, StoreError
from flov7.store.repository import ExecutionRecord, Repository
from flov7.store.workflow_source import RepositoryWorkflowSource

if TYPE_CHECKING:
    from flov7.config import Settings

__all__ = ["NOT_DURABLE_WARNING", "LocalBackend"]

log = logging.getLogger(__name__)

NOT_DURABLE_WARNING = (
    "ENABLE_TEMPORAL_FEATURES=false: runs execute in this process and are not durable; "
    "a restart interrupts them"
)

INTERRUPTED_ERROR = {
    "type": "Interrupted",
    "message": "The Flov7 process running this local run stopped before it finished "
    "(runs are not durable with ENABLE_TEMPORAL_FEATURES=false); start it again",
}

_STORE_ERRORS = (StoreError, SQLAlchemyError, OSError)
# What each kind of page token indexes (tokens of one kind are refused for another).
_LISTING_PAGES = "local-executions"
_EVENT_PAGES = "local-events"
_TIMELINE_PAGES = "timeline"
_WAIT_POLL_SECONDS = 0.5
_SHUTDOWN_GRACE_SECONDS = 10.0


@dataclass
class _Live:
    """A run of this process until its end is recorded."""

    ref: WorkflowRef
    fingerprint: str
    recorded: asyncio.Task[None]
    """Writes the start record; the end record waits for it."""


class LocalBackend:
    """:class:`~flov7.runs.contract.ExecutionBackend` on the in-process local runtime.

    Usage::

        async with LocalBackend(settings, database=database) as backend:
            await backend.start(document, None, "run-1", WorkflowRef("wf"))

    Entering opens the node resources (HTTP clients, credentials), the store
    (``database``, or ``FLOV7_DATABASE_URL`` opened and migrated here) and marks runs
    an earlier process left ``running`` as ``interrupted`` (once that process is gone).
    Leaving cancels the runs still going and records them as cancelled before the store closes.
    """

    engine = ENGINE

    def __init__(
        self, settings: Settings, *, database: Database | None = None, scheduler: bool = True
    ) -> None:
        """``database``: an open store to share (the API's); default: open our own.
        ``scheduler``: fire the local schedules from this process (the service does;
        one-shot commands manage schedules without firing them)."""
        self.settings = settings
        self._run_scheduler = scheduler
        self._database = database
        self._stack = contextlib.AsyncExitStack()
        self._runtime: LocalRuntime | None = None
        self._repository: Repository | None = None
        self._live: dict[str, _Live] = {}
        self._schedules: LocalSchedules | None = None

    async def __aenter__(self) -> LocalBackend:
        log.warning(NOT_DURABLE_WARNING)
        stack = self._stack
        try:
            resources = await stack.enter_async_context(node_resources(self.settings))
            database = self._database
            if database is None:
                url = self.settings.flov7.resolved_database_url
                database = await stack.enter_async_context(Database.open(url))
            self._repository = Repository(database)
            interrupted = await self._repository.interrupt_executions(
                ENGINE, error=INTERRUPTED_ERROR, owner_alive=_owner_alive
            )
            if interrupted:
                log.warning(
                    "%d local run(s) left running by a previous process are now interrupted: %s",
                    len(interrupted),
                    ", ".join(interrupted[:10]) + (" ..." if len(interrupted) > 10 else ""),
                )
            self._runtime = LocalRuntime(
                resources,
                defaults=self.settings.temporal.execution_defaults(),
                on_finished=self._record_end,
            )
            self._runtime.sub_workflows = LocalSubWorkflows(
                RepositoryWorkflowSource(self._repository), self._start_child
            )
            # Last in, first out: runs are cancelled and recorded before the store closes.
            stack.push_async_callback(self._stop_runs, self._runtime)
            # The in-process scheduler of local schedules; it stops before the runs do.
            self._schedules = LocalSchedules(self)
            if self._run_scheduler:
                ticking = asyncio.create_task(self._schedules.run(), name="flov7-local-scheduler")
                stack.push_async_callback(_stop_task, ticking)
        except BaseException:
            await stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()
        self._runtime = None

    @property
    def runtime(self) -> LocalRuntime:
        """The runtime running this process's runs."""
        if self._runtime is None:
            raise EngineUnavailableError("The local runtime is not running")
        return self._runtime

    @property
    def repository(self) -> Repository:
        """The store's repository."""
        if self._repository is None:
            raise EngineUnavailableError("The local runtime is not running")
        return self._repository

    # -- ExecutionBackend ---------------------------------------------------------------

    async def start(
        self,
        document: dict[str, Any],
        run_input: dict[str, Any] | None,
        execution_id: str,
        workflow_ref: WorkflowRef,
    ) -> ExecutionRef:
        """Start the run now, in this process; an id already used returns that run (the
        same document and input) or raises :class:`ExecutionConflictError` (others)."""
        runtime = self.runtime
        fingerprint = run_fingerprint(document, run_input)
        if runtime.get(execution_id) is None:
            record = await self._record_of(execution_id)
            if record is not None:
                if record.engine != ENGINE:
                    raise InvalidQueryError(
                        f"Execution id '{execution_id}' is taken by a run on the "
                        f"'{record.engine}' engine; pick another execution_id"
                    )
                _check_same_run(execution_id, record.fingerprint, fingerprint)
                return ExecutionRef(execution_id, record.run_id, ENGINE, created=False)
        existing = runtime.get(execution_id)  # started meanwhile by another request?
        if existing is not None:
            live = self._live.get(execution_id)
            _check_same_run(execution_id, live.fingerprint if live else None, fingerprint)
            return ExecutionRef(execution_id, existing.run_id, ENGINE, created=False)
        try:
            run = runtime.start(
                document,
                run_input=run_input,
                execution_id=execution_id,
                workflow_label=workflow_ref.workflow_id,
            )
        except InvalidWorkflowError as exc:
            raise InvalidQueryError(str(exc)) from exc
        # Registered before the first await: the run's end (which may come during the
        # write below) finds it, and waits for the start record.
        recorded = asyncio.create_task(self._record_start(run, workflow_ref, fingerprint))
        self._live[execution_id] = _Live(workflow_ref, fingerprint, recorded)
        await asyncio.shield(recorded)
        return ExecutionRef(execution_id, run.run_id, ENGINE, created=True)

    async def _start_child(
        self, document: dict[str, Any], execution_id: str, call: SubWorkflowCall, version: int
    ) -> LocalRun:
        """Start a ``workflow`` node's child as any run (recorded, listed, cancellable)."""
        await self.start(document, None, execution_id, WorkflowRef(call.workflow_id, version))
        run = self.runtime.get(execution_id)
        assert run is not None, "a run just started is in the runtime"
        return run

    async def status(self, execution_id: str) -> RunStatus:
        """See :meth:`~flov7.runs.contract.ExecutionBackend.status`."""
        run, live = self._in_memory(execution_id)
        if run is not None and live is not None:
            return views.run_status(run, live.ref)
        return views.record_status(await self._known_record(execution_id))

    async def wait(self, execution_id: str, wait_seconds: float) -> RunStatus | None:
        """See :meth:`~flov7.runs.contract.ExecutionBackend.wait`."""
        run = self.runtime.get(execution_id)
        if run is not None:
            try:
                await asyncio.wait_for(run.result(), wait_seconds)
            except TimeoutError:
                return None
            return await self.status(execution_id)
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while True:
            record = await self._known_record(execution_id, with_outcome=False)
            if record.status in FINAL_STATUSES:
                return await self.status(execution_id)
            # Running in another process (see the module docstring): its end shows
            # in the store only.
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            await asyncio.sleep(min(_WAIT_POLL_SECONDS, remaining))

    async def cancel(self, execution_id: str, reason: str | None = None) -> None:
        """Stop a run of this process; 409-style error when it is closed (or
        interrupted: nothing runs it any more)."""
        run = self.runtime.get(execution_id)
        if run is not None:
            if run.outcome is not None:
                status = str(run.outcome.get("status"))
                raise ExecutionAlreadyClosedError(
                    f"Execution '{execution_id}' is closed ({status}): nothing to cancel",
                    status=status,
                )
            run.cancel(reason or "cancelled through the API")
            return
        record = await self._known_record(execution_id, with_outcome=False)
        status = record.status or "running"
        if status in FINAL_STATUSES:
            raise ExecutionAlreadyClosedError(
                f"Execution '{execution_id}' is closed ({status}): nothing to cancel",
                status=status,
            )
        owner = f" ({record.owner})" if record.owner else ""
        raise EngineUnavailableError(
            f"Execution '{execution_id}' runs in another Flov7 process{owner}: local runs "
            "can only be cancelled by the process running them"
        )

    async def terminate(self, execution_id: str, reason: str | None = None) -> None:
        """End a run of this process now: its task is cancelled without waiting for its
        nodes, and it is recorded ``terminated``. 409-style error when it is closed."""
        run = self.runtime.get(execution_id)
        if run is None or run.outcome is not None:
            await self.cancel(execution_id, reason)  # the same errors, for the same cases
            return
        await self.runtime.terminate(execution_id, reason or "terminated through the API")

    async def schedules(self) -> LocalSchedules:
        """The local engine's schedules: an in-process scheduler (see its limits)."""
        if self._schedules is None:
            raise EngineUnavailableError("The local runtime is not running")
        return self._schedules

    async def send_event(self, execution_id: str, event: str, data: Any) -> None:
        """Hand the event to a run of this process (its ``wait`` node takes it now or
        later); 409-style error when the run is closed, 503 when another process runs it."""
        run = self.runtime.get(execution_id)
        if run is not None and run.outcome is None:
            run.deliver_event(event, data)
            return
        if run is not None and run.outcome is not None:
            status = str(run.outcome.get("status"))
        else:
            record = await self._known_record(execution_id, with_outcome=False)
            status = record.status or "running"
        if status in FINAL_STATUSES:
            raise ExecutionAlreadyClosedError(
                f"Execution '{execution_id}' is closed ({status}): the event was not delivered",
                status=status,
            )
        raise EngineUnavailableError(
            f"Execution '{execution_id}' runs in another Flov7 process: local runs take "
            "events only from the process running them"
        )

    async def history(
        self, execution_id: str, page: str | None, page_size: int, raw: bool
    ) -> HistoryPage:
        """See :meth:`~flov7.runs.contract.ExecutionBackend.history`.

        ``raw=True`` pages through the runtime's own events (failed attempts, cancel
        requests): the rest of a local run is in its result, not in an event log.
        """
        view = await self._view(execution_id)
        if raw:
            offset = _offset(page, _EVENT_PAGES)
            end = offset + page_size
            return HistoryPage(
                execution_id=execution_id,
                engine=ENGINE,
                raw=True,
                events=view.events[offset:end],
                next_page_token=(
                    encode_position(_EVENT_PAGES, end) if end < len(view.events) else None
                ),
            )
        offset = _offset(page, _TIMELINE_PAGES)
        timeline = view.timeline()
        end = offset + page_size
        return HistoryPage(
            execution_id=execution_id,
            run_id=view.status.run_id,
            engine=ENGINE,
            raw=False,
            status=view.status.status,
            nodes={k: NodeSummary.model_validate(v) for k, v in timeline.nodes.items()},
            events=timeline.entries[offset:end],
            total_events=len(timeline.entries),
            next_page_token=(
                encode_position(_TIMELINE_PAGES, end) if end < len(timeline.entries) else None
            ),
        )

    async def list(
        self, filters: ExecutionFilters, page_token: str | None, page_size: int
    ) -> RunPage:
        """Local runs from the store, newest first (see the contract)."""
        before = _listing_position(page_token)
        try:
            records = await self.repository.find_executions(
                ENGINE,
                workflow_id=filters.workflow_id,
                statuses=_statuses(filters.status),
                started_after=_aware(filters.started_after),
                started_before=_aware(filters.started_before),
                before=before,
                limit=page_size + 1,
                # A schedule's runs: their ids start with its id (and say so in trigger).
                id_prefix=f"{filters.schedule_id}-" if filters.schedule_id else None,
            )
        except _STORE_ERRORS as exc:
            raise StoreError(f"The Flov7 store is unavailable: {exc}") from exc
        if filters.schedule_id is not None:  # the prefix may also match "<id>-other"'s
            records = [
                r for r in records if (r.trigger or {}).get("schedule_id") == filters.schedule_id
            ]
        page, token = keyset_page(
            records,
            page_size,
            _LISTING_PAGES,
            lambda last: [last.created_at.isoformat(), last.execution_id],
        )
        return RunPage(
            executions=[views.listed(record) for record in page],
            next_page_token=token,
            engine=ENGINE,
        )

    async def health(self) -> EngineHealth:
        """Always ``disabled``: there is no Temporal to be healthy, runs start at once."""
        return EngineHealth(status="disabled", engine=ENGINE, worker_running=True)

    def describe(self) -> EngineInfo:
        """The local engine: runs in this process, which is their only worker."""
        return EngineInfo(
            engine=ENGINE,
            worker_running=self._runtime is not None,
            worker_identity=process_identity(),
            data_dir=str(self.settings.flov7.data_dir),
        )

    # -- records ------------------------------------------------------------------------

    async def _stop_runs(self, runtime: LocalRuntime) -> None:
        """Cancel the runs still going and let them record it, within a grace period: a
        node that ignores cancellation must not hold the shutdown forever."""
        try:
            await asyncio.wait_for(runtime.aclose(), _SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            log.warning(
                "Local runs still stopping after %g s were abandoned; the next start "
                "marks them interrupted",
                _SHUTDOWN_GRACE_SECONDS,
            )

    async def _record_start(self, run: LocalRun, ref: WorkflowRef, fingerprint: str) -> None:
        record = ExecutionRecord(
            execution_id=run.execution_id,
            workflow_id=ref.workflow_id,
            version=ref.version,
            engine=ENGINE,
            created_at=datetime.fromisoformat(run.started_at),
            run_id=run.run_id,
            status="running",
            fingerprint=fingerprint,
            owner=process_identity(),
            trigger=ref.trigger,
        )
        try:
            kept = await self.repository.record_execution(record)
        except _STORE_ERRORS as exc:
            # The run has started: it goes on, and its end will be recorded whole.
            log.error("Local run %s started but could not be recorded: %s", run.execution_id, exc)
            return
        if kept.run_id != run.run_id:
            log.warning(
                "Execution id %s was recorded by another process meanwhile; this "
                "process's run of it will overwrite that record's outcome",
                run.execution_id,
            )

    async def _record_end(self, run: LocalRun, result: dict[str, Any]) -> None:
        """``on_finished`` of the runtime: runs inside the run's task, before waiters
        of its result wake up, so that they find the record written."""
        live = self._live.get(run.execution_id)
        if live is not None:
            await live.recorded
        status = str(result.get("status") or "failed")
        finished_at = _parse(result.get("finished_at")) or datetime.now(UTC)
        try:
            found = await self.repository.finish_execution(
                run.execution_id,
                status=status,
                finished_at=finished_at,
                error=result.get("error"),
                result=result,
                events=list(run.events),
            )
            if not found and live is not None:  # the start record failed: write it whole
                await self.repository.record_execution(
                    ExecutionRecord(
                        execution_id=run.execution_id,
                        workflow_id=live.ref.workflow_id,
                        version=live.ref.version,
                        engine=ENGINE,
                        created_at=datetime.fromisoformat(run.started_at),
                        run_id=run.run_id,
                        status=status,
                        finished_at=finished_at,
                        error=result.get("error"),
                        result=result,
                        events=list(run.events),
                        fingerprint=live.fingerprint,
                        owner=process_identity(),
                        trigger=live.ref.trigger,
                    )
                )
        except Exception as exc:  # a store failure must not fail the run's task
            log.error(
                "Local run %s ended (%s) but could not be recorded: %s; this process "
                "keeps its outcome in memory",
                run.execution_id,
                status,
                exc,
            )
            return
        # Recorded: the store answers for it now, so memory can let it go.
        self._live.pop(run.execution_id, None)
        if self._runtime is not None:
            self._runtime.discard(run.execution_id)

    # -- lookups ------------------------------------------------------------------------

    def _in_memory(self, execution_id: str) -> tuple[LocalRun | None, _Live | None]:
        return self.runtime.get(execution_id), self._live.get(execution_id)

    async def _view(self, execution_id: str) -> RunHistorySource:
        run, live = self._in_memory(execution_id)
        if run is not None and live is not None:
            return views.run_view(run, live.ref)
        return views.record_view(await self._known_record(execution_id))

    async def _record_of(
        self, execution_id: str, *, with_outcome: bool = False
    ) -> ExecutionRecord | None:
        try:
            return await self.repository.get_execution(execution_id, with_outcome=with_outcome)
        except _STORE_ERRORS as exc:
            raise StoreError(f"The Flov7 store is unavailable: {exc}") from exc

    async def _known_record(
        self, execution_id: str, *, with_outcome: bool = True
    ) -> ExecutionRecord:
        """The record of a local run; :class:`ExecutionNotFoundError` for any other id
        (runs of another engine included: this process cannot see them)."""
        record = await self._record_of(execution_id, with_outcome=with_outcome)
        if record is None or record.engine != ENGINE:
            raise ExecutionNotFoundError(f"No execution '{execution_id}'")
        return record


async def _stop_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _check_same_run(execution_id: str, kept: str | None, fingerprint: str) -> None:
    # Records written before fingerprints existed cannot tell: they are joined.
    if kept is not None and kept != fingerprint:
        raise ExecutionConflictError(
            f"Execution id '{execution_id}' is taken by a run of another document or "
            "input: nothing was started. Pick another execution_id, or send the same "
            "document and input to follow that run"
        )


def _owner_alive(owner: str | None) -> bool:
    """Whether the process that recorded a run (``host:pid``) still runs on this host.

    A run of another host cannot be checked from here: it is left alone (the local
    engine is for one machine; see the module docstring).
    """
    if owner is None:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _statuses(status: str | None) -> tuple[str, ...] | None:
    if status is None:
        return None
    if status in ("running", "pending"):
        return ("pending", "running")
    if status in FINAL_STATUSES:
        return (status,)
    raise InvalidQueryError(f"Unknown status filter '{status}'")


def _listing_position(token: str | None) -> tuple[datetime, str] | None:
    value = decode_position(token, _LISTING_PAGES)
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
        created = _parse(value[0])
        if created is not None:
            return created, value[1]
    raise InvalidQueryError("Invalid page_token: pass back the token you were given")


def _offset(token: str | None, kind: str) -> int:
    value = decode_position(token, kind)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidQueryError("Invalid page_token: pass back the token you were given")
    return value


def _aware(value: datetime | None) -> datetime | None:
    # A time without a zone is UTC, as in the Temporal backend's visibility queries.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return _aware(parsed)
