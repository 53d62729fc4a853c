"""Runs that outgrow one history continue as new: same execution id, nothing repeated,
status and cancel follow the chain."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from flov7.config import NodeSettings, TemporalSettings, settings_with
from flov7.local.runtime import LocalRuntime
from flov7.nodes.resources import node_resources
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.executions import start_execution
from nodes.http_servers import RecordedRequest, Reply, TestHttpServer

from support.results import result_document

pytestmark = pytest.mark.asyncio(loop_scope="session")

LOOPBACK = settings_with(nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"))
STEPS = 24
# A budget of a few activity payloads: the run continues as new every few nodes.
SMALL_BUDGET = 3_000


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def counter() -> AsyncIterator[TestHttpServer]:
    async with TestHttpServer() as http:

        @http.route("/count/", prefix=True)
        async def count(request: RecordedRequest, srv: TestHttpServer) -> Reply:
            key = request.path.removeprefix("/count/")
            srv.counters[key] = srv.counters.get(key, 0) + 1
            return Reply.json({"key": key})

        yield http


def long_chain(server: TestHttpServer, key: str, *, tail: list[dict[str, Any]]) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {
            "id": f"n{index}",
            "type": "api_call",
            "data": {"url": server.url_for(f"/count/{key}-{index}")},
        }
        for index in range(STEPS)
    ]
    nodes += tail
    ids = [node["id"] for node in nodes]
    return {
        "id": "long-chain",
        "defaults": {"continue_as_new_after_bytes": SMALL_BUDGET},
        "nodes": nodes,
        "edges": [
            {"id": f"e{i}", "source": source, "target": target}
            for i, (source, target) in enumerate(itertools.pairwise(ids))
        ],
    }


async def test_a_long_chain_continues_as_new_and_runs_each_node_once(
    temporal_client: Client, flov7_worker: TemporalSettings, counter: TestHttpServer
) -> None:
    key = uuid.uuid4().hex[:8]
    summary = {"id": "total", "type": "transform", "data": {"mapping": {"last": "inputs.body.key"}}}
    document = long_chain(counter, key, tail=[summary])
    handle = await start_execution(temporal_client, document, flov7_worker)
    first_run = handle.result_run_id

    result = await handle.result()

    assert result["status"] == "completed", result["error"]
    assert result["execution_id"] == handle.id
    assert result["completed_nodes"] == STEPS + 1
    assert result["execution_path"] == [f"n{i}" for i in range(STEPS)] + ["total"]
    assert result["node_results"]["total"]["output"] == {"last": f"{key}-{STEPS - 1}"}
    assert all(counter.counters[f"{key}-{i}"] == 1 for i in range(STEPS))
    # The first run of the chain ended by continuing as new; the last one completed.
    first = temporal_client.get_workflow_handle(handle.id, run_id=first_run)
    events = [event async for event in first.fetch_history_events()]
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    latest = await temporal_client.get_workflow_handle(handle.id).describe()
    assert latest.run_id != first_run
    # The same document on the local engine (which never continues) gives the same nodes.
    async with node_resources(LOOPBACK) as resources:
        local = await LocalRuntime(resources).run(long_chain(counter, key + "l", tail=[summary]))
    assert local["execution_path"] == result["execution_path"]


async def test_status_and_cancel_follow_the_chain(
    temporal_client: Client, flov7_worker: TemporalSettings, counter: TestHttpServer
) -> None:
    key = uuid.uuid4().hex[:8]
    wait = {"id": "wait", "type": "delay", "data": {"delay_seconds": 600}}
    handle = await start_execution(
        temporal_client, long_chain(counter, key, tail=[wait]), flov7_worker
    )
    first_run = handle.result_run_id
    latest = temporal_client.get_workflow_handle(handle.id)  # no run id: the chain's latest

    for _ in range(1200):  # bounded: a bug fails the test instead of hanging it
        status = await latest.query("get_status")
        if status.get("nodes", {}).get("wait", {}).get("status") == "running":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the chain never reached its delay: {status}")
    assert status["counts"]["completed"] == STEPS
    assert (await latest.describe()).run_id != first_run

    await latest.signal("cancel_workflow", "stop the chain")
    # Canceled in Temporal since the run-state change: the document comes from get_result.
    result = await result_document(latest)

    assert result["status"] == "cancelled"
    assert result["node_results"]["wait"]["status"] == "cancelled"
    assert result["completed_nodes"] == STEPS


async def test_history_of_a_chain_shows_every_node(
    temporal_client: Client, flov7_worker: TemporalSettings, counter: TestHttpServer
) -> None:
    key = uuid.uuid4().hex[:8]
    handle = await start_execution(temporal_client, long_chain(counter, key, tail=[]), flov7_worker)
    await handle.result()
    backend = TemporalBackend(flov7_worker, client=temporal_client)

    page = await backend.history(handle.id, None, 500, False)
    status = await backend.status(handle.id)

    assert status.status == "completed"
    assert set(status.nodes) == {f"n{i}" for i in range(STEPS)}
    assert set(page.nodes) == {f"n{i}" for i in range(STEPS)}
    assert all(node.status == "completed" for node in page.nodes.values())
