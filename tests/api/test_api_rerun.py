"""``POST /workflow/rerun/{id}`` on both engines, against a real HTTP server's counters.

The workflow calls an "orders" endpoint, then a "ship" endpoint that fails until the
test fixes it. A rerun from the failed node must not call "orders" again (its recorded
output is kept) and must call "ship" once more.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from api.api_support import API, WAIT, delay, document, eventually, only_on
from nodes.http_servers import RecordedRequest, Reply, TestHttpServer

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Shop:
    """Counts calls per key; ``broken`` keys answer 404 (not retried)."""

    def __init__(self, http: TestHttpServer) -> None:
        self.http = http
        self.calls: dict[str, int] = {}
        self.broken: set[str] = set()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shop() -> AsyncIterator[Shop]:
    async with TestHttpServer() as http:
        state = Shop(http)

        @http.route("/shop/", prefix=True)
        async def endpoint(request: RecordedRequest, _: TestHttpServer) -> Reply:
            key = request.path.removeprefix("/shop/")
            state.calls[key] = state.calls.get(key, 0) + 1
            if key in state.broken:
                return Reply.json({"error": "broken"}, 404)
            return Reply.json({"key": key, "call": state.calls[key]})

        yield state


def orders_then_ship(shop: Shop, key: str) -> dict[str, Any]:
    return document(
        {
            "id": "orders",
            "type": "api_call",
            "data": {"url": shop.http.url + f"/shop/orders-{key}"},
        },
        {
            "id": "ship",
            "type": "api_call",
            "retry": {"max_attempts": 1},
            "data": {"url": shop.http.url + f"/shop/ship-{key}?n={{{{ inputs.body.call }}}}"},
        },
        {"id": "done", "type": "transform", "data": {"mapping": {"shipped": "inputs.body.key"}}},
        edges=[
            {"id": "e1", "source": "orders", "target": "ship"},
            {"id": "e2", "source": "ship", "target": "done"},
        ],
        input={"customer": "c-1"},
    )


async def store(api: httpx.AsyncClient, doc: dict[str, Any]) -> str:
    response = await api.post(f"{API}/workflows", json={"document": doc})
    assert response.status_code == 201, response.text
    return str(doc["id"])


async def execute(api: httpx.AsyncClient, workflow_id: str) -> dict[str, Any]:
    response = await api.post(
        f"{API}/workflow/execute", params=WAIT, json={"workflow_id": workflow_id}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def rerun(
    api: httpx.AsyncClient, execution_id: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await api.post(f"{API}/workflow/rerun/{execution_id}", params=WAIT, json=body)


async def test_rerun_from_the_failed_node_keeps_what_succeeded(
    api: httpx.AsyncClient, shop: Shop
) -> None:
    key = uuid.uuid4().hex[:8]
    shop.broken.add(f"ship-{key}")
    workflow_id = await store(api, orders_then_ship(shop, key))
    original = await execute(api, workflow_id)
    assert original["status"] == "failed"
    assert original["error"]["node_id"] == "ship"

    shop.broken.discard(f"ship-{key}")  # the target is fixed
    response = await rerun(api, original["execution_id"])

    assert response.status_code == 200, response.text
    again = response.json()
    assert again["status"] == "completed", again["error"]
    assert again["rerun_of"] == original["execution_id"]
    assert again["execution_id"] != original["execution_id"]
    nodes = again["result"]["node_results"]
    assert nodes["orders"]["reused_from"] == original["execution_id"]
    assert nodes["orders"]["output"] == original["result"]["node_results"]["orders"]["output"]
    assert "reused_from" not in nodes["ship"]
    assert nodes["done"]["output"] == {"shipped": f"ship-{key}"}
    assert again["result"]["input"] == {"customer": "c-1"}
    # The upstream call was not made again; the failed one was, once.
    assert shop.calls[f"orders-{key}"] == 1
    assert shop.calls[f"ship-{key}"] == 2

    status = await api.get(f"{API}/workflow/status/{original['execution_id']}")
    assert status.json()["reruns"] == [again["execution_id"]]

    async def listed_rerun_of() -> str | None:
        page = await api.get(f"{API}/workflow/executions", params={"workflow_id": workflow_id})
        items = {item["execution_id"]: item for item in page.json()["executions"]}
        item = items.get(again["execution_id"])
        return item["rerun_of"] if item is not None else None

    assert await eventually(listed_rerun_of) == original["execution_id"]


async def test_rerun_from_start_and_from_a_node_on_the_latest_version(
    api: httpx.AsyncClient, shop: Shop
) -> None:
    key = uuid.uuid4().hex[:8]
    workflow_id = await store(api, orders_then_ship(shop, key))
    original = await execute(api, workflow_id)
    assert original["status"] == "completed"

    everything = await rerun(api, original["execution_id"], {"from": "start"})
    assert everything.json()["status"] == "completed"
    assert shop.calls[f"orders-{key}"] == 2 and shop.calls[f"ship-{key}"] == 2

    # A new version changes the last node; rerun from it on the latest version.
    changed = orders_then_ship(shop, key)
    changed["nodes"][2]["data"]["mapping"] = {"shipped": "'v2:' + inputs.body.key"}
    updated = await api.put(f"{API}/workflows/{workflow_id}", json={"document": changed})
    assert updated.status_code == 200, updated.text
    last = await rerun(api, original["execution_id"], {"from": "done", "version": "latest"})

    assert last.status_code == 200, last.text
    body = last.json()
    assert body["version"] == 2
    assert body["result"]["node_results"]["done"]["output"] == {"shipped": f"v2:ship-{key}"}
    assert shop.calls[f"orders-{key}"] == 2 and shop.calls[f"ship-{key}"] == 2
    listed = await api.get(f"{API}/workflow/status/{original['execution_id']}")
    assert listed.json()["reruns"] == [everything.json()["execution_id"], body["execution_id"]]


async def test_rerun_refusals(api: httpx.AsyncClient, shop: Shop) -> None:
    key = uuid.uuid4().hex[:8]
    workflow_id = await store(api, orders_then_ship(shop, key))
    completed = await execute(api, workflow_id)

    nothing_failed = await rerun(api, completed["execution_id"])
    assert nothing_failed.status_code == 400
    assert nothing_failed.json()["error"]["code"] == "invalid_rerun"
    unknown_node = await rerun(api, completed["execution_id"], {"from": "nope"})
    assert unknown_node.status_code == 400
    missing = await rerun(api, f"no-such-run-{key}")
    assert missing.status_code == 404

    slow_id = await store(api, document(delay("wait", 600)))
    started = await api.post(f"{API}/workflow/execute", json={"workflow_id": slow_id})
    open_id = started.json()["execution_id"]
    still_open = await rerun(api, open_id)
    assert still_open.status_code == 409
    assert still_open.json()["error"]["code"] == "execution_open"
    await api.post(f"{API}/workflow/cancel/{open_id}")


@only_on("temporal")
async def test_rerun_of_a_terminated_run_replays_its_history(
    api: httpx.AsyncClient, shop: Shop
) -> None:
    """A terminated run has no result document: the rerun reads what its history
    recorded (a worker replays it), keeps the finished call and runs the rest."""
    key = uuid.uuid4().hex[:8]
    doc = document(
        {"id": "orders", "type": "api_call", "data": {"url": shop.http.url + f"/shop/t-{key}"}},
        {"id": "wait", "type": "delay", "data": {"delay_seconds": "{{ input.wait }}"}},
        edges=[{"id": "e", "source": "orders", "target": "wait"}],
        input={"wait": 600},
    )
    workflow_id = await store(api, doc)
    started = await api.post(f"{API}/workflow/execute", json={"workflow_id": workflow_id})
    execution_id = started.json()["execution_id"]

    async def waiting() -> bool:
        status = (await api.get(f"{API}/workflow/status/{execution_id}")).json()
        return bool(status["nodes"].get("wait", {}).get("status") == "running")

    await eventually(waiting)
    terminated = await api.post(f"{API}/workflow/terminate/{execution_id}")
    assert terminated.status_code == 202, terminated.text

    response = await rerun(api, execution_id, {"input": {"wait": 0}})

    assert response.status_code == 200, response.text
    again = response.json()
    assert again["status"] == "completed", again["error"]
    assert again["result"]["node_results"]["orders"]["reused_from"] == execution_id
    assert shop.calls[f"t-{key}"] == 1
