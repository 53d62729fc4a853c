"""GET /workflow/history: a run's history as a per-node timeline, and raw.

On Temporal the timeline is the real event history; on the local runtime it comes from
the node results and the runtime's attempt events. Both engines answer the same shape;
where they differ (Temporal keeps only the last attempt's start, the local runtime has
every attempt) the expectations say so.

Test-only node types make attempts fail and activities block on purpose, so that the
history holds retries, failures and cancellations deterministically. On Temporal they
run on a worker and task queue of this module only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import pytest_asyncio
from api_support import (
    API,
    WAIT,
    Engine,
    api_settings,
    client_for,
    document,
    eventually,
    only_on,
    registered_node_type,
    running_app,
    transform,
)
from temporalio.client import Client

from flov7.config import TemporalSettings
from flov7.errors import NodeExecutionError
from flov7.nodes.base import ActivityContext, NodeConfig, NodeKind, NodeType
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.worker import create_worker


class FlakyConfig(NodeConfig):
    fail_times: int = 1


class FlakyNode(NodeType):
    """Fails its first ``fail_times`` attempts, then succeeds."""

    name = "test_flaky"
    kind = NodeKind.ACTIVITY
    config_model = FlakyConfig
    description = "test only"
    example: ClassVar[dict[str, Any]] = {}

    async def execute(self, config: NodeConfig, context: ActivityContext) -> Any:
        assert isinstance(config, FlakyConfig)
        if context.attempt <= config.fail_times:
            raise NodeExecutionError(f"flaky failure {context.attempt}", error_type="Flaky")
        return {"attempt": context.attempt}


class BlockingNode(NodeType):
    """Runs until cancelled (the activity heartbeats in the background meanwhile)."""

    name = "test_blocking"
    kind = NodeKind.ACTIVITY
    config_model = NodeConfig
    description = "test only"
    example: ClassVar[dict[str, Any]] = {}

    async def execute(self, config: NodeConfig, context: ActivityContext) -> Any:
        await asyncio.Event().wait()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def history_api(
    api_engine: Engine,
    api_database: Database,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[httpx.AsyncClient]:
    data_dir = Path(tmp_path_factory.mktemp("history"))
    with registered_node_type(FlakyNode()), registered_node_type(BlockingNode()):
        async with contextlib.AsyncExitStack() as stack:
            backend = api_engine.backend
            settings = api_engine.settings(data_dir)
            if api_engine.client is not None:
                # A worker of this module, which knows the test node types.
                temporal = TemporalSettings(task_queue=f"history-{uuid.uuid4().hex[:8]}")
                await stack.enter_async_context(create_worker(api_engine.client, temporal))
                backend = TemporalBackend(temporal, client=api_engine.client)
                settings = api_settings(temporal, data_dir)
            app = await stack.enter_async_context(
                running_app(settings, backend=backend, database=api_database)
            )
            yield await stack.enter_async_context(client_for(app))


def flaky(node_id: str, fail_times: int, max_attempts: int = 3) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "test_flaky",
        "data": {"fail_times": fail_times},
        "retry": {"max_attempts": max_attempts, "initial_interval_seconds": 0.1},
    }


async def run(client: httpx.AsyncClient, doc: dict[str, Any]) -> str:
    response = await client.post(
        f"{API}/workflow/execute", json={"workflow_data": doc}, params=WAIT
    )
    assert response.status_code == 200, response.text
    return str(response.json()["execution_id"])


async def timeline(client: httpx.AsyncClient, execution_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{API}/workflow/history/{execution_id}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def of_node(events: list[dict[str, Any]], node_id: str) -> list[str]:
    return [event["event"] for event in events if event["node_id"] == node_id]


def _temporal_attempts(failures: list[str], closing: str) -> list[str]:
    # Temporal keeps the last attempt's start only, with the previous failure on it.
    return ["scheduled", *failures[-1:], "started", closing]


def _local_attempts(failures: list[str], closing: str) -> list[str]:
    # The local runtime knows every attempt: a start, then its failure, and so on.
    return ["scheduled", "started", *(e for f in failures for e in (f, "started")), closing]


ATTEMPTS = {"temporal": _temporal_attempts, "local": _local_attempts}
"""An activity node's entries on each engine, from its retried failures and its end."""
SOURCE = {"temporal": "history", "local": "local"}
"""``source`` of the entries each engine recorded."""


