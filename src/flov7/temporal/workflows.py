"""Temporal workflows: ``WorkflowExecution`` and ``WorkflowValidation``.

Both take a plain JSON workflow document and return a plain JSON object, so any
Temporal client in any language (the ``temporal`` CLI included) can start them by name.

How a run ends in Temporal (so that its UI, ``ExecutionStatus`` queries and metrics tell
the truth), since the ``flov7-run-state`` patch:

- ``completed``: the workflow completes, returning the result document;
- ``failed``: the workflow fails with ``ApplicationError(type="WorkflowFailed",
  non_retryable=True)`` whose ``details[0]`` is the whole result document. Non-retryable:
  the workflow retry policy must not re-run nodes whose side effects already happened;
- ``cancelled`` (the ``cancel_workflow`` signal, a Temporal cancel request, a node
  cancelled on its own): the workflow ends Canceled. Temporal keeps no details for a
  cancelled workflow (the SDK sends none), so the result document is the answer of the
  ``get_result`` query, which a worker answers from the replayed run even once closed.

Runs whose history predates the patch (recorded in tests/fixtures/histories/) replay on
the old path: a failed or signal-cancelled run completed with the result document.

This module is workflow code: Temporal replays it, so it must stay deterministic. Time
comes from ``workflow.now()``, timers from ``workflow.sleep``; the graph logic in
:mod:`flov7.engine` is pure and iterates lists only. Flov7's modules and pydantic are
passed through the sandbox (imported once, not per run): they have no side effects.

The worker passes this module through too (``PASSTHROUGH_MODULES`` in worker.py): it is
not re-imported for each run, so it must keep no module-level state a run could change,
and the sandbox no longer proxies the stdlib modules it imports (a ``datetime.now()``
here would not fail the worker's workflow task). The replay tests run it in the SDK's
default sandbox, which still does: keep nondeterministic calls out of it regardless.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError

with workflow.unsafe.imports_passed_through():
    # The registry imports every built-in node type; load them all now, passed through,
    # so that nothing is imported lazily (and re-imported) inside the sandbox later.
    import flov7.nodes.registry  # noqa: F401
    from flov7.engine.driver import (
        MAX_STEPS_PER_CHECKPOINT,
        PACED_PURE_NODE_STEPS,
        RESULT_STEPS_PER_NODE,
        ActivityOutcome,
        ActivityPolicy,
        ActivityRequest,
        GraphDriver,
        NodeFailed,
        timeout_error,
    )
    from flov7.engine.events import EVENT_NAME_MAX_LENGTH, EventMailbox, ReceivedEvent
    from flov7.engine.execution import Execution
    from flov7.engine.interpreter import BUILD_STEPS_PER_NODE, Interpreter
    from flov7.engine.sub_workflow import SubWorkflowCall, SubWorkflowOutcome
    from flov7.engine.validate import (
        ValidationReport,
        validate_workflow,
        validation_steps,
    )
    from flov7.temporal.identity import worker_identity
    from flov7.temporal.names import (
        CANCEL_OWN_RUN_ACTIVITY,
        FAILED_ERROR_TYPE,
        RESULT_QUERY,
        activity_name,
    )
    from flov7.temporal.observe import (
        WorkflowObserver,
        record_run_finished,
        record_run_started,
        run_labels,
    )
    from flov7.temporal.search_attributes import RUNNING, status_set_at_start, status_update
    from flov7.temporal.sub_workflows import run_child
    from flov7.unicode_safety import replace_lone_surrogates, scrub_value


CONTINUE_AS_NEW_PATCH = "flov7-continue-as-new"
"""``workflow.patched`` id of continue-as-new (see TemporalNodeRunner)."""

LOCAL_ACTIVITIES_PATCH = "flov7-local-activities"
"""``workflow.patched`` id of I/O nodes run as local activities (engine/execution.py)."""

LOCAL_ACTIVITIES_PER_TASK = 100
"""Local activities one workflow task may start before the runner lets it end.

