"""``TemporalBackend.wait``: waits first, describes once, reuses the outcome it waited for
(fewer Temporal RPCs per ``?wait=true`` and ``flov7 run``), and still answers as before:
the final status of a closed run, None on timeout, 404 for an unknown or foreign id.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from flov7.config import TemporalSettings
from flov7.errors import ExecutionNotFoundError
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.executions import start_execution


@workflow.defn(name="NotAFlov7Run")
class NotAFlov7Run:
    """A workflow of another application in the same namespace."""

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(seconds=30))
        return "done"


def _document(*, fail: bool = False, delay: float = 0) -> dict[str, object]:
    nodes: list[dict[str, object]] = [
        {"id": "a", "type": "transform", "data": {"mapping": {"y": "input.x + 1"}}}
    ]
    edges: list[dict[str, object]] = []
    if delay:
        nodes.append({"id": "d", "type": "delay", "data": {"delay_seconds": delay}})
        edges.append({"id": "e0", "source": "a", "target": "d"})
    if fail:
        nodes.append({"id": "b", "type": "transform", "data": {"mapping": {"z": "1 / 0"}}})
        edges.append({"id": "e1", "source": "a", "target": "b"})
    return {"id": "wait-test", "input": {"x": 1}, "nodes": nodes, "edges": edges}


async def test_wait_returns_the_final_status_of_a_completed_run(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    backend = TemporalBackend(flov7_worker, client=temporal_client)
    handle = await start_execution(temporal_client, _document(), flov7_worker)

    status = await backend.wait(handle.id, 30)

    assert status is not None
    assert status.status == "completed"
    assert status.result is not None
    assert status.result["node_results"]["a"]["output"] == {"y": 2}
    # The same answer as asking for the status of the closed run afterwards.
    again = await backend.status(handle.id)
    assert again.status == status.status
    assert again.result == status.result


async def test_wait_returns_the_document_of_a_failed_run(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    backend = TemporalBackend(flov7_worker, client=temporal_client)
    handle = await start_execution(temporal_client, _document(fail=True), flov7_worker)

    status = await backend.wait(handle.id, 30)

    assert status is not None
    assert status.status == "failed"
    assert status.result is not None
    assert status.result["node_results"]["b"]["status"] == "failed"
    assert (await backend.status(handle.id)).status == "failed"


async def test_wait_is_none_while_the_run_goes_on(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    backend = TemporalBackend(flov7_worker, client=temporal_client)
    handle = await start_execution(temporal_client, _document(delay=30), flov7_worker)
    try:
        assert await backend.wait(handle.id, 0.2) is None
    finally:
        await handle.terminate()


async def test_wait_on_an_unknown_id_is_not_found(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    backend = TemporalBackend(flov7_worker, client=temporal_client)
    with pytest.raises(ExecutionNotFoundError):
        await backend.wait(f"no-such-run-{uuid.uuid4().hex}", 5)


async def test_wait_on_a_workflow_of_another_kind_is_not_found(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    backend = TemporalBackend(flov7_worker, client=temporal_client)
    queue = f"other-app-{uuid.uuid4().hex[:8]}"
    # Unsandboxed: the sandbox would re-import this test module and all it imports.
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[NotAFlov7Run],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await temporal_client.start_workflow(
            NotAFlov7Run.run, id=f"other-{uuid.uuid4().hex}", task_queue=queue
        )
        try:
            with pytest.raises(ExecutionNotFoundError):
                await backend.wait(handle.id, 0.2)
        finally:
            await handle.terminate()
