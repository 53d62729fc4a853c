"""The run service on Temporal: runs are ``WorkflowExecution`` workflows.

- status: ``describe`` says whether the run is open; an open run answers the
  ``get_status`` query (when a live worker polls), a closed one has its result
  document (returned, or carried by the ``WorkflowFailed`` failure of a failed run).
  An open run that does not progress says why (``reason``): no live worker, or the
  last workflow-task failure.
- history: the run's real event history, through :mod:`flov7.temporal.history`.
- list: Temporal visibility, filtered with the Flov7 search attributes.
- health: the server answers, and a worker polled the task queue within the liveness
  window (Temporal lists pollers for minutes after their process exited).

Every Temporal failure is translated into the run-service errors of
:mod:`flov7.errors`, so the API answers 404 / 409 / 400 / 503, never a 500.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio.api.common.v1 import WorkflowExecution as WorkflowExecutionRef
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import (
    GetWorkflowExecutionHistoryRequest,
    GetWorkflowExecutionHistoryReverseRequest,
)
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from flov7.config import TemporalSettings
from flov7.errors import (
    EngineUnavailableError,
    ExecutionAlreadyClosedError,
    ExecutionConflictError,
    ExecutionNotFoundError,
    InvalidQueryError,
    TemporalConnectionError,
)
from flov7.observability import metrics
from flov7.runs.contract import ExecutionFilters, ExecutionRef, WorkflowRef, run_fingerprint
from flov7.runs.pages import decode_bytes, decode_position, encode_bytes, encode_position
from flov7.runs.views import (
    EngineHealth,
    EngineInfo,
    HistoryPage,
    NodeSummary,
    Poller,
    RunListItem,
    RunPage,
    RunStatus,
)
from flov7.temporal.client import get_temporal_client, is_live, live_pollers, task_queue_pollers
from flov7.temporal.codec import decode_payloads_in
from flov7.temporal.environment import WorkerMode, temporal_environment
from flov7.temporal.executions import (
    MEMO_KEY,
    describe_failure,
    result_from_failure,
    result_of_closed_run,
    start_execution_once,
)
from flov7.temporal.history import build_timeline, raw_event
from flov7.temporal.names import (
    CANCEL_SIGNAL,
    EVENT_SIGNAL,
    EXECUTION_WORKFLOW,
    STATUS_QUERY,
)
from flov7.temporal.search_attributes import (
    SEARCH_ATTRIBUTES,
    STATUS,
    VERSION,
    WORKFLOW_ID,
    missing_search_attributes,
    register_search_attributes,
)

if TYPE_CHECKING:
    from flov7.config import Settings
    from flov7.temporal.devserver import EmbeddedDevServer
    from flov7.temporal.schedules import TemporalSchedules

log = logging.getLogger(__name__)

_Outcome = Any
"""What ``WorkflowHandle.result()`` gave: the result, or the ``WorkflowFailureError``."""

RESULT_QUERY = "get_result"
"""The workflow's query for its result document so far (see WorkflowExecution)."""

__all__ = ["TemporalBackend", "open_temporal_backend", "visibility_query"]

ENGINE = "temporal"

_RPC_TIMEOUT = timedelta(seconds=10)
# An unregistered attribute may be added by an operator at any time: look again now
# and then rather than once per process.
_SEARCH_ATTRIBUTE_RECHECK_SECONDS = 60.0

_TRANSIENT = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
    }
)

_CLOSED_STATUS = {
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "completed",
}

# How each status filter reads in Temporal's visibility query language. A Flov7 run
# that failed or was cancelled by signal still *completes* in Temporal terms.
_STATUS_QUERIES = {
    "running": "ExecutionStatus = 'Running'",
    "completed": "(ExecutionStatus = 'Completed' AND Flov7Status = 'completed')",
    "failed": "(ExecutionStatus = 'Failed' OR "
    "(ExecutionStatus = 'Completed' AND Flov7Status = 'failed'))",
    "cancelled": "(ExecutionStatus = 'Canceled' OR "
    "(ExecutionStatus = 'Completed' AND Flov7Status = 'cancelled'))",
    "timed_out": "ExecutionStatus = 'TimedOut'",
    "terminated": "ExecutionStatus = 'Terminated'",
}
# Without the attributes, Temporal's own status still tells runs apart: a failed Flov7
# run ends Failed and a cancelled one Canceled (runs of releases before that completed).
_STATUS_QUERIES_WITHOUT_ATTRIBUTES = {
    "running": _STATUS_QUERIES["running"],
    "completed": "ExecutionStatus = 'Completed'",
    "failed": "ExecutionStatus = 'Failed'",
    "cancelled": "ExecutionStatus = 'Canceled'",
    "timed_out": _STATUS_QUERIES["timed_out"],
    "terminated": _STATUS_QUERIES["terminated"],
}
_UNSAFE_QUERY_CHARACTERS = frozenset("'\"\\")


