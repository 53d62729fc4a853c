"""One run, started and followed to its end: a :class:`RunDriver` gives a :class:`RunSample`.

- :class:`ClientDriver`: through the run service on the Temporal client (what ``flov7
  run`` does). Start latency: until the start call returned (Temporal recorded the run).
- :class:`ApiDriver`: through the REST API, one ``POST /api/v1/workflow/execute?wait=true``
  per run (repeated with the same execution id while the API answers 202, which joins the
  run). Start latency: from sending the request to the run's ``started_at`` as Temporal
  recorded it (the API answers only once the run has closed), so it reads this machine's
  clock against the server's: exact when both are on one machine.

A driver never raises for a run that goes wrong: the sample says what happened, so the
load test counts it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from flov7.loadtest.workload import Workload
from flov7.runs.service import RunService, new_execution_id

__all__ = ["ApiDriver", "ClientDriver", "RunDriver", "RunSample"]

COMPLETED = "completed"
_API_WAIT_SECONDS = 60.0  # the API's cap of ?timeout


@dataclass(frozen=True, slots=True)
class RunSample:
    """What one run did. Durations in seconds; ``start_seconds`` is None when unknown."""

    index: int
    execution_id: str | None
    status: str
    """The run's final status (``completed``, ``failed``...), or what kept it from one:
    ``start_failed``, ``timed_out_waiting``, ``request_failed``."""
    end_to_end_seconds: float
    start_seconds: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the run completed."""
        return self.status == COMPLETED


class RunDriver(Protocol):
    """Starts one run and follows it to its end."""

    async def run_once(self, index: int) -> RunSample:
        """Run the workload once; never raises for a failed run."""
        ...


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _error_message(error: dict[str, Any] | None) -> str | None:
    if not error:
        return None
    message = error.get("message")
    node = error.get("node_id")
    text = str(message) if message is not None else str(error)
    return f"node '{node}': {text}" if node else text


class ClientDriver:
    """Runs through the run service (validation, naming, idempotent start, wait)."""

    def __init__(self, service: RunService, workload: Workload, *, timeout_seconds: float) -> None:
        """``timeout_seconds``: how long to wait for one run to close."""
        self.service = service
        self.workload = workload
        self.timeout_seconds = timeout_seconds

    async def run_once(self, index: int) -> RunSample:
        """See :class:`RunDriver`."""
        began = time.perf_counter()
        try:
            started = await self.service.start(
                self.workload.document, run_input=self.workload.run_input, via="cli"
            )
        except Exception as exc:  # counted, not raised: a failed start is a measurement
            return RunSample(
                index, None, "start_failed", time.perf_counter() - began, error=_describe(exc)
            )
        start_seconds = time.perf_counter() - began
        execution_id = started.execution_id
        deadline = began + self.timeout_seconds
        try:
            while True:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return RunSample(
                        index,
                        execution_id,
                        "timed_out_waiting",
                        time.perf_counter() - began,
                        start_seconds,
                        f"not closed after {self.timeout_seconds:g} s",
                    )
                final = await self.service.wait(execution_id, min(left, 30.0))
                if final is not None:
                    break
        except Exception as exc:
            return RunSample(
                index,
                execution_id,
                "wait_failed",
                time.perf_counter() - began,
                start_seconds,
                _describe(exc),
            )
        return RunSample(
            index,
            execution_id,
            final.status,
            time.perf_counter() - began,
            start_seconds,
            None if final.status == COMPLETED else _error_message(final.error) or final.status,
        )


class ApiDriver:
    """Runs through ``POST /api/v1/workflow/execute?wait=true`` of a Flov7 API."""

    def __init__(
        self, http: httpx.AsyncClient, workload: Workload, *, timeout_seconds: float
    ) -> None:
        """``http``: a client whose base URL is the API's (and headers its key)."""
        self.http = http
        self.workload = workload
        self.timeout_seconds = timeout_seconds

    async def run_once(self, index: int) -> RunSample:
        """See :class:`RunDriver`."""
        execution_id = new_execution_id(self.workload.workflow_id)
        body: dict[str, Any] = {
            "workflow_data": self.workload.document,
            "input": self.workload.run_input or {},
            "execution_id": execution_id,
        }
        sent_at = time.time()
        began = time.perf_counter()
        deadline = began + self.timeout_seconds
        answer: dict[str, Any] = {}
        try:
            while True:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return RunSample(
                        index,
                        execution_id,
                        "timed_out_waiting",
                        time.perf_counter() - began,
                        error=f"not closed after {self.timeout_seconds:g} s",
                    )
                wait = max(0.1, min(left, _API_WAIT_SECONDS))
                response = await self.http.post(
                    "/api/v1/workflow/execute",
                    params={"wait": "true", "timeout": f"{wait:.1f}"},
                    json=body,
                    timeout=wait + 30.0,
                )
                if response.status_code == 202:
                    continue  # still running: the same id joins it
                if response.status_code != 200:
                    return RunSample(
                        index,
                        execution_id,
                        "request_failed",
                        time.perf_counter() - began,
                        error=f"HTTP {response.status_code}: {response.text[:300]}",
                    )
                answer = response.json()
                break
        except (httpx.HTTPError, ValueError) as exc:
            return RunSample(
                index,
                execution_id,
                "request_failed",
                time.perf_counter() - began,
                error=_describe(exc),
            )
        end_to_end = time.perf_counter() - began
        status = str(answer.get("status"))
        return RunSample(
            index,
            execution_id,
            status,
            end_to_end,
            _start_seconds(answer.get("started_at"), sent_at, end_to_end),
            None if status == COMPLETED else _error_message(answer.get("error")) or status,
        )


def _start_seconds(started_at: Any, sent_at: float, end_to_end: float) -> float | None:
    """Seconds from sending the request to the run's recorded start, within 0..end_to_end."""
    if not isinstance(started_at, str):
        return None
    try:
        recorded = datetime.fromisoformat(started_at).timestamp()
    except ValueError:
        return None
    return min(max(0.0, recorded - sent_at), end_to_end)
