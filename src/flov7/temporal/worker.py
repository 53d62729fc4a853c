"""The Flov7 worker: polls the task queue, runs workflows and node activities.

Run it alone with ``flov7 worker`` (the guide's separate worker process; start as many
as needed on the same task queue), or inside ``flov7 serve`` when
``START_TEMPORAL_WORKER=true``.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import temporalio
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import flov7
from flov7.config import TemporalSettings
from flov7.engine.sub_workflow import WorkflowSource
from flov7.temporal.activities import NodeActivities
from flov7.temporal.identity import register_worker_identity
from flov7.temporal.sub_workflows import resolve_workflow_activity
from flov7.temporal.workflows import WorkflowExecution, WorkflowValidation

WORKFLOWS = [WorkflowExecution, WorkflowValidation]

PASSTHROUGH_MODULES = ("flov7",)
"""Modules the worker's sandbox shares with the worker instead of re-importing per run.

``flov7`` includes :mod:`flov7.temporal.workflows` itself: the sandbox would otherwise
re-import it (and re-run ``@workflow.defn`` on its classes) for every run, ~17 ms of CPU
per run measured under load. What that gives up, for workflow code only:

- per-run module state: a module global written by one run would be seen by the next.
  Flov7's workflow modules keep none (constants, functions and classes only; run state
  lives on the ``WorkflowExecution`` instance, one per run);
- the sandbox's restricted proxies of stdlib modules *imported by* these modules
  (``datetime.datetime.now``, ``time``, ``random``, ``os``...): a call to one from
  workflows.py would no longer fail the workflow task. The engine modules were already
  passed through, so this only adds workflows.py. Restricted builtins (``open``...)
  and the deterministic event loop stay, they are per thread, not per module.

Determinism is still guarded where it is cheap: the replay tests
(``Replayer(workflows=WORKFLOWS)``, tests/temporal/test_upgrade_guard.py and the
recorded histories) use the SDK's default sandbox, which re-imports workflows.py with
every restriction, so a nondeterministic call added there fails CI. See
docs/architecture.md, "Workflow sandbox"."""


def workflow_runner() -> SandboxedWorkflowRunner:
    """The worker's sandbox: the default restrictions, :data:`PASSTHROUGH_MODULES` shared."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def runner_for(settings: TemporalSettings) -> WorkflowRunner:
    """The worker's workflow runner: the sandbox with ``FLOV7_WORKFLOW_SANDBOX=true``,
    else none.

    Without the sandbox an activation is not executed as compiled source in a proxied
    module namespace, and ``isinstance`` is not wrapped (temporalio replaces it for the
    thread while an activation runs): about a third of the worker's CPU per node of an
    ``api_call`` chain (docs/performance.md). Flov7's workflow code is its own, already
    passed through the sandbox's module isolation (:data:`PASSTHROUGH_MODULES`); what the
    sandbox would still catch at run time (a restricted builtin such as ``open``, a
    nondeterministic call from a module that is not Flov7's) the replay tests catch in
    CI, where ``Replayer`` always uses the SDK's default sandbox. User text never runs
    as code either way (expressions have their own evaluator).
    """
    return workflow_runner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


@functools.cache
def build_id() -> str:
    """The worker's build id: Flov7's version and a hash of its own source files.

    The SDK's default hashes the bytecode of every loaded module (~0.2 s on each worker
    start, so on every ``flov7 run``). Flov7's workflow code is all in the ``flov7``
    package, so its sources name the code a worker runs; the SDK version is included as
    the runtime it runs on. Computed once per process.
    """
    digest = hashlib.blake2b(digest_size=12)
    root = Path(flov7.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return f"flov7-{flov7.__version__}-temporalio-{temporalio.__version__}-{digest.hexdigest()}"


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
        # Explicit: the SDK's default walks every loaded module at each start (build_id).
        build_id=build_id(),
        workflow_runner=runner_for(settings),
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
