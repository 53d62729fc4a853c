"""flov7.temporal.history on hand-made events: the cases a live run does not produce
on demand (named timers, zero delays, workflow task failures, stack traces)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import ActivityType, Payloads
from temporalio.api.enums.v1 import EventType, RetryState, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.history.v1 import (
    ActivityTaskFailedEventAttributes,
    ActivityTaskScheduledEventAttributes,
    HistoryEvent,
    TimerFiredEventAttributes,
    TimerStartedEventAttributes,
    WorkflowExecutionStartedEventAttributes,
    WorkflowTaskFailedEventAttributes,
)
from temporalio.api.sdk.v1 import UserMetadata
from temporalio.converter import default

from flov7.temporal.history import build_timeline, raw_event

CONVERTER = default().payload_converter
START = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def event(event_id: int, kind: int, seconds: float, **fields: Any) -> HistoryEvent:
    built = HistoryEvent(event_id=event_id, event_type=kind, **fields)  # type: ignore[arg-type]
    built.event_time.FromDatetime(START + timedelta(seconds=seconds))
    return built


def summary(text: str) -> UserMetadata:
    return UserMetadata(summary=CONVERTER.to_payload(text))


def started(document: dict[str, Any]) -> HistoryEvent:
    return event(
        1,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        0,
        workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
            input=Payloads(payloads=[CONVERTER.to_payload(document)])
        ),
    )


def timer(event_id: int, seconds: float, at: float, name: str | None = None) -> HistoryEvent:
    extra: dict[str, Any] = {"user_metadata": summary(name)} if name else {}
    return event(
        event_id,
        EventType.EVENT_TYPE_TIMER_STARTED,
        at,
        timer_started_event_attributes=TimerStartedEventAttributes(
            timer_id=str(event_id), start_to_fire_timeout=Duration(seconds=int(seconds))
        ),
        **extra,
    )


def fired(event_id: int, started_id: int, at: float) -> HistoryEvent:
    return event(
        event_id,
        EventType.EVENT_TYPE_TIMER_FIRED,
        at,
        timer_fired_event_attributes=TimerFiredEventAttributes(started_event_id=started_id),
    )


def timeline_of(events: list[HistoryEvent], states: dict[str, Any] | None = None) -> Any:
    return build_timeline(events, decode=CONVERTER.from_payload, node_states=states)


def test_named_timer_without_node_states() -> None:
    """A timer carrying its node id needs nothing else to land on its node."""
    result = timeline_of([timer(5, 30, 1, name="wait"), fired(6, 5, 31)])
    assert [(e["node_id"], e["event"]) for e in result.entries] == [
        ("wait", "timer_started"),
        ("wait", "timer_fired"),
    ]
    assert result.nodes["wait"]["status"] == "completed"
    assert result.nodes["wait"]["duration_ms"] == 30000
    assert result.nodes["wait"]["in_history"] is True


def test_unnamed_timer_goes_to_the_delay_that_slept() -> None:
    """A zero delay starts no timer: the only timer belongs to the other delay node."""
    document = {"nodes": [{"id": "zero"}, {"id": "five"}]}
    states = {
        "five": {
            "type": "delay",
            "status": "completed",
            "started_at": (START + timedelta(seconds=1)).isoformat(),
            "finished_at": (START + timedelta(seconds=6)).isoformat(),
            "output": {"delayed_seconds": 5},
        },
        "zero": {
            "type": "delay",
            "status": "completed",
            "started_at": (START + timedelta(seconds=1)).isoformat(),
            "finished_at": (START + timedelta(seconds=1)).isoformat(),
            "output": {"delayed_seconds": 0},
        },
    }
    result = timeline_of([started(document), timer(5, 5, 1.1), fired(6, 5, 6)], states)
    assert list(result.nodes) == ["zero", "five"]  # document order, not the states' order
    assert [(e["node_id"], e["event"]) for e in result.entries if e["node_id"]] == [
        ("zero", "started"),
        ("zero", "completed"),
        ("five", "timer_started"),
        ("five", "timer_fired"),
    ]
    assert all("_timer" not in entry for entry in result.entries)


def test_failures_keep_type_and_message_never_the_stack() -> None:
    failure = Failure(
        message="upstream said 503",
        stack_trace='File "/srv/app/secret.py", line 1',
        application_failure_info=ApplicationFailureInfo(type="HttpError"),
        cause=Failure(message="inner", stack_trace="deep"),
    )
    scheduled = event(
        5,
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        1,
        activity_task_scheduled_event_attributes=ActivityTaskScheduledEventAttributes(
            activity_type=ActivityType(name="flov7.api_call"),
            input=Payloads(payloads=[CONVERTER.to_payload({"node_id": "fetch"})]),
        ),
    )
    failed = event(
        7,
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        2,
        activity_task_failed_event_attributes=ActivityTaskFailedEventAttributes(
            failure=failure,
            scheduled_event_id=5,
            started_event_id=6,
            retry_state=RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE,
        ),
    )
    task_failed = event(
        9,
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        3,
        workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(
            cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
            failure=Failure(message="nondeterminism", stack_trace="trace"),
        ),
    )
    result = timeline_of([scheduled, failed, task_failed])
    entries = {entry["event"]: entry for entry in result.entries}
    assert entries["scheduled"]["node_id"] == "fetch"  # from the activity input
    assert entries["scheduled"]["node_type"] == "api_call"
    assert entries["failed"]["node_id"] == "fetch"
    assert entries["failed"]["details"] == {
        "cause": {
            "type": "HttpError",
            "message": "upstream said 503",
            "cause": {"type": "failure", "message": "inner"},
        },
        "retry_state": "non_retryable_failure",
    }
    assert entries["workflow_task_failed"]["details"]["reason"] == "non_deterministic_error"
    assert result.nodes["fetch"]["status"] == "failed"
    text = json.dumps(result.entries)
    assert "secret.py" not in text and "trace" not in text
    assert "stackTrace" not in json.dumps(raw_event(failed))
    assert "upstream said 503" in json.dumps(raw_event(failed))
