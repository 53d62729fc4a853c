"""Sub-workflows on Temporal: an activity resolves the stored document, then the run
starts it as a child ``WorkflowExecution``.

Workflow code never reads the database (a replay would read it again, and maybe get
another version): the ``flov7.resolve_workflow`` activity does, once, and its result
is in the history. The child is an ordinary ``WorkflowExecution`` (its own execution
id, status, history and cancel) started with the caller's defaults and a ``parent``
link; cancelling the calling node cancels the child (Temporal's default for child
workflows: request the cancel and wait until the child has finished cancelling), and
terminating the caller terminates it (parent close policy ``TERMINATE``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
)

from flov7.engine.driver import NodeFailed
from flov7.engine.sub_workflow import (
    SubWorkflowCall,
    SubWorkflowOutcome,
    WorkflowNotFound,
    WorkflowSource,
    unavailable_message,
)
from flov7.temporal.executions import MEMO_KEY
from flov7.temporal.names import EXECUTION_WORKFLOW
from flov7.temporal.search_attributes import start_attributes

RESOLVE_ACTIVITY = "flov7.resolve_workflow"
"""The activity that reads a stored workflow: ``{"workflow_id", "version"}`` ->
``{"version", "document"}``."""


def resolve_workflow_activity(
    source: WorkflowSource | None,
) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    """The ``flov7.resolve_workflow`` activity of a worker reading from ``source``."""

    @activity.defn(name=RESOLVE_ACTIVITY)
    async def resolve_workflow(request: dict[str, Any]) -> dict[str, Any]:
        if source is None:
            raise ApplicationError(
                unavailable_message(str(request.get("workflow_id"))),
                type="SubWorkflowsUnavailable",
                non_retryable=True,
            )
        version = request.get("version")
        try:
            found, document = await source.document(
                str(request["workflow_id"]), int(version) if version is not None else None
            )
        except WorkflowNotFound as exc:
            raise ApplicationError(str(exc), type="WorkflowNotFound", non_retryable=True) from exc
        return {"version": found, "document": document}

    return resolve_workflow


def _failure(err: ActivityError | ChildWorkflowError, fallback: str) -> dict[str, Any]:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return {"type": cause.type or fallback, "message": cause.message, "attempts": 1}
    return {"type": fallback, "message": str(cause or err), "attempts": 1}


async def run_child(call: SubWorkflowCall, on_started: Callable[[str], None]) -> SubWorkflowOutcome:
    """Workflow code: resolve ``call``'s workflow, run it as a child, return its result."""
    try:
        resolved = await workflow.execute_activity(
            RESOLVE_ACTIVITY,
            {"workflow_id": call.workflow_id, "version": call.version},
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=5)),
            summary=call.node_id,
        )
    except ActivityError as err:
        if isinstance(err.cause, CancelledError):
            raise asyncio.CancelledError() from err
        raise NodeFailed(_failure(err, "WorkflowNotFound"), 1) from err
    version = int(resolved["version"])
    document = call.child_document(resolved["document"])
    # workflow.uuid4() is replay-safe: the same id on every replay.
    execution_id = f"{call.parent.execution_id}-{call.node_id}-{workflow.uuid4().hex[:8]}"
    try:
        child = await workflow.start_child_workflow(
            EXECUTION_WORKFLOW,
            document,
            id=execution_id,
            memo={MEMO_KEY: {"workflow_id": call.workflow_id, "version": version}},
            search_attributes=(
                start_attributes(call.workflow_id, version)
                if call.defaults.search_attributes
                else None
            ),
            static_summary=f"{call.workflow_id} v{version}, called by node {call.node_id}",
        )
        # Linked once the child exists: its id then always answers a status request.
        on_started(execution_id)
        result = await child
    except ChildWorkflowError as err:
        if isinstance(err.cause, CancelledError):
            raise asyncio.CancelledError() from err
        details = err.cause.details if isinstance(err.cause, ApplicationError) else ()
        if details and isinstance(details[0], dict) and "node_results" in details[0]:
            # A failed run that ends Failed in Temporal carries its result document.
            return SubWorkflowOutcome(execution_id, document, details[0])
        raise NodeFailed(_failure(err, "SubWorkflowFailed"), 1) from err
    assert isinstance(result, dict)
    return SubWorkflowOutcome(execution_id, document, result)
