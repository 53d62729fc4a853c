"""What the local engine answers: typed run views of its runs.

Pure functions of a run in memory (:class:`~flov7.local.runtime.LocalRun`) or of its
store record, building the same :mod:`flov7.runs.views` as the Temporal engine, so
that a client cannot tell the engines apart except by ``engine`` and
``engine_status``:

- ``RUNNING`` while the run's task runs;
- ``COMPLETED`` once the runtime returned a result document, whatever the Flov7
  status says (the run reached its end; ``status`` says how);
- ``INTERRUPTED`` for a run its process stopped before it finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flov7.local.runtime import ENGINE, LocalRun
from flov7.local.timeline import RunEnd, local_timeline
from flov7.runs.contract import WorkflowRef
from flov7.runs.timeline import Timeline
from flov7.runs.views import RunListItem, RunStatus
from flov7.store.repository import ExecutionRecord

__all__ = [
    "ENGINE",
    "INTERRUPTED",
    "RunHistorySource",
    "listed",
    "record_status",
    "record_view",
    "run_status",
    "run_view",
]

INTERRUPTED = "interrupted"

# As Temporal reports the same run: a failed Flov7 run ends Failed, a cancelled one
# Canceled (engine_status tells the engines' words apart, status is the same).
_ENGINE_STATUS = {
    "running": "RUNNING",
    "pending": "RUNNING",
    INTERRUPTED: "INTERRUPTED",
    "failed": "FAILED",
    "cancelled": "CANCELED",
    "terminated": "TERMINATED",
}
_RUN_END = {"failed": "run_failed", "cancelled": "run_cancelled", "terminated": "run_terminated"}


@dataclass(frozen=True)
class RunHistorySource:
    """Everything a history answer is built from, wherever the run is."""

    status: RunStatus
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
            started_at=self.status.started_at,
            end=self.end,
            now=now or datetime.now(UTC),
            timer_seconds=self.timer_seconds,
        )


def run_status(run: LocalRun, ref: WorkflowRef) -> RunStatus:
    """The status of a run of this process."""
    answer = _base(run.execution_id, run.run_id, ref.workflow_id, ref.version)
    answer.trigger = ref.trigger
    if run.outcome is not None:
        return _closed(answer, run.outcome)
    report = run.status()
    # The interpreter may know the outcome already (a node failed, a cancel was asked)
    # while nodes in flight finish: the run runs until it has a result.
    answer.show_report(report)
    answer.started_at = report.get("started_at")
    return answer


def record_status(record: ExecutionRecord) -> RunStatus:
    """The status of a run known from its store record (read ``with_outcome``)."""
    answer = _base(record.execution_id, record.run_id, record.workflow_id, record.version)
    answer.trigger = record.trigger
    if record.result is not None:
        return _closed(answer, record.result)
    status = record.status or "running"
    answer.status = status
    answer.engine_status = _ENGINE_STATUS.get(status, "COMPLETED")
    answer.started_at = record.created_at.isoformat()
    answer.finished_at = _iso(record.finished_at)
    answer.error = record.error
    if status in ("running", "pending") and record.owner is not None:
        answer.reason = f"Runs in the Flov7 process {record.owner}"
    return answer


def run_view(run: LocalRun, ref: WorkflowRef) -> RunHistorySource:
    """What the history of a run of this process is built from."""
    status = run_status(run, ref)
    if run.outcome is not None:
        return _closed_view(status, run.outcome, list(run.events))
    timers = {
        node_id: seconds
        for node_id, node in run.interpreter.nodes.items()
        if (seconds := run.interpreter.types[node_id].wait_seconds(node.data)) is not None
    }
    return RunHistorySource(status, run.status()["nodes"], list(run.events), None, timers)


def record_view(record: ExecutionRecord) -> RunHistorySource:
    """What the history of a run known from its store record is built from."""
    status = record_status(record)
    events = list(record.events or [])
    if record.result is not None:
        return _closed_view(status, record.result, events)
    end = None
    if status.status == INTERRUPTED:
        reason = (record.error or {}).get("message")
        end = RunEnd("run_interrupted", status.finished_at, {"reason": reason})
    return RunHistorySource(status, {}, events, end, {})


def listed(record: ExecutionRecord) -> RunListItem:
    """A run in a listing."""
    status = record.status or "running"
    return RunListItem(
        execution_id=record.execution_id,
        run_id=record.run_id,
        engine=ENGINE,
        workflow_id=record.workflow_id,
        version=record.version,
        trigger=record.trigger,
        status=status,
        engine_status=_ENGINE_STATUS.get(status, "COMPLETED"),
        started_at=record.created_at.isoformat(),
        finished_at=_iso(record.finished_at),
        rerun_of=record.rerun_of,
    )


def _closed_view(
    status: RunStatus, result: Mapping[str, Any], events: list[dict[str, Any]]
) -> RunHistorySource:
    end = RunEnd(
        _RUN_END.get(status.status, "run_completed"), status.finished_at, {"status": status.status}
    )
    return RunHistorySource(status, result.get("node_results") or {}, events, end, {})


def _base(
    execution_id: str, run_id: str | None, workflow_id: str | None, version: int | None
) -> RunStatus:
    return RunStatus(
        execution_id=execution_id,
        run_id=run_id,
        engine=ENGINE,
        workflow_id=workflow_id,
        version=version,
        status="running",
        engine_status="RUNNING",
    )


def _closed(answer: RunStatus, result: Mapping[str, Any]) -> RunStatus:
    answer.show_result(result)
    answer.engine_status = _ENGINE_STATUS.get(answer.status, "COMPLETED")
    answer.started_at = result.get("started_at")
    answer.finished_at = result.get("finished_at")
    return answer


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None
