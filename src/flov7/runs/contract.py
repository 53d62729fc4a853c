"""The run-service contract: what every engine offers for starting and watching runs.

Callers (the API, the CLI, triggers) never talk to Temporal or the local runtime
directly; they call an :class:`ExecutionBackend`, picked once by
:func:`flov7.backends.open_backend`:

- ``flov7.temporal.backend.TemporalBackend`` (``engine = "temporal"``), the default:
  durable runs on Temporal, status from the ``get_status`` query or the closed run's
  result, history from Temporal's event history, listing from Temporal visibility.
- ``flov7.local.backend.LocalBackend`` (``engine = "local"``), selected by
  ``ENABLE_TEMPORAL_FEATURES=false``: in-process runs, recorded in the store; not
  durable (a restart leaves its runs ``interrupted``).

Contract every engine keeps (the API's tests run against both):

- Ids are the caller's: ``start`` uses the ``execution_id`` it is given and is
  idempotent on it. A second ``start`` with an id that names a run, running or
  closed, of the same document and input starts nothing and returns that run with
  ``created=False``; with another document or input it raises
  :class:`~flov7.errors.ExecutionConflictError`.
- ``status`` and ``wait`` answer the same :class:`~flov7.runs.views.RunStatus`.
- Unknown ids raise :class:`~flov7.errors.ExecutionNotFoundError`; cancelling,
  terminating or sending an event to a closed run raises
  :class:`~flov7.errors.ExecutionAlreadyClosedError`;
  an engine that cannot be reached raises :class:`~flov7.errors.EngineUnavailableError`
  (503, never 500); a bad filter or page token raises
  :class:`~flov7.errors.InvalidQueryError` (400).
- Page tokens are opaque strings (URL-safe, :mod:`flov7.runs.pages`).
- Every answer carries ``engine``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from flov7.runs.views import EngineHealth, EngineInfo, HistoryPage, RunPage, RunStatus

__all__ = [
    "ExecutionBackend",
    "ExecutionFilters",
    "ExecutionRef",
    "WorkflowRef",
    "run_fingerprint",
]


@dataclass(frozen=True, slots=True)
class WorkflowRef:
    """Which workflow a run executes: the stored workflow id (or the ad-hoc document's
    ``id``) and, for stored workflows, the version."""

    workflow_id: str
    version: int | None = None
    trigger: dict[str, Any] | None = None
    """What started the run when not a caller (``{"type": "webhook", "hook_id"}``):
    shown as ``trigger`` in its status and listing."""


@dataclass(frozen=True, slots=True)
class ExecutionRef:
    """A started (or joined) run."""

    execution_id: str
    run_id: str | None
    engine: str
    created: bool
    """False when the execution id named an existing run, which was returned instead."""


@dataclass(frozen=True, slots=True)
class ExecutionFilters:
    """Filters of :meth:`ExecutionBackend.list`; None means "any"."""

    workflow_id: str | None = None
    status: str | None = None
    """One of :data:`~flov7.runs.views.RUN_STATUSES` (``running`` includes ``pending``)."""
    started_after: datetime | None = None
    started_before: datetime | None = None
    schedule_id: str | None = None
    """Runs a schedule started (Temporal only: the local engine has no schedules)."""


def run_fingerprint(document: dict[str, Any], run_input: dict[str, Any] | None) -> str:
    """A digest of what a run executes: the document and the run input.

    Kept with the run so that reusing an execution id with something else is told
    apart from a retried request (which must join the run it started).
    """
    canonical = json.dumps(
        {"document": document, "input": run_input or {}},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@runtime_checkable
class ExecutionBackend(Protocol):
    """Runs workflows. See the module docstring for the contract."""

    engine: str
    """``"temporal"`` or ``"local"``; echoed in every answer."""

    async def start(
        self,
        document: dict[str, Any],
        run_input: dict[str, Any] | None,
        execution_id: str,
        workflow_ref: WorkflowRef,
    ) -> ExecutionRef:
        """Start a run of a *validated* document under ``execution_id`` (idempotent).

        ``run_input`` is merged over the document's ``input``.
        """
        ...

    async def status(self, execution_id: str) -> RunStatus:
        """The run's status now."""
        ...

    async def wait(self, execution_id: str, wait_seconds: float) -> RunStatus | None:
        """Wait up to ``wait_seconds`` for the run to close; then its :meth:`status`,
        or None if it is still open."""
        ...

    async def history(
        self, execution_id: str, page: str | None, page_size: int, raw: bool
    ) -> HistoryPage:
        """One page of the run's history: the timeline (``raw=False``), or the engine's
        own events."""
        ...

    async def cancel(self, execution_id: str, reason: str | None = None) -> None:
        """Ask the run to stop (nodes in flight are cancelled, the result says
        ``cancelled``)."""
        ...

    async def terminate(self, execution_id: str, reason: str | None = None) -> None:
        """End the run now, without waiting for anything it runs (a stuck run can always
        be ended this way). Its status becomes ``terminated``."""
        ...

    async def send_event(self, execution_id: str, event: str, data: Any) -> None:
        """Deliver a named event to the run: its ``wait`` node for ``event`` takes it,
        now or when it starts (on Temporal, the ``deliver_event`` signal). Raises
        :class:`~flov7.errors.ExecutionAlreadyClosedError` for a closed run."""
        ...

    async def list(
        self, filters: ExecutionFilters, page_token: str | None, page_size: int
    ) -> RunPage:
        """One page of runs, newest first by start time."""
        ...

    async def health(self) -> EngineHealth:
        """Whether runs started now would be picked up, and why not."""
        ...

    def describe(self) -> EngineInfo:
        """What the engine is and what this process runs of it."""
        ...
