"""Large documents on the real dev server: paced validation, paced pure nodes, limits.

A document of thousands of nodes is validated and run over several workflow tasks
(the ``flov7-paced-validation`` patch), so that no task holds the thread past the
SDK's 2 s deadlock detection: the run completes and its history has no failed task.
The worker and the client share a payload store, as Flov7's embedded setup does: the
document and the result are larger than Temporal's 2 MB payload limit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from flov7.config import TemporalSettings
from flov7.engine.validate import MAX_WORKFLOW_NODES
from flov7.temporal.client import get_temporal_client
from flov7.temporal.devserver import EmbeddedDevServer
from flov7.temporal.executions import prepare_document, start_execution
from flov7.temporal.names import VALIDATION_WORKFLOW
from flov7.temporal.worker import WORKFLOWS, create_worker
from flov7.temporal.workflows import PACED_VALIDATION_PATCH

from support.results import result_document

pytestmark = pytest.mark.asyncio(loop_scope="session")

CHAIN = 8_000
"""Nodes of the large chain: its validation (about 700,000 counted steps) takes two
workflow tasks and its run two more plus the result's; its document (1.1 MB) and its
result (2.2 MB) need the payload store."""


def chain(count: int) -> dict[str, Any]:
    nodes = [{"id": "n0", "type": "transform", "data": {"mapping": {"v": "0"}}}] + [
        {"id": f"n{i}", "type": "transform", "data": {"mapping": {"v": "inputs.v + 1"}}}
        for i in range(1, count)
    ]
    edges = [{"id": f"e{i}", "source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, count)]
    return {"id": f"chain-{count}-{uuid.uuid4().hex[:6]}", "nodes": nodes, "edges": edges}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stored(
    temporal_server: EmbeddedDevServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Client, TemporalSettings]]:
    """A client and a worker with one payload store; yields the client and settings."""
    temporal = TemporalSettings.from_values(
        task_queue=f"large-docs-{uuid.uuid4().hex[:8]}",
        payload_store_dir=tmp_path_factory.mktemp("payloads"),
    )
    client = await get_temporal_client(temporal, target=temporal_server.target)
    async with create_worker(client, temporal):
        yield client, temporal


async def events_of(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    return [event async for event in handle.fetch_history_events()]


def task_failures(events: list[Any]) -> list[Any]:
    failed = (
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
    )
    return [event for event in events if event.event_type in failed]


def checkpoints(events: list[Any]) -> int:
    return sum(
        event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        and event.user_metadata.summary.data == b'"flov7 checkpoint"'
        for event in events
    )


def has_patch(events: list[Any], patch: str) -> bool:
    """Whether the history records ``patch``'s marker (its id is in the marker)."""
    return any(
        patch.encode() in event.marker_recorded_event_attributes.SerializeToString()
        for event in events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    )


async def test_a_large_chain_runs_to_completion_without_a_failed_workflow_task(
    stored: tuple[Client, TemporalSettings],
) -> None:
    client, temporal = stored
    handle = await start_execution(client, chain(CHAIN), temporal)
    result = await result_document(handle)

    assert result["status"] == "completed", result.get("error")
    assert result["completed_nodes"] == CHAIN
    assert result["node_results"][f"n{CHAIN - 1}"]["output"] == {"v": CHAIN - 1}
    events = await events_of(handle)
    assert task_failures(events) == []
    # Validation paced over more than one task (one checkpoint at least), then the
    # nodes every 5,000 and the result on its own.
    assert checkpoints(events) >= 3
    assert has_patch(events, PACED_VALIDATION_PATCH)
    # And the paced path replays deterministically.
    replayed = await Replayer(
        workflows=WORKFLOWS, data_converter=client.data_converter
    ).replay_workflow(await handle.fetch_history())
    assert replayed.replay_failure is None


async def test_validating_a_large_document_is_paced_too(
    stored: tuple[Client, TemporalSettings],
) -> None:
    client, temporal = stored
    handle = await client.start_workflow(
        VALIDATION_WORKFLOW,
        chain(CHAIN),
        id=f"validate-{uuid.uuid4().hex[:8]}",
        task_queue=temporal.task_queue,
    )
    report = await handle.result()

    assert report["valid"] is True
    assert report["node_count"] == CHAIN
    events = await events_of(handle)
    assert task_failures(events) == []
    assert checkpoints(events) >= 1


async def test_a_document_over_the_node_limit_fails_at_once_naming_the_limit(
    stored: tuple[Client, TemporalSettings],
) -> None:
    client, temporal = stored
    nodes = MAX_WORKFLOW_NODES + 1
    document = {
        "id": f"too-many-{uuid.uuid4().hex[:6]}",
        "nodes": [
            {"id": f"n{i}", "type": "transform", "data": {"mapping": {"v": "1"}}}
            for i in range(nodes)
        ],
        "edges": [],
    }
    handle = await client.start_workflow(
        "WorkflowExecution",
        prepare_document(document, temporal),
        id=f"too-many-{uuid.uuid4().hex[:8]}",
        task_queue=temporal.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()

    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidWorkflow"
    assert cause.non_retryable
    assert f"{nodes:,} nodes" in cause.message
    assert f"at most {MAX_WORKFLOW_NODES:,}" in cause.message
    issues = cause.details[0]["issues"]
    assert [issue["code"] for issue in issues] == ["too_many_nodes"]
    assert task_failures(await events_of(handle)) == []
