"""Logs and metrics of local runs: the same events and counts as on Temporal.

The local runtime runs everything in this process, once (nothing is replayed), so it
logs and counts directly. As on Temporal, I/O nodes are counted per attempt by the
runner (:mod:`flov7.local.runner`), pure and delay nodes here.
"""

from __future__ import annotations

import logging
from typing import Any

from flov7.engine.observer import NodeEvent, NodeReport
from flov7.nodes.base import NodeKind
from flov7.observability import metrics

__all__ = ["LocalObserver"]

log = logging.getLogger("flov7.local.run")


class LocalObserver:
    """A :class:`~flov7.engine.observer.RunObserver` for the local runtime."""

    def __init__(self, fields: dict[str, Any]) -> None:
        """``fields``: the run's correlation fields (execution and workflow id)."""
        self.fields = fields

    def node_event(self, report: NodeReport) -> None:
        extra = report.log_fields(self.fields)
        node = f"Node '{report.node_id}' ({report.node_type})"
        if report.event == NodeEvent.FAILED:
            error = report.error or {}
            log.warning(
                "%s failed after %d attempt(s): %s: %s",
                node,
                report.attempts,
                error.get("type", "Error"),
                error.get("message", ""),
                extra=extra,
            )
        elif report.event == NodeEvent.WAITING:
            log.info("%s waiting %gs", node, report.wait_seconds or 0, extra=extra)
        else:
            log.info("%s %s", node, report.event.value, extra=extra)
        if report.kind != NodeKind.ACTIVITY and report.event in (
            NodeEvent.COMPLETED,
            NodeEvent.FAILED,
            NodeEvent.CANCELLED,
        ):
            metrics.record_node_execution(
                report.node_type, report.event.value, report.duration_seconds
            )
