"""Events sent to a running run, kept until a ``wait`` node takes them.

Both runtimes keep one :class:`EventMailbox` per run: the Temporal workflow fills it
from its ``deliver_event`` signal handler, the local runtime from
:meth:`~flov7.local.runtime.LocalRun.deliver_event`. An event that arrives before its
``wait`` node starts stays here until that node takes it; each event is taken by one
wait only, oldest first. Plain lists and dicts, no clocks: it lives inside workflow
code, where it is rebuilt identically on every replay (signals replay in order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EVENT_NAME_MAX_LENGTH",
    "MAX_PENDING_EVENTS",
    "MAX_WAIT_SECONDS",
    "EventMailbox",
    "ReceivedEvent",
]

EVENT_NAME_MAX_LENGTH = 200
MAX_WAIT_SECONDS = 7 * 86400
"""The longest wait: the cap of every node's ``timeout_seconds`` (spec.py)."""
MAX_PENDING_EVENTS = 1000
"""Events kept for names no wait has taken yet; past it the oldest is dropped (a run
flooded with events must not grow its state without bound)."""


@dataclass(frozen=True)
class ReceivedEvent:
    """One delivered event."""

    name: str
    data: Any
    received_at: str


@dataclass
class EventMailbox:
    """Pending events by name, in arrival order."""

    _pending: list[ReceivedEvent] = field(default_factory=list)

    def deliver(self, name: str, data: Any, received_at: str) -> None:
        """Keep an event until a wait for ``name`` takes it."""
        self._pending.append(ReceivedEvent(name, data, received_at))
        if len(self._pending) > MAX_PENDING_EVENTS:
            del self._pending[0]

    def has(self, name: str) -> bool:
        """True when an event called ``name`` is waiting to be taken."""
        return any(event.name == name for event in self._pending)

    def take(self, name: str) -> ReceivedEvent | None:
        """Remove and return the oldest event called ``name``, or None."""
        for index, event in enumerate(self._pending):
            if event.name == name:
                return self._pending.pop(index)
        return None

    def pending_names(self) -> list[str]:
        """Names of the events not taken yet, in arrival order (repeats included)."""
        return [event.name for event in self._pending]
