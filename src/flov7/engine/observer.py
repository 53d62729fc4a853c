"""What the driver tells a runtime about each node: the run's lifecycle events.

:class:`~flov7.engine.driver.GraphDriver` reports every node it starts, every
outcome, and the nodes skipped, to an optional :class:`RunObserver`. The runtimes
turn the reports into log lines and metrics their own way: the Temporal workflow only
when it is not replaying history (so each event is logged and counted once), the
local runtime directly. The engine itself neither logs nor counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from flov7.nodes.base import NodeKind

__all__ = ["NodeEvent", "NodeReport", "RunObserver", "seconds_between"]


class NodeEvent(StrEnum):
    """One step of a node's life."""

    STARTED = "started"
    WAITING = "waiting"
    """A delay node's timer was started."""
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class NodeReport:
    """A node event, with what a log line or a metric needs."""

    node_id: str
    node_type: str
    kind: NodeKind
    event: NodeEvent
    attempts: int = 0
    error: dict[str, Any] | None = None
    duration_seconds: float | None = None
    """Start to finish in the runtime's clock (workflow time on Temporal), for outcomes."""
    wait_seconds: float | None = None
    """For ``waiting``: how long the timer runs."""

    def log_fields(self, run_fields: dict[str, Any]) -> dict[str, Any]:
        """The structured fields of this event's log line: the run's, plus the node's."""
        fields = {
            **run_fields,
            "node_id": self.node_id,
            "node_type": self.node_type,
            "event": f"node_{self.event.value}",
        }
        if self.attempts:
            fields["attempt"] = self.attempts
        return fields


class RunObserver(Protocol):
    """Receives the driver's node reports, in the order the events happen."""

    def node_event(self, report: NodeReport) -> None:
        """One node event (must not raise, must not block)."""
        ...


def seconds_between(started: str | None, finished: str | None) -> float | None:
    """Seconds between two ISO-8601 times of a node's state, or None if one is missing."""
    if not started or not finished:
        return None
    try:
        delta = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
    except ValueError:
        return None
    return max(delta.total_seconds(), 0.0)
