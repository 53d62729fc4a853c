"""I/O nodes on a real Temporal server: retries, cancellation, a killed worker."""

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
from temporalio.client import Client

from flov7.config import NodeSettings, TemporalSettings, settings_with
from flov7.nodes.resources import node_resources
from flov7.temporal.devserver import EmbeddedDevServer
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker
from nodes.http_servers import TestHttpServer

from support.results import result_document

pytestmark = pytest.mark.asyncio(loop_scope="session")

LOOPBACK_ALLOWED = settings_with(nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"))
"""Settings whose HTTP nodes may reach the test servers on 127.0.0.1."""
FAST = {"initial_interval_seconds": 0.1, "backoff_coefficient": 1.0, "max_interval_seconds": 0.2}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def server() -> AsyncIterator[TestHttpServer]:
    async with TestHttpServer() as http:
        yield http


def call(node_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "api_call", "data": {"url": url, **extra}}


async def test_retries_that_fail_then_succeed(run_on_temporal: Any, server: TestHttpServer) -> None:
    key = uuid.uuid4().hex
    document = {
        "id": "flaky",
        "nodes": [call("fetch", server.url_for(f"/flaky/{key}?failures=2"), retry=FAST)],
    }
    result = await run_on_temporal(document)
    node = result["node_results"]["fetch"]
    assert result["status"] == "completed", result["error"]
    assert node["attempts"] == 3
    assert node["output"]["status_code"] == 200
    assert node["output"]["body"] == {"key": key, "calls": 3}


async def test_exhausted_retries_fail_with_attempts_and_cause(
    run_on_temporal: Any, server: TestHttpServer
) -> None:
    key = uuid.uuid4().hex
    document = {
        "id": "always-503",
        "nodes": [
            call(
                "fetch",
                server.url_for(f"/flaky/{key}?failures=99"),
                retry={**FAST, "max_attempts": 3},
            ),
            {"id": "after", "type": "transform", "data": {"mapping": {"x": 1}}},
        ],
        "edges": [{"id": "e", "source": "fetch", "target": "after"}],
    }
    result = await run_on_temporal(document)
    assert result["status"] == "failed"
    assert result["error"]["node_id"] == "fetch"
    assert result["error"]["attempts"] == 3
    assert "503" in result["error"]["message"]
    assert result["node_results"]["after"]["status"] == "pending"


async def test_client_errors_are_not_retried(run_on_temporal: Any, server: TestHttpServer) -> None:
    document = {"id": "404", "nodes": [call("fetch", server.url_for("/status/404"), retry=FAST)]}
    result = await run_on_temporal(document)
    assert result["status"] == "failed"
    assert result["node_results"]["fetch"]["attempts"] == 1
    assert "404" in result["error"]["message"]


async def test_api_call_output_drives_a_condition(
    run_on_temporal: Any, server: TestHttpServer
) -> None:
    document = {
        "id": "api-then-branch",
        "nodes": [
            call("fetch", server.url_for("/json")),
            {
                "id": "ok",
                "type": "condition",
                "data": {"condition": "inputs.status_code == 200 and len(inputs.body.items) == 3"},
            },
            {"id": "yes", "type": "transform", "data": {"mapping": {"hello": "inputs.body.hello"}}},
            {"id": "no", "type": "transform", "data": {"mapping": {"x": 1}}},
        ],
        "edges": [
            {"id": "e1", "source": "fetch", "target": "ok"},
            {"id": "e2", "source": "ok", "target": "yes", "sourceHandle": "true"},
            {"id": "e3", "source": "ok", "target": "no", "sourceHandle": "false"},
        ],
    }
    result = await run_on_temporal(document)
    assert result["node_results"]["yes"]["output"] == {"hello": "world"}
    assert result["node_results"]["no"]["status"] == "skipped"


async def test_cancel_signal_cancels_an_activity_in_flight(
    temporal_client: Client, flov7_worker: TemporalSettings, server: TestHttpServer
) -> None:
    document = {
        "id": "cancel-in-flight",
        "defaults": {"heartbeat_timeout_seconds": 2},
        "nodes": [call("slow", server.url_for("/slow?seconds=60"), http_timeout_seconds=120)],
    }
    handle = await start_execution(temporal_client, document, flov7_worker)
    for _ in range(400):
        status = await handle.query("get_status")
        if status.get("nodes", {}).get("slow", {}).get("status") == "running":
            break
        await asyncio.sleep(0.05)
    await handle.signal("cancel_workflow", "test")
    result = await result_document(handle)
    assert result["status"] == "cancelled"
    assert result["cancelled_nodes"] == ["slow"]
    # The run reports "cancelled" only once the activity has really stopped.
    events = [event.event_type async for event in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED in events
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED in events


async def test_node_survives_its_worker_being_killed_mid_activity(
    temporal_server: EmbeddedDevServer,
    temporal_client: Client,
    server: TestHttpServer,
    tmp_path: Path,
) -> None:
    """kill -9 a worker while a node's HTTP call is in flight: after the heartbeat
    timeout, another worker retries the node and the run completes."""
    queue = f"kill-io-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    env |= {
        "TEMPORAL_HOST": temporal_server.target,
        "TEMPORAL_TASK_QUEUE": queue,
        "FLOV7_DATA_DIR": str(tmp_path),
        "FLOV7_OUTBOUND_ALLOWLIST": "127.0.0.1",
    }
    key = uuid.uuid4().hex
    document = {
        "id": "survivor-io",
        "defaults": {"heartbeat_timeout_seconds": 2},
        "nodes": [
            call("fetch", server.url_for(f"/hang-once/{key}"), retry=FAST, http_timeout_seconds=300)
        ],
    }
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
            if server.requests_to(f"/hang-once/{key}"):
                break
            await asyncio.sleep(0.05)
        assert server.requests_to(f"/hang-once/{key}"), "the first attempt never started"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    async with (
        node_resources(LOOPBACK_ALLOWED) as resources,
        create_worker(temporal_client, settings, resources=resources),
    ):
        result = await asyncio.wait_for(handle.result(), timeout=120)
    assert result["status"] == "completed", result["error"]
    node = result["node_results"]["fetch"]
    assert node["attempts"] == 2
    assert node["output"]["body"] == {"key": key, "calls": 2}
    # The attempt that counted ran on the worker of this process, not the killed one.
    assert node["worker"] == temporal_client.identity


async def test_a_node_timed_out_on_a_killed_worker_names_that_worker(
    temporal_server: EmbeddedDevServer,
    temporal_client: Client,
    server: TestHttpServer,
    tmp_path: Path,
) -> None:
    """No retry left: the heartbeat timeout fails the node, which names the worker whose
    last heartbeat it was (the killed worker process, ``<pid>@<hostname>``)."""
    import socket

    queue = f"kill-io-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    env |= {
        "TEMPORAL_HOST": temporal_server.target,
        "TEMPORAL_TASK_QUEUE": queue,
        "FLOV7_DATA_DIR": str(tmp_path),
        "FLOV7_OUTBOUND_ALLOWLIST": "127.0.0.1",
    }
    key = uuid.uuid4().hex
    document = {
        "id": "dies-io",
        "defaults": {"heartbeat_timeout_seconds": 2},
        "nodes": [
            call(
                "fetch",
                server.url_for(f"/hang-once/{key}"),
                retry={**FAST, "max_attempts": 1},
                http_timeout_seconds=300,
            )
        ],
    }
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
            if server.requests_to(f"/hang-once/{key}"):
                break
            await asyncio.sleep(0.05)
        assert server.requests_to(f"/hang-once/{key}"), "the first attempt never started"
        # Wait until the attempt's first heartbeat (with its worker) reached the server.
        for _ in range(600):
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].HasField("heartbeat_details"):
                break
            await asyncio.sleep(0.05)
        assert pending and pending[0].HasField("heartbeat_details")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    async with create_worker(temporal_client, settings):
        result = await asyncio.wait_for(result_document(handle), timeout=120)
    node = result["node_results"]["fetch"]
    assert node["status"] == "failed"
    assert node["error"]["type"] == "Timeout"
    assert node["worker"] == f"{worker.pid}@{socket.gethostname()}"


