"""Names shared by the workflow and its activities (imported into workflow code)."""

from __future__ import annotations

from flov7.config import DEFAULT_TASK_QUEUE

__all__ = [
    "CANCEL_SIGNAL",
    "DEFAULT_TASK_QUEUE",
    "EVENT_SIGNAL",
    "EXECUTION_WORKFLOW",
    "STATUS_QUERY",
    "VALIDATION_WORKFLOW",
    "activity_name",
]

EXECUTION_WORKFLOW = "WorkflowExecution"
VALIDATION_WORKFLOW = "WorkflowValidation"
STATUS_QUERY = "get_status"
RESULT_QUERY = "get_result"
FAILED_ERROR_TYPE = "WorkflowFailed"
"""``ApplicationError.type`` of a run that failed; its ``details[0]`` is the result document."""
CANCEL_SIGNAL = "cancel_workflow"
EVENT_SIGNAL = "deliver_event"
"""Signal carrying ``{"event": name, "data": ...}`` to a run's ``wait`` nodes."""
CANCEL_OWN_RUN_ACTIVITY = "flov7._cancel_own_run"
"""Activity a run stopped by ``cancel_workflow`` uses to end as Canceled (workflows.py)."""


def activity_name(node_type: str) -> str:
    """The activity type of an I/O node type: one activity name per node type."""
    return f"flov7.{node_type}"
