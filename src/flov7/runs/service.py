"""Start, follow and stop runs: the one routine the API, the CLI and triggers share.

:class:`RunService` wraps whichever :class:`~flov7.runs.contract.ExecutionBackend`
the composition root picked. It validates before anything starts, names the run,
starts it idempotently, and follows it until it closes, reporting each status on the
way. It knows no engine and no transport: the API adds HTTP answers on top, the CLI
adds progress lines.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from flov7.errors import InvalidWorkflowError
from flov7.observability import correlation
from flov7.runs.contract import ExecutionBackend, ExecutionRef, WorkflowRef
from flov7.runs.validation import validate_for_start
from flov7.runs.views import RunStatus

__all__ = ["RunService", "StartedCallback", "StartedRun", "StatusCallback", "new_execution_id"]

_UNSAFE_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9._:@-]+")

StatusCallback = Callable[[RunStatus], None]
StartedCallback = Callable[["StartedRun"], Awaitable[None]]


def new_execution_id(workflow_id: str) -> str:
    """A fresh execution id: the workflow id (made URL-safe) plus a random suffix."""
    stem = _UNSAFE_ID_CHARACTERS.sub("-", workflow_id).strip("-._:@")[:100] or "run"
    return f"{stem}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class StartedRun:
    """A run that :meth:`RunService.start` started or joined."""

    ref: ExecutionRef
    workflow: WorkflowRef
    warnings: tuple[dict[str, Any], ...] = ()
    """The validator's warnings about the document (likely mistakes that did not stop it)."""
    rerun_of: str | None = None
    """For a rerun: the execution id of the run it reruns."""

    @property
    def execution_id(self) -> str:
        """The run's execution id."""
        return self.ref.execution_id


class RunService:
    """Starts, follows and stops runs on one engine."""

    def __init__(
        self, backend: ExecutionBackend, *, on_started: StartedCallback | None = None
    ) -> None:
        """``on_started``: called after each start or join (the API records the run in
        its store there); its failure does not undo the start."""
        self.backend = backend
        self.on_started = on_started

    @property
    def engine(self) -> str:
        """The engine's name (``temporal`` or ``local``)."""
        return self.backend.engine

    async def start(
        self,
        document: dict[str, Any],
        *,
        run_input: dict[str, Any] | None = None,
        execution_id: str | None = None,
        workflow_id: str | None = None,
        version: int | None = None,
        trigger: dict[str, Any] | None = None,
        rerun_of: str | None = None,
        via: str = "api",
    ) -> StartedRun:
        """Validate and start a run (or join the one ``execution_id`` names).

        ``trigger`` is what started the run when not a caller (``{"type": "schedule",
        "schedule_id"}``, ``{"type": "webhook", "hook_id"}``): kept with the run, shown
        in its status and listing. ``via`` is the caller's path otherwise (``api``,
        ``cli``). Either labels the run's metrics, and the log lines of the run carry the
        request id bound by the caller (see :mod:`flov7.observability.correlation`).

        Raises :class:`~flov7.errors.InvalidWorkflowError` (with the report) when the
        document does not validate: nothing is started then.
        """
        report = validate_for_start(document)
        if not report.valid or report.spec is None:
            raise InvalidWorkflowError(
                report,
                f"The workflow document is invalid ({len(report.issues)} issue(s)); "
                "nothing was started",
            )
        workflow = WorkflowRef(
            workflow_id=workflow_id or report.spec.id, version=version, trigger=trigger
        )
        execution_id = execution_id or new_execution_id(workflow.workflow_id)
        # The metrics label of how the run was started: the trigger's type, else the
        # caller's path (api, cli).
        label = str(trigger.get("type")) if trigger else via
        with correlation.bound(trigger=label):
            ref = await self.backend.start(document, run_input or None, execution_id, workflow)
        warnings = tuple(issue.as_dict() for issue in report.warnings)
        started = StartedRun(ref=ref, workflow=workflow, warnings=warnings, rerun_of=rerun_of)
        if self.on_started is not None:
            await self.on_started(started)
        return started

    async def follow(
        self,
        execution_id: str,
        *,
        on_status: StatusCallback | None = None,
        poll_seconds: float = 0.3,
    ) -> RunStatus:
        """Wait until the run closes, calling ``on_status`` with each status seen on
        the way and with the final one; return the final status."""
        while True:
            final = await self.backend.wait(execution_id, poll_seconds)
            if final is not None:
                if on_status is not None:
                    on_status(final)
                return final
            if on_status is not None:
                current = await self.backend.status(execution_id)
                if not current.closed:
                    on_status(current)

    async def wait(self, execution_id: str, wait_seconds: float) -> RunStatus | None:
        """The run's final status if it closes within ``wait_seconds``, else None."""
        return await self.backend.wait(execution_id, wait_seconds)

    async def stop(
        self, execution_id: str, reason: str | None = None, *, terminate: bool = False
    ) -> None:
        """Cancel the run (nodes in flight are cancelled and waited for), or, with
        ``terminate``, end it at once."""
        if terminate:
            await self.backend.terminate(execution_id, reason)
        else:
            await self.backend.cancel(execution_id, reason)
