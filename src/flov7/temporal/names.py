"""Names shared by the workflow and its activities (imported into workflow code)."""

from __future__ import annotations

DEFAULT_TASK_QUEUE = "flov7-workflow-task-queue"
EXECUTION_WORKFLOW = "WorkflowExecution"
VALIDATION_WORKFLOW = "WorkflowValidation"
STATUS_QUERY = "get_status"
CANCEL_SIGNAL = "cancel_workflow"


def activity_name(node_type: str) -> str:
    """The activity type of an I/O node type: one activity name per node type."""
    return f"flov7.{node_type}"