def visibility_query(filters: ExecutionFilters, *, search_attributes: bool) -> str:
    """The Temporal visibility query for ``filters``.

    Raises :class:`InvalidQueryError` for a filter the cluster cannot answer (Flov7
    search attributes not registered) or a value that cannot be quoted safely.
    """
    clauses = [f"WorkflowType = '{EXECUTION_WORKFLOW}'"]
    hint = (
        "needs the Flov7 search attributes, which this Temporal namespace does not have: "
        "run `flov7 setup-search-attributes`"
    )
    if filters.workflow_id is not None:
        if not search_attributes:
            raise InvalidQueryError(f"Filtering by workflow_id {hint}")
        clauses.append(f"{WORKFLOW_ID.name} = {_quote(filters.workflow_id, 'workflow_id')}")
    if filters.status is not None:
        status = "running" if filters.status == "pending" else filters.status
        table = _STATUS_QUERIES if search_attributes else _STATUS_QUERIES_WITHOUT_ATTRIBUTES
        if status not in table:
            if status in _STATUS_QUERIES:
                raise InvalidQueryError(f"Filtering by status '{status}' {hint}")
            raise InvalidQueryError(f"Unknown status filter '{status}'")
        clauses.append(table[status])
    if filters.schedule_id is not None:
        # Temporal tags every run a schedule starts with this built-in attribute.
        clauses.append(f"TemporalScheduledById = {_quote(filters.schedule_id, 'schedule_id')}")
    if filters.started_after is not None:
        clauses.append(f"StartTime >= '{_rfc3339(filters.started_after)}'")
    if filters.started_before is not None:
        clauses.append(f"StartTime <= '{_rfc3339(filters.started_before)}'")
    return " AND ".join(clauses)


def _quote(value: str, name: str) -> str:
    # Temporal's SQL visibility has no reliable escape for quotes: refuse them instead.
    if any(char in _UNSAFE_QUERY_CHARACTERS or ord(char) < 32 for char in value):
        raise InvalidQueryError(f"{name} filter cannot contain quotes, backslashes or controls")
    return f"'{value}'"


def _rfc3339(value: datetime) -> str:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


