"""What a load test is asked to do: :class:`LoadTestOptions`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from flov7.errors import Flov7Error

__all__ = ["LoadTestError", "LoadTestOptions", "Via", "WorkerPolicy"]


class LoadTestError(Flov7Error):
    """The load test cannot start as asked (a bad option, an unreadable workflow file)."""


class Via(StrEnum):
    """The path runs are started and followed through."""

    CLIENT = "client"
    """The Temporal client, through the run service (as ``flov7 run`` does)."""
    API = "api"
    """The REST API: ``POST /api/v1/workflow/execute?wait=true`` per run."""


class WorkerPolicy(StrEnum):
    """Whether the load test runs a worker in its own process."""

    AUTO = "auto"
    """Only when no live worker polls the task queue (always with a fresh embedded server)."""
    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class LoadTestOptions:
    """A load test: how many runs, how many at once, through which path, against what.

    Unset addresses mean the settings' ones (``TEMPORAL_HOST``, else the embedded dev
    server) and, for the API, an in-process API on 127.0.0.1.
    """

    workflows: int = 100
    """Runs to measure."""
    concurrency: int = 10
    """Runs in flight at once (each start waits for a free slot)."""
    via: Via = Via.CLIENT
    workflow_file: Path | None = None
    """A workflow document to run instead of the built-in 3-node one."""
    temporal_address: str | None = None
    """``host:port`` of the Temporal frontend (default: the settings')."""
    task_queue: str | None = None
    """Task queue (default: ``TEMPORAL_TASK_QUEUE``)."""
    api_url: str | None = None
    """Base URL of a running Flov7 API (``--via api``); default: one in this process."""
    api_key: str | None = None
    """API key for ``api_url`` (default: the first of ``FLOV7_API_KEYS``)."""
    worker: WorkerPolicy = WorkerPolicy.AUTO
    warmup: int = 0
    """Runs started (and waited for) before the measured ones, not counted."""
    run_timeout_seconds: float = 120.0
    """A run not closed this long after its start counts as failed."""
    http_port: int = 0
    """Port of the built-in workflow's local HTTP server (0: any free port)."""

    def check(self) -> None:
        """Raise :class:`LoadTestError` for values that make no sense."""
        if self.workflows < 1:
            raise LoadTestError(f"--workflows must be at least 1, got {self.workflows}")
        if self.concurrency < 1:
            raise LoadTestError(f"--concurrent must be at least 1, got {self.concurrency}")
        if self.warmup < 0:
            raise LoadTestError(f"--warmup must be 0 or more, got {self.warmup}")
        if self.run_timeout_seconds <= 0:
            raise LoadTestError("--timeout must be greater than 0")
        if not 0 <= self.http_port <= 65535:
            raise LoadTestError(f"--http-port must be between 0 and 65535, got {self.http_port}")
        if self.api_url is not None and self.via != Via.API:
            raise LoadTestError("--api-url only applies with --via api")
