"""POST /workflow/execute, GET /workflow/status, POST /workflow/cancel, POST /workflow/validate.

``api`` runs each test on both engines (Temporal and the local runtime): the answers
must be the same but for ``engine``. Tests of what only Temporal does (pending runs
without a worker, runs Temporal itself failed or terminated) use ``temporal_api``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import (
    API,
    WAIT,
    Engine,
    api_settings,
    chain,
    client_for,
    delay,
    document,
    eventually,
    running_app,
    transform,
)
from temporalio.client import Client, WorkflowExecutionStatus

from flov7.config import TemporalSettings
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend


async def execute(api: httpx.AsyncClient, body: dict[str, Any], **params: Any) -> httpx.Response:
    return await api.post(f"{API}/workflow/execute", json=body, params=params)


async def status_of(api: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    response = await api.get(f"{API}/workflow/status/{execution_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def closed_status(api: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    async def closed() -> dict[str, Any] | None:
        body = await status_of(api, execution_id)
        return body if body["engine_status"] != "RUNNING" else None

    result: dict[str, Any] = await eventually(closed)
    return result


# -- execute ------------------------------------------------------------------------------


async def test_execute_answers_202_with_links_at_once(api: httpx.AsyncClient, engine: str) -> None:
    doc = document(transform("a", x="input.n * 2"), input={"n": 21})
    response = await execute(api, {"workflow_data": doc})
    assert response.status_code == 202
    body = response.json()
    execution_id = body["execution_id"]
    assert execution_id.startswith(doc["id"] + "-")
    assert body["engine"] == engine
    assert body["created"] is True
    assert body["workflow_id"] == doc["id"]
    assert body["version"] is None
    assert body["links"] == {
        "status": f"{API}/workflow/status/{execution_id}",
        "history": f"{API}/workflow/history/{execution_id}",
        "cancel": f"{API}/workflow/cancel/{execution_id}",
        "terminate": f"{API}/workflow/terminate/{execution_id}",
    }
    assert response.headers["location"] == body["links"]["status"]
    final = await closed_status(api, execution_id)
    assert final["status"] == "completed"
    assert final["result"]["node_results"]["a"]["output"] == {"x": 42}


async def test_execute_with_wait_returns_the_result(api: httpx.AsyncClient, engine: str) -> None:
    doc = document(
        transform("a", x="input.n + 1"),
        transform("b", y="inputs.x * 10"),
        edges=chain("a", "b"),
        name="Waited",
    )
    response = await execute(api, {"workflow_data": doc, "input": {"n": 4}}, **WAIT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed"
    assert body["engine"] == engine
    assert body["engine_status"] == "COMPLETED"
    assert body["workflow_name"] == "Waited"
    assert body["created"] is True
    assert body["result"]["node_results"]["b"]["output"] == {"y": 50}
    assert body["execution_path"] == ["a", "b"]
    assert body["counts"] == {"completed": 2}
    for node in ("a", "b"):
        assert body["nodes"][node]["status"] == "completed"
        assert body["nodes"][node]["started_at"] is not None
        assert body["nodes"][node]["duration_ms"] is not None
    assert body["links"]["history"].endswith(body["execution_id"])


async def test_guide_path_with_trailing_slash(api: httpx.AsyncClient) -> None:
    doc = document(transform("a"))
    response = await api.post(f"{API}/workflow/execute/", json={"workflow_data": doc}, params=WAIT)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"


async def test_wait_timeout_answers_202_with_links(api: httpx.AsyncClient) -> None:
    doc = document(delay("slow", 120))
    response = await execute(api, {"workflow_data": doc}, wait="true", timeout="0.5")
    assert response.status_code == 202
    body = response.json()
    assert set(body["links"]) == {"status", "history", "cancel", "terminate"}
    cancel = await api.post(body["links"]["cancel"])
    assert cancel.status_code == 202


async def test_repeated_execution_id_joins_the_running_run(api: httpx.AsyncClient) -> None:
    execution_id = f"idem-{uuid.uuid4().hex[:8]}"
    doc = document(delay("slow", 120))
    first = await execute(api, {"workflow_data": doc, "execution_id": execution_id})
    second = await execute(api, {"workflow_data": doc, "execution_id": execution_id})
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["created"] is True
    assert second.json()["created"] is False
    assert first.json()["run_id"] == second.json()["run_id"]
    await api.post(f"{API}/workflow/cancel/{execution_id}")
    final = await closed_status(api, execution_id)
    assert final["status"] == "cancelled"


async def test_repeated_execution_id_returns_the_closed_run(api: httpx.AsyncClient) -> None:
    execution_id = f"idem-{uuid.uuid4().hex[:8]}"
    doc = document(transform("a", v="1"))
    first = await execute(api, {"workflow_data": doc, "execution_id": execution_id}, **WAIT)
    assert first.status_code == 200
    # The same document and input under the same id (a retried request): the first run.
    again = await execute(api, {"workflow_data": doc, "execution_id": execution_id}, **WAIT)
    assert again.status_code == 200
    body = again.json()
    assert body["created"] is False
    assert body["run_id"] == first.json()["run_id"]
    assert body["workflow_id"] == doc["id"]
    assert list(body["nodes"]) == ["a"]


async def test_reused_execution_id_with_another_document_or_input_is_409(
    api: httpx.AsyncClient,
) -> None:
    execution_id = f"conflict-{uuid.uuid4().hex[:8]}"
    doc = document(transform("a", v="1"))
    first = await execute(api, {"workflow_data": doc, "execution_id": execution_id}, **WAIT)
    assert first.status_code == 200
    other = document(transform("b", v="2"))
    for body in (
        {"workflow_data": other, "execution_id": execution_id},
        {"workflow_data": doc, "execution_id": execution_id, "input": {"n": 1}},
    ):
        refused = await execute(api, body, **WAIT)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "execution_conflict"
    status = await api.get(f"{API}/workflow/status/{execution_id}")
    assert list(status.json()["nodes"]) == ["a"]
    assert status.json()["run_id"] == first.json()["run_id"]


async def test_invalid_document_is_422_with_the_report_and_starts_nothing(
    api: httpx.AsyncClient,
) -> None:
    execution_id = f"bad-{uuid.uuid4().hex[:8]}"
    doc = document({"id": "x", "type": "no_such_type"})
    response = await execute(api, {"workflow_data": doc, "execution_id": execution_id})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_workflow"
    assert error["details"]["valid"] is False
    assert error["details"]["issues"][0]["code"] == "unknown_node_type"
    missing = await api.get(f"{API}/workflow/status/{execution_id}")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"workflow_data": {"nodes": []}, "workflow_id": "also"},
        {"workflow_data": {"nodes": []}, "version": 2},
        {"workflow_data": {"nodes": []}, "execution_id": "has spaces"},
        {"workflow_data": {"nodes": []}, "unknown": 1},
        {"workflow_data": "not an object"},
    ],
    ids=["empty", "both-sources", "version-without-id", "bad-execution-id", "extra", "type"],
)
async def test_malformed_execute_requests_are_422(
    api: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await execute(api, body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert isinstance(error["details"], list) and error["details"]
    assert {"location", "message", "type"} <= set(error["details"][0])


async def test_execute_unknown_stored_workflow_is_404(api: httpx.AsyncClient) -> None:
    response = await execute(api, {"workflow_id": f"missing-{uuid.uuid4().hex[:6]}"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_a_failed_run_reports_failed_with_the_node_error(api: httpx.AsyncClient) -> None:
    doc = document(transform("boom", x="1 / 0"), transform("after"), edges=chain("boom", "after"))
    response = await execute(api, {"workflow_data": doc}, **WAIT)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed"
    assert body["engine_status"] == "FAILED"
    assert body["nodes"]["boom"]["status"] == "failed"
    assert body["nodes"]["after"]["status"] == "pending"
    assert body["error"]["node_id"] == "boom"
    assert "division" in body["error"]["message"]


# -- status -------------------------------------------------------------------------------


async def test_status_of_unknown_execution_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get(f"{API}/workflow/status/nope-{uuid.uuid4().hex}")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": response.json()["error"]["message"],
            "details": None,
        }
    }


async def test_status_of_a_running_run_comes_from_the_query(api: httpx.AsyncClient) -> None:
    doc = document(transform("first"), delay("wait", 120), edges=chain("first", "wait"))
    execution_id = (await execute(api, {"workflow_data": doc})).json()["execution_id"]

    async def waiting() -> dict[str, Any] | None:
        body = await status_of(api, execution_id)
        return body if body["nodes"].get("wait", {}).get("status") == "running" else None

    body = await eventually(waiting)
    assert body["status"] == "running"
    assert body["engine_status"] == "RUNNING"
    assert body["nodes"]["first"]["status"] == "completed"
    assert body["finished_at"] is None
    assert body["result"] is None
    await api.post(f"{API}/workflow/cancel/{execution_id}")


async def test_status_is_pending_while_no_worker_polls(
    temporal_client: Client,
    api_database: Database,
    search_attributes: None,
    tmp_path: Path,
) -> None:
    """A run on a task queue nobody polls: no query is attempted (it would hang)."""
    temporal = TemporalSettings(task_queue=f"nobody-{uuid.uuid4().hex[:8]}")
    backend = TemporalBackend(temporal, client=temporal_client)
    async with (
        running_app(
            api_settings(temporal, tmp_path), backend=backend, database=api_database
        ) as app,
        client_for(app) as client,
    ):
        started = await execute(client, {"workflow_data": document(transform("a"))})
        execution_id = started.json()["execution_id"]
        body = await status_of(client, execution_id)
        assert body["status"] == "pending"
        assert body["nodes"] == {}
        await temporal_client.get_workflow_handle(execution_id).terminate("test over")
        final = await status_of(client, execution_id)
        assert final["status"] == "terminated"
        assert final["engine_status"] == "TERMINATED"
        assert final["error"]["message"]


async def test_status_of_a_run_temporal_failed(
    temporal_api: httpx.AsyncClient, temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    """A document started around the API's validation fails in Temporal itself."""
    execution_id = f"tfail-{uuid.uuid4().hex[:8]}"
    handle = await temporal_client.start_workflow(
        "WorkflowExecution",
        {"id": "broken", "nodes": [{"id": "a", "type": "no_such_type"}]},
        id=execution_id,
        task_queue=flov7_worker.task_queue,
    )
    body = await closed_status(temporal_api, handle.id)
    assert body["status"] == "failed"
    assert body["engine_status"] == "FAILED"
    assert body["error"]["type"] == "InvalidWorkflow"
    assert "no_such_type" in body["error"]["message"]


