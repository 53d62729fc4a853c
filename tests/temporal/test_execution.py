"""The fixture corpus and the guide's contract, end to end on a real Temporal dev server."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError

from flov7.config import TemporalSettings
from flov7.temporal.executions import start_execution
from flov7.temporal.workflows import WorkflowExecution, WorkflowValidation

from support.cases import Case, check_result, invalid_documents, load_cases
from support.results import result_document

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("case", load_cases(), ids=lambda case: case.id)
async def test_fixture_workflow(case: Case, run_on_temporal: Any) -> None:
    result = await run_on_temporal(case.document, case.run_input)
    check_result(result, case.expect)


async def test_guide_usage_start_and_result(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    """The guide's Python example, with the modules under ``flov7``."""
    workflow_data = {
        "id": "test-workflow-001",
        "name": "Test Workflow",
        "input": {"data": [1, 2, 3]},
        "nodes": [
            {
                "id": "node-1",
                "type": "transform",
                "data": {"transform_type": "mapping", "mapping": {"data": "input.data"}},
            },
            {
                "id": "node-2",
                "type": "transform",
                "data": {"transform_type": "mapping", "mapping": {"result": "inputs.data"}},
            },
        ],
        "edges": [{"id": "edge-1", "source": "node-1", "target": "node-2"}],
    }
    handle = await temporal_client.start_workflow(
        WorkflowExecution.run,
        workflow_data,
        id=f"test-execution-{uuid.uuid4().hex[:8]}",
        task_queue=flov7_worker.task_queue,
    )
    result = await handle.result()
    assert result["status"] == "completed"
    assert result["workflow_id"] == "test-workflow-001"
    assert result["workflow_name"] == "Test Workflow"
    assert result["node_results"]["node-2"]["output"] == {"result": [1, 2, 3]}
    assert result["execution_path"] == ["node-1", "node-2"]
    assert (result["total_nodes"], result["completed_nodes"]) == (2, 2)
    assert (result["failed_nodes"], result["skipped_nodes"]) == (0, 0)
    assert result["node_results"]["node-1"]["attempts"] == 1