async def test_timeline_shows_every_node_with_retries_timers_and_skips(
    history_api: httpx.AsyncClient, engine: str
) -> None:
    doc = document(
        {"id": "check", "type": "condition", "data": {"condition": "input.go"}},
        flaky("fetch", fail_times=1),
        {"id": "pause", "type": "delay", "data": {"delay_seconds": 1}},
        transform("shape", attempt="inputs.attempt"),
        transform("other"),
        edges=[
            {"id": "e1", "source": "check", "target": "fetch", "sourceHandle": "true"},
            {"id": "e2", "source": "check", "target": "other", "sourceHandle": "false"},
            {"id": "e3", "source": "fetch", "target": "pause"},
            {"id": "e4", "source": "pause", "target": "shape"},
        ],
        input={"go": True},
    )
    execution_id = await run(history_api, doc)
    body = await timeline(history_api, execution_id)
    assert body["raw"] is False
    assert body["engine"] == engine
    assert body["status"] == "completed"
    events = body["events"]
    assert body["total_events"] == len(events)
    assert events[0]["event"] == "run_started"
    assert events[-1]["event"] == "run_completed"
    assert events[-1]["details"] == {"status": "completed"}

    # An activity node: the failed attempt with its cause. Temporal records the last
    # attempt's start only; the local runtime knows every attempt.
    assert of_node(events, "fetch") == ATTEMPTS[engine](["attempt_failed"], "completed")
    failed = next(e for e in events if e["event"] == "attempt_failed")
    assert failed["attempt"] == 1
    assert failed["node_type"] == "test_flaky"
    cause = failed["details"]["cause"]
    assert (cause["type"], cause["message"]) == ("Flaky", "flaky failure 1")
    assert "stack" not in json.dumps(cause).lower()
    completed = next(e for e in events if e["node_id"] == "fetch" and e["event"] == "completed")
    assert completed["attempt"] == 2
    assert completed["source"] == SOURCE[engine]
    if engine == "temporal":
        # Temporal records the worker that picked each attempt up.
        started = [e for e in events if e["node_id"] == "fetch" and e["event"] == "started"]
        assert all("@" in e["details"]["worker"] for e in started), started
    # A delay node: a durable timer.
    assert of_node(events, "pause") == ["timer_started", "timer_fired"]
    timer = next(e for e in events if e["event"] == "timer_started")
    assert timer["details"]["duration_seconds"] == 1
    # Pure nodes have no Temporal event: they come from the node results.
    for pure in ("check", "shape"):
        assert of_node(events, pure) == ["started", "completed"]
        assert {e["source"] for e in events if e["node_id"] == pure} == {"workflow"}
    assert of_node(events, "other") == ["skipped"]
    # Node by node, in the order things happened.
    order = [e["node_id"] for e in events if e["node_id"] and e["event"] != "skipped"]
    firsts = [order.index(node) for node in ("check", "fetch", "pause", "shape")]
    assert firsts == sorted(firsts)
    times = [e["time"] for e in events]
    assert times == sorted(times)

    nodes = body["nodes"]
    assert list(nodes) == ["check", "fetch", "pause", "shape", "other"]  # document order
    assert nodes["fetch"]["attempts"] == 2
    assert nodes["fetch"]["in_history"] is (engine == "temporal")
    assert nodes["check"]["in_history"] is False
    assert nodes["other"]["status"] == "skipped"
    assert nodes["pause"]["duration_ms"] >= 900


async def test_node_failing_every_attempt(history_api: httpx.AsyncClient, engine: str) -> None:
    doc = document(flaky("fetch", fail_times=10, max_attempts=2), transform("after"))
    doc["edges"] = [{"id": "e", "source": "fetch", "target": "after"}]
    execution_id = await run(history_api, doc)
    body = await timeline(history_api, execution_id)
    assert body["status"] == "failed"
    events = body["events"]
    assert of_node(events, "fetch") == ATTEMPTS[engine](["attempt_failed"], "failed")
    failure = next(e for e in events if e["node_id"] == "fetch" and e["event"] == "failed")
    assert failure["attempt"] == 2
    assert failure["details"]["cause"]["message"] == "flaky failure 2"
    if engine == "temporal":
        assert failure["details"]["retry_state"] == "maximum_attempts_reached"
    assert of_node(events, "after") == []
    assert body["nodes"]["after"]["status"] == "pending"
    assert body["nodes"]["fetch"]["error"]["type"] == "Flaky"


