"""A local run's timeline: the entries and node summaries a Temporal run's history gives.

Built from what the local runtime keeps, with the engine-free
:class:`~flov7.runs.timeline.TimelineAssembler` the Temporal timeline uses too:

- each node's state (``started_at``, ``finished_at``, ``status``, ``attempts``,
  ``error``, ``output``): when it was scheduled and how it ended;
- the runtime's events (:attr:`flov7.local.runtime.LocalRun.events`): every failed
  attempt with its cause and retry delay, and cancel requests.

Entries the runtime recorded have ``source: "local"`` and no ``event_id``. Nodes
evaluated inline (``condition``, ``transform``), zero delays, nodes that failed before
their activity ran and skipped nodes come from their states (``source: "workflow"``),
as on Temporal. One difference: Temporal keeps only the last attempt's start, so its
timeline shows one ``attempt_failed``; here every attempt shows (``started`` 1,
``attempt_failed`` 1, ``started`` 2, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flov7.nodes.base import NodeKind
from flov7.runs.timeline import (
    Timeline,
    TimelineAssembler,
    node_kind,
    parse_time,
    waited_seconds,
)

__all__ = ["SOURCE", "RunEnd", "local_timeline"]

SOURCE = "local"
"""``source`` of the entries the local runtime recorded."""

_ACTIVITY_PREFIX = "flov7."


@dataclass(frozen=True)
class RunEnd:
    """How a run closed: its last timeline entry (``run_completed``, ``run_interrupted``)."""

    event: str
    time: str | None
    details: dict[str, Any] = field(default_factory=dict)


def local_timeline(
    nodes: Mapping[str, Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    *,
    started_at: str | None,
    end: RunEnd | None,
    now: datetime,
    timer_seconds: Mapping[str, float] | None = None,
) -> Timeline:
    """The :class:`~flov7.runs.timeline.Timeline` of a local run.

    Args:
        nodes: Node states in document order: the result's ``node_results``, or the
            ``nodes`` of :meth:`~flov7.local.runtime.LocalRun.status` while it runs.
        events: The runtime's events, in order.
        started_at: When the run started.
        end: How it closed; None while it runs.
        now: The time to judge a retry not yet due against (running runs).
        timer_seconds: Durations of delay nodes whose output does not say it yet.
    """
    assembler = TimelineAssembler(nodes)
    assembler.add("run_started", when=parse_time(started_at), source=SOURCE)
    by_node: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        node_id = event.get("node_id")
        if isinstance(node_id, str):
            by_node.setdefault(node_id, []).append(event)
        elif event.get("event") == "cancel_requested":
            assembler.add(
                "cancel_requested",
                when=parse_time(event.get("time")),
                source=SOURCE,
                details={"reason": event.get("reason")},
            )
        elif event.get("event") == "event_received":
            assembler.add(
                "event_received",
                when=parse_time(event.get("time")),
                source=SOURCE,
                details={"event": event.get("name")},
            )
    for node_id, state in nodes.items():
        node_events = by_node.get(node_id, [])
        kind = node_kind(state.get("type"))
        if kind == NodeKind.TIMER:
            seconds = waited_seconds(state)
            if seconds is None and timer_seconds is not None:
                seconds = timer_seconds.get(node_id)
            _timer_entries(assembler, node_id, state, seconds)
        elif kind == NodeKind.ACTIVITY:
            _activity_entries(assembler, node_id, state, node_events, now)
    assembler.merge_states()
    if end is not None:
        # Added last: it sorts after any entry stamped at the same instant.
        assembler.add(end.event, when=parse_time(end.time), source=SOURCE, details=end.details)
    return assembler.timeline()


def _timer_entries(
    assembler: TimelineAssembler,
    node_id: str,
    state: Mapping[str, Any],
    seconds: float | None,
) -> None:
    status = state.get("status")
    if state.get("started_at") is None or status in ("pending", "skipped", "failed"):
        return  # never slept: a failed delay failed rendering its config
    if status == "completed" and seconds == 0:
        return  # a zero delay sleeps no timer (Temporal starts none either)
    assembler.add(
        "timer_started",
        when=parse_time(state.get("started_at")),
        source=SOURCE,
        node_id=node_id,
        details={"duration_seconds": seconds},
    )
    closing = {"completed": "timer_fired", "cancelled": "cancelled"}.get(str(status))
    if closing is not None:
        assembler.add(
            closing, when=parse_time(state.get("finished_at")), source=SOURCE, node_id=node_id
        )


def _activity_entries(
    assembler: TimelineAssembler,
    node_id: str,
    state: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    now: datetime,
) -> None:
    status = str(state.get("status"))
    failures = sorted(
        (event for event in events if event.get("event") == "attempt_failed"),
        key=lambda event: int(event.get("attempt") or 0),
    )
    if state.get("started_at") is None or status in ("pending", "skipped"):
        return
    if status == "failed" and not failures:
        return  # failed before its activity ran (a template error): like a pure node
    node_type = state.get("type")
    started = parse_time(state.get("started_at"))
    finished = parse_time(state.get("finished_at"))
    assembler.add(
        "scheduled",
        when=started,
        source=SOURCE,
        node_id=node_id,
        details={"activity_type": f"{_ACTIVITY_PREFIX}{node_type}"},
    )
    # Every attempt of a local run runs in this process: the node's worker is it.
    worker = {"worker": state["worker"]} if isinstance(state.get("worker"), str) else None
    assembler.add(
        "started", when=started, source=SOURCE, node_id=node_id, attempt=1, details=worker
    )
    for failure in failures:
        retry_in = failure.get("retry_in_seconds")
        if retry_in is None:
            continue  # the last attempt: the closing entry below carries its cause
        attempt = int(failure.get("attempt") or 0)
        failed_at = parse_time(failure.get("time"))
        assembler.add(
            "attempt_failed",
            when=failed_at,
            source=SOURCE,
            node_id=node_id,
            attempt=attempt,
            details={
                "failed_attempts": attempt,
                "cause": _cause(failure.get("error")),
                "retry_in_seconds": retry_in,
            },
        )
        # The runner records failures, not starts: the next attempt starts when the
        # retry delay is over, unless the node ended (was cancelled) before that.
        retry_at = failed_at + timedelta(seconds=float(retry_in)) if failed_at else None
        if retry_at is not None and retry_at <= (finished or now):
            assembler.add(
                "started",
                when=retry_at,
                source=SOURCE,
                node_id=node_id,
                attempt=attempt + 1,
                details=worker,
            )
    for event in events:
        if event.get("event") == "cancel_requested":
            assembler.add(
                "cancel_requested",
                when=parse_time(event.get("time")),
                source=SOURCE,
                node_id=node_id,
            )
    _closing_entry(assembler, node_id, state, finished)


def _closing_entry(
    assembler: TimelineAssembler,
    node_id: str,
    state: Mapping[str, Any],
    finished: datetime | None,
) -> None:
    status = state.get("status")
    attempts = state.get("attempts") if isinstance(state.get("attempts"), int) else None
    attempt = attempts or None
    if status == "completed":
        assembler.add("completed", when=finished, source=SOURCE, node_id=node_id, attempt=attempt)
    elif status == "failed":
        error = state.get("error")
        timed_out = isinstance(error, dict) and error.get("type") == "Timeout"
        assembler.add(
            "timed_out" if timed_out else "failed",
            when=finished,
            source=SOURCE,
            node_id=node_id,
            attempt=attempt,
            details={"cause": _cause(error)},
        )
    elif status == "cancelled":
        assembler.add("cancelled", when=finished, source=SOURCE, node_id=node_id, attempt=attempt)


def _cause(error: Any) -> dict[str, Any] | None:
    """A node error as a timeline cause (the attempt count is on the entry already)."""
    if not isinstance(error, dict):
        return None
    return {key: value for key, value in error.items() if key != "attempts"}