@pytest.mark.parametrize(("name", "document"), invalid_documents(), ids=lambda v: str(v)[:30])
async def test_validation_workflow(
    name: str, document: dict[str, Any], temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    report = await temporal_client.execute_workflow(
        WorkflowValidation.run,
        document,
        id=f"validation-{uuid.uuid4().hex[:8]}",
        task_queue=flov7_worker.task_queue,
    )
    assert report["valid"] is False
    codes = [issue["code"] for issue in report["issues"]]
    for expected in document["x-expect-issues"]:
        assert expected in codes, (expected, report["issues"])
        codes.remove(expected)
    messages = " ".join(issue["message"] for issue in report["issues"])
    if "x-expect-message" in document:
        assert document["x-expect-message"] in messages
    fields = [issue.get("field") for issue in report["issues"]]
    for field in document.get("x-expect-fields", []):
        assert field in fields, (field, report["issues"])


async def test_invalid_document_fails_the_run_without_retrying(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    _, document = invalid_documents()[1]
    handle = await start_execution(temporal_client, document, flov7_worker)
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidWorkflow"
    assert cause.non_retryable
    description = await handle.describe()
    assert description.run_id == handle.result_run_id  # no second (retried) run


def _waiting_workflow(seconds: float = 3600) -> dict[str, Any]:
    return {
        "id": "waits",
        "nodes": [
            {"id": "first", "type": "transform", "data": {"mapping": {"x": 1}}},
            {"id": "wait", "type": "delay", "data": {"delay_seconds": seconds}},
            {"id": "after", "type": "transform", "data": {"mapping": {"x": "inputs.x"}}},
        ],
        "edges": [
            {"id": "e1", "source": "first", "target": "wait"},
            {"id": "e2", "source": "wait", "target": "after"},
        ],
    }


async def _status_when(handle: Any, predicate: Any) -> dict[str, Any]:
    for _ in range(200):
        status = await handle.query("get_status")
        if predicate(status):
            return dict(status)
        await asyncio.sleep(0.05)
    raise AssertionError(f"status never matched: {status}")


async def test_get_status_and_cancel_signal(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    handle = await start_execution(temporal_client, _waiting_workflow(), flov7_worker)
    status = await _status_when(
        handle, lambda s: s.get("nodes", {}).get("wait", {}).get("status") == "running"
    )
    assert status["status"] == "running"
    assert status["nodes"]["first"]["status"] == "completed"
    assert status["nodes"]["after"]["status"] == "pending"
    assert status["counts"]["completed"] == 1 and status["counts"]["running"] == 1

    await handle.signal("cancel_workflow")
    result = await result_document(handle)
    assert result["status"] == "cancelled"
    assert result["cancelled_nodes"] == ["wait"]
    assert result["node_results"]["wait"]["status"] == "cancelled"
    assert result["node_results"]["after"]["status"] == "pending"
    final = await handle.query("get_status")
    assert final["status"] == "cancelled"


async def test_temporal_cancel_request_ends_as_cancelled(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    handle = await start_execution(temporal_client, _waiting_workflow(), flov7_worker)
    await _status_when(handle, lambda s: s.get("counts", {}).get("running") == 1)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert isinstance(failure.value.cause, CancelledError)


async def test_workflow_timeout_is_reported(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    from flov7.temporal.executions import RunEndedError, follow_execution

    settings = flov7_worker.model_copy(update={"workflow_timeout_minutes": 1 / 60})
    handle = await start_execution(temporal_client, _waiting_workflow(), settings)
    with pytest.raises(RunEndedError, match="TEMPORAL_WORKFLOW_TIMEOUT_MINUTES"):
        await follow_execution(handle)


async def test_any_client_can_start_by_name_with_plain_json(
    temporal_server: Any, flov7_worker: TemporalSettings, tmp_path: Any
) -> None:
    """The ``temporal`` CLI (Go SDK) starts ``WorkflowExecution`` by name, reads JSON back."""
    import json
    import subprocess

    from flov7.temporal.devserver import find_temporal_binary

    document = {
        "id": "from-cli",
        "input": {"who": "go"},
        "nodes": [{"id": "hi", "type": "transform", "data": {"mapping": {"hello": "input.who"}}}],
    }
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(document))
    completed = await asyncio.to_thread(
        subprocess.run,
        [
            str(find_temporal_binary()),
            "workflow",
            "execute",
            "--address",
            temporal_server.target,
            "--type",
            "WorkflowExecution",
            "--task-queue",
            flov7_worker.task_queue,
            "--workflow-id",
            f"by-name-{uuid.uuid4().hex[:8]}",
            "--input-file",
            str(path),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    output = json.loads(completed.stdout)
    result = output["result"]
    assert result["status"] == "completed"
    assert result["node_results"]["hi"]["output"] == {"hello": "go"}


async def test_a_result_over_the_payload_limit_is_trimmed_not_stuck(run_on_temporal: Any) -> None:
    """20 outputs of 100 KB: over Temporal's 2 MB; the run still finishes."""
    document = {
        "id": "big-outputs",
        "nodes": [
            {
                "id": f"n{i:02d}",
                "type": "transform",
                "data": {"transform_type": "expression", "expression": "'x' * 100000"},
            }
            for i in range(20)
        ],
    }
    result = await run_on_temporal(document)
    assert result["status"] == "completed"
    assert result["completed_nodes"] == 20
    assert 0 < len(result["truncated_outputs"]) < 20
    trimmed = result["node_results"][result["truncated_outputs"][0]]["output"]
    assert trimmed["truncated"] is True and trimmed["size_bytes"] > 100000


def _heavy_chain(nodes: int) -> dict[str, Any]:
    leaf = "len(json_decode('\"' + 'a' * 99990 + '\"'))"  # ~10,000 steps each
    return {
        "id": "heavy",
        "nodes": [
            {
                "id": f"n{i}",
                "type": "transform",
                "data": {"mapping": {f"k{j}": leaf for j in range(20)}},
            }
            for i in range(nodes)
        ],
        "edges": [
            {"id": f"e{i}", "source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, nodes)
        ],
    }


async def test_long_stretches_of_pure_work_are_split_across_workflow_tasks(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    """Pure nodes run inline; after enough work the driver ends the workflow task (a
    checkpoint timer) so that Temporal's deadlock detector never fires."""
    from temporalio.api.enums.v1 import EventType

    handle = await start_execution(temporal_client, _heavy_chain(6), flov7_worker)
    result = await handle.result()
    assert result["status"] == "completed", result["error"]
    assert result["node_results"]["n5"]["output"]["k0"] == 99990
    events = [e async for e in handle.fetch_history_events()]
    timers = [e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    assert len(timers) >= 1
    failures = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert failures == []


async def test_one_nodes_expressions_share_one_budget(run_on_temporal: Any) -> None:
    leaf = "len(json_decode('\"' + 'a' * 99990 + '\"'))"
    document = {
        "id": "too-heavy",
        "nodes": [
            {
                "id": "n",
                "type": "transform",
                "data": {"mapping": {f"k{j}": leaf for j in range(40)}},
            }
        ],
    }
    result = await run_on_temporal(document)
    assert result["status"] == "failed"
    assert "too expensive together" in result["error"]["message"]