async def test_runs_evicted_from_the_worker_cache_still_finish(
    temporal_client: Client, server: TestHttpServer
) -> None:
    """With a cache of one run, every run is evicted while its activity is in flight.

    Eviction tears the workflow's tasks down; the driver must still get every outcome,
    or the run hangs and the worker slot stays taken.
    """
    from temporalio.worker import Worker

    from flov7.temporal.activities import NodeActivities
    from flov7.temporal.worker import WORKFLOWS

    settings = TemporalSettings(task_queue=f"evict-{uuid.uuid4().hex[:8]}")
    document = {
        "id": "evicted",
        "nodes": [
            call("slow", server.url_for("/slow?seconds=1")),
            {"id": "after", "type": "transform", "data": {"mapping": {"v": "inputs.status_code"}}},
        ],
        "edges": [{"id": "e", "source": "slow", "target": "after"}],
    }
    async with node_resources(LOOPBACK_ALLOWED) as resources:
        worker = Worker(
            temporal_client,
            task_queue=settings.task_queue,
            workflows=WORKFLOWS,
            activities=NodeActivities(resources).all(),
            max_cached_workflows=1,
        )
        async with worker:
            handles = [await start_execution(temporal_client, document, settings) for _ in range(4)]
            results = [await asyncio.wait_for(h.result(), timeout=120) for h in handles]
    assert [r["status"] for r in results] == ["completed"] * 4
    assert all(r["node_results"]["after"]["output"] == {"v": 200} for r in results)