class TemporalBackend:
    """:class:`~flov7.runs.contract.ExecutionBackend` on Temporal."""

    engine = ENGINE

    def __init__(
        self,
        settings: TemporalSettings,
        *,
        client: Client | None = None,
        target: str | None = None,
        worker: Worker | None = None,
        server: EmbeddedDevServer | None = None,
        query_timeout: float = 5.0,
        liveness_seconds: float = 75.0,
    ) -> None:
        """Use ``client``, or connect to ``target`` (default: the settings') on first use.

        A lazy connection lets the API start while Temporal is down, answering 503
        until it is back. ``worker`` / ``server`` are what this process runs, for health.
        ``liveness_seconds``: a poller seen longer ago than this counts as gone.
        """
        self.settings = settings
        self._client = client
        self.target = target or (client.service_client.config.target_host if client else None)
        self.worker = worker
        self.server = server
        self.query_timeout = query_timeout
        self.liveness_seconds = liveness_seconds
        self._search_attributes: bool | None = None
        self._search_attributes_checked = 0.0

    # -- connection ---------------------------------------------------------------------

    async def client(self) -> Client:
        """The Temporal client, connecting now if needed."""
        if self._client is None:
            try:
                self._client = await get_temporal_client(self.settings, target=self.target)
            except TemporalConnectionError as exc:
                raise EngineUnavailableError(str(exc)) from exc
        return self._client

    async def search_attributes_enabled(self) -> bool:
        """Whether the namespace has the Flov7 search attributes (cached, rechecked)."""
        if self._search_attributes:
            return True
        now = time.monotonic()
        if (
            self._search_attributes is False
            and now - self._search_attributes_checked < _SEARCH_ATTRIBUTE_RECHECK_SECONDS
        ):
            return False
        client = await self.client()
        try:
            missing = await missing_search_attributes(client)
        except RPCError as exc:
            if exc.status in _TRANSIENT:
                # Temporal is down: say so now rather than remember "no attributes".
                raise EngineUnavailableError(
                    f"Temporal at {self.target} is unavailable: {exc.message}"
                ) from exc
            # No operator permission (e.g. Temporal Cloud): run without them.
            log.warning("Cannot list Temporal search attributes (%s): not using them", exc)
            missing = [name for name, _ in SEARCH_ATTRIBUTES]
        if missing and self._search_attributes is None:
            log.warning(
                "Temporal namespace '%s' lacks the search attributes %s: runs are listed "
                "without workflow/status filters. Run `flov7 setup-search-attributes`.",
                client.namespace,
                ", ".join(missing),
            )
        self._search_attributes = not missing
        self._search_attributes_checked = now
        return self._search_attributes

    # -- ExecutionBackend ---------------------------------------------------------------

    async def start(
        self,
        document: dict[str, Any],
        run_input: dict[str, Any] | None,
        execution_id: str,
        workflow_ref: WorkflowRef,
    ) -> ExecutionRef:
        """Start (or join) the run; see :func:`~flov7.temporal.executions.start_execution_once`.

        Joining needs the same document and input: the fingerprint kept in the run's
        memo tells a retried request from a reused id
        (:class:`~flov7.errors.ExecutionConflictError`).
        """
        client = await self.client()
        use_attributes = await self.search_attributes_enabled()
        fingerprint = run_fingerprint(document, run_input)
        with _translated(execution_id, self.target):
            started = await start_execution_once(
                client,
                document,
                self.settings,
                execution_id=execution_id,
                run_input=run_input,
                workflow_id=workflow_ref.workflow_id,
                version=workflow_ref.version,
                search_attributes=use_attributes,
                fingerprint=fingerprint,
                trigger=workflow_ref.trigger,
            )
            handle = started.handle
            if not started.created:
                description = await self._describe(handle)
                kept = (await _memo(description)).get("fingerprint")
                if isinstance(kept, str) and kept != fingerprint:
                    raise ExecutionConflictError(
                        f"Execution id '{execution_id}' is taken by a run of another "
                        "document or input: nothing was started. Pick another "
                        "execution_id, or send the same document and input to follow "
                        "that run"
                    )
        return ExecutionRef(
            execution_id=execution_id,
            run_id=handle.result_run_id or handle.run_id,
            engine=ENGINE,
            created=started.created,
        )

    async def status(self, execution_id: str) -> RunStatus:
        """See :meth:`~flov7.runs.contract.ExecutionBackend.status`."""
        client = await self.client()
        handle = client.get_workflow_handle(execution_id)
        with _translated(execution_id, self.target):
            description = await self._describe(handle)
            return await self._status_of(handle, description)

    async def wait(self, execution_id: str, wait_seconds: float) -> RunStatus | None:
        """See :meth:`~flov7.runs.contract.ExecutionBackend.wait`."""
        client = await self.client()
        handle = client.get_workflow_handle(execution_id)
        outcome: _Outcome
        with _translated(execution_id, self.target):
            # Every RPC here costs the Temporal server CPU, the bottleneck under load
            # (``?wait=true``, ``flov7 run``): wait first (an unknown id is NOT_FOUND at
            # once), then one describe, and the outcome already in hand is not fetched
            # a second time. This was describe, wait, describe, result.
            try:
                async with asyncio.timeout(wait_seconds):
                    outcome = await handle.result()
            except TimeoutError:
                await self._describe(handle)  # not a Flov7 run: 404 rather than None
                return None
            except WorkflowFailureError as exc:
                outcome = exc
            description = await self._describe(handle)
            status, _ = await self._status_and_states(handle, description, outcome)
            return status

    async def cancel(self, execution_id: str, reason: str | None = None) -> None:
        """Send ``cancel_workflow``; 409-style error when the run is closed."""
        client = await self.client()
        handle = client.get_workflow_handle(execution_id)
        with _translated(execution_id, self.target):
            await self._ensure_open(handle, "cancel")
            try:
                await handle.signal(CANCEL_SIGNAL, reason or "cancelled through the API")
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:  # closed since the describe
                    raise ExecutionAlreadyClosedError(
                        f"Execution '{execution_id}' closed meanwhile: nothing to cancel",
                        status="closed",
                    ) from exc
                raise

    async def terminate(self, execution_id: str, reason: str | None = None) -> None:
        """Terminate the run in Temporal: it ends at once, whatever it runs (nodes in
        flight are not waited for; the run's status becomes ``terminated``)."""
        client = await self.client()
        handle = client.get_workflow_handle(execution_id)
        with _translated(execution_id, self.target):
            await self._ensure_open(handle, "terminate")
            try:
                await handle.terminate(reason=reason or "terminated through the API")
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    raise ExecutionAlreadyClosedError(
                        f"Execution '{execution_id}' closed meanwhile: nothing to terminate",
                        status="closed",
                    ) from exc
                raise
        # The workflow never sees its termination: count the run's end here, once.
        metrics.record_run_finished("terminated", None)

    async def history(
        self, execution_id: str, page: str | None, page_size: int, raw: bool
    ) -> HistoryPage:
        """See :meth:`~flov7.runs.contract.ExecutionBackend.history`."""
        client = await self.client()
        handle = client.get_workflow_handle(execution_id)
        with _translated(execution_id, self.target):
            if raw:
                await self._describe(handle)  # 404 for an unknown id
                return await self._raw_history(client, execution_id, page, page_size)
            offset = decode_position(page, "timeline") or 0
            if not isinstance(offset, int) or offset < 0:
                raise InvalidQueryError("Invalid page_token: pass back the token you were given")
            events: builtins.list[HistoryEvent] = [
                event async for event in handle.fetch_history_events()
            ]
            for event in events:  # encrypted payloads (FLOV7_ENCRYPTION_KEYS) in clear
                await decode_payloads_in(event, client.data_converter)
            # Described after the events were read: a run that closed meanwhile is
            # then closed in both (read the other way round, the events could show the
            # end while the status still said running).
            description = await self._describe(handle)
            status, states = await self._status_and_states(handle, description)
            timeline = build_timeline(
                events,
                decode=client.data_converter.payload_converter.from_payload,
                node_states=states,
            )
        end = offset + page_size
        return HistoryPage(
            execution_id=execution_id,
            run_id=description.run_id,
            engine=ENGINE,
            raw=False,
            status=status.status,
            nodes={k: NodeSummary.model_validate(v) for k, v in timeline.nodes.items()},
            events=timeline.entries[offset:end],
            total_events=len(timeline.entries),
            next_page_token=(
                encode_position("timeline", end) if end < len(timeline.entries) else None
            ),
        )

    async def list(
        self, filters: ExecutionFilters, page_token: str | None, page_size: int
    ) -> RunPage:
        """See :meth:`~flov7.runs.contract.ExecutionBackend.list`.

        Temporal's SQL visibility orders open runs before closed ones (by close time):
        each page is put in start-time order, newest first.
        """
        if filters.status == "interrupted":
            # Only local runs are ever interrupted: a Temporal run survives restarts.
            decode_bytes(page_token)
            return RunPage(executions=[], next_page_token=None, engine=ENGINE)
        client = await self.client()
        query = visibility_query(filters, search_attributes=await self.search_attributes_enabled())
        token = decode_bytes(page_token)
        with _translated(None, self.target):
            iterator = client.list_workflows(
                query, page_size=page_size, next_page_token=token, rpc_timeout=_RPC_TIMEOUT
            )
            await iterator.fetch_next_page()
            executions = [await _listed(execution) for execution in iterator.current_page or []]
        executions.sort(key=lambda item: item.started_at or "", reverse=True)
        return RunPage(
            executions=executions,
            next_page_token=encode_bytes(iterator.next_page_token),
            engine=ENGINE,
        )

    # -- health and description ---------------------------------------------------------

    def describe(self) -> EngineInfo:
        """See :meth:`~flov7.runs.contract.ExecutionBackend.describe`."""
        return EngineInfo(
            engine=ENGINE,
            target=self.target,
            embedded_server=self.server is not None,
            ui_url=self.server.ui_url if self.server is not None else None,
            worker_running=bool(self.worker is not None and self.worker.is_running),
            worker_identity=self.worker.client.identity if self.worker is not None else None,
            task_queue=self.settings.task_queue,
            data_dir=str(self.server.data_dir) if self.server is not None else None,
        )

    async def health(self) -> EngineHealth:
        """Server reachable (with latency), this process's worker, live pollers.

        Unhealthy (with the reason) when the server does not answer or no worker polled
        the task queue within :attr:`liveness_seconds`.
        """
        info = self.describe()
        report = EngineHealth(
            status="unhealthy",
            engine=ENGINE,
            target=self.target,
            namespace=self.settings.namespace,
            task_queue=self.settings.task_queue,
            embedded_server=info.embedded_server,
            worker_running=info.worker_running,
            live_window_seconds=self.liveness_seconds,
        )
        began = time.perf_counter()
        try:
            client = await self.client()
            await client.service_client.check_health(timeout=timedelta(seconds=5))
            report.latency_ms = round((time.perf_counter() - began) * 1000, 2)
            report.reachable = True
            pollers = await task_queue_pollers(client, self.settings.task_queue)
        except (EngineUnavailableError, RPCError) as exc:
            report.reason = f"Temporal is not reachable at {self.target}: {exc}"
            return report
        now = datetime.now(UTC)
        report.pollers = [
            Poller(
                identity=poller.identity,
                last_access_time=poller.last_access_time.ToDatetime(tzinfo=UTC).isoformat(),
                live=is_live(poller, self.liveness_seconds, now=now),
            )
            for poller in pollers
        ]
        # This process's own running worker is live by definition (its pollers show up
        # a moment after it starts).
        if not report.worker_running and not any(poller.live for poller in report.pollers):
            seen = f"{len(pollers)} seen earlier, " if pollers else ""
            report.reason = (
                f"No worker polls task queue '{self.settings.task_queue}' ({seen}none "
                f"within the last {self.liveness_seconds:g} s): runs would wait. Start "
                "`flov7 worker` or set START_TEMPORAL_WORKER=true"
            )
            return report
        report.status = "ok"
        return report

    async def schedules(self) -> TemporalSchedules:
        """Flov7 schedules on this engine: Temporal Schedules (docs/triggers.md)."""
        # Imported here: schedules bring croniter and the store (SQLAlchemy), which
        # `flov7 run` and a worker never need.
        from flov7.temporal.schedules import TemporalSchedules

        return TemporalSchedules(
            await self.client(),
            self.settings,
            search_attributes=await self.search_attributes_enabled(),
            status_of=self.status,
        )

    async def send_event(self, execution_id: str, event: str, data: Any) -> None:
        """Send the ``deliver_event`` signal; 409-style error when the run is closed."""
        client = await self.client()
        handle = client.get_workflow_handle(execution_id)
        with _translated(execution_id, self.target):
            await self._ensure_open(handle, "send an event to")
            try:
                await handle.signal(EVENT_SIGNAL, {"event": event, "data": data})
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:  # closed since the describe
                    raise ExecutionAlreadyClosedError(
                        f"Execution '{execution_id}' closed meanwhile: the event was not delivered",
                        status="closed",
                    ) from exc
                raise

    # -- internals ----------------------------------------------------------------------

    async def _describe(self, handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionDescription:
        description = await handle.describe(rpc_timeout=_RPC_TIMEOUT)
        if description.workflow_type != EXECUTION_WORKFLOW:
            # Same namespace, other workflows (WorkflowValidation, other apps): not runs.
            raise ExecutionNotFoundError(f"No execution '{handle.id}'")
        return description

    async def _ensure_open(self, handle: WorkflowHandle[Any, Any], action: str) -> None:
        description = await self._describe(handle)
        if description.status != WorkflowExecutionStatus.RUNNING:
            status = (await self._status_of(handle, description)).status
            raise ExecutionAlreadyClosedError(
                f"Execution '{handle.id}' is closed ({status}): nothing to {action}",
                status=status,
            )

    async def _status_of(
        self, handle: WorkflowHandle[Any, Any], description: WorkflowExecutionDescription
    ) -> RunStatus:
        status, _ = await self._status_and_states(handle, description)
        return status

    async def _status_and_states(
        self,
        handle: WorkflowHandle[Any, Any],
        description: WorkflowExecutionDescription,
        outcome: _Outcome | None = None,
    ) -> tuple[RunStatus, dict[str, dict[str, Any]]]:
        """The run's status, and its node states with outputs (for the timeline).

        ``outcome``: what ``handle.result()`` returned or raised, when the caller already
        waited for it (a closed run's outcome is then not fetched again)."""
        labels = await _labels(description)
        answer = RunStatus(
            execution_id=description.id,
            run_id=description.run_id,
            engine=ENGINE,
            workflow_id=labels.get("workflow_id"),
            version=labels.get("version"),
            trigger=labels.get("trigger"),
            status="running",
            engine_status=description.status.name if description.status else None,
            started_at=_iso(description.start_time),
            finished_at=_iso(description.close_time),
        )
        if description.status == WorkflowExecutionStatus.RUNNING:
            report = await self._query(handle, description.task_queue)
            if report is None or report.get("status") == "starting":
                answer.status = "pending"
                answer.reason = await self._why_not_progressing(handle, description)
                return answer, {}
            answer.show_report(report)
            # The interpreter may already know the outcome (a node failed, a cancel was
            # asked) while nodes in flight finish: the run is still running until closed.
            answer.status = "running"
            answer.reason = await self._workflow_task_failure(handle, description)
            return answer, dict(report.get("nodes") or {})
        result, error = await self._closed_outcome(handle, description, outcome)
        if result is not None:
            answer.show_result(result)
            if description.status not in (None, WorkflowExecutionStatus.COMPLETED):
                # Failed or Canceled in Temporal, with the document: its status stands,
                # unless Temporal ended the run itself (terminate, timeout).
                closed = _CLOSED_STATUS.get(description.status, "failed")
                if closed in ("terminated", "timed_out"):
                    answer.status = closed
            return answer, dict(result.get("node_results") or {})
        answer.status = _CLOSED_STATUS.get(
            description.status or WorkflowExecutionStatus.FAILED, "failed"
        )
        answer.error = error
        # No result document: ask the workflow (replayed by a worker) for its node states.
        report = await self._query(handle, description.task_queue)
        states: dict[str, dict[str, Any]] = {}
        if report is not None:
            kept_error = answer.error
            answer.show_report(report)
            answer.error = kept_error
            states = dict(report.get("nodes") or {})
        return answer, states

    async def _closed_outcome(
        self,
        handle: WorkflowHandle[Any, Any],
        description: WorkflowExecutionDescription,
        outcome: _Outcome | None = None,
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The result document of a closed run (None without one), and its error.

        ``outcome``: the run's ``handle.result()`` (value or failure) if already read."""
        try:
            if outcome is None:
                result = await handle.result(rpc_timeout=_RPC_TIMEOUT)
            elif isinstance(outcome, WorkflowFailureError):
                raise outcome
            else:
                result = outcome
        except WorkflowFailureError as exc:
            document = result_from_failure(exc)
            # A Canceled run's document is in its get_result query, which a worker must
            # answer: only ask while one polls (a query would hang for nobody).
            if (
                document is None
                and description.status == WorkflowExecutionStatus.CANCELED
                and await live_pollers(
                    await self.client(), description.task_queue, self.liveness_seconds
                )
            ):
                document = await result_of_closed_run(handle, exc, query_timeout=self.query_timeout)
            if document is not None:
                return document, document.get("error")
            cause = exc.cause
            kind = cause.type if isinstance(cause, ApplicationError) and cause.type else None
            return None, {
                "type": kind or type(cause or exc).__name__,
                "message": describe_failure(exc),
            }
        if isinstance(result, dict):
            return result, result.get("error")
        return None, None

    async def _query(
        self, handle: WorkflowHandle[Any, Any], task_queue: str
    ) -> dict[str, Any] | None:
        """The ``get_status`` answer, or None when no live worker can answer it now.

        A query waits for a worker; with nobody polling it would hang until its
        timeout, so look at the live pollers first.
        """
        client = await self.client()
        try:
            if not await live_pollers(client, task_queue, self.liveness_seconds):
                return None
            answer = await handle.query(
                STATUS_QUERY, rpc_timeout=timedelta(seconds=self.query_timeout)
            )
        except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
            log.debug("get_status query of %s failed: %s", handle.id, exc)
            return None
        return answer if isinstance(answer, dict) else None

    async def recorded_result(self, execution_id: str) -> dict[str, Any] | None:
        """What a closed run's history replays to (the ``get_result`` query): the result
        document of a run that ended without one (terminated, timed out), for a rerun.
        None when no live worker can answer."""
        client = await self.client()
        handle = client.get_workflow_handle(execution_id)
        with _translated(execution_id, self.target):
            description = await handle.describe()
        try:
            if not await live_pollers(client, description.task_queue, self.liveness_seconds):
                return None
            answer = await handle.query(
                RESULT_QUERY, rpc_timeout=timedelta(seconds=self.query_timeout)
            )
        except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
            log.debug("get_result query of %s failed: %s", execution_id, exc)
            return None
        return answer if isinstance(answer, dict) else None

    async def _why_not_progressing(
        self, handle: WorkflowHandle[Any, Any], description: WorkflowExecutionDescription
    ) -> str:
        """Why an open run has no status to show: its workflow task keeps failing, or
        no live worker polls its task queue."""
        failure = await self._workflow_task_failure(handle, description)
        if failure is not None:
            return failure
        client = await self.client()
        try:
            pollers = await task_queue_pollers(client, description.task_queue)
        except RPCError:
            pollers = []
        now = datetime.now(UTC)
        if not any(is_live(poller, self.liveness_seconds, now=now) for poller in pollers):
            return (
                f"No live worker polls task queue '{description.task_queue}': the run "
                "waits until one does (start `flov7 worker`, or `flov7 serve` with "
                "START_TEMPORAL_WORKER=true)"
            )
        return "Waiting for a worker to pick the run up"

    async def _workflow_task_failure(
        self, handle: WorkflowHandle[Any, Any], description: WorkflowExecutionDescription
    ) -> str | None:
        """The last workflow-task failure, when the run's workflow task is being retried."""
        pending = description.raw_description.pending_workflow_task
        if not description.raw_description.HasField("pending_workflow_task") or (
            pending.attempt <= 1
        ):
            return None
        client = await self.client()
        try:
            response = await client.workflow_service.get_workflow_execution_history_reverse(
                GetWorkflowExecutionHistoryReverseRequest(
                    namespace=client.namespace,
                    execution=WorkflowExecutionRef(
                        workflow_id=description.id, run_id=description.run_id or ""
                    ),
                    maximum_page_size=50,
                ),
                retry=True,
                timeout=_RPC_TIMEOUT,
            )
        except RPCError as exc:
            log.debug("Reverse history of %s failed: %s", handle.id, exc)
            return None
        for event in response.history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                await decode_payloads_in(event, client.data_converter)  # encrypted failures
                attributes = event.workflow_task_failed_event_attributes
                failure = attributes.failure
                kind = (
                    failure.application_failure_info.type
                    if failure.HasField("application_failure_info")
                    else ""
                ) or "WorkflowTaskFailed"
                return (
                    f"The workflow task keeps failing (attempt {pending.attempt}): "
                    f"{kind}: {failure.message}"
                )
        return None

    async def _raw_history(
        self, client: Client, execution_id: str, page: str | None, page_size: int
    ) -> HistoryPage:
        response = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace,
                execution=WorkflowExecutionRef(workflow_id=execution_id),
                maximum_page_size=page_size,
                next_page_token=decode_bytes(page) or b"",
            ),
            retry=True,
            timeout=_RPC_TIMEOUT,
        )
        for event in response.history.events:
            await decode_payloads_in(event, client.data_converter)
        return HistoryPage(
            execution_id=execution_id,
            engine=ENGINE,
            raw=True,
            events=[raw_event(event) for event in response.history.events],
            next_page_token=encode_bytes(response.next_page_token),
        )


