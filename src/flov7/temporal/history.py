"""A run's Temporal event history, turned into a per-node timeline people can read.

Temporal records what the workflow *did*: activities scheduled, started, completed or
failed, timers started and fired, signals received. Flov7 names every node on the
events it causes (the node id is the activity's ``summary`` and is in its input; delay
timers carry it as their summary), so each event can be put on its node's line.

Two things the history alone cannot show, which :func:`build_timeline` merges in from
the node states (the result document, or the ``get_status`` query while running):

- Pure nodes (``condition``, ``transform``) are evaluated inside workflow code, with no
  activity and so no event. Their ``started_at`` / ``finished_at`` become entries
  marked ``"source": "workflow"``.
- Retries add no events: Temporal records only the last attempt's start, with the
  previous attempt's failure (``last_failure``). That becomes one ``attempt_failed``
  entry with the cause, before the last ``started``.

Local activities (short I/O nodes, :mod:`flov7.engine.execution`) have no activity
events: each is one ``MarkerRecorded`` event (marker ``core_local_activity``) when it
resolves, whose details name the activity type and the last attempt, whose result is the
activity's (output, attempt, worker) and whose failure is the last attempt's. It becomes
the same entries as a regular activity: ``scheduled`` and ``started`` (at the original
schedule time, the worker on ``started``), ``attempt_failed`` when attempts came before
(after ``started``: retries inside the worker leave no record of their own, so only
their count is known), then ``completed``,
``failed``, ``timed_out`` or ``cancelled``; their details say ``"local_activity": true``.
A backoff longer than the local retry threshold records a marker for the failed attempt
and a timer: an ``attempt_failed`` entry (with its cause and ``retry_in_seconds``); the
timer itself gets no entry.

Entry events: run-level ``run_started``, ``cancel_requested``, ``signal_received``,
``workflow_task_failed``, ``run_completed`` / ``run_failed`` / ``run_timed_out`` /
``run_cancelled`` / ``run_terminated`` / ``run_continued_as_new``; node-level
``scheduled``, ``started``, ``attempt_failed``, ``completed``, ``failed``, ``timed_out``,
``cancel_requested``, ``cancelled``, ``timer_started``, ``timer_fired``, ``skipped``.

Stack traces never leave this module: failures keep their type and message only.

The engine-free part (entries from node states, sorting, node summaries) is
:class:`flov7.runs.timeline.TimelineAssembler`, shared with the local runtime's
timeline (:mod:`flov7.local.timeline`), so both engines answer the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.json_format import MessageToDict
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType, RetryState, TimeoutType, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent

from flov7.nodes.base import NodeKind
from flov7.runs.timeline import (
    Timeline,
    TimelineAssembler,
    node_kind,
    started,
    waited_seconds,
)
from flov7.temporal.names import (
    CANCEL_OWN_RUN_ACTIVITY,
    CANCEL_SIGNAL,
    EVENT_SIGNAL,
    FAILED_ERROR_TYPE,
)

__all__ = ["build_timeline", "raw_event"]

PayloadDecoder = Callable[[Payload], Any]
"""Turns a Temporal payload into a Python value (the client's payload converter)."""

_ACTIVITY_PREFIX = "flov7."
_LOCAL_ACTIVITY_MARKER = "core_local_activity"
_TASK_END_SUMMARY = "flov7 local activities recorded"
"""Summary of the runner's timer that ends a workflow task (workflows.TASK_END_SUMMARY:
this module is not workflow code and does not import it)."""
"""The marker name Temporal's SDK core gives a resolved local activity."""
_MAX_CAUSE_DEPTH = 3

_RUN_CLOSE_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "run_completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "run_failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "run_timed_out",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "run_cancelled",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "run_terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "run_continued_as_new",
}


def raw_event(event: HistoryEvent) -> dict[str, Any]:
    """One history event as JSON (``MessageToDict``), with stack traces removed."""
    cleaned: dict[str, Any] = _without_stack_traces(MessageToDict(event))
    return cleaned


