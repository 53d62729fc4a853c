"""What the local backend answers: status, listing and history documents.

Pure functions of a run in memory (:class:`~flov7.local.runtime.LocalRun`) or of its
store record, shaped exactly as the Temporal backend's answers
(:mod:`flov7.api.temporal_backend`), so that a client cannot tell the engines apart
except by ``engine`` and ``engine_status``:

- ``RUNNING`` while the run's task runs;
- ``COMPLETED`` once the runtime returned a result document, whatever the Flov7
  status says (as Temporal reports a workflow that returned a failed result);
- ``INTERRUPTED`` for a run its process stopped before it finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flov7.api.backend import WorkflowRef
from flov7.local.runtime import ENGINE, LocalRun
from flov7.local.timeline import RunEnd, local_timeline
from flov7.store.repository import ExecutionRecord
from flov7.temporal.history import Timeline, parse_time

__all__ = [
    "ENGINE",
    "INTERRUPTED",
    "RunView",
    "listed",
    "record_status",
    "record_view",
    "run_status",
    "run_view",
]

INTERRUPTED = "interrupted"

_ENGINE_STATUS = {"running": "RUNNING", "pending": "RUNNING", INTERRUPTED: "INTERRUPTED"}


@dataclass(frozen=True)
class RunView:
    """Everything a history answer is built from, wherever the run is."""

    status: dict[str, Any]
    """The status answer (:func:`run_status` / :func:`record_status`)."""
    node_states: Mapping[str, Mapping[str, Any]]
    """Node states with their outputs when known (a delay's output says how long)."""
    events: list[dict[str, Any]]
    end: RunEnd | None
    timer_seconds: Mapping[str, float]

    def timeline(self, now: datetime | None = None) -> Timeline:
        """The run's timeline, as of ``now`` (default: the current time)."""
        return local_timeline(
            self.node_states,
            self.events,
            started_at=self.status["started_at"],
            end=self.end,
            now=now or datetime.now(UTC),
            timer_seconds=self.timer_seconds,
        )


def run_status(run: LocalRun, ref: WorkflowRef) -> dict[str, Any]:
    """The status of a run of this process."""
    if run.outcome is not None:
        answer = _base(run.execution_id, run.run_id, ref.workflow_id, ref.version)
        return _closed(answer, run.outcome)
    report = run.status()
    answer = _base(run.execution_id, run.run_id, ref.workflow_id, ref.version)
    nodes = report.get("nodes") or {}
    answer.update(
        {
            "workflow_name": report.get("workflow_name"),
            "status": "running",
            "engine_status": "RUNNING",
            "started_at": report.get("started_at"),
            "nodes": {node_id: _node_view(node) for node_id, node in nodes.items()},
            "counts": report.get("counts") or {},
            "execution_path": report.get("execution_path") or [],
            # The interpreter may know the outcome already (a node failed, a cancel was
            # asked) while nodes in flight finish: the run runs until it has a result.
            "error": report.get("error"),
        }
    )
    return answer


def record_status(record: ExecutionRecord) -> dict[str, Any]:
    """The status of a run known from its store record (read ``with_outcome``)."""
    answer = _base(record.execution_id, record.run_id, record.workflow_id, record.version)
    if record.result is not None:
        return _closed(answer, record.result)
    status = record.status or "running"
    answer.update(
        {
            "status": status,
            "engine_status": _ENGINE_STATUS.get(status, "COMPLETED"),
            "started_at": record.created_at.isoformat(),
            "finished_at": _iso(record.finished_at),
            "error": record.error,
        }
    )
    return answer


def run_view(run: LocalRun, ref: WorkflowRef) -> RunView:
    """What the history of a run of this process is built from."""
    status = run_status(run, ref)
    if run.outcome is not None:
        return _closed_view(status, run.outcome, list(run.events))
    timers = {
        node_id: float(seconds)
        for node_id, node in run.interpreter.nodes.items()
        if isinstance(seconds := node.data.get("delay_seconds"), int | float)
    }
    return RunView(status, run.status()["nodes"], list(run.events), None, timers)


def record_view(record: ExecutionRecord) -> RunView:
    """What the history of a run known from its store record is built from."""
    status = record_status(record)
    events = list(record.events or [])
    if record.result is not None:
        return _closed_view(status, record.result, events)
    end = None
    if status["status"] == INTERRUPTED:
        reason = (record.error or {}).get("message")
        end = RunEnd("run_interrupted", status["finished_at"], {"reason": reason})
    return RunView(status, {}, events, end, {})


def listed(record: ExecutionRecord) -> dict[str, Any]:
    """A run in a listing (the Temporal backend's item shape)."""
    status = record.status or "running"
    return {
        "execution_id": record.execution_id,
        "run_id": record.run_id,
        "engine": ENGINE,
        "workflow_id": record.workflow_id,
        "version": record.version,
        "status": status,
        "engine_status": _ENGINE_STATUS.get(status, "COMPLETED"),
        "started_at": record.created_at.isoformat(),
        "finished_at": _iso(record.finished_at),
    }


def _closed_view(
    status: dict[str, Any], result: Mapping[str, Any], events: list[dict[str, Any]]
) -> RunView:
    end = RunEnd("run_completed", status["finished_at"], {"status": status["status"]})
    return RunView(status, result.get("node_results") or {}, events, end, {})


def _base(
    execution_id: str, run_id: str | None, workflow_id: str | None, version: int | None
) -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "run_id": run_id,
        "engine": ENGINE,
        "workflow_id": workflow_id,
        "workflow_name": None,
        "version": version,
        "status": "running",
        "engine_status": "RUNNING",
        "started_at": None,
        "finished_at": None,
        "nodes": {},
        "counts": {},
        "execution_path": [],
        "result": None,
        "error": None,
    }


def _closed(answer: dict[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    nodes = result.get("node_results") or {}
    views = {node_id: _node_view(node) for node_id, node in nodes.items()}
    counts: dict[str, int] = {}
    for view in views.values():
        counts[str(view["status"])] = counts.get(str(view["status"]), 0) + 1
    answer.update(
        {
            "workflow_name": result.get("workflow_name"),
            "status": result.get("status", "completed"),
            "engine_status": "COMPLETED",
            "started_at": result.get("started_at"),
            "finished_at": result.get("finished_at"),
            "nodes": views,
            "counts": counts,
            "execution_path": result.get("execution_path") or [],
            "result": dict(result),
            "error": result.get("error"),
        }
    )
    return answer


def _node_view(node: Mapping[str, Any]) -> dict[str, Any]:
    started, finished = node.get("started_at"), node.get("finished_at")
    return {
        "type": node.get("type"),
        "status": node.get("status"),
        "attempts": node.get("attempts"),
        "started_at": started,
        "finished_at": finished,
        "duration_ms": _duration_ms(started, finished),
        "error": node.get("error"),
    }


def _duration_ms(started: Any, finished: Any) -> float | None:
    begin, end = parse_time(started), parse_time(finished)
    if begin is None or end is None:
        return None
    return round((end - begin).total_seconds() * 1000, 3)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None