@contextlib.contextmanager
def _translated(execution_id: str | None, target: str | None) -> Iterator[None]:
    """Temporal's RPC errors as run-service errors (404 / 400 / 503)."""
    try:
        yield
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND and execution_id is not None:
            raise ExecutionNotFoundError(f"No execution '{execution_id}'") from exc
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise InvalidQueryError(f"Temporal refused the request: {exc.message}") from exc
        raise EngineUnavailableError(
            f"Temporal at {target or 'the configured address'} failed the request "
            f"({exc.status.name}): {exc.message}"
        ) from exc
    except TemporalConnectionError as exc:
        raise EngineUnavailableError(str(exc)) from exc


async def _memo(description: WorkflowExecution) -> dict[str, Any]:
    """The Flov7 memo entry of a run (empty when it has none we can read)."""
    try:
        memo = await description.memo()
    except Exception:  # a memo from another client we cannot decode: ignore it
        return {}
    entry = memo.get(MEMO_KEY)
    return entry if isinstance(entry, dict) else {}


async def _labels(description: WorkflowExecution) -> dict[str, Any]:
    """Workflow id and version of a run: from its memo, else its search attributes."""
    entry = await _memo(description)
    labels: dict[str, Any] = {}
    if entry:
        labels = {
            "workflow_id": entry.get("workflow_id"),
            "version": entry.get("version"),
            "rerun_of": entry.get("rerun_of"),
        }
        if isinstance(entry.get("trigger"), dict):
            labels["trigger"] = entry["trigger"]
    attributes = description.typed_search_attributes
    labels.setdefault("workflow_id", attributes.get(WORKFLOW_ID))
    labels.setdefault("version", attributes.get(VERSION))
    return labels


