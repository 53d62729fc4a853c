"""Run state Temporal can trust: failed runs end Failed, cancelled runs Canceled.

Each run still yields its whole result document (failure details, ``get_result``), and
every node names the worker that ran it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError

from flov7.config import TemporalSettings
from flov7.temporal.devserver import EmbeddedDevServer, find_temporal_binary
from flov7.temporal.executions import (
    follow_execution,
    result_from_failure,
    result_of_closed_run,
    start_execution,
    start_execution_once,
)
from flov7.temporal.search_attributes import STATUS, register_search_attributes
from nodes.http_servers import TestHttpServer

from support.results import result_document

pytestmark = pytest.mark.asyncio(loop_scope="session")

FAILING = {
    "id": "fails",
    "nodes": [
        {"id": "ok", "type": "transform", "data": {"mapping": {"x": 1}}},
        {"id": "boom", "type": "transform", "data": {"mapping": {"x": "1 / 0"}}},
        {"id": "never", "type": "transform", "data": {"mapping": {"x": 2}}},
    ],
    "edges": [
        {"id": "e1", "source": "ok", "target": "boom"},
        {"id": "e2", "source": "boom", "target": "never"},
    ],
}

WAITING = {
    "id": "waits",
    "nodes": [
        {"id": "first", "type": "transform", "data": {"mapping": {"x": 1}}},
        {"id": "wait", "type": "delay", "data": {"delay_seconds": 3600}},
    ],
    "edges": [{"id": "e1", "source": "first", "target": "wait"}],
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http() -> AsyncIterator[TestHttpServer]:
    async with TestHttpServer() as server:
        yield server


async def _until_running(handle: Any, node_id: str) -> None:
    for _ in range(400):
        status = await handle.query("get_status")
        if status.get("nodes", {}).get(node_id, {}).get("status") == "running":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"node {node_id} never ran")


def _listed_ids(server: EmbeddedDevServer, query: str) -> list[str]:
    """What ``temporal workflow list --query`` answers: the CLI, not the Python SDK."""
    completed = subprocess.run(
        [
            str(find_temporal_binary()),
            "workflow",
            "list",
            "--address",
            server.target,
            "--query",
            query,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = completed.stdout.strip()
    if not text:
        return []
    # One JSON object per line, or one JSON array, depending on the CLI version.
    rows = json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines()]
    return [row["execution"]["workflowId"] for row in rows]


async def _eventually_listed(server: EmbeddedDevServer, status: str, workflow_id: str) -> None:
    # Visibility lags behind the close by about a second: ask until it is there.
    query = f"ExecutionStatus='{status}' AND WorkflowId='{workflow_id}'"
    for _ in range(100):
        if workflow_id in await asyncio.to_thread(_listed_ids, server, query):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id} never listed by {query!r}")


async def test_a_failed_run_ends_failed_and_carries_its_result_document(
    temporal_server: EmbeddedDevServer, temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    # The default TEMPORAL_WORKFLOW_MAX_RETRIES (3) is in force: a retry would show here.
    assert flov7_worker.workflow_max_retries > 1
    handle = await start_execution(temporal_client, FAILING, flov7_worker)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "WorkflowFailed"
    assert cause.non_retryable
    assert "boom" in cause.message and "division by zero" in cause.message

    document = result_from_failure(failure.value)
    assert document is not None
    assert result_from_failure(cause) == document
    assert document["status"] == "failed"
    assert document["error"]["node_id"] == "boom"
    assert document["node_results"]["ok"]["output"] == {"x": 1}
    assert document["node_results"]["never"]["status"] == "pending"
    assert document["execution_id"] == handle.id

    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.FAILED
    # Not retried: the run that failed is the only run (completed nodes ran once).
    assert description.run_id == handle.result_run_id == handle.first_execution_run_id
    await _eventually_listed(temporal_server, "Failed", handle.id)


async def test_follow_execution_returns_the_document_of_failed_and_cancelled_runs(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    failed = await start_execution(temporal_client, FAILING, flov7_worker)
    assert (await follow_execution(failed))["error"]["node_id"] == "boom"

    cancelled = await start_execution(temporal_client, WAITING, flov7_worker)
    await _until_running(cancelled, "wait")
    await cancelled.signal("cancel_workflow", "enough")
    result = await follow_execution(cancelled)
    assert result["status"] == "cancelled"
    assert result["error"] == {"type": "Cancelled", "message": "enough"}

    requested = await start_execution(temporal_client, WAITING, flov7_worker)
    await _until_running(requested, "wait")
    await requested.cancel()
    result = await follow_execution(requested)
    assert result["status"] == "cancelled"
    assert result["cancelled_nodes"] == ["wait"]


async def test_a_signal_cancelled_run_ends_canceled_with_its_document_queryable(
    temporal_server: EmbeddedDevServer, temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    handle = await start_execution(temporal_client, WAITING, flov7_worker)
    await _until_running(handle, "wait")
    await handle.signal("cancel_workflow", "no longer needed")
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)
    # Temporal keeps no details for a cancelled workflow: the document is a query away.
    assert result_from_failure(failure.value) is None
    document = await result_of_closed_run(handle, failure.value)
    assert document is not None
    assert document == await handle.query("get_result")
    assert document["status"] == "cancelled"
    assert document["cancelled_nodes"] == ["wait"]
    assert document["node_results"]["first"]["output"] == {"x": 1}
    assert document["error"] == {"type": "Cancelled", "message": "no longer needed"}

    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.CANCELED
    await _eventually_listed(temporal_server, "Canceled", handle.id)


async def test_flov7_status_search_attribute_still_tells_the_outcome(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    await register_search_attributes(temporal_client)  # Idempotent, like the API's fixture.
    failed = await start_execution_once(
        temporal_client,
        FAILING,
        flov7_worker,
        execution_id=f"sa-failed-{uuid.uuid4().hex[:8]}",
        search_attributes=True,
    )
    await result_document(failed.handle)
    cancelled = await start_execution_once(
        temporal_client,
        WAITING,
        flov7_worker,
        execution_id=f"sa-cancelled-{uuid.uuid4().hex[:8]}",
        search_attributes=True,
    )
    await _until_running(cancelled.handle, "wait")
    await cancelled.handle.signal("cancel_workflow")
    await result_document(cancelled.handle)
    for started, expected in ((failed, "failed"), (cancelled, "cancelled")):
        description = await started.handle.describe()
        assert description.typed_search_attributes.get(STATUS) == expected


async def test_invalid_documents_still_fail_as_invalid_without_a_document(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    handle = await start_execution(temporal_client, {"id": "bad", "nodes": "x"}, flov7_worker)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert result_from_failure(failure.value) is None
    assert await result_of_closed_run(handle, failure.value) is None


async def test_nodes_name_the_worker_that_ran_them(
    temporal_client: Client, flov7_worker: TemporalSettings, http: TestHttpServer
) -> None:
    document = {
        "id": "who",
        "nodes": [
            {"id": "fetch", "type": "api_call", "data": {"url": http.url_for("/json")}},
            {"id": "pure", "type": "transform", "data": {"mapping": {"s": "inputs.status_code"}}},
            {"id": "pause", "type": "delay", "data": {"delay_seconds": 0}},
            {
                "id": "broken",
                "type": "api_call",
                "on_error": "continue",
                "retry": {"max_attempts": 1},
                "data": {"url": http.url_for("/status/404")},
            },
        ],
        "edges": [
            {"id": "e1", "source": "fetch", "target": "pure"},
            {"id": "e2", "source": "pure", "target": "pause"},
        ],
    }
    handle = await start_execution(temporal_client, document, flov7_worker)
    result = await result_document(handle)
    assert result["status"] == "completed", result["error"]
    nodes = result["node_results"]
    # The session worker polls under its client's identity (pid@host).
    identity = temporal_client.identity
    assert nodes["fetch"]["worker"] == identity
    assert nodes["broken"]["status"] == "failed"
    assert nodes["broken"]["worker"] == identity
    assert nodes["pure"]["worker"] == identity
    assert nodes["pause"]["worker"] == identity
    # A query of the closed run replays it: activity nodes keep the worker their
    # recorded results name; pure nodes and timers were evaluated by a workflow task
    # whose worker the replay cannot know, so they say None rather than guess.
    replayed = (await handle.query("get_status"))["nodes"]
    assert {n: replayed[n]["worker"] for n in nodes} == {
        "fetch": identity,
        "broken": identity,
        "pure": None,
        "pause": None,
    }


async def test_an_activity_names_its_own_worker_not_the_workflows(
    temporal_client: Client, http: TestHttpServer
) -> None:
    """Workflow and activities on two workers: each node names the one that ran it."""
    from temporalio.worker import Worker

    from flov7.nodes.resources import NodeResources
    from flov7.nodes.settings import NodeSettings
    from flov7.temporal.activities import NodeActivities
    from flov7.temporal.identity import register_worker_identity
    from flov7.temporal.worker import WORKFLOWS

    queue = f"split-{uuid.uuid4().hex[:8]}"
    register_worker_identity(queue, "workflow-worker")
    settings = NodeSettings(_env_file=None, outbound_allowlist=("127.0.0.1",))  # type: ignore[call-arg]
    async with NodeResources.open(settings) as resources:
        workflows = Worker(
            temporal_client, task_queue=queue, workflows=WORKFLOWS, identity="workflow-worker"
        )
        activities = Worker(
            temporal_client,
            task_queue=queue,
            activities=NodeActivities(resources, identity="activity-worker").all(),
            identity="activity-worker",
        )
        async with workflows, activities:
            document = {
                "id": "split",
                "nodes": [
                    # A regular activity: a local one runs on the workflow's worker.
                    {
                        "id": "fetch",
                        "type": "api_call",
                        "execution": "activity",
                        "data": {"url": http.url_for("/json")},
                    },
                    {"id": "pure", "type": "transform", "data": {"mapping": {"x": 1}}},
                ],
            }
            handle = await start_execution(
                temporal_client, document, TemporalSettings(task_queue=queue)
            )
            result = await result_document(handle)
    assert result["status"] == "completed", result["error"]
    assert result["node_results"]["fetch"]["worker"] == "activity-worker"
    assert result["node_results"]["pure"]["worker"] == "workflow-worker"
