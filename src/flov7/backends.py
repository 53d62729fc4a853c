"""The composition root: the one place that picks the engine from the settings.

Everything that starts or watches runs (``flov7 serve``, the app factory, ``flov7
run``) asks :func:`open_backend` for an
:class:`~flov7.runs.contract.ExecutionBackend` and then talks to it only through the
contract; nothing else imports an engine's backend.

- ``ENABLE_TEMPORAL_FEATURES=true`` (default): Temporal
  (:mod:`flov7.temporal.backend`): the embedded dev server when ``TEMPORAL_HOST`` is
  unset, a worker in this process as ``worker`` says.
- ``false``: the local runtime (:mod:`flov7.local.backend`), with its run records in
  the store.

Engines are imported when picked, so a local deployment never loads Temporal's SDK
and a Temporal one never loads the local runtime.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import TYPE_CHECKING

from flov7.runs.contract import ExecutionBackend

if TYPE_CHECKING:
    from flov7.config import Settings
    from flov7.store.database import Database

__all__ = ["WorkerChoice", "open_backend"]


class WorkerChoice(StrEnum):
    """Whether this process runs a Temporal worker (the local engine always runs its
    own runs)."""

    SETTINGS = "settings"
    """As ``START_TEMPORAL_WORKER`` says (``flov7 serve``, the app factory)."""
    ALWAYS = "always"
    NEVER = "never"
    IF_NONE = "if-none"
    """Only when no live worker polls the task queue (``flov7 run --worker auto``)."""


@contextlib.asynccontextmanager
async def open_backend(
    settings: Settings,
    *,
    database: Database | None = None,
    worker: WorkerChoice = WorkerChoice.SETTINGS,
) -> AsyncIterator[ExecutionBackend]:
    """The backend the settings select, started, and stopped on exit.

    ``database``: the caller's open store, which the local engine keeps its run records
    in (shared rather than opened twice); without one it opens the store the settings
    name. The Temporal engine keeps its runs in Temporal and ignores it.
    """
    if not settings.flov7.enable_temporal_features:
        from flov7.local.backend import LocalBackend

        # Local schedules fire in the service's process only (serve, the app factory),
        # not in a short-lived command that would cancel their runs when it exits.
        scheduler = worker == WorkerChoice.SETTINGS
        async with LocalBackend(settings, database=database, scheduler=scheduler) as local:
            yield local
        return
    from flov7.temporal.backend import open_temporal_backend_with
    from flov7.temporal.environment import WorkerMode

    mode = {
        WorkerChoice.SETTINGS: (
            WorkerMode.ALWAYS if settings.temporal.start_worker else WorkerMode.NEVER
        ),
        WorkerChoice.ALWAYS: WorkerMode.ALWAYS,
        WorkerChoice.NEVER: WorkerMode.NEVER,
        WorkerChoice.IF_NONE: WorkerMode.IF_NONE,
    }[worker]
    # The service (SETTINGS: serve, the app factory) must not join an embedded server
    # of another data directory: its store and the server's runs would disagree.
    same_data_dir = worker == WorkerChoice.SETTINGS
    async with open_temporal_backend_with(settings, mode, same_data_dir=same_data_dir) as temporal:
        yield temporal
