"""I/O nodes as Temporal local activities: the rule, the override, and what must hold for
both kinds (retries, timeouts, cancellation, worker identity, the history timeline).

Every run is on the session's real dev server; the calls go to a real HTTP server on
127.0.0.1. Whether a node ran as a local activity is read from the run's history: a
``MarkerRecorded`` event (marker ``core_local_activity``) instead of
``ActivityTaskScheduled``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle

from flov7.config import NodeSettings, TemporalSettings, settings_with
from flov7.engine.driver import ActivityPolicy
from flov7.engine.execution import LOCAL_ACTIVITY_MAX_ATTEMPT_SECONDS, choose_execution
from flov7.engine.validate import validate_workflow
from flov7.local.runtime import LocalRuntime
from flov7.nodes.registry import get_node_type
from flov7.nodes.resources import node_resources
from flov7.spec import Execution, ExecutionDefaults, NodeSpec
from flov7.temporal.devserver import EmbeddedDevServer
from flov7.temporal.executions import start_execution
from flov7.temporal.history import build_timeline
from flov7.temporal.names import CANCEL_OWN_RUN_ACTIVITY
from flov7.temporal.worker import create_worker
from flov7.temporal.workflows import LOCAL_ACTIVITIES_PER_TASK, TASK_END_SUMMARY
from nodes.http_servers import TestHttpServer

from support.results import result_document

FAST = {"initial_interval_seconds": 0.1, "backoff_coefficient": 1.0, "max_interval_seconds": 0.2}
MARKER = "core_local_activity"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http() -> AsyncIterator[TestHttpServer]:
    async with TestHttpServer() as server:
        yield server


def call(node_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "api_call", "data": {"url": url}, **extra}


def doc(*nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": f"la-{uuid.uuid4().hex[:8]}", "nodes": list(nodes), **extra}


async def start(
    client: Client, settings: TemporalSettings, document: dict[str, Any]
) -> WorkflowHandle[Any, Any]:
    return await start_execution(client, document, settings)


async def events_of(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    return list((await handle.fetch_history()).events)


def how_it_ran(events: list[HistoryEvent], client: Client) -> dict[str, str]:
    """node id -> ``local`` (a local-activity marker) or ``activity`` (scheduled)."""
    decode = client.data_converter.payload_converter.from_payload
    ran: dict[str, str] = {}
    for event in events:
        summary = decode(event.user_metadata.summary) if event.HasField("user_metadata") else None
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name != MARKER:
                continue
            data = decode(marker.details["data"].payloads[0])
            if data["activity_type"] != CANCEL_OWN_RUN_ACTIVITY:  # the run's own, no node
                ran[str(summary)] = "local"
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            ran[str(summary)] = "activity"
    return ran


def timeline_of(events: list[HistoryEvent], client: Client, result: dict[str, Any]) -> Any:
    return build_timeline(
        events,
        decode=client.data_converter.payload_converter.from_payload,
        node_states=result["node_results"],
    )


# -- the rule (pure) ------------------------------------------------------------------


def _node(**fields: Any) -> NodeSpec:
    return NodeSpec.model_validate({"id": "n", "type": "api_call", "data": {}, **fields})


def test_the_rule_for_the_default() -> None:
    api_call = get_node_type("api_call")
    database = get_node_type("database")
    assert api_call is not None and database is not None
    config = api_call.parse_config({"url": "http://127.0.0.1/"})
    # api_call's own HTTP limit (30 s) bounds an attempt: local under the 300 s default.
    assert choose_execution(_node(), api_call, config, 300) == Execution.LOCAL
    slow = api_call.parse_config({"url": "http://127.0.0.1/", "http_timeout_seconds": 600})
    assert choose_execution(_node(), api_call, slow, 300) == Execution.ACTIVITY
    # No limit of its own: the attempt timeout decides.
    assert choose_execution(_node(type="database"), database, None, 300) == Execution.ACTIVITY
    short = LOCAL_ACTIVITY_MAX_ATTEMPT_SECONDS
    assert choose_execution(_node(type="database"), database, None, short) == Execution.LOCAL
    # The node's own word wins either way.
    assert choose_execution(_node(execution="activity"), api_call, config, 1) == Execution.ACTIVITY
    assert choose_execution(_node(execution="local"), api_call, slow, 900) == Execution.LOCAL


def test_policy_carries_the_decision_and_approval_stays_regular() -> None:
    api_call = get_node_type("api_call")
    assert api_call is not None
    config = api_call.parse_config({"url": "http://127.0.0.1/"})
    policy = ActivityPolicy.for_node(
        _node(), ExecutionDefaults(), node_type=api_call, config=config
    )
    assert policy.execution == Execution.LOCAL
    # Without a node type (approval's preparing activity): a regular activity.
    assert ActivityPolicy.for_node(_node(), ExecutionDefaults()).execution == Execution.ACTIVITY
    approval = get_node_type("approval")
    assert approval is not None and approval.execution == Execution.ACTIVITY


@pytest.mark.parametrize("where", ["top", "data"])
def test_execution_is_validated_with_a_clear_error(where: str) -> None:
    node: dict[str, Any] = {"id": "n", "type": "api_call", "data": {"url": "http://x.test/"}}
    if where == "top":
        node["execution"] = "lokal"
    else:
        node["data"]["execution"] = "lokal"
    report = validate_workflow({"id": "w", "nodes": [node]})
    assert not report.valid
    assert "Input should be 'local' or 'activity'" in report.summary()
    assert "execution" in report.summary()


def test_valid_execution_values_pass_validation_without_warnings() -> None:
    for value in ("local", "activity"):
        node = {"id": "n", "type": "api_call", "execution": value, "data": {"url": "http://x/"}}
        report = validate_workflow({"id": "w", "nodes": [node]})
        assert report.valid, report.summary()
        assert [w for w in report.warnings if w.field == "execution"] == []


async def test_the_local_runtime_accepts_and_ignores_execution(http: TestHttpServer) -> None:
    results = []
    loopback = settings_with(nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"))
    for execution in ("local", "activity", None):
        extra = {"execution": execution} if execution else {}
        async with node_resources(loopback) as resources:
            runtime = LocalRuntime(resources)
            result = await runtime.run(doc(call("get", http.url_for("/json"), **extra)))
        results.append((result["status"], result["node_results"]["get"]["output"]["body"]))
    assert results[0] == results[1] == results[2]
    assert results[0][0] == "completed"


# -- on Temporal ----------------------------------------------------------------------


async def test_default_and_override_decide_how_nodes_run(
    temporal_client: Client, flov7_worker: TemporalSettings, http: TestHttpServer
) -> None:
    document = doc(
        call("default", http.url_for("/json")),
        call("regular", http.url_for("/json"), execution="activity"),
        # Long HTTP limit: regular by the rule, unless the node says local.
        {
            **call("long", http.url_for("/json")),
            "data": {"url": http.url_for("/json"), "http_timeout_seconds": 120},
        },
        {
            **call("forced", http.url_for("/json")),
            "data": {"url": http.url_for("/json"), "http_timeout_seconds": 120},
            "execution": "local",
        },
    )
    handle = await start(temporal_client, flov7_worker, document)
    result = await result_document(handle)
    assert result["status"] == "completed", result
    ran = how_it_ran(await events_of(handle), temporal_client)
    assert ran == {"default": "local", "regular": "activity", "long": "activity", "forced": "local"}
    # Worker identity is reported for both kinds: the worker that ran the node.
    workers = {node: result["node_results"][node]["worker"] for node in ran}
    assert all(workers.values()), workers
    assert len(set(workers.values())) == 1


@pytest.mark.parametrize("execution", ["local", "activity"])
async def test_retries_then_success_and_the_timeline(
    temporal_client: Client,
    flov7_worker: TemporalSettings,
    http: TestHttpServer,
    execution: str,
) -> None:
    key = uuid.uuid4().hex
    node = call("flaky", http.url_for(f"/flaky/{key}?failures=2"), retry=FAST, execution=execution)
    handle = await start(temporal_client, flov7_worker, doc(node))
    result = await result_document(handle)
    state = result["node_results"]["flaky"]
    assert (result["status"], state["attempts"]) == ("completed", 3)
    assert state["output"]["status_code"] == 200
    events = await events_of(handle)
    assert how_it_ran(events, temporal_client) == {"flaky": execution}
    timeline = timeline_of(events, temporal_client, result)
    entries = [e for e in timeline.entries if e["node_id"] == "flaky"]
    names = [e["event"] for e in entries]
    assert names[0] == "scheduled" and names[-1] == "completed"
    assert "attempt_failed" in names and "started" in names
    failed = next(e for e in entries if e["event"] == "attempt_failed")
    assert failed["details"]["failed_attempts"] == 2
    started = [e for e in entries if e["event"] == "started"]
    assert started[-1]["details"]["worker"] == state["worker"]
    assert entries[-1]["attempt"] == 3
    assert all(e["source"] == "history" for e in entries)
    assert (entries[-1]["details"].get("local_activity") is True) == (execution == "local")
    summary = timeline.nodes["flaky"]
    assert (summary["status"], summary["attempts"], summary["in_history"]) == (
        "completed",
        3,
        True,
    )


async def test_failures_have_the_same_shape_for_both_kinds(
    temporal_client: Client, flov7_worker: TemporalSettings, http: TestHttpServer
) -> None:
    errors = {}
    for execution in ("local", "activity"):
        node = call(
            "broken",
            http.url_for("/status/503"),
            retry={**FAST, "max_attempts": 2},
            execution=execution,
        )
        handle = await start(temporal_client, flov7_worker, doc(node))
        result = await result_document(handle)
        assert result["status"] == "failed"
        state = result["node_results"]["broken"]
        errors[execution] = (state["error"], state["attempts"], bool(state["worker"]))
        if execution == "local":
            events = await events_of(handle)
            timeline = timeline_of(events, temporal_client, result)
            last = [e for e in timeline.entries if e["node_id"] == "broken"][-1]
            assert last["event"] == "failed"
            assert last["details"]["cause"]["type"] == "HttpServerError"
            assert last["details"]["worker"] == state["worker"]
    assert errors["local"] == errors["activity"]
    error, attempts, has_worker = errors["local"]
    assert (error["type"], error["attempts"], attempts, has_worker) == (
        "HttpServerError",
        2,
        2,
        True,
    )
    assert error["details"]["status_code"] == 503


@pytest.mark.parametrize("execution", ["local", "activity"])
async def test_attempt_timeouts_are_node_timeouts(
    temporal_client: Client,
    flov7_worker: TemporalSettings,
    http: TestHttpServer,
    execution: str,
) -> None:
    node = {
        **call("slow", http.url_for("/slow?seconds=5")),
        "timeout_seconds": 0.5,
        "retry": {**FAST, "max_attempts": 2},
        "execution": execution,
    }
    handle = await start(temporal_client, flov7_worker, doc(node))
    result = await result_document(handle)
    state = result["node_results"]["slow"]
    assert result["status"] == "failed"
    assert state["error"]["type"] == "Timeout"
    assert "start-to-close timeout of 0.5s" in state["error"]["message"]
    assert state["attempts"] == 2
    events = await events_of(handle)
    timeline = timeline_of(events, temporal_client, result)
    last = [e for e in timeline.entries if e["node_id"] == "slow"][-1]
    assert last["event"] == "timed_out"
    if execution == "local":
        assert state["worker"]  # the worker running the workflow task ran it


async def test_a_long_backoff_becomes_a_timer_and_the_timeline_tells_the_retry(
    temporal_client: Client, flov7_worker: TemporalSettings, http: TestHttpServer
) -> None:
    key = uuid.uuid4().hex
    # A 6 s backoff is over the local retry threshold (5 s): a durable timer, not a sleep.
    retry = {"initial_interval_seconds": 6, "max_attempts": 2}
    node = call("flaky", http.url_for(f"/flaky/{key}?failures=1"), retry=retry)
    handle = await start(temporal_client, flov7_worker, doc(node))
    result = await result_document(handle)
    assert (result["status"], result["node_results"]["flaky"]["attempts"]) == ("completed", 2)
    events = await events_of(handle)
    assert any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events)
    timeline = timeline_of(events, temporal_client, result)
    names = [(e["event"], e["attempt"]) for e in timeline.entries if e["node_id"] == "flaky"]
    assert names == [("scheduled", None), ("started", 1), ("attempt_failed", 1), ("completed", 2)]
    failed = next(e for e in timeline.entries if e["event"] == "attempt_failed")
    assert failed["details"]["retry_in_seconds"] == pytest.approx(6, abs=0.5)
    assert failed["details"]["cause"]["type"] == "HttpServerError"
    # The backoff timer is the node's retry, not a node or run event of its own.
    assert not [e for e in timeline.entries if e["event"].startswith("timer")]


@pytest.mark.parametrize("how", ["signal", "request"])
async def test_cancel_with_a_local_activity_in_flight(
    temporal_client: Client, flov7_worker: TemporalSettings, http: TestHttpServer, how: str
) -> None:
    document = doc(
        call("slow", http.url_for("/slow?seconds=30"), execution="local"),
        call("after", http.url_for("/json")),
        edges=[{"id": "e", "source": "slow", "target": "after"}],
    )
    handle = await start(temporal_client, flov7_worker, document)
    while (await handle.query("get_status"))["nodes"].get("slow", {}).get("status") != "running":
        await asyncio.sleep(0.05)
    if how == "signal":
        await handle.signal("cancel_workflow", "stop")
    else:
        await handle.cancel()
    result = await result_document(handle)
    assert result["status"] == "cancelled"
    assert result["node_results"]["slow"]["status"] == "cancelled"
    assert result["node_results"]["after"]["status"] != "completed"
    events = await events_of(handle)
    assert how_it_ran(events, temporal_client) == {"slow": "local"}
    timeline = timeline_of(events, temporal_client, result)
    assert [e["event"] for e in timeline.entries if e["node_id"] == "slow"][-1] == "cancelled"


async def test_a_local_activity_interrupted_by_kill_9_runs_again_on_another_worker(
    temporal_server: EmbeddedDevServer,
    temporal_client: Client,
    http: TestHttpServer,
    tmp_path: Path,
) -> None:
    """kill -9 the worker while a local activity's HTTP call is in flight: the workflow
    task times out, another worker replays it and runs the node again (it re-runs, as
    a regular activity's attempt does), and the run completes."""
    queue = f"kill-la-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    env |= {
        "TEMPORAL_HOST": temporal_server.target,
        "TEMPORAL_TASK_QUEUE": queue,
        "FLOV7_DATA_DIR": str(tmp_path),
        "FLOV7_OUTBOUND_ALLOWLIST": "127.0.0.1",
    }
    key = uuid.uuid4().hex
    path = f"/hang-once/{key}"
    document = doc(call("fetch", http.url_for(path), retry=FAST, execution="local"))
    worker = subprocess.Popen(
        [sys.executable, "-m", "flov7.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    settings = TemporalSettings(task_queue=queue)
    try:
        handle = await start_execution(temporal_client, document, settings)
        for _ in range(600):
            if http.requests_to(path):
                break
            await asyncio.sleep(0.05)
        assert http.requests_to(path), "the first attempt never started"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    loopback = settings_with(nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"))
    async with (
        node_resources(loopback) as resources,
        create_worker(temporal_client, settings, resources=resources),
    ):
        result = await asyncio.wait_for(result_document(handle), timeout=120)
    assert result["status"] == "completed", result["error"]
    node = result["node_results"]["fetch"]
    assert node["output"]["body"] == {"key": key, "calls": 2}
    # The call that counted ran on the worker of this process, not the killed one.
    assert node["worker"] == temporal_client.identity
    events = await events_of(handle)
    assert how_it_ran(events, temporal_client) == {"fetch": "local"}
    assert any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for e in events)


async def test_a_wide_fan_out_is_recorded_in_batches_and_each_call_runs_once(
    temporal_client: Client, flov7_worker: TemporalSettings, http: TestHttpServer
) -> None:
    """More local activities than one workflow task may start: the runner ends the task
    between batches (a timer), so no task stays open long enough to time out and re-run
    its local activities; the timeline does not show those timers."""
    key = uuid.uuid4().hex
    width = LOCAL_ACTIVITIES_PER_TASK + 20
    nodes = [call(f"n{i}", http.url_for(f"/echo?k={key}&i={i}")) for i in range(width)]
    handle = await start(temporal_client, flov7_worker, doc(*nodes))
    result = await result_document(handle)
    assert result["status"] == "completed"
    calls = [r for r in http.requests if f"k={key}" in r.target]
    assert len(calls) == width  # each node called exactly once
    events = await events_of(handle)
    decode = temporal_client.data_converter.payload_converter.from_payload
    task_ends = [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        and decode(e.user_metadata.summary) == TASK_END_SUMMARY
    ]
    assert task_ends
    assert set(how_it_ran(events, temporal_client).values()) == {"local"}
    timeline = timeline_of(events, temporal_client, result)
    assert not [e for e in timeline.entries if e["event"].startswith("timer")]
    assert all(timeline.nodes[f"n{i}"]["status"] == "completed" for i in range(width))