def build_timeline(
    events: Iterable[HistoryEvent],
    *,
    decode: PayloadDecoder,
    node_states: Mapping[str, Mapping[str, Any]] | None = None,
) -> Timeline:
    """Turn a run's history plus its node states into a :class:`Timeline`.

    Args:
        events: The run's history events, in order (all pages).
        decode: The client's payload converter, to read activity inputs, summaries,
            signal arguments and the result.
        node_states: ``node_id -> {type, status, started_at, finished_at, attempts,
            error, output?}`` in document order: ``node_results`` of the result, or the
            ``nodes`` of the ``get_status`` query. Empty when neither is available.
    """
    states = dict(node_states or {})
    builder = _Builder(decode, states)
    for event in events:
        builder.add_event(event)
    builder.order_states()
    builder.attribute_unnamed_timers()
    builder.merge_states()
    return builder.timeline()


class _Builder(TimelineAssembler):
    def __init__(self, decode: PayloadDecoder, states: dict[str, Mapping[str, Any]]) -> None:
        super().__init__(states)
        self.decode = decode
        # scheduled / started event id -> (node id, node type), to attribute later events.
        self.activities: dict[int, tuple[str | None, str | None]] = {}
        self.timers: dict[int, str | None] = {}
        self.timer_durations: dict[int, float | None] = {}
        self.document_order: list[str] = []
        # Local activities: workflow task completed event id -> the worker that completed
        # it (the one that ran the local activities recorded in it); nodes whose start
        # is already on the timeline; timers that are a local activity's retry backoff.
        self.task_workers: dict[int, str] = {}
        self.local_started: dict[str, int] = {}
        self.backoff_pending: list[str] = []
        self.backoff_timers: set[int] = set()

    # -- history events ---------------------------------------------------------------

    def add_event(self, event: HistoryEvent) -> None:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            attrs = event.workflow_execution_started_event_attributes
            document = self._decode_first(attrs.input.payloads)
            if isinstance(document, dict) and isinstance(document.get("nodes"), list):
                self.document_order = [
                    node["id"]
                    for node in document["nodes"]
                    if isinstance(node, dict) and isinstance(node.get("id"), str)
                ]
            self._entry(
                event,
                "run_started",
                details={
                    "workflow_type": attrs.workflow_type.name,
                    "task_queue": attrs.task_queue.name,
                    "attempt": attrs.attempt,
                },
            )
        elif kind in _RUN_CLOSE_EVENTS:
            self._entry(event, _RUN_CLOSE_EVENTS[kind], details=self._close_details(event))
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
            reason = event.workflow_execution_cancel_requested_event_attributes.cause
            self._entry(event, "cancel_requested", details={"reason": reason or None})
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            self._signal(event)
        elif kind in (
            EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        ):
            self._workflow_task_problem(event)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            identity = event.workflow_task_completed_event_attributes.identity
            if identity:
                self.task_workers[event.event_id] = identity
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            if event.marker_recorded_event_attributes.marker_name == _LOCAL_ACTIVITY_MARKER:
                self._local_activity(event)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            self._activity_scheduled(event)
        elif kind in _ACTIVITY_HANDLERS:
            _ACTIVITY_HANDLERS[kind](self, event)
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            timer = event.timer_started_event_attributes
            node_id = self._summary(event)
            if node_id == _TASK_END_SUMMARY:
                # The runner ending a workflow task after a batch of local activities:
                # bookkeeping, no node's and not the run's news.
                self.backoff_timers.add(event.event_id)
                return
            if node_id is None and self.backoff_pending:
                # The timer core starts right after a local activity's backoff marker:
                # the wait before its next attempt, already told by attempt_failed.
                self.backoff_pending.pop(0)
                self.backoff_timers.add(event.event_id)
                return
            seconds = timer.start_to_fire_timeout.ToTimedelta().total_seconds()
            self.timers[event.event_id] = node_id
            self.timer_durations[event.event_id] = seconds
            if self._waits(node_id):
                # The timeout of a wait node: the node waits for its event meanwhile.
                details = {"event": self._waiting_for(node_id), "timeout_seconds": seconds}
                self._entry(event, "waiting", node_id=node_id, details=details)
                return
            self._entry(
                event,
                "timer_started",
                node_id=node_id,
                details={"duration_seconds": seconds},
                timer=event.event_id,
            )
        elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
            started = event.timer_fired_event_attributes.started_event_id
            if started in self.backoff_timers:
                return
            node_id = self.timers.get(started)
            fired = "wait_timed_out" if self._waits(node_id) else "timer_fired"
            self._entry(event, fired, node_id=node_id, timer=started)
        elif kind == EventType.EVENT_TYPE_TIMER_CANCELED:
            started = event.timer_canceled_event_attributes.started_event_id
            if started in self.backoff_timers:
                return
            node_id = self.timers.get(started)
            if self._waits(node_id) and self.states.get(node_id or "", {}).get("status") == (
                "completed"
            ):
                # The event came first: the timeout timer was cancelled.
                self._entry(event, "event_taken", node_id=node_id)
                return
            self._entry(event, "cancelled", node_id=node_id, timer=started)

    def _close_details(self, event: HistoryEvent) -> dict[str, Any]:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            payloads = event.workflow_execution_completed_event_attributes.result.payloads
            result = self._decode_first(payloads)
            status = result.get("status") if isinstance(result, dict) else None
            return {"status": status}
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            if failure.application_failure_info.type == FAILED_ERROR_TYPE:
                return {"status": "failed"}  # A Flov7 run that failed at a node.
            return {"cause": _failure(failure)}
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
            return {"status": "cancelled"}
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            return {"reason": event.workflow_execution_terminated_event_attributes.reason or None}
        return {}

    def _signal(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_signaled_event_attributes
        if attrs.signal_name == EVENT_SIGNAL:
            message = self._decode_first(attrs.input.payloads)
            name = message.get("event") if isinstance(message, dict) else None
            # The name only: the data is the run's, shown as the wait node's output.
            self._entry(event, "event_received", details={"event": name})
        elif attrs.signal_name == CANCEL_SIGNAL:
            reason = self._decode_first(attrs.input.payloads)
            self._entry(
                event,
                "cancel_requested",
                details={"reason": reason if isinstance(reason, str) else None},
            )
        else:
            self._entry(event, "signal_received", details={"signal": attrs.signal_name})

    def _workflow_task_problem(self, event: HistoryEvent) -> None:
        # A workflow task that fails is a bug or a non-determinism: the run stalls until
        # a fixed worker replays it. It must be visible, not filtered out as noise.
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            attrs = event.workflow_task_failed_event_attributes
            details = {
                "cause": _failure(attrs.failure) if attrs.HasField("failure") else None,
                "reason": _enum_name(
                    WorkflowTaskFailedCause, attrs.cause, "WORKFLOW_TASK_FAILED_CAUSE_"
                ),
            }
        else:
            details = {"reason": "workflow task timed out"}
        self._entry(event, "workflow_task_failed", details=details)

    def _local_activity(self, event: HistoryEvent) -> None:
        """A resolved local activity (one marker): the entries of a regular one."""
        attrs = event.marker_recorded_event_attributes
        data = (
            self._decode_first(attrs.details["data"].payloads) if "data" in attrs.details else None
        )
        data = data if isinstance(data, dict) else {}
        activity_type = data.get("activity_type")
        if not isinstance(activity_type, str) or activity_type == CANCEL_OWN_RUN_ACTIVITY:
            return  # Not a node: the run ending itself as Canceled (workflows.py).
        node_type = activity_type.removeprefix(_ACTIVITY_PREFIX)
        node_id = self._summary(event)
        recorded_attempt = data.get("attempt")
        attempt = recorded_attempt if isinstance(recorded_attempt, int) else 1
        result = (
            self._decode_first(attrs.details["result"].payloads)
            if "result" in attrs.details
            else None
        )
        failure = attrs.failure if attrs.HasField("failure") else None
        worker = _identity(result.get("worker")) if isinstance(result, dict) else None
        if failure is not None and failure.HasField("application_failure_info"):
            details = self._decode_first(failure.application_failure_info.details.payloads)
            if isinstance(details, dict):
                worker = _identity(details.get("worker"))
        worker = worker or self.task_workers.get(attrs.workflow_task_completed_event_id)
        local: dict[str, Any] = {"local_activity": True}
        if worker:
            local["worker"] = worker
        # Attempts before this one already on the timeline (a backoff marker each).
        reported = self.local_started.get(node_id or "")
        if reported is None:
            # The shape of a regular activity's first entries, at the time it was asked for
            # (the marker itself is written when it resolved).
            scheduled_at = _timestamp(data.get("original_schedule_time"))
            self._entry(
                event,
                "scheduled",
                node_id=node_id,
                node_type=node_type,
                details={"activity_type": activity_type, "local_activity": True},
                when=scheduled_at,
            )
            self._entry(
                event,
                "started",
                node_id=node_id,
                node_type=node_type,
                attempt=1,
                details=local,
                when=scheduled_at,
            )
            reported = 0
        backoff = data.get("backoff")
        if backoff and failure is not None:
            # This attempt failed and the next waits on a timer (a long backoff).
            if attempt - 1 > reported:
                self._attempts_failed(event, node_id, node_type, attempt - 1, None, local)
            self._entry(
                event,
                "attempt_failed",
                node_id=node_id,
                node_type=node_type,
                attempt=attempt,
                details={
                    "failed_attempts": attempt,
                    "cause": _failure(failure),
                    "retry_in_seconds": _duration_seconds(backoff),
                    **local,
                },
            )
            self.local_started[node_id or ""] = attempt
            self.backoff_pending.append(node_id or "")
            return
        if attempt - 1 > reported:
            # Retries inside the worker leave no marker: only their count is known.
            self._attempts_failed(event, node_id, node_type, attempt - 1, None, local)
        self.local_started[node_id or ""] = attempt
        name = "completed"
        details = dict(local)
        if failure is not None:
            info = failure.WhichOneof("failure_info")
            name = {"canceled_failure_info": "cancelled", "timeout_failure_info": "timed_out"}.get(
                info or "", "failed"
            )
            if name != "cancelled":
                details["cause"] = _failure(failure)
        self._entry(
            event, name, node_id=node_id, node_type=node_type, attempt=attempt, details=details
        )

    def _marker_detail(self, event: HistoryEvent, key: str) -> Any:
        details = event.marker_recorded_event_attributes.details
        return self._decode_first(details[key].payloads) if key in details else None

    def _attempts_failed(
        self,
        event: HistoryEvent,
        node_id: str | None,
        node_type: str,
        failed: int,
        cause: dict[str, Any] | None,
        local: dict[str, Any],
    ) -> None:
        self._entry(
            event,
            "attempt_failed",
            node_id=node_id,
            node_type=node_type,
            attempt=failed,
            details={"failed_attempts": failed, "cause": cause, **local},
        )

    def _activity_scheduled(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_scheduled_event_attributes
        request = self._decode_first(attrs.input.payloads)
        node_id = self._summary(event)
        if node_id is None and isinstance(request, dict):
            node_id = request.get("node_id") if isinstance(request.get("node_id"), str) else None
        activity_type = attrs.activity_type.name
        node_type = activity_type.removeprefix(_ACTIVITY_PREFIX)
        self.activities[event.event_id] = (node_id, node_type)
        retry = attrs.retry_policy
        self._entry(
            event,
            "scheduled",
            node_id=node_id,
            node_type=node_type,
            details={
                "activity_type": activity_type,
                "max_attempts": retry.maximum_attempts or None,
                "start_to_close_timeout_seconds": _seconds(attrs.start_to_close_timeout),
            },
        )

    def _activity_started(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_started_event_attributes
        node_id, node_type = self.activities.get(attrs.scheduled_event_id, (None, None))
        self.activities[event.event_id] = (node_id, node_type)
        if attrs.attempt > 1:
            # Only the last attempt's start is recorded; it carries the previous
            # attempt's failure. Earlier failures are summarised by their count.
            self._entry(
                event,
                "attempt_failed",
                node_id=node_id,
                node_type=node_type,
                attempt=attrs.attempt - 1,
                details={
                    "failed_attempts": attrs.attempt - 1,
                    "cause": _failure(attrs.last_failure)
                    if attrs.HasField("last_failure")
                    else None,
                },
            )
        # The worker that picked the attempt up, as Temporal recorded it.
        worker = {"worker": attrs.identity} if attrs.identity else None
        self._entry(
            event,
            "started",
            node_id=node_id,
            node_type=node_type,
            attempt=attrs.attempt,
            details=worker,
        )

    def _activity_closed(self, event: HistoryEvent) -> None:
        kind = event.event_type
        details: dict[str, Any] = {}
        started = 0
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            name, scheduled, started = "completed", done.scheduled_event_id, done.started_event_id
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            failed = event.activity_task_failed_event_attributes
            name, scheduled, started = "failed", failed.scheduled_event_id, failed.started_event_id
            details = {
                "cause": _failure(failed.failure),
                "retry_state": _enum_name(RetryState, failed.retry_state, "RETRY_STATE_"),
            }
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            timed_out = event.activity_task_timed_out_event_attributes
            name, scheduled = "timed_out", timed_out.scheduled_event_id
            details = {
                "cause": _failure(timed_out.failure),
                "retry_state": _enum_name(RetryState, timed_out.retry_state, "RETRY_STATE_"),
            }
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
            requested = event.activity_task_cancel_requested_event_attributes
            name, scheduled = "cancel_requested", requested.scheduled_event_id
        else:  # EVENT_TYPE_ACTIVITY_TASK_CANCELED
            cancelled = event.activity_task_canceled_event_attributes
            name, scheduled = "cancelled", cancelled.scheduled_event_id
            started = cancelled.started_event_id
        node_id, node_type = self.activities.get(scheduled, (None, None))
        self._entry(
            event,
            name,
            node_id=node_id,
            node_type=node_type,
            attempt=self._attempt_of(started),
            details=details,
        )

    def _attempt_of(self, started_event_id: int) -> int | None:
        for _, _, entry in reversed(self.entries):
            if entry.get("event_id") == started_event_id and entry["event"] == "started":
                attempt = entry.get("attempt")
                return attempt if isinstance(attempt, int) else None
        return None

    def order_states(self) -> None:
        """Put the node states in document order (the run's input says it).

        Node states come from a result or a query, whose JSON objects Temporal's
        converter writes with sorted keys; people read a workflow in document order.
        """
        rank = {node_id: index for index, node_id in enumerate(self.document_order)}
        ordered = sorted(self.states, key=lambda node_id: rank.get(node_id, len(rank)))
        self.states = {node_id: self.states[node_id] for node_id in ordered}

    # -- timers without a node id -----------------------------------------------------

    def attribute_unnamed_timers(self) -> None:
        """Give timers with no summary to delay nodes, in the order the nodes started.

        Timers started by a runner that did not name them (older workers) are matched
        to timer-kind nodes that started, skipping nodes already named by a timer and
        nodes whose output shows another duration (a zero delay starts no timer).
        """
        unnamed = [event_id for event_id, node in self.timers.items() if node is None]
        if not unnamed:
            return
        named = {node for node in self.timers.values() if node is not None}
        order = {node_id: index for index, node_id in enumerate(self.states)}
        candidates = sorted(
            (
                node_id
                for node_id, state in self.states.items()
                if node_id not in named and _is_timer_type(state.get("type")) and started(state)
            ),
            key=lambda node_id: (str(self.states[node_id].get("started_at")), order[node_id]),
        )
        for timer_id in unnamed:
            duration = self.timer_durations.get(timer_id)
            while candidates:
                node_id = candidates.pop(0)
                delay = waited_seconds(self.states[node_id])
                if delay is None or duration is None or abs(delay - duration) < 1e-3:
                    self.timers[timer_id] = node_id
                    break
        for _, _, entry in self.entries:
            timer = entry.pop("_timer", None)
            if timer is not None and entry["node_id"] is None:
                entry["node_id"] = self.timers.get(timer)
                if entry["node_id"] is not None:
                    entry["node_type"] = self.states[entry["node_id"]].get("type")

    # -- helpers ----------------------------------------------------------------------

    def _entry(
        self,
        event: HistoryEvent,
        name: str,
        *,
        node_id: str | None = None,
        node_type: str | None = None,
        attempt: int | None = None,
        details: dict[str, Any] | None = None,
        timer: int | None = None,
        when: datetime | None = None,
    ) -> None:
        if when is None and event.HasField("event_time"):
            when = event.event_time.ToDatetime(tzinfo=UTC)
        entry = self.add(
            name,
            when=when,
            source="history",
            node_id=node_id,
            node_type=node_type,
            attempt=attempt,
            event_id=event.event_id,
            details=details,
        )
        if timer is not None:
            entry["_timer"] = timer

    def _waits(self, node_id: str | None) -> bool:
        """True for a ``wait`` / ``approval`` node (its timer is its timeout)."""
        return node_kind(self._state_type(node_id)) == NodeKind.EVENT

    def _waiting_for(self, node_id: str | None) -> Any:
        return self.states.get(node_id or "", {}).get("waiting_for")

    def _summary(self, event: HistoryEvent) -> str | None:
        if not event.HasField("user_metadata") or not event.user_metadata.HasField("summary"):
            return None
        value = self._decode(event.user_metadata.summary)
        return value if isinstance(value, str) and value else None

    def _decode_first(self, payloads: Iterable[Payload]) -> Any:
        for payload in payloads:
            return self._decode(payload)
        return None

    def _decode(self, payload: Payload) -> Any:
        try:
            return self.decode(payload)
        except Exception:  # an undecodable payload loses its detail, not the timeline
            return None


_ACTIVITY_HANDLERS: dict[int, Callable[[_Builder, HistoryEvent], None]] = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: _Builder._activity_started,
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: _Builder._activity_closed,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: _Builder._activity_closed,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: _Builder._activity_closed,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED: _Builder._activity_closed,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: _Builder._activity_closed,
}


def _failure(failure: Failure, depth: int = 0) -> dict[str, Any]:
    """Type and message of a Temporal failure (no stack trace), with its cause."""
    info = failure.WhichOneof("failure_info")
    if info == "application_failure_info":
        kind = failure.application_failure_info.type or "ApplicationError"
    elif info == "timeout_failure_info":
        timeout = failure.timeout_failure_info.timeout_type
        kind = "Timeout:" + _enum_name(TimeoutType, timeout, "TIMEOUT_TYPE_").replace("_", "-")
    elif info == "canceled_failure_info":
        kind = "Cancelled"
    else:
        kind = (info or "failure").removesuffix("_failure_info")
    described: dict[str, Any] = {"type": kind, "message": failure.message}
    if failure.HasField("cause") and depth < _MAX_CAUSE_DEPTH:
        described["cause"] = _failure(failure.cause, depth + 1)
    return described


def _identity(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _timestamp(value: Any) -> datetime | None:
    """A protobuf Timestamp as core writes it in marker JSON: ``{seconds, nanos}``."""
    seconds = value.get("seconds") if isinstance(value, dict) else None
    if not isinstance(seconds, int):
        return None
    nanos = value.get("nanos")
    micros = nanos // 1000 if isinstance(nanos, int) else 0
    return datetime.fromtimestamp(seconds, tz=UTC) + timedelta(microseconds=micros)


def _duration_seconds(value: Any) -> float | None:
    """A protobuf Duration in marker JSON (``{seconds, nanos}``) in seconds."""
    if not isinstance(value, dict):
        return None
    seconds, nanos = value.get("seconds"), value.get("nanos")
    return float(seconds if isinstance(seconds, int) else 0) + (
        nanos / 1e9 if isinstance(nanos, int) else 0.0
    )


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    """``RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED`` -> ``maximum_attempts_reached``."""
    try:
        name = str(enum.Name(value))
    except ValueError:  # a value newer than this SDK
        return str(value)
    return name.removeprefix(prefix).lower()


def _seconds(duration: Any) -> float | None:
    seconds = float(duration.ToTimedelta().total_seconds())
    return seconds or None


def _is_timer_type(node_type: Any) -> bool:
    return node_kind(node_type) == NodeKind.TIMER


def _without_stack_traces(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_stack_traces(v) for k, v in value.items() if k != "stackTrace"}
    if isinstance(value, list):
        return [_without_stack_traces(item) for item in value]
    return value