A workflow task stays open while local activities run, and their results are only
recorded (as markers) when it completes. A wide fan-out of quick local activities
(a ``for_each`` over 1,000 items) would keep one task open for many seconds, past the
SDK's workflow-task heartbeat, and on a busy machine past the task timeout: the task
then times out and every local activity it ran runs again (measured here: 3,000 calls
for 1,000 items). So after this many, new ones wait until those in flight have finished
and a 1 ms timer ends the task (:data:`TASK_END_SUMMARY`), which records them. Counted
per workflow task (the history's length names it), so replays take the same path."""

TASK_END_SUMMARY = "flov7 local activities recorded"
"""Summary of the timer that ends a workflow task after a batch of local activities."""

LOCAL_RETRY_THRESHOLD_SECONDS = 5.0
"""A local activity's retry backoff up to this long sleeps in the worker; a longer one is
a durable timer (Temporal's ``local_retry_threshold``)."""


T = TypeVar("T")

PACING_PATCH = "flov7-paced-large-runs"
"""Patch id of the pacing of large documents (a checkpoint after validating them, and
pure nodes counted towards checkpoints); asked only of documents over
:data:`PACED_DOCUMENT_NODES` nodes, so smaller runs record no marker for it."""

PACED_DOCUMENT_NODES = 400
"""Documents with more nodes than this are paced (see :data:`PACING_PATCH`). Below it,
the pure nodes' own count (at most 400,000 steps) cannot bring a checkpoint forward by
itself."""

PACED_VALIDATION_PATCH = "flov7-paced-validation"
"""Patch id of the pacing of large documents' validation: :func:`validation_steps` ends
the workflow task whenever its counted cost passes the driver's budget of one task
(``MAX_STEPS_PER_CHECKPOINT``), the document's node limit applies
(``MAX_WORKFLOW_NODES``), and the run's pure nodes and result are paced with fewer
checkpoints (``PACED_PURE_NODE_STEPS``, ``RESULT_STEPS_PER_NODE``): a 20,000-node
document validated in one task held it past the SDK's 2 s deadlock detection, and the
task was retried for ever. Asked only of documents over :data:`PACED_DOCUMENT_NODES`
nodes, before validating them; runs that recorded :data:`PACING_PATCH` without it
replay on that path."""

RUN_STATE_PATCH = "flov7-run-state"
"""Patch id of "a failed run fails, a cancelled run is Canceled" (they used to complete).

Once no run started before the patch can be open any more (runs last at most
TEMPORAL_WORKFLOW_TIMEOUT_MINUTES) and the pre-patch histories are retired from
tests/fixtures/histories/, ``workflow.deprecate_patch`` replaces ``patched``."""


class TemporalNodeRunner:
    """Runs I/O nodes as activities, delays as durable timers, and waits for events
    on the ``deliver_event`` signals kept in ``mailbox``."""

    def __init__(self, mailbox: EventMailbox | None = None) -> None:
        self.mailbox = mailbox or EventMailbox()
        # Local activities of the current workflow task (see LOCAL_ACTIVITIES_PER_TASK).
        self._task = -1
        self._local_in_task = 0
        self._local_running = 0
        self._ending_task: asyncio.Future[None] | None = None

    async def _room_for_local_activity(self) -> None:
        """Return once this workflow task may start one more local activity."""
        while True:
            # The history's length only changes when a workflow task completes (and is
            # replayed as it was): it names the current task.
            task = workflow.info().get_current_history_length()
            if task != self._task:  # A new workflow task: a fresh budget.
                self._task, self._local_in_task = task, 0
            if self._local_in_task < LOCAL_ACTIVITIES_PER_TASK:
                self._local_in_task += 1
                return
            if self._ending_task is None or self._ending_task.done():
                self._ending_task = asyncio.ensure_future(self._end_task())
            # Shielded: one node cancelled while waiting must not cancel the others' wait.
            await asyncio.shield(self._ending_task)

    async def _end_task(self) -> None:
        await workflow.wait_condition(lambda: self._local_running == 0)
        # Nothing in flight: awaiting a timer completes the task, recording the markers.
        await workflow.sleep(timedelta(milliseconds=1), summary=TASK_END_SUMMARY)

    def now(self) -> str:
        return workflow.now().isoformat()

    def worker_identity(self) -> str | None:
        # Pure nodes and timers run in the workflow task. Which worker ran that task is
        # not in what workflow code sees, so read this process's registry. On replay
        # (another worker taking a run over, a query of a closed run) the task that first
        # evaluated the node ran elsewhere, unknown here: None rather than a wrong name.
        # The value only goes into the result and queries, never into commands, so it
        # cannot make a replay diverge.
        if workflow.unsafe.is_replaying():
            return None
        return worker_identity(workflow.info().task_queue)

    async def sleep(self, seconds: float, node_id: str | None = None) -> None:
        if seconds > 0:
            # The summary names the delay node on its TimerStarted event, as activities
            # carry theirs, so that the history timeline can attribute the timer.
            await workflow.sleep(timedelta(seconds=seconds), summary=node_id)

    def continue_as_new_suggested(self, history_bytes: int, budget_bytes: int) -> bool:
        # Both inputs are replay-safe: the bytes are counted from recorded payloads, and
        # Temporal records its suggestion in the workflow task events.
        if not (history_bytes > budget_bytes or workflow.info().is_continue_as_new_suggested()):
            return False
        # Runs started before continue-as-new existed carried on in one history: their
        # replays must too (the patch marker is only recorded by runs that continue).
        return workflow.patched(CONTINUE_AS_NEW_PATCH)

    async def checkpoint(self) -> None:
        # Awaiting a timer ends the workflow task; the next one resumes right here.
        await workflow.sleep(timedelta(milliseconds=1), summary="flov7 checkpoint")

    async def run_pure(self, work: Callable[[], T]) -> T:
        # Inline, without awaiting anything: workflow code is single-threaded and replayed,
        # so pure nodes run in place (bounded by steps; see driver.MAX_STEPS_PER_CHECKPOINT).
        return work()

    async def wait_for_event(
        self, event: str, timeout_seconds: float | None, node_id: str
    ) -> ReceivedEvent:
        # The condition takes the event itself: two waits for one name woken by one
        # event must not both believe they got it (conditions run one after the other,
        # in a fixed order, on every replay).
        taken: list[ReceivedEvent] = []

        def arrived() -> bool:
            if not taken and (received := self.mailbox.take(event)) is not None:
                taken.append(received)
            return bool(taken)

        # No timeout, no timer; with one, a durable timer named after the node (so the
        # timeline attributes it). wait_condition raises asyncio.TimeoutError (an alias
        # of TimeoutError) when the timer fires first.
        try:
            await workflow.wait_condition(
                arrived,
                timeout=timedelta(seconds=timeout_seconds) if timeout_seconds else None,
                timeout_summary=node_id if timeout_seconds else None,
            )
        except builtins.TimeoutError:  # asyncio's; TimeoutError here is Temporal's
            if not taken:  # the event and the timer in one activation: the event wins
                raise
        return taken[0]

    async def run_sub_workflow(
        self, call: SubWorkflowCall, on_started: Callable[[str], None]
    ) -> SubWorkflowOutcome:
        # A child WorkflowExecution (flov7.temporal.sub_workflows).
        return await run_child(call, on_started)

    async def run_activity(
        self, request: ActivityRequest, policy: ActivityPolicy
    ) -> ActivityOutcome:
        retry_policy = RetryPolicy(
            maximum_attempts=policy.max_attempts,
            initial_interval=timedelta(seconds=policy.initial_interval_seconds),
            backoff_coefficient=policy.backoff_coefficient,
            maximum_interval=timedelta(seconds=policy.max_interval_seconds),
        )
        # Runs recorded before local activities existed scheduled every node as a regular
        # activity: their replays must too. patched() is only asked for nodes the rule
        # makes local, so a run without any records no marker.
        local = policy.execution == Execution.LOCAL and workflow.patched(LOCAL_ACTIVITIES_PATCH)
        if local:
            await self._room_for_local_activity()
            self._local_running += 1
        try:
            if local:
                result = await workflow.execute_local_activity(
                    activity_name(request.node_type),
                    request.as_dict(),
                    start_to_close_timeout=timedelta(seconds=policy.start_to_close_seconds),
                    schedule_to_close_timeout=timedelta(seconds=policy.schedule_to_close_seconds),
                    retry_policy=retry_policy,
                    # Backoffs longer than this become durable timers (the workflow task
                    # ends meanwhile) instead of a sleep inside the open workflow task.
                    local_retry_threshold=timedelta(seconds=LOCAL_RETRY_THRESHOLD_SECONDS),
                    # The worker cancels the call in-process; wait until it has stopped.
                    cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    summary=request.node_id,
                )
            else:
                result = await workflow.execute_activity(
                    activity_name(request.node_type),
                    request.as_dict(),
                    start_to_close_timeout=timedelta(seconds=policy.start_to_close_seconds),
                    schedule_to_close_timeout=timedelta(seconds=policy.schedule_to_close_seconds),
                    heartbeat_timeout=timedelta(seconds=policy.heartbeat_seconds),
                    retry_policy=retry_policy,
                    # Wait until the activity has really stopped (it learns of the cancel
                    # at its next heartbeat), so a "cancelled" result never hides a call
                    # still running. If the node finishes anyway, its real outcome is
                    # recorded.
                    cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    summary=request.node_id,
                )
        except (ActivityError, ApplicationError) as err:
            # A regular activity's failure is an ActivityError around its cause; a local
            # activity's own failure arrives as the ApplicationError itself (its timeouts
            # and cancellation still as an ActivityError): one shape for both below.
            cause = err.cause if isinstance(err, ActivityError) else err
            if isinstance(cause, CancelledError):
                raise asyncio.CancelledError() from err
            error, attempts, worker = _describe_activity_failure(cause, err, policy)
            if local and worker is None:
                # A local activity runs on the worker running this workflow task (a
                # timed-out one has no heartbeat to name it).
                worker = self.worker_identity()
            raise NodeFailed(error, attempts, worker=worker) from err
        finally:
            if local:
                self._local_running -= 1
        # Activities recorded before they reported "worker" return none: None.
        return ActivityOutcome(
            output=result["output"],
            attempts=int(result["attempt"]),
            worker=_identity(result.get("worker")),
        )


def _identity(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _describe_activity_failure(
    cause: BaseException | None, err: BaseException, policy: ActivityPolicy
) -> tuple[dict[str, Any], int, str | None]:
    """The node error, the attempts it took and the worker of the last attempt, from the
    failure's ``cause`` (the activity's own error, or a timeout)."""
    attempts = policy.max_attempts
    worker: str | None = None
    error: dict[str, Any]
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        attempts = int(details.get("attempt", attempts))
        worker = _identity(details.get("worker"))
        error = {"type": cause.type or "ActivityError", "message": cause.message}
        if details.get("details"):
            error["details"] = details["details"]
    elif isinstance(cause, TimeoutError):
        beat = cause.last_heartbeat_details
        if beat and isinstance(beat[0], dict) and "attempt" in beat[0]:
            attempts = int(beat[0]["attempt"])
            # The worker that last reported the attempt alive: the one it timed out on.
            worker = _identity(beat[0].get("worker"))
        kind = cause.type.name.lower().replace("_", "-") if cause.type else "unknown"
        limit = (
            policy.schedule_to_close_seconds
            if kind == "schedule-to-close"
            else policy.start_to_close_seconds
        )
        error = timeout_error(kind, limit)
    else:
        error = {
            "type": type(cause).__name__ if cause else "ActivityError",
            "message": str(cause or err),
        }
    error["attempts"] = attempts
    return error, attempts, worker


STRICT_VALIDATION = "flov7-strict-validation"
"""Patch id (``workflow.patched``) of the strict checks of :func:`validate_workflow`."""


@workflow.defn(name="WorkflowExecution")
class WorkflowExecution:
    """Runs a workflow document node by node; returns the result document."""

    def __init__(self) -> None:
        self._interpreter: Interpreter | None = None
        self._driver: GraphDriver | None = None
        self._cancel_reason: str | None = None
        # Filled by the deliver_event signal, possibly before run() starts.
        self._mailbox = EventMailbox()
        self._result: dict[str, Any] | None = None
        self._cancelled_while_validating = False

    @workflow.run
    async def run(self, workflow_data: dict[str, Any]) -> dict[str, Any]:
        """Validate, then run the graph; end as the module docstring says.

        Invalid documents fail the workflow (``InvalidWorkflow``, non-retryable).
        """
        # Runs started before the strict checks (unknown fields, expression references)
        # existed replay without them: a document they accepted must be accepted again.
        strict = workflow.patched(STRICT_VALIDATION)
        runner = TemporalNodeRunner(self._mailbox)
        # Large documents: validation paced over several workflow tasks, and larger
        # stretches of pure nodes per task (see PACED_VALIDATION_PATCH). Asked only of
        # them, so smaller runs record no marker.
        paced = _node_count(workflow_data) > PACED_DOCUMENT_NODES and workflow.patched(
            PACED_VALIDATION_PATCH
        )
        pending_steps = 0
        if paced:
            report, pending_steps = await self._validate_paced(workflow_data, strict, runner)
        else:
            # Runs recorded before the node limit existed replay without it.
            report = validate_workflow(workflow_data, strict=strict, max_nodes=None)
        if not report.valid or report.spec is None:
            raise ApplicationError(
                "Invalid workflow: " + report.summary().replace("\n", " "),
                report.as_dict(),
                type="InvalidWorkflow",
                non_retryable=True,
            )
        spec = report.spec
        info = workflow.info()
        # The starter's request id and start path (memo): every log line of the run,
        # and every activity through its input, carries the request id.
        labels = run_labels()
        request_id = labels.get("request_id")
        workflow_label = str(labels.get("workflow_id") or spec.id)
        log_fields = {
            "request_id": request_id,
            "execution_id": info.workflow_id,
            "workflow_id": workflow_label,
        }
        execution: dict[str, Any] = {
            "execution_id": info.workflow_id,
            "run_id": info.run_id,
            "workflow_id": spec.id,
            "attempt": info.attempt,
        }
        if isinstance(request_id, str):
            execution["request_id"] = request_id
        self._interpreter = Interpreter(spec, execution=execution)
        self._driver = GraphDriver(
            self._interpreter,
            runner,
            input_data=spec.input,
            defaults=spec.defaults,
            observer=WorkflowObserver(log_fields),
        )
        if paced:
            # What this task did already counts towards the driver's next checkpoint.
            self._driver.add_steps(pending_steps + BUILD_STEPS_PER_NODE * len(spec.nodes))
            self._driver.pure_node_steps = PACED_PURE_NODE_STEPS
            self._driver.result_node_steps = RESULT_STEPS_PER_NODE
            if self._cancelled_while_validating:
                # A Temporal cancel request came during a validation checkpoint: the run
                # ends cancelled, with its result document, as the driver does.
                self._driver.cancelled_from_outside = True
                self._driver.request_cancel("the run was cancelled")
        elif len(spec.nodes) > PACED_DOCUMENT_NODES:
            # Runs recorded between the flov7-paced-large-runs patch and the paced
            # validation: validation in one task, then a checkpoint, then pure nodes
            # paced at PURE_NODE_STEPS. Runs recorded before either replay without
            # both: they add timers to the history.
            if workflow.patched(PACING_PATCH):
                await runner.checkpoint()
            else:
                self._driver.pure_node_steps = 0
        if self._cancel_reason is not None:
            self._driver.request_cancel(self._cancel_reason)
        # No trigger in the memo: started by another Temporal client (CLI, schedule).
        trigger = labels.get("trigger")
        record_run_started(
            workflow_label,
            labels.get("trigger_label")
            or (str(trigger.get("type")) if isinstance(trigger, dict) else None)
            or "temporal",
        )
        workflow.logger.info(
            "Run of workflow '%s' started (%d nodes)",
            spec.id,
            len(spec.nodes),
            extra={**log_fields, "event": "run_started"},
        )
        # Only when the starter says the Flov7 search attributes are registered: an
        # upsert of an unknown attribute fails the workflow task (the run would hang).
        track_status = spec.defaults.search_attributes
        # The starter sets "running" in the start request (search_attributes.py); runs
        # started without it (earlier releases, whose histories must replay with this
        # upsert, other clients, retries and continuations) upsert it here. No patch:
        # the start event, part of the history, decides, and a patch would itself add a
        # marker and an upsert.
        if track_status and not status_set_at_start(
            info.typed_search_attributes, info.attempt, info.continued_run_id is not None
        ):
            workflow.upsert_search_attributes(status_update(RUNNING))
        result = await self._driver.run()
        if self._driver.continuation is not None:
            # The history grew long: go on in a fresh run of the same execution id,
            # carrying every finished node (see GraphDriver.continuation).
            workflow.logger.info(
                "Run of workflow '%s' continues as new after %d nodes",
                spec.id,
                len(self._driver.continuation["recorded"]),
            )
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new({**workflow_data, "continued": self._driver.continuation})
        self._result = result
        # Once per run, after the continue-as-new hand-over above (which ends this run
        # without finishing it), before any raise below.
        record_run_finished(
            "cancelled" if self._driver.cancelled_from_outside else str(result["status"])
        )
        if track_status:
            final = "cancelled" if self._driver.cancelled_from_outside else str(result["status"])
            workflow.upsert_search_attributes(status_update(final))
        workflow.logger.info(
            "Run of workflow '%s' %s: %d completed, %d failed, %d skipped",
            spec.id,
            result["status"],
            result["completed_nodes"],
            result["failed_nodes"],
            result["skipped_nodes"],
            extra={**log_fields, "event": f"run_{result['status']}"},
        )
        if self._driver.cancelled_from_outside:
            # A Temporal cancel request (not our signal): end as Canceled in Temporal too,
            # after every node in flight has been cancelled and recorded.
            raise asyncio.CancelledError()
        status = result["status"]
        # patched() only where the run did not complete: it records its marker in the
        # history of failed and cancelled runs only. Histories without the marker (runs
        # recorded by earlier code) take the old path on replay: they completed.
        if status == "failed" and workflow.patched(RUN_STATE_PATCH):
            raise ApplicationError(
                # A failure's message is a protobuf string: a lone surrogate (an upstream
                # error quoting broken text) would make the whole failure unencodable.
                replace_lone_surrogates(_failure_message(result)),
                scrub_value(result),
                type=FAILED_ERROR_TYPE,
                # A retry would re-run every node, repeating side effects that already
                # happened (a payment, a webhook): TEMPORAL_WORKFLOW_MAX_RETRIES never
                # applies to a run that failed at one of its nodes.
                non_retryable=True,
            )
        if status == "cancelled" and workflow.patched(RUN_STATE_PATCH):
            await self._end_as_canceled()  # Raises CancelledError once Temporal cancels.
        return result

    async def _validate_paced(
        self, workflow_data: dict[str, Any], strict: bool, runner: TemporalNodeRunner
    ) -> tuple[ValidationReport, int]:
        """:func:`validate_paced`; a Temporal cancel request meanwhile is kept for run()."""
        report, pending, cancelled = await validate_paced(
            workflow_data, strict=strict, checkpoint=runner.checkpoint
        )
        self._cancelled_while_validating = cancelled
        return report, pending

    async def _end_as_canceled(self) -> None:
        """End a run stopped by the ``cancel_workflow`` signal as Canceled in Temporal.

        The SDK ends a workflow as Canceled only when it raises CancelledError *after*
        Temporal delivered a cancel request to it (before that, CancelledError just fails
        the workflow). The server refuses a workflow's request to cancel itself through
        ``get_external_workflow_handle(own id).cancel()`` (the command fails with
        ExternalWorkflowExecutionNotFound), so an activity sends the request as a client
        would. The request comes back as this run's own cancellation, which interrupts
        the wait below with CancelledError: the run ends Canceled. Every node has
        already been cancelled and recorded; the result document stays available
        through the ``get_result`` query.
        """
        try:
            # A local activity: it runs inside this workflow task, so the cancel request
            # it sends is delivered in the next task. A regular activity's events could
            # race with the close (an UnhandledCommand workflow-task failure first).
            await workflow.execute_local_activity(
                CANCEL_OWN_RUN_ACTIVITY,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=5),
                summary="cancel_workflow: end as Canceled",
            )
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                # The cancel request arrived before the activity's answer: that is the
                # way out (the SDK ends a run that raises this, once cancelled, Canceled).
                raise
            # The run has stopped either way; only its Temporal status is at stake. Say
            # so and complete with the (cancelled) result document, as before the patch.
            workflow.logger.warning("Could not end the run as Canceled: %s", err.cause or err)
            return
        await workflow.wait_condition(lambda: False)

    @workflow.query(name="get_status")
    def get_status(self) -> dict[str, Any]:
        """The run's status and each node's status, as known right now."""
        if self._interpreter is None:
            return {"status": "starting", "nodes": {}, "counts": {}}
        return self._interpreter.status_report()

    @workflow.query(name=RESULT_QUERY)
    def get_result(self) -> dict[str, Any] | None:
        """The result document: the final one once the run has finished (the only place
        Temporal keeps the document of a Canceled run: a worker replays the closed run to
        answer), else as known right now (node outputs included: what a rerun of a run
        that ended without one, terminated or timed out, starts from)."""
        if self._result is not None:
            return self._result
        return self._interpreter.result() if self._interpreter is not None else None

    @workflow.signal(name="cancel_workflow")
    def cancel_workflow(self, reason: str | None = None) -> None:
        """Stop the run: nothing new starts, nodes in flight are cancelled."""
        self._cancel_reason = reason or "cancel_workflow signal"
        if self._driver is not None:
            self._driver.request_cancel(self._cancel_reason)

    @workflow.signal(name="deliver_event")
    def deliver_event(self, message: dict[str, Any]) -> None:
        """Keep ``{"event": name, "data": ...}`` for the ``wait`` node waiting for it
        (now or later): any Temporal client may send it."""
        name = message.get("event") if isinstance(message, dict) else None
        if not isinstance(name, str) or not 0 < len(name) <= EVENT_NAME_MAX_LENGTH:
            workflow.logger.warning("deliver_event signal without a valid 'event' ignored")
            return
        self._mailbox.deliver(name, message.get("data"), workflow.now().isoformat())


async def validate_paced(
    workflow_data: Any, *, strict: bool, checkpoint: Callable[[], Awaitable[None]]
) -> tuple[ValidationReport, int, bool]:
    """Validate, awaiting ``checkpoint`` (which ends the workflow task) whenever the work
    counted so far passes the driver's budget of one task.

    Returns the report, the steps counted since the last checkpoint, and whether a
    Temporal cancel request arrived meanwhile. Validating 20,000 nodes takes more than a
    second of CPU, and the SDK fails a workflow task that holds the thread for 2 s (and
    retries it for ever). The stops depend on the document only, so a replay stops at
    the same places.
    """
    steps = validation_steps(workflow_data, strict=strict)
    pending = 0
    cancelled = False
    while True:
        try:
            cost = next(steps)  # of the piece of work about to run
        except StopIteration as done:
            return done.value, pending, cancelled
        if pending and pending + cost > MAX_STEPS_PER_CHECKPOINT:
            pending = 0
            try:
                await checkpoint()
            except asyncio.CancelledError:
                # Not now: validation goes on (the next checkpoints still end their
                # tasks), and the caller ends the run cancelled.
                cancelled = True
        pending += cost


def _node_count(workflow_data: Any) -> int:
    """How many nodes the (not yet validated) document lists; 0 if it lists none."""
    nodes = workflow_data.get("nodes") if isinstance(workflow_data, dict) else None
    return len(nodes) if isinstance(nodes, list) else 0


def _failure_message(result: dict[str, Any]) -> str:
    """The failure's message: which node failed the run, and why."""
    error = result.get("error") or {}
    node = error.get("node_id")
    what = f"{error.get('type') or 'Error'}: {error.get('message') or 'node failed'}"
    return f"Run failed at node '{node}': {what}" if node else f"Run failed: {what}"


@workflow.defn(name="WorkflowValidation")
class WorkflowValidation:
    """Validates a workflow document; returns ``{valid, issues, warnings, ...}``."""

    @workflow.run
    async def run(self, workflow_data: dict[str, Any]) -> dict[str, Any]:
        """Validation is pure, so it runs right in the workflow: no activity.

        Large documents are validated over several workflow tasks, as in
        ``WorkflowExecution`` (see :data:`PACED_VALIDATION_PATCH`); runs recorded before
        replay in one task, without the node limit.
        """
        if _node_count(workflow_data) > PACED_DOCUMENT_NODES and workflow.patched(
            PACED_VALIDATION_PATCH
        ):
            report, _, _ = await validate_paced(
                workflow_data, strict=True, checkpoint=TemporalNodeRunner().checkpoint
            )
            return report.as_dict()
        return validate_workflow(workflow_data, max_nodes=None).as_dict()
