"""The execution backend seam: what the API needs from whatever runs workflows.

The routes never call Temporal directly; they call an :class:`ExecutionBackend`:

- :class:`~flov7.api.temporal_backend.TemporalBackend` (``engine = "temporal"``), the
  default: durable runs on Temporal, status from the ``get_status`` query, history from
  Temporal's event history, listing from Temporal visibility.
- :class:`~flov7.local.backend.LocalBackend` (``engine = "local"``), selected by
  ``ENABLE_TEMPORAL_FEATURES=false``: in-process runs, recorded in the store; not
  durable (a restart leaves its runs ``interrupted``). See :func:`open_backend`.

Contract every backend keeps (the API's tests run against it):

- Ids are the caller's: ``start`` uses the ``execution_id`` it is given and is
  idempotent on it. A second ``start`` with an id that names a run, running or closed,
  starts nothing and returns that run with ``created=False``.
- ``status`` and ``wait`` answer the same dict (see :meth:`ExecutionBackend.status`).
- Unknown ids raise :class:`ExecutionNotFoundError`; cancelling a closed run raises
  :class:`ExecutionAlreadyClosedError`; a dependency that cannot be reached raises
  :class:`BackendUnavailableError` (503, never 500); a bad filter or page token raises
  :class:`InvalidQueryError` (400).
- Page tokens are opaque strings (URL-safe): clients pass back what they were given.
- Every answer carries ``"engine": backend.engine``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from flov7.errors import Flov7Error

if TYPE_CHECKING:
    from flov7.config import Settings
    from flov7.store.database import Database

__all__ = [
    "FINAL_STATUSES",
    "RUN_STATUSES",
    "BackendError",
    "BackendUnavailableError",
    "ExecutionAlreadyClosedError",
    "ExecutionBackend",
    "ExecutionFilters",
    "ExecutionNotFoundError",
    "ExecutionRef",
    "InvalidQueryError",
    "WorkflowRef",
    "open_backend",
]

RUN_STATUSES = (
    "pending",
    "running",
    "completed",
    "failed",
    "cancelled",
    "timed_out",
    "terminated",
    "interrupted",
)
"""What a run's ``status`` can be. ``pending``: started, no worker has picked it up yet.
``timed_out`` / ``terminated``: Temporal ended the run itself (execution timeout,
operator). ``interrupted``: a local run whose process stopped before it finished (the
local runtime is not durable). The others are the Flov7 run statuses of the result
document."""

FINAL_STATUSES = frozenset(
    {"completed", "failed", "cancelled", "timed_out", "terminated", "interrupted"}
)
"""Statuses of a closed run."""


class BackendError(Flov7Error):
    """Base of the errors a backend raises on purpose."""


class ExecutionNotFoundError(BackendError):
    """No Flov7 run has this execution id."""


class ExecutionAlreadyClosedError(BackendError):
    """The run is closed already (cancel of a finished run)."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class BackendUnavailableError(BackendError):
    """The engine cannot be reached (Temporal down, network); the message says why."""


class InvalidQueryError(BackendError):
    """A filter or page token the backend cannot use; the message says which."""


@dataclass(frozen=True, slots=True)
class WorkflowRef:
    """Which workflow a run executes: the stored workflow id (or the ad-hoc document's
    ``id``) and, for stored workflows, the version."""

    workflow_id: str
    version: int | None = None


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
    """One of :data:`RUN_STATUSES` except ``pending`` (listed as running)."""
    started_after: datetime | None = None
    started_before: datetime | None = None


@runtime_checkable
class ExecutionBackend(Protocol):
    """Runs workflows for the API. See the module docstring for the contract."""

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

    async def status(self, execution_id: str) -> dict[str, Any]:
        """The run's status now::

        {"execution_id", "run_id", "engine", "workflow_id", "workflow_name",
         "version", "status" (RUN_STATUSES), "engine_status" (the engine's own word,
         e.g. Temporal's RUNNING / COMPLETED), "started_at", "finished_at",
         "nodes": {node_id: {"type", "status", "attempts", "started_at",
                             "finished_at", "duration_ms", "error"}},
         "counts": {status: n}, "execution_path": [node_id...],
         "result": the result document or None (closed runs with one),
         "error": {"type", "message", ...} or None}
        """
        ...

    async def wait(self, execution_id: str, wait_seconds: float) -> dict[str, Any] | None:
        """Wait up to ``wait_seconds`` for the run to close; then its :meth:`status`,
        or None if it is still running."""
        ...

    async def history(
        self, execution_id: str, page: str | None, page_size: int, raw: bool
    ) -> dict[str, Any]:
        """One page of the run's history.

        ``raw=False``: ``{"execution_id", "engine", "status", "nodes": {node_id: summary},
        "events": [timeline entries, see flov7.temporal.history], "next_page_token"}``.
        ``raw=True``: the engine's own events, ``{"execution_id", "engine", "events":
        [...], "next_page_token"}``.
        """
        ...

    async def cancel(self, execution_id: str, reason: str | None = None) -> None:
        """Ask the run to stop (nodes in flight are cancelled, the result says
        ``cancelled``). Raises :class:`ExecutionNotFoundError` /
        :class:`ExecutionAlreadyClosedError`."""
        ...

    async def list(
        self, filters: ExecutionFilters, page_token: str | None, page_size: int
    ) -> dict[str, Any]:
        """One page of runs, newest first: ``{"executions": [{"execution_id", "run_id",
        "workflow_id", "version", "status", "engine_status", "started_at",
        "finished_at", "engine"}], "next_page_token"}``."""
        ...


@contextlib.asynccontextmanager
async def open_backend(
    settings: Settings, *, database: Database | None = None
) -> AsyncIterator[ExecutionBackend]:
    """The backend the settings select, started, and stopped on exit.

    ``ENABLE_TEMPORAL_FEATURES=true`` (default): Temporal, through
    :func:`flov7.temporal.environment.temporal_environment` (the embedded dev server
    when ``TEMPORAL_HOST`` is unset, a worker in this process when
    ``START_TEMPORAL_WORKER=true``). ``false``: :func:`open_local_backend`, which keeps
    its run records in ``database`` (the caller's open store, shared rather than
    opened twice) or, without one, in the store the settings name.
    """
    if not settings.flov7.enable_temporal_features:
        async with open_local_backend(settings, database=database) as backend:
            yield backend
        return
    from flov7.api.temporal_backend import open_temporal_backend

    async with open_temporal_backend(settings) as temporal:
        yield temporal


@contextlib.asynccontextmanager
async def open_local_backend(
    settings: Settings, *, database: Database | None = None
) -> AsyncIterator[ExecutionBackend]:
    """The in-process backend for ``ENABLE_TEMPORAL_FEATURES=false``:
    :class:`~flov7.local.backend.LocalBackend`."""
    # Imported here: a Temporal deployment never loads the local runtime.
    from flov7.local.backend import LocalBackend

    async with LocalBackend(settings, database=database) as backend:
        yield backend
