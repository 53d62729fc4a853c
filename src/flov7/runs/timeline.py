"""The engine-free part of a run's timeline: entries, node states, node summaries.

A timeline is every entry of a run in time order (``run_started``, ``scheduled``,
``started``, ``attempt_failed``, ``completed``, ``timer_fired``, ``skipped``...) plus one
summary per node. Each engine adds the entries it recorded itself (Temporal's event
history in :mod:`flov7.temporal.history`, the local runtime's events in
:mod:`flov7.local.timeline`); :class:`TimelineAssembler` merges in what only the node
states know (nodes evaluated inside workflow code, skipped nodes), sorts, and
summarises, so that both engines answer the same shape.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flov7.nodes.base import NodeKind
from flov7.nodes.registry import get_node_type

__all__ = [
    "Timeline",
    "TimelineAssembler",
    "duration_ms",
    "node_kind",
    "parse_time",
    "started",
    "waited_seconds",
]

# The terminal entry a node state produces when history has nothing for the node.
_STATE_EVENTS = {
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "skipped": "skipped",
}


@dataclass
class Timeline:
    """Every entry of a run in time order, and one summary per node."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)


class TimelineAssembler:
    """The engine-free part of a timeline: entries, node states, summaries.

    An engine adds the entries it recorded (:meth:`add`); :meth:`merge_states` then adds
    what only the node states know (nodes evaluated inside workflow code, skipped
    nodes), and :meth:`timeline` sorts the entries by time and summarises each node.
    Entries that share a time keep the order they were added in.
    """

    def __init__(self, node_states: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """``node_states``: ``node_id -> {type, status, started_at, finished_at, attempts,
        error, output?}``, in document order."""
        self.states: dict[str, Mapping[str, Any]] = dict(node_states or {})
        self.entries: list[tuple[datetime | None, int, dict[str, Any]]] = []
        self._sequence = itertools.count()

    def add(
        self,
        name: str,
        *,
        when: datetime | None,
        source: str,
        node_id: str | None = None,
        node_type: str | None = None,
        attempt: int | None = None,
        event_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add one entry (``source``: who recorded it) and return it."""
        entry: dict[str, Any] = {
            "time": when.isoformat() if when else None,
            "event": name,
            "node_id": node_id,
            "node_type": node_type or self._state_type(node_id),
            "attempt": attempt,
            "source": source,
            "event_id": event_id,
            "details": details or {},
        }
        self.entries.append((when, next(self._sequence), entry))
        return entry

    def merge_states(self) -> None:
        """Entries for what the engine did not record: nodes evaluated inside workflow
        code (``source: workflow``), and skipped nodes."""
        seen = {entry["node_id"] for _, _, entry in self.entries if entry["node_id"]}
        for node_id, state in self.states.items():
            status = str(state.get("status") or "")
            node_type = state.get("type") if isinstance(state.get("type"), str) else None
            if status == "skipped":
                self._from_state(node_id, node_type, "skipped", state.get("finished_at"))
                continue
            if status == "waiting":
                # A wait without a timeout starts no timer: its state tells it waits.
                if not self._has(node_id, "waiting"):
                    details = {"event": state.get("waiting_for")}
                    started_at = state.get("started_at")
                    self._from_state(node_id, node_type, "waiting", started_at, details)
                continue
            if node_id in seen or not started(state):
                continue
            # No event at all: evaluated inside workflow code (or never reached the engine).
            self._from_state(node_id, node_type, "started", state.get("started_at"))
            event = _STATE_EVENTS.get(status)
            if event is not None:
                details = {"error": state.get("error")} if state.get("error") else {}
                self._from_state(node_id, node_type, event, state.get("finished_at"), details)

    def node_summaries(self) -> dict[str, dict[str, Any]]:
        """One line per node: from its state when known, else from its last entry."""
        summaries: dict[str, dict[str, Any]] = {}
        for node_id, state in self.states.items():
            started, finished = state.get("started_at"), state.get("finished_at")
            summaries[node_id] = {
                "type": state.get("type"),
                "status": state.get("status"),
                "attempts": state.get("attempts"),
                "started_at": started,
                "finished_at": finished,
                "duration_ms": duration_ms(started, finished),
                "error": state.get("error"),
                "waiting_for": state.get("waiting_for"),
                "in_history": False,
            }
        for _, _, entry in self.entries:
            node_id = entry["node_id"]
            if node_id is None:
                continue
            summary = summaries.setdefault(node_id, _summary_from_history(entry))
            if entry["source"] == "history":
                summary["in_history"] = True
            if node_id not in self.states:
                _advance_summary(summary, entry)
        return summaries

    def sorted_entries(self) -> list[dict[str, Any]]:
        """The entries in time order (undated ones last), without private keys."""
        ordered = sorted(
            self.entries,
            key=lambda item: (item[0] or datetime.max.replace(tzinfo=UTC), item[1]),
        )
        for _, _, entry in ordered:
            for key in [key for key in entry if key.startswith("_")]:
                del entry[key]
        return [entry for _, _, entry in ordered]

    def timeline(self) -> Timeline:
        """The :class:`Timeline` of the entries added so far."""
        return Timeline(entries=self.sorted_entries(), nodes=self.node_summaries())

    def _from_state(
        self,
        node_id: str,
        node_type: str | None,
        name: str,
        at: Any,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.add(
            name,
            when=parse_time(at),
            source="workflow",
            node_id=node_id,
            node_type=node_type,
            details=details,
        )

    def _has(self, node_id: str, event: str) -> bool:
        return any(e["node_id"] == node_id and e["event"] == event for _, _, e in self.entries)

    def _state_type(self, node_id: str | None) -> str | None:
        if node_id is None or node_id not in self.states:
            return None
        node_type = self.states[node_id].get("type")
        return node_type if isinstance(node_type, str) else None


_NODE_EVENT_STATUS = {
    "scheduled": "running",
    "started": "running",
    "attempt_failed": "running",
    "timer_started": "running",
    "waiting": "waiting",
    "event_taken": "completed",
    "wait_timed_out": "failed",
    "completed": "completed",
    "timer_fired": "completed",
    "failed": "failed",
    "timed_out": "failed",
    "cancel_requested": "running",
    "cancelled": "cancelled",
}


def _summary_from_history(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": entry.get("node_type"),
        "status": None,
        "attempts": None,
        "started_at": None,
        "finished_at": None,
        "duration_ms": None,
        "error": None,
        "in_history": False,
    }


def _advance_summary(summary: dict[str, Any], entry: dict[str, Any]) -> None:
    """Node summary from history alone (no state known: e.g. a terminated run)."""
    event = entry["event"]
    summary["status"] = _NODE_EVENT_STATUS.get(event, summary["status"])
    if summary["started_at"] is None and event in ("scheduled", "timer_started", "started"):
        summary["started_at"] = entry["time"]
    if isinstance(entry.get("attempt"), int):
        summary["attempts"] = entry["attempt"]
    if event in ("completed", "timer_fired", "failed", "timed_out", "cancelled"):
        summary["finished_at"] = entry["time"]
        summary["duration_ms"] = duration_ms(summary["started_at"], entry["time"])
        if event in ("failed", "timed_out"):
            summary["error"] = entry["details"].get("cause")


def started(state: Mapping[str, Any]) -> bool:
    return state.get("started_at") is not None and state.get("status") not in ("pending", None)


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 string as an aware datetime (UTC when it has no zone), else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def duration_ms(started: Any, finished: Any) -> float | None:
    begin, end = parse_time(started), parse_time(finished)
    if begin is None or end is None:
        return None
    return round((end - begin).total_seconds() * 1000, 3)


def node_kind(node_type: Any) -> NodeKind | None:
    """Where a node of this type runs (None for an unknown type)."""
    found = get_node_type(node_type) if isinstance(node_type, str) else None
    return found.kind if found is not None else None


def waited_seconds(state: Mapping[str, Any]) -> float | None:
    """How long a finished node waited, as its type reads it from its output (delay
    nodes); None for types that do not wait or an output that does not say."""
    node_type = state.get("type")
    found = get_node_type(node_type) if isinstance(node_type, str) else None
    return found.waited_seconds(state.get("output")) if found is not None else None