async def _listed(execution: WorkflowExecution) -> RunListItem:
    labels = await _labels(execution)
    status: str
    if execution.status == WorkflowExecutionStatus.RUNNING:
        status = "running"
    elif execution.status == WorkflowExecutionStatus.COMPLETED:
        status = execution.typed_search_attributes.get(STATUS) or "completed"
    else:
        status = _CLOSED_STATUS.get(execution.status or WorkflowExecutionStatus.FAILED, "failed")
    return RunListItem(
        execution_id=execution.id,
        run_id=execution.run_id,
        engine=ENGINE,
        workflow_id=labels.get("workflow_id"),
        version=labels.get("version"),
        trigger=labels.get("trigger"),
        status=status,
        engine_status=execution.status.name if execution.status else None,
        started_at=_iso(execution.start_time),
        finished_at=_iso(execution.close_time),
        rerun_of=labels.get("rerun_of"),
    )


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


@contextlib.asynccontextmanager
async def open_temporal_backend(settings: Settings) -> AsyncIterator[TemporalBackend]:
    """The Temporal backend the settings describe, with what this process must run.

    - ``TEMPORAL_HOST`` set and ``START_TEMPORAL_WORKER=false``: connect lazily, so the
      API starts (and reports 503) while Temporal is down.
    - otherwise :func:`~flov7.temporal.environment.temporal_environment`: the embedded dev
      server when ``TEMPORAL_HOST`` is unset (with the Flov7 search attributes), and a
      worker in this process when ``START_TEMPORAL_WORKER=true``.
    """
    async with open_temporal_backend_with(
        settings,
        WorkerMode.ALWAYS if settings.temporal.start_worker else WorkerMode.NEVER,
        same_data_dir=True,
    ) as backend:
        yield backend


