"""``workflow`` nodes on both engines: three levels deep, a failure at the bottom,
cancellation from the top, the depth limit, parent and child links.

The stored workflows live in a real SQLite store; each engine is driven through its
run-service backend (the local backend, and the Temporal backend with a worker of its
own that reads the same store).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from flov7.config import Flov7Settings, NodeSettings, Settings, TemporalSettings, settings_with
from flov7.engine.sub_workflow import MAX_WORKFLOW_DEPTH
from flov7.local.backend import LocalBackend
from flov7.nodes.resources import node_resources
from flov7.runs.contract import WorkflowRef
from flov7.runs.views import RunStatus
from flov7.store.database import Database
from flov7.store.repository import Repository
from flov7.store.workflow_source import RepositoryWorkflowSource
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.worker import create_worker

pytestmark = pytest.mark.asyncio(loop_scope="session")

POLLS = 2400
"""Most status reads a test makes while it waits for a run to reach a state."""
LOOPBACK = settings_with(nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Repository]:
    path = tmp_path_factory.mktemp("sub-workflows") / "flov7.db"
    async with Database.open(f"sqlite+aiosqlite:///{path}") as database:
        yield Repository(database)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_backend(
    temporal_client: Client, store: Repository
) -> AsyncIterator[TemporalBackend]:
    settings = TemporalSettings(task_queue=f"flov7-sub-{uuid.uuid4().hex[:8]}")
    async with (
        node_resources(LOOPBACK) as resources,
        create_worker(
            temporal_client,
            settings,
            resources=resources,
            workflow_source=RepositoryWorkflowSource(store),
        ),
    ):
        yield TemporalBackend(settings, client=temporal_client)


@pytest_asyncio.fixture(loop_scope="session")
async def local_backend(store: Repository, tmp_path: Path) -> AsyncIterator[LocalBackend]:
    settings = Settings(
        temporal=TemporalSettings(_env_file=None),
        flov7=Flov7Settings(_env_file=None, data_dir=tmp_path, enable_temporal_features=False),
    )
    async with LocalBackend(settings, database=store.database) as backend:
        yield backend


@pytest.fixture(params=["local", "temporal"])
def backend(request: pytest.FixtureRequest) -> Any:
    """The run-service backend of the engine of the parameter."""
    return request.getfixturevalue(f"{request.param}_backend")


async def save(store: Repository, workflow_id: str, document: dict[str, Any]) -> str:
    """Store ``document`` under a fresh id (``<workflow_id>-<random>``); returns the id."""
    stored_id = f"{workflow_id}-{uuid.uuid4().hex[:6]}"
    await store.create_workflow(stored_id, {**document, "id": stored_id})
    return stored_id


def call(node_id: str, workflow_id: str, **input_data: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "workflow",
        "data": {"workflow_id": workflow_id, "input": input_data},
    }


async def run(backend: Any, document: dict[str, Any]) -> RunStatus:
    execution_id = f"top-{uuid.uuid4().hex[:8]}"
    await backend.start(document, None, execution_id, WorkflowRef(document["id"]))
    status = await backend.wait(execution_id, 120)
    assert status is not None, "the run did not finish"
    return status


async def chain(store: Repository, bottom: dict[str, Any]) -> dict[str, Any]:
    """top -> middle -> bottom; returns the top document (not stored)."""
    bottom_id = await save(store, "bottom", bottom)
    middle_id = await save(
        store,
        "middle",
        {
            "input": {"x": 0},
            "nodes": [
                call("deeper", bottom_id, x="{{ input.x * 10 }}"),
                {
                    "id": "wrap",
                    "type": "transform",
                    "data": {"mapping": {"from_bottom": "inputs", "depth": "execution.depth"}},
                },
            ],
            "edges": [{"id": "e", "source": "deeper", "target": "wrap"}],
        },
    )
    return {"id": "top", "nodes": [call("call", middle_id, x=2)], "edges": []}


async def test_three_levels_deep_outputs_and_links(backend: Any, store: Repository) -> None:
    top = await chain(
        store,
        {
            "nodes": [
                {
                    "id": "answer",
                    "type": "transform",
                    "data": {"mapping": {"y": "input.x + 1", "depth": "execution.depth"}},
                }
            ]
        },
    )
    status = await run(backend, top)

    assert status.status == "completed", status.error
    assert status.result is not None
    node = status.result["node_results"]["call"]
    assert node["output"] == {"from_bottom": {"y": 21, "depth": 2}, "depth": 1}
    middle_id = node["child_execution_id"]
    assert status.nodes["call"].child_execution_id == middle_id
    middle = await backend.status(middle_id)
    assert middle.status == "completed"
    assert middle.parent == {"execution_id": status.execution_id, "node_id": "call", "depth": 1}
    bottom = await backend.status(middle.nodes["deeper"].child_execution_id)
    assert bottom.parent == {"execution_id": middle_id, "node_id": "deeper", "depth": 2}


async def test_a_failure_at_the_bottom_fails_every_level(backend: Any, store: Repository) -> None:
    top = await chain(
        store,
        {"nodes": [{"id": "boom", "type": "transform", "data": {"mapping": {"v": "1 / 0"}}}]},
    )
    status = await run(backend, top)

    assert status.status == "failed"
    assert status.error is not None
    assert status.error["node_id"] == "call"
    assert status.error["type"] == "ExpressionError"
    assert "at node 'deeper'" in status.error["message"]
    assert "at node 'boom': division by zero" in status.error["message"]
    middle = await backend.status(status.nodes["call"].child_execution_id)
    assert middle.status == "failed"
    bottom = await backend.status(middle.nodes["deeper"].child_execution_id)
    assert bottom.status == "failed"
    assert bottom.error is not None and bottom.error["message"] == "division by zero"


async def test_cancelling_the_top_cancels_the_whole_chain(backend: Any, store: Repository) -> None:
    top = await chain(
        store, {"nodes": [{"id": "wait", "type": "delay", "data": {"delay_seconds": 600}}]}
    )
    execution_id = f"top-{uuid.uuid4().hex[:8]}"
    await backend.start(top, None, execution_id, WorkflowRef("top"))

    async def child_of(parent_id: str, node_id: str) -> str:
        for _ in range(POLLS):  # bounded: a bug fails the test instead of hanging it
            status = await backend.status(parent_id)
            child = status.nodes[node_id].child_execution_id if node_id in status.nodes else None
            if child is not None:
                return child
            await asyncio.sleep(0.05)
        raise AssertionError(f"{parent_id} never showed the child of node {node_id}")

    middle_id = await child_of(execution_id, "call")
    bottom_id = await child_of(middle_id, "deeper")
    for _ in range(POLLS):
        waiting = (await backend.status(bottom_id)).nodes.get("wait")
        if waiting is not None and waiting.status == "running":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the bottom workflow's delay never started")

    await backend.cancel(execution_id, "stop the chain")
    final = await backend.wait(execution_id, 120)

    assert final is not None and final.status == "cancelled"
    for child_id in (middle_id, bottom_id):
        child = await backend.wait(child_id, 60)
        assert child is not None and child.status == "cancelled", child_id
    bottom = await backend.status(bottom_id)
    assert bottom.nodes["wait"].status == "cancelled"


async def test_a_workflow_calling_itself_stops_at_the_depth_limit(
    backend: Any, store: Repository
) -> None:
    loop_id = f"loop-{uuid.uuid4().hex[:6]}"
    await store.create_workflow(
        loop_id, {"id": loop_id, "nodes": [call("again", loop_id)], "edges": []}
    )
    status = await run(backend, {"id": "start", "nodes": [call("again", loop_id)]})

    assert status.status == "failed"
    assert status.error is not None
    assert status.error["type"] == "WorkflowDepthExceeded"
    assert f"the limit is {MAX_WORKFLOW_DEPTH}" in status.error["message"]


async def test_an_unknown_workflow_fails_the_node(backend: Any) -> None:
    status = await run(backend, {"id": "lost", "nodes": [call("call", "no-such-workflow")]})

    assert status.status == "failed"
    assert status.error is not None
    assert status.error["type"] == "WorkflowNotFound"
    assert "no-such-workflow" in status.error["message"]


async def test_for_each_over_a_stored_workflow(backend: Any, store: Repository) -> None:
    divide_id = await save(
        store,
        "divide",
        {
            "nodes": [
                {
                    "id": "q",
                    "type": "transform",
                    "data": {"mapping": {"q": "12 // input.item", "at": "input.index"}},
                }
            ]
        },
    )
    document = {
        "id": "per-item",
        "nodes": [
            {
                "id": "each",
                "type": "for_each",
                "data": {
                    "items": "[1, 0, 3]",
                    "concurrency": 2,
                    "on_item_error": "continue",
                    "workflow_id": divide_id,
                },
            }
        ],
    }
    status = await run(backend, document)

    assert status.status == "completed", status.error
    assert status.result is not None
    output = status.result["node_results"]["each"]["output"]
    assert output["results"] == [{"q": 12, "at": 0}, None, {"q": 4, "at": 2}]
    assert [entry["index"] for entry in output["errors"]] == [1]
    assert "division by zero" in output["errors"][0]["error"]["message"]