async def test_oversized_activity_input_fails_the_node_instead_of_hanging(
    run_on_temporal: Any, server: TestHttpServer
) -> None:
    """A 3 MB rendered body would be refused by Temporal and the run would hang."""
    document = {
        "id": "big-input",
        "nodes": [
            {
                "id": "make",
                "type": "transform",
                "data": {"mapping": {f"k{i}": "'x' * 99000" for i in range(9)}},
            },
            {"id": "a", "type": "transform", "data": {"mapping": {"p": "inputs"}}},
            {"id": "b", "type": "transform", "data": {"mapping": {"q": "inputs"}}},
            {"id": "c", "type": "transform", "data": {"mapping": {"r": "inputs"}}},
            {
                "id": "send",
                "type": "api_call",
                "data": {
                    "url": server.url_for("/echo"),
                    "method": "POST",
                    "body": [
                        "{{ nodes.a.output }}",
                        "{{ nodes.b.output }}",
                        "{{ nodes.c.output }}",
                    ],
                },
            },
        ],
        "edges": [
            {"id": "e1", "source": "make", "target": "a"},
            {"id": "e2", "source": "make", "target": "b"},
            {"id": "e3", "source": "make", "target": "c"},
            {"id": "e4", "source": "a", "target": "send"},
            {"id": "e5", "source": "b", "target": "send"},
            {"id": "e6", "source": "c", "target": "send"},
        ],
    }
    result = await run_on_temporal(document)
    assert result["status"] == "failed"
    assert result["error"]["node_id"] == "send"
    assert result["error"]["type"] == "InputTooLarge"


async def test_oversized_activity_output_fails_at_once(
    run_on_temporal: Any, server: TestHttpServer
) -> None:
    """Under the response cap but over one payload's budget: not retried forever."""
    document = {
        "id": "big-output",
        "nodes": [call("fetch", server.url_for("/bytes?size=1040000"), retry=FAST)],
    }
    result = await run_on_temporal(document)
    assert result["status"] == "failed"
    assert result["error"]["type"] == "OutputTooLarge"
    assert result["error"]["attempts"] == 1
