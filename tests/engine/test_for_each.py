"""``for_each`` on both engines: a real HTTP server, bounded concurrency, item errors.

Each test runs on the local engine and on Temporal (a real dev server and a worker of
its own, with enough activity slots to show the node's own concurrency bound).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from flov7.config import NodeSettings, TemporalSettings, settings_with
from flov7.local.runtime import LocalRuntime
from flov7.nodes.resources import NodeResources, node_resources
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker
from nodes.http_servers import RecordedRequest, Reply, TestHttpServer

from support.results import result_document

pytestmark = pytest.mark.asyncio(loop_scope="session")

LOOPBACK = settings_with(nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"))
NO_RETRY = {"max_attempts": 1}

POLLS = 2400
"""Most status reads a test makes while it waits for a run to reach a state."""

Run = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ItemServer:
    """Counts calls per item and the most calls it ever had in flight at once."""

    def __init__(self, http: TestHttpServer) -> None:
        self.http = http
        self.calls: dict[str, int] = {}
        self.active = 0
        self.max_active = 0

    def reset(self) -> None:
        self.calls.clear()
        self.active = self.max_active = 0


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def items_server() -> AsyncIterator[ItemServer]:
    async with TestHttpServer() as http:
        state = ItemServer(http)

        @http.route("/item/", prefix=True)
        async def item(request: RecordedRequest, _: TestHttpServer) -> Reply:
            key = request.path.removeprefix("/item/")
            state.calls[key] = state.calls.get(key, 0) + 1
            state.active += 1
            state.max_active = max(state.max_active, state.active)
            try:
                # Long enough for the calls of one wave to overlap.
                await asyncio.sleep(0.01)
            finally:
                state.active -= 1
            if key.startswith("bad"):
                return Reply.json({"error": "no such item"}, 404)
            return Reply.json({"key": key})

        yield state


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def wide_worker(temporal_client: Client) -> AsyncIterator[TemporalSettings]:
    """A worker with 40 activity slots: more than any for_each below runs at once."""
    settings = TemporalSettings(
        task_queue=f"flov7-for-each-{uuid.uuid4().hex[:8]}", max_concurrent_activities=40
    )
    async with (
        node_resources(LOOPBACK) as resources,
        create_worker(temporal_client, settings, resources=resources),
    ):
        yield settings


@pytest_asyncio.fixture(loop_scope="session")
async def local_resources() -> AsyncIterator[NodeResources]:
    async with node_resources(LOOPBACK) as resources:
        yield resources


@pytest.fixture(params=["local", "temporal"])
def run(request: pytest.FixtureRequest, local_resources: NodeResources) -> Run:
    """``await run(document)``: the result document, on the engine of the parameter."""
    if request.param == "local":

        async def run_local(document: dict[str, Any]) -> dict[str, Any]:
            return await LocalRuntime(local_resources).run(document)

        return run_local
    client: Client = request.getfixturevalue("temporal_client")
    settings: TemporalSettings = request.getfixturevalue("wide_worker")

    async def run_temporal(document: dict[str, Any]) -> dict[str, Any]:
        handle = await start_execution(client, document, settings)
        # Failed and cancelled runs end Failed / Canceled in Temporal, with the document.
        return await result_document(handle)

    return run_temporal


def calls_per_item(url: str, *, items: str, concurrency: int, on_item_error: str) -> dict[str, Any]:
    return {
        "id": "fan-out",
        "nodes": [
            {
                "id": "each",
                "type": "for_each",
                "data": {
                    "items": items,
                    "concurrency": concurrency,
                    "on_item_error": on_item_error,
                    "body": {
                        "nodes": [
                            {
                                "id": "call",
                                "type": "api_call",
                                "retry": NO_RETRY,
                                "data": {"url": url + "/item/{{ item }}"},
                            },
                            {
                                "id": "shape",
                                "type": "transform",
                                "data": {"mapping": {"key": "inputs.body.key", "at": "index"}},
                            },
                        ],
                        "edges": [{"id": "e", "source": "call", "target": "shape"}],
                    },
                },
            }
        ],
    }


async def test_thousand_items_each_called_once_in_order_at_most_twenty_at_once(
    run: Run, items_server: ItemServer
) -> None:
    items_server.reset()
    prefix = uuid.uuid4().hex[:6]
    document = calls_per_item(
        items_server.http.url, items="range(1000)", concurrency=20, on_item_error="fail"
    )
    document["input"] = {"prefix": prefix}
    call = document["nodes"][0]["data"]["body"]["nodes"][0]["data"]
    call["url"] = items_server.http.url + "/item/{{ input.prefix }}-{{ item }}"

    result = await run(document)

    assert result["status"] == "completed", result["error"]
    output = result["node_results"]["each"]["output"]
    assert output["count"] == 1000 and output["completed"] == 1000 and output["failed"] == 0
    assert output["errors"] == []
    assert output["results"] == [{"key": f"{prefix}-{n}", "at": n} for n in range(1000)]
    ours = {key: count for key, count in items_server.calls.items() if key.startswith(prefix)}
    assert len(ours) == 1000 and set(ours.values()) == {1}
    assert 1 < items_server.max_active <= 20


async def test_a_failing_item_with_on_item_error_continue(
    run: Run, items_server: ItemServer
) -> None:
    items_server.reset()
    document = calls_per_item(
        items_server.http.url,
        items="['a1', 'bad2', 'a3', 'bad4', 'a5']",
        concurrency=2,
        on_item_error="continue",
    )
    result = await run(document)

    assert result["status"] == "completed", result["error"]
    output = result["node_results"]["each"]["output"]
    assert output["count"] == 5 and output["completed"] == 3 and output["failed"] == 2
    assert [entry["index"] for entry in output["errors"]] == [1, 3]
    assert output["errors"][0]["error"]["node_id"] == "call"
    assert output["errors"][0]["error"]["type"] == "HttpClientError"
    assert output["results"] == [
        {"key": "a1", "at": 0},
        None,
        {"key": "a3", "at": 2},
        None,
        {"key": "a5", "at": 4},
    ]
    assert all(items_server.calls[key] == 1 for key in ("a1", "bad2", "a3", "bad4", "a5"))


async def test_a_failing_item_with_on_item_error_fail_cancels_the_rest(
    run: Run, items_server: ItemServer
) -> None:
    items_server.reset()
    key = uuid.uuid4().hex[:6]
    document = {
        "id": "fail-fast",
        "nodes": [
            {
                "id": "each",
                "type": "for_each",
                "data": {
                    "items": "range(40)",
                    "concurrency": 4,
                    "on_item_error": "fail",
                    "body": {
                        "nodes": [
                            {
                                "id": "call",
                                "type": "api_call",
                                "retry": NO_RETRY,
                                # Item 0 fails at once; the others hang until cancelled.
                                "data": {
                                    "url": items_server.http.url
                                    + "/{{ 'item/bad-"
                                    + key
                                    + "' if index == 0 else "
                                    "'slow?seconds=60&k=" + key + "-' + str(index) }}"
                                },
                            }
                        ],
                        "edges": [],
                    },
                },
            },
            {"id": "after", "type": "transform", "data": {"mapping": {"ran": "true"}}},
        ],
        "edges": [{"id": "e", "source": "each", "target": "after"}],
    }
    result = await run(document)

    assert result["status"] == "failed"
    each = result["node_results"]["each"]
    assert each["status"] == "failed"
    assert each["error"]["type"] == "ItemFailed"
    assert each["error"]["message"].startswith("Item 0 failed:")
    assert each["error"]["details"]["index"] == 0
    assert each["error"]["details"]["items_total"] == 40
    assert result["node_results"]["after"]["status"] == "pending"
    slow_calls = [
        r for r in items_server.http.requests_to("/slow") if key in r.query.get("k", [""])[0]
    ]
    # Items in flight were cancelled; no item started after the failure was seen.
    assert len(slow_calls) <= 3


async def test_ten_thousand_items_with_a_pure_body(run: Run) -> None:
    document = {
        "id": "ten-thousand",
        "nodes": [
            {
                "id": "each",
                "type": "for_each",
                "data": {
                    "items": "range(10000)",
                    "concurrency": 50,
                    "body": {
                        "nodes": [
                            {
                                "id": "double",
                                "type": "transform",
                                "data": {"transform_type": "expression", "expression": "item * 2"},
                            }
                        ],
                        "edges": [],
                    },
                },
            },
            {
                "id": "total",
                "type": "transform",
                "data": {"mapping": {"sum": "sum(inputs.results)", "count": "inputs.count"}},
            },
        ],
        "edges": [{"id": "e", "source": "each", "target": "total"}],
    }
    result = await run(document)

    assert result["status"] == "completed", result["error"]
    assert result["node_results"]["total"]["output"] == {
        "sum": 2 * sum(range(10000)),
        "count": 10000,
    }
    assert result["node_results"]["each"]["output"]["results"][:3] == [0, 2, 4]


async def test_status_shows_progress_while_items_run(
    items_server: ItemServer,
    local_resources: NodeResources,
    temporal_client: Client,
    wide_worker: TemporalSettings,
) -> None:
    """Progress (items_done / items_total) in the status of a running for_each, on both
    engines: the second item waits on a gate the test opens once it has seen progress."""
    gate = asyncio.Event()
    key = uuid.uuid4().hex[:6]

    @items_server.http.route(f"/gate/{key}")
    async def wait_for_gate(_: RecordedRequest, __: TestHttpServer) -> Reply:
        await gate.wait()
        return Reply.json({"opened": True})

    document = calls_per_item(
        items_server.http.url, items="['first', 'gated']", concurrency=1, on_item_error="fail"
    )
    call = document["nodes"][0]["data"]["body"]["nodes"][0]["data"]
    call["url"] = (
        items_server.http.url + "/{{ 'item/first' if index == 0 else 'gate/" + key + "' }}"
    )

    async def progress_seen(read_status: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        node: dict[str, Any] = {}
        for _ in range(POLLS):  # bounded: a bug fails the test instead of hanging it
            node = (await read_status())["nodes"].get("each", {})
            if (node.get("progress") or {}).get("items_done") == 1:
                return dict(node["progress"])
            await asyncio.sleep(0.05)
        raise AssertionError(f"no progress shown: {node}")

    local = LocalRuntime(local_resources).start(document)

    async def local_status() -> dict[str, Any]:
        return local.status()

    assert await progress_seen(local_status) == {
        "items_done": 1,
        "items_total": 2,
        "items_completed": 1,
        "items_failed": 0,
    }
    gate.set()
    assert (await local.result())["status"] == "completed"

    gate.clear()
    handle = await start_execution(temporal_client, document, wide_worker)

    async def temporal_status() -> dict[str, Any]:
        answer = await handle.query("get_status")
        assert isinstance(answer, dict)
        return answer

    assert (await progress_seen(temporal_status))["items_total"] == 2
    gate.set()
    assert (await handle.result())["status"] == "completed"


async def test_too_many_items_for_one_history_fail_before_any_call(
    run: Run, items_server: ItemServer
) -> None:
    items_server.reset()
    document = calls_per_item(
        items_server.http.url, items="range(5001)", concurrency=20, on_item_error="continue"
    )
    result = await run(document)

    assert result["status"] == "failed"
    each = result["node_results"]["each"]
    assert each["error"]["type"] == "TooManyItems"
    assert "at most 5000" in each["error"]["message"]
    assert items_server.calls == {}