async def test_terminated_run_still_shows_its_nodes(
    temporal_api: httpx.AsyncClient, temporal_client: Client
) -> None:
    api = temporal_api
    doc = document(transform("first"), delay("wait", 120), edges=chain("first", "wait"))
    execution_id = (await execute(api, {"workflow_data": doc})).json()["execution_id"]

    async def waiting() -> bool:
        body = await status_of(api, execution_id)
        return bool(body["nodes"].get("wait", {}).get("status") == "running")

    await eventually(waiting)
    await temporal_client.get_workflow_handle(execution_id).terminate("operator")

    async def with_nodes() -> dict[str, Any] | None:
        # No result document: the node states come from the query, answered by a worker
        # replaying the closed run (a busy worker may miss the query's deadline once).
        body = await closed_status(api, execution_id)
        return body if body["nodes"] else None

    body = await eventually(with_nodes)
    assert body["status"] == "terminated"
    assert body["nodes"]["first"]["status"] == "completed"


# -- cancel -------------------------------------------------------------------------------


async def test_cancel_stops_a_running_run(api: httpx.AsyncClient, api_engine: Engine) -> None:
    doc = document(delay("wait", 300), transform("never"), edges=chain("wait", "never"))
    execution_id = (await execute(api, {"workflow_data": doc})).json()["execution_id"]
    response = await api.post(
        f"{API}/workflow/cancel/{execution_id}", json={"reason": "changed my mind"}
    )
    assert response.status_code == 202
    assert response.json()["status"] == "cancelling"
    assert response.json()["engine"] == api_engine.name
    body = await closed_status(api, execution_id)
    assert body["status"] == "cancelled"
    assert body["error"] == {"type": "Cancelled", "message": "changed my mind"}
    assert body["nodes"]["wait"]["status"] == "cancelled"
    assert body["nodes"]["never"]["status"] == "pending"
    if api_engine.client is not None:
        handle = api_engine.client.get_workflow_handle(execution_id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    again = await api.post(f"{API}/workflow/cancel/{execution_id}")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "execution_closed"
    assert again.json()["error"]["details"] == {"status": "cancelled"}


async def test_terminate_ends_a_running_run_at_once(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    doc = document(delay("wait", 300), transform("never"), edges=chain("wait", "never"))
    execution_id = (await execute(api, {"workflow_data": doc})).json()["execution_id"]
    response = await api.post(
        f"{API}/workflow/terminate/{execution_id}", json={"reason": "stuck, ending it"}
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "terminated"
    assert response.json()["engine"] == api_engine.name
    body = await closed_status(api, execution_id)
    assert body["status"] == "terminated"
    # The node after the delay never ran (a terminated run's node states are only known
    # when a worker can replay it for the query, so they may be missing).
    assert body["nodes"].get("never", {}).get("status", "pending") == "pending"
    if api_engine.client is not None:
        handle = api_engine.client.get_workflow_handle(execution_id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    else:
        assert body["error"] == {"type": "Terminated", "message": "stuck, ending it"}
    for action in ("terminate", "cancel"):
        again = await api.post(f"{API}/workflow/{action}/{execution_id}")
        assert again.status_code == 409
        assert again.json()["error"]["details"] == {"status": "terminated"}
    listed = await api.get(f"{API}/workflow/executions", params={"status": "terminated"})
    assert listed.status_code == 200


async def test_execute_answers_the_validation_warnings(api: httpx.AsyncClient) -> None:
    doc = document(
        transform("price", amount="3"),
        transform("shape", result="inputs.data"),
        edges=chain("price", "shape"),
    )
    response = await execute(api, {"workflow_data": doc})
    assert response.status_code == 202, response.text
    warnings = response.json()["warnings"]
    assert [(w["node_id"], w["field"]) for w in warnings] == [("shape", "data.mapping.result")]


async def test_terminate_unknown_execution_is_404(api: httpx.AsyncClient) -> None:
    response = await api.post(f"{API}/workflow/terminate/nope-{uuid.uuid4().hex}")
    assert response.status_code == 404


async def test_every_advertised_status_filter_is_accepted(api: httpx.AsyncClient) -> None:
    for status in (
        "pending",
        "running",
        "completed",
        "failed",
        "cancelled",
        "timed_out",
        "terminated",
        "interrupted",
    ):
        response = await api.get(f"{API}/workflow/executions", params={"status": status})
        assert response.status_code == 200, (status, response.text)


async def test_cancel_unknown_execution_is_404(api: httpx.AsyncClient) -> None:
    response = await api.post(f"{API}/workflow/cancel/nope-{uuid.uuid4().hex}")
    assert response.status_code == 404


async def test_cancel_rejects_unknown_fields(api: httpx.AsyncClient) -> None:
    response = await api.post(f"{API}/workflow/cancel/whatever", json={"why": "x"})
    assert response.status_code == 422


# -- validate -----------------------------------------------------------------------------


async def test_validate_valid_document(api: httpx.AsyncClient) -> None:
    doc = document(transform("a"), transform("b"), edges=chain("a", "b"))
    response = await api.post(f"{API}/workflow/validate", json={"workflow_data": doc})
    assert response.status_code == 200
    assert response.json() == {
        "valid": True,
        "issues": [],
        "warnings": [],
        "node_count": 2,
        "edge_count": 1,
    }


async def test_validate_invalid_document_lists_every_issue(api: httpx.AsyncClient) -> None:
    doc = {
        "nodes": [
            {"id": "a", "type": "nope"},
            {"id": "b", "type": "delay", "data": {"delay_seconds": -1}},
        ],
        "edges": [{"id": "e", "source": "a", "target": "ghost"}],
    }
    response = await api.post(f"{API}/workflow/validate", json={"workflow_data": doc})
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    codes = sorted(issue["code"] for issue in body["issues"])
    assert codes == ["invalid_config", "missing_node", "unknown_node_type"]


async def test_validate_starts_nothing_and_needs_a_document(api: httpx.AsyncClient) -> None:
    response = await api.post(f"{API}/workflow/validate", json={})
    assert response.status_code == 422