async def test_cancelled_run_shows_the_cancel_and_the_cancelled_node(
    history_api: httpx.AsyncClient,
) -> None:
    doc = document({"id": "block", "type": "test_blocking"})
    started = await history_api.post(f"{API}/workflow/execute", json={"workflow_data": doc})
    execution_id = started.json()["execution_id"]

    async def blocking() -> bool:
        status = (await history_api.get(f"{API}/workflow/status/{execution_id}")).json()
        return bool(status["nodes"].get("block", {}).get("status") == "running")

    await eventually(blocking)
    cancel = await history_api.post(
        f"{API}/workflow/cancel/{execution_id}", json={"reason": "enough"}
    )
    assert cancel.status_code == 202

    async def closed() -> dict[str, Any] | None:
        body = await timeline(history_api, execution_id)
        return body if body["events"][-1]["event"] == "run_cancelled" else None

    body = await eventually(closed)
    assert body["status"] == "cancelled"
    run_level = [(e["event"], e["details"]) for e in body["events"] if e["node_id"] is None]
    assert ("cancel_requested", {"reason": "enough"}) in run_level
    node_events = of_node(body["events"], "block")
    assert node_events[0] == "scheduled"
    assert "cancel_requested" in node_events
    assert body["nodes"]["block"]["status"] == "cancelled"


async def test_timeline_pages_add_up_to_the_whole(history_api: httpx.AsyncClient) -> None:
    doc = document(*(transform(f"n{i}") for i in range(6)))
    execution_id = await run(history_api, doc)
    whole = (await timeline(history_api, execution_id, page_size=1000))["events"]
    assert len(whole) > 3
    pages: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"page_size": 3}
        if token:
            params["page_token"] = token
        body = await timeline(history_api, execution_id, **params)
        assert len(body["events"]) <= 3
        pages.extend(body["events"])
        token = body["next_page_token"]
        if token is None:
            break
    assert pages == whole


@only_on("temporal")
async def test_raw_history_is_temporal_events_without_stack_traces(
    history_api: httpx.AsyncClient, temporal_client: Client
) -> None:
    execution_id = await run(history_api, document(flaky("fetch", fail_times=1)))
    raw = await timeline(history_api, execution_id, raw="true", page_size=1000)
    assert raw["raw"] is True
    events = raw["events"]
    assert events[0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    started = next(e for e in events if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_STARTED")
    last_failure = started["activityTaskStartedEventAttributes"]["lastFailure"]
    assert last_failure["message"] == "flaky failure 1"
    assert "stackTrace" not in json.dumps(raw)
    expected = [
        e async for e in temporal_client.get_workflow_handle(execution_id).fetch_history_events()
    ]
    assert [int(e["eventId"]) for e in events] == [e.event_id for e in expected]

    paged: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"raw": "true", "page_size": 2}
        if token:
            params["page_token"] = token
        body = await timeline(history_api, execution_id, **params)
        paged.extend(body["events"])
        token = body["next_page_token"]
        if token is None:
            break
    assert [e["eventId"] for e in paged] == [e["eventId"] for e in events]


@pytest.mark.parametrize("raw", ["false", "true"])
async def test_history_errors(history_api: httpx.AsyncClient, raw: str) -> None:
    missing = await history_api.get(f"{API}/workflow/history/nope-{uuid.uuid4().hex}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    execution_id = await run(history_api, document(transform("a")))
    bad = await history_api.get(
        f"{API}/workflow/history/{execution_id}",
        params={"raw": raw, "page_token": "bm90LWEtdG9rZW4"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "bad_request"
    zero = await history_api.get(
        f"{API}/workflow/history/{execution_id}", params={"raw": raw, "page_size": 0}
    )
    assert zero.status_code == 422


@only_on("local")
async def test_raw_history_is_the_local_events(history_api: httpx.AsyncClient) -> None:
    """Without Temporal the engine's own events are the runtime's: failed attempts (each
    with its cause and retry delay) and cancel requests."""
    execution_id = await run(history_api, document(flaky("fetch", fail_times=2)))
    raw = await timeline(history_api, execution_id, raw="true")
    assert raw["raw"] is True
    assert raw["engine"] == "local"
    assert [(e["event"], e["node_id"], e["attempt"]) for e in raw["events"]] == [
        ("attempt_failed", "fetch", 1),
        ("attempt_failed", "fetch", 2),
    ]
    first = raw["events"][0]
    assert first["error"] == {"type": "Flaky", "message": "flaky failure 1"}
    assert first["retry_in_seconds"] == pytest.approx(0.1)
    paged = await timeline(history_api, execution_id, raw="true", page_size=1)
    assert paged["events"] == raw["events"][:1]
    rest = await timeline(
        history_api, execution_id, raw="true", page_token=paged["next_page_token"]
    )
    assert rest["events"] == raw["events"][1:]
    assert rest["next_page_token"] is None
