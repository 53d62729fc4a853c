"""The Flov7 worker: polls the task queue, runs workflows and node activities.

Run it alone with ``flov7 worker`` (the guide's separate worker process; start as many
as needed on the same task queue), or inside ``flov7 serve`` when
``START_TEMPORAL_WORKER=true``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from flov7.config import TemporalSettings
from flov7.engine.sub_workflow import WorkflowSource
from flov7.temporal.activities import NodeActivities
from flov7.temporal.identity import register_worker_identity
from flov7.temporal.sub_workflows import resolve_workflow_activity
from flov7.temporal.workflows import WorkflowExecution, WorkflowValidation

WORKFLOWS = [WorkflowExecution, WorkflowValidation]


def create_worker(
    client: Client,
    settings: TemporalSettings,
    *,
    resources: Any = None,
    task_queue: str | None = None,
    workflow_source: WorkflowSource | None = None,
) -> Worker:
    """A worker for the Flov7 workflows and one activity per I/O node type.

    ``workflow_source``: where ``workflow`` nodes read stored workflows from (the store);
    without one they fail with ``SubWorkflowsUnavailable``.
    """
    queue = task_queue or settings.task_queue
    # The worker polls under its client's identity; node results name it (identity.py).
    identity = client.identity
    register_worker_identity(queue, identity)
    return Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=[
            *NodeActivities(resources, identity=identity).all(),
            resolve_workflow_activity(workflow_source),
        ],
        identity=identity,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflows,
        max_concurrent_activities=settings.max_concurrent_activities,
        # Short I/O nodes run as local activities (engine/execution.py): one setting sizes
        # both kinds, so TEMPORAL_MAX_CONCURRENT_ACTIVITIES bounds each kind of I/O node.
        max_concurrent_local_activities=settings.max_concurrent_activities,
        # Let in-flight activities finish (or notice cancellation) on a clean stop.
        graceful_shutdown_timeout=timedelta(seconds=10),
        debug_mode=settings.debug,
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m flov7.temporal.worker``: the guide's ``python temporal-worker.py``.

    The same as ``flov7 worker``: connects with the ``TEMPORAL_*`` settings (``.env``
    read), polls the task queue until SIGINT/SIGTERM, then stops cleanly.
    """
    import os
    import sys

    # The CLI owns settings, logging and signals; it sits above this package, so hand
    # the process over to it rather than importing it (a lower layer never imports a
    # higher one).
    args = sys.argv[1:] if argv is None else argv
    os.execv(sys.executable, [sys.executable, "-m", "flov7.cli", "worker", *args])  # noqa: S606


if __name__ == "__main__":
    main()
