"""Logs and metrics of a run, from workflow code, once each: never again on replay.

Temporal replays a workflow's code from its history whenever a worker picks the run
up again (after a restart, a cache eviction, on another worker). Everything here is a
side effect, so it only happens while the workflow is *not* replaying:

- log lines go through ``workflow.logger``, the SDK's replay-safe logger (it drops
  records during replay), with the correlation fields passed as ``extra``;
- metrics are recorded only when ``workflow.unsafe.is_replaying()`` is false, outside
  the sandbox (the Prometheus client reads the clock when it creates a label set).

I/O nodes are counted by their activities, where they run (one count per attempt);
this module counts pure and delay nodes, which run inside the workflow.

This is workflow code: no I/O, no clocks besides ``workflow.now()``.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from flov7.engine.observer import NodeEvent, NodeReport
    from flov7.nodes.base import NodeKind
    from flov7.observability import metrics

__all__ = ["WorkflowObserver", "record_run_finished", "record_run_started", "run_labels"]

MEMO_KEY = "flov7"  # the same key as flov7.temporal.executions.MEMO_KEY (not imported:
# that module is client code, not passed through the sandbox)


def run_labels() -> dict[str, Any]:
    """Request id and trigger the starter put in the run's memo (empty if none)."""
    try:
        memo = workflow.memo_value(MEMO_KEY, default=None)
    except Exception:  # a memo another client wrote, in a shape we cannot read
        return {}
    return dict(memo) if isinstance(memo, dict) else {}


_OUTCOMES = (NodeEvent.COMPLETED, NodeEvent.FAILED, NodeEvent.CANCELLED)


def _live() -> bool:
    return not workflow.unsafe.is_replaying()


def record_run_started(workflow_id: str, trigger: str | None) -> None:
    """Count the run as started (first execution only, not on replay)."""
    if _live():
        with workflow.unsafe.sandbox_unrestricted():
            metrics.record_run_started(workflow_id, trigger)


def record_run_finished(status: str) -> None:
    """Count the run's end, its duration in workflow time (not on replay)."""
    if _live():
        duration = (workflow.now() - workflow.info().start_time).total_seconds()
        with workflow.unsafe.sandbox_unrestricted():
            metrics.record_run_finished(status, duration)


class WorkflowObserver:
    """A :class:`~flov7.engine.observer.RunObserver` for workflow code."""

    def __init__(self, fields: dict[str, Any]) -> None:
        """``fields``: the run's correlation fields (request id, execution and workflow id)."""
        self.fields = fields

    def node_event(self, report: NodeReport) -> None:
        extra = report.log_fields(self.fields)
        self._log(report, extra)
        # I/O nodes are counted by their activities; pure and delay nodes run here.
        ran_here = report.kind != NodeKind.ACTIVITY
        if ran_here and report.event in _OUTCOMES and _live():
            with workflow.unsafe.sandbox_unrestricted():
                metrics.record_node_execution(
                    report.node_type, report.event.value, report.duration_seconds
                )

    @staticmethod
    def _log(report: NodeReport, extra: dict[str, Any]) -> None:
        node = f"Node '{report.node_id}' ({report.node_type})"
        if report.event == NodeEvent.FAILED:
            error = report.error or {}
            workflow.logger.warning(
                "%s failed after %d attempt(s): %s: %s",
                node,
                report.attempts,
                error.get("type", "Error"),
                error.get("message", ""),
                extra=extra,
            )
        elif report.event == NodeEvent.WAITING:
            workflow.logger.info("%s waiting %gs", node, report.wait_seconds or 0, extra=extra)
        else:
            workflow.logger.info("%s %s", node, report.event.value, extra=extra)