@contextlib.asynccontextmanager
async def open_temporal_backend_with(
    settings: Settings, worker: WorkerMode, *, same_data_dir: bool = False
) -> AsyncIterator[TemporalBackend]:
    """:func:`open_temporal_backend` with an explicit worker mode (``flov7 run``).

    ``same_data_dir``: refuse an embedded server claimed by another data directory
    (the service does: its store must match the server's runs)."""
    temporal = settings.temporal
    liveness = settings.flov7.worker_liveness_seconds
    if temporal.host is not None and worker == WorkerMode.NEVER:
        yield TemporalBackend(temporal, target=temporal.host, liveness_seconds=liveness)
        return
    async with temporal_environment(
        settings, worker=worker, search_attributes=SEARCH_ATTRIBUTES, same_data_dir=same_data_dir
    ) as environment:
        if temporal.uses_embedded_server:
            # A dev server started earlier by `flov7 worker` has no Flov7 attributes; on
            # our own loopback server registering them is safe (an external cluster is
            # the operator's call: `flov7 setup-search-attributes`).
            try:
                await register_search_attributes(environment.client)
            except RPCError as exc:
                log.warning("Could not register the Flov7 search attributes: %s", exc)
        yield TemporalBackend(
            temporal,
            client=environment.client,
            target=environment.target,
            worker=environment.worker,
            server=environment.server,
            liveness_seconds=liveness,
        )
