"""Temporal workflows: ``WorkflowExecution`` and ``WorkflowValidation``.

Both take a plain JSON workflow document and return a plain JSON object, so any
Temporal client in any language (the ``temporal`` CLI included) can start them by name.

This module is workflow code: Temporal replays it, so it must stay deterministic. Time
comes from ``workflow.now()``, timers from ``workflow.sleep``; the graph logic in
:mod:`flov7.engine` is pure and iterates lists only. Flov7's modules and pydantic are
passed through the sandbox (imported once, not per run): they have no side effects.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError

with workflow.unsafe.imports_passed_through():
    # The registry imports every built-in node type; load them all now, passed through,
    # so that nothing is imported lazily (and re-imported) inside the sandbox later.
    import flov7.nodes.registry  # noqa: F401
    from flov7.engine.driver import (
        ActivityOutcome,
        ActivityPolicy,
        ActivityRequest,
        GraphDriver,
        NodeFailed,
        timeout_error,
    )
    from flov7.engine.interpreter import Interpreter
    from flov7.engine.validate import validate_workflow
    from flov7.temporal.names import activity_name
    from flov7.temporal.observe import (
        WorkflowObserver,
        record_run_finished,
        record_run_started,
        run_labels,
    )
    from flov7.temporal.search_attributes import status_update


class TemporalNodeRunner:
    """Runs I/O nodes as activities and delays as durable timers."""

    def now(self) -> str:
        return workflow.now().isoformat()

    async def sleep(self, seconds: float, node_id: str | None = None) -> None:
        if seconds > 0:
            # The summary names the delay node on its TimerStarted event, as activities
            # carry theirs, so that the history timeline can attribute the timer.
            await workflow.sleep(timedelta(seconds=seconds), summary=node_id)

    async def checkpoint(self) -> None:
        # Awaiting a timer ends the workflow task; the next one resumes right here.
        await workflow.sleep(timedelta(milliseconds=1), summary="flov7 checkpoint")

    async def run_activity(
        self, request: ActivityRequest, policy: ActivityPolicy
    ) -> ActivityOutcome:
        try:
            result = await workflow.execute_activity(
                activity_name(request.node_type),
                request.as_dict(),
                start_to_close_timeout=timedelta(seconds=policy.start_to_close_seconds),
                schedule_to_close_timeout=timedelta(seconds=policy.schedule_to_close_seconds),
                heartbeat_timeout=timedelta(seconds=policy.heartbeat_seconds),
                retry_policy=RetryPolicy(
                    maximum_attempts=policy.max_attempts,
                    initial_interval=timedelta(seconds=policy.initial_interval_seconds),
                    backoff_coefficient=policy.backoff_coefficient,
                    maximum_interval=timedelta(seconds=policy.max_interval_seconds),
                ),
                # Wait until the activity has really stopped (it learns of the cancel at
                # its next heartbeat), so a "cancelled" result never hides a call still
                # running. If the node finishes anyway, its real outcome is recorded.
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                summary=request.node_id,
            )
        except ActivityError as err:
            if isinstance(err.cause, CancelledError):
                raise asyncio.CancelledError() from err
            error, attempts = _describe_activity_failure(err, policy)
            raise NodeFailed(error, attempts) from err
        return ActivityOutcome(output=result["output"], attempts=int(result["attempt"]))


def _describe_activity_failure(
    err: ActivityError, policy: ActivityPolicy
) -> tuple[dict[str, Any], int]:
    cause = err.cause
    attempts = policy.max_attempts
    error: dict[str, Any]
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        attempts = int(details.get("attempt", attempts))
        error = {"type": cause.type or "ActivityError", "message": cause.message}
        if details.get("details"):
            error["details"] = details["details"]
    elif isinstance(cause, TimeoutError):
        beat = cause.last_heartbeat_details
        if beat and isinstance(beat[0], dict) and "attempt" in beat[0]:
            attempts = int(beat[0]["attempt"])
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
    return error, attempts


@workflow.defn(name="WorkflowExecution")
class WorkflowExecution:
    """Runs a workflow document node by node; returns the result document."""

    def __init__(self) -> None:
        self._interpreter: Interpreter | None = None
        self._driver: GraphDriver | None = None
        self._cancel_reason: str | None = None

    @workflow.run
    async def run(self, workflow_data: dict[str, Any]) -> dict[str, Any]:
        """Validate, then run the graph. Invalid documents fail the workflow (non-retryable)."""
        report = validate_workflow(workflow_data)
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
            TemporalNodeRunner(),
            input_data=spec.input,
            defaults=spec.defaults,
            observer=WorkflowObserver(log_fields),
        )
        if self._cancel_reason is not None:
            self._driver.request_cancel(self._cancel_reason)
        # No trigger in the memo: started by another Temporal client (CLI, schedule).
        record_run_started(workflow_label, labels.get("trigger") or "temporal")
        workflow.logger.info(
            "Run of workflow '%s' started (%d nodes)",
            spec.id,
            len(spec.nodes),
            extra={**log_fields, "event": "run_started"},
        )
        # Only when the starter says the Flov7 search attributes are registered: an
        # upsert of an unknown attribute fails the workflow task (the run would hang).
        track_status = spec.defaults.search_attributes
        if track_status:
            workflow.upsert_search_attributes(status_update("running"))
        result = await self._driver.run()
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
        return result

    @workflow.query(name="get_status")
    def get_status(self) -> dict[str, Any]:
        """The run's status and each node's status, as known right now."""
        if self._interpreter is None:
            return {"status": "starting", "nodes": {}, "counts": {}}
        return self._interpreter.status_report()

    @workflow.signal(name="cancel_workflow")
    def cancel_workflow(self, reason: str | None = None) -> None:
        """Stop the run: nothing new starts, nodes in flight are cancelled."""
        self._cancel_reason = reason or "cancel_workflow signal"
        if self._driver is not None:
            self._driver.request_cancel(self._cancel_reason)


@workflow.defn(name="WorkflowValidation")
class WorkflowValidation:
    """Validates a workflow document; returns ``{valid, issues, warnings, ...}``."""

    @workflow.run
    async def run(self, workflow_data: dict[str, Any]) -> dict[str, Any]:
        """Validation is pure, so it runs right in the workflow: no activity."""
        return validate_workflow(workflow_data).as_dict()
