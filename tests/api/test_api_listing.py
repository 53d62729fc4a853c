"""GET /workflow/executions: runs, filtered and paginated.

On Temporal they come from its visibility (with the Flov7 search attributes); on the
local runtime from the store's run records. Both engines answer the same.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
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
from temporalio.client import Client

from flov7.config import TemporalSettings
from flov7.errors import InvalidQueryError
from flov7.runs.contract import ExecutionFilters
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend, visibility_query
from flov7.temporal.search_attributes import STATUS, VERSION, WORKFLOW_ID


async def listing(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await api.get(f"{API}/workflow/executions", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def start(api: httpx.AsyncClient, doc: dict[str, Any], **params: Any) -> str:
    response = await api.post(f"{API}/workflow/execute", json={"workflow_data": doc}, params=params)
    assert response.status_code in (200, 202), response.text
    return str(response.json()["execution_id"])


async def test_list_by_workflow_and_status(api: httpx.AsyncClient, api_engine: Engine) -> None:
    workflow_id = f"listed-{uuid.uuid4().hex[:8]}"
    ok = document(transform("a"), id=workflow_id)
    bad = document(transform("a", x="1 / 0"), id=workflow_id)
    waiting = document(delay("d", 300), id=workflow_id)
    completed_id = await start(api, ok, **WAIT)
    failed_id = await start(api, bad, **WAIT)
    running_id = await start(api, waiting)

    async def all_three() -> dict[str, Any] | None:
        body = await listing(api, workflow_id=workflow_id)
        return body if len(body["executions"]) == 3 else None

    body = await eventually(all_three)
    by_id = {item["execution_id"]: item for item in body["executions"]}
    assert by_id[completed_id]["status"] == "completed"
    assert by_id[failed_id]["status"] == "failed"
    assert by_id[failed_id]["engine_status"] == "FAILED"
    assert by_id[running_id]["status"] == "running"
    for item in body["executions"]:
        assert item["workflow_id"] == workflow_id
        assert item["engine"] == api_engine.name
        assert item["started_at"]
    assert body["engine"] == api_engine.name
    # Newest first.
    starts = [item["started_at"] for item in body["executions"]]
    assert starts == sorted(starts, reverse=True)

    async def only(status: str, expected: str) -> None:
        async def match() -> bool:
            found = await listing(api, workflow_id=workflow_id, status=status)
            return [item["execution_id"] for item in found["executions"]] == [expected]

        await eventually(match)

    # A failed Flov7 run is Completed in Temporal: the filter goes by Flov7Status.
    await only("failed", failed_id)
    await only("completed", completed_id)
    await only("running", running_id)

    await api.post(f"{API}/workflow/cancel/{running_id}")
    await only("cancelled", running_id)
    if api_engine.client is not None:
        description = await api_engine.client.get_workflow_handle(running_id).describe()
        assert description.typed_search_attributes.get(STATUS) == "cancelled"
        assert description.typed_search_attributes.get(WORKFLOW_ID) == workflow_id


async def test_list_by_start_time(api: httpx.AsyncClient) -> None:
    workflow_id = f"timed-{uuid.uuid4().hex[:8]}"
    execution_id = await start(api, document(transform("a"), id=workflow_id), **WAIT)
    now = datetime.now(UTC)

    async def listed(**window: str) -> list[str]:
        body = await listing(api, workflow_id=workflow_id, **window)
        return [item["execution_id"] for item in body["executions"]]

    async def visible() -> bool:
        return await listed() == [execution_id]

    await eventually(visible)
    hour = timedelta(hours=1)
    assert await listed(started_after=(now - hour).isoformat()) == [execution_id]
    assert await listed(started_after=(now + hour).isoformat()) == []
    assert await listed(started_before=(now - hour).isoformat()) == []
    assert await listed(started_before=(now + hour).isoformat()) == [execution_id]


async def test_pagination_with_opaque_tokens(api: httpx.AsyncClient) -> None:
    workflow_id = f"paged-{uuid.uuid4().hex[:8]}"
    started = {await start(api, document(transform("a"), id=workflow_id), **WAIT) for _ in range(5)}

    async def all_visible() -> bool:
        body = await listing(api, workflow_id=workflow_id, page_size=100)
        return len(body["executions"]) == 5

    await eventually(all_visible)
    seen: list[str] = []
    token: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"workflow_id": workflow_id, "page_size": 2}
        if token:
            params["page_token"] = token
        body = await listing(api, **params)
        assert len(body["executions"]) <= 2
        seen.extend(item["execution_id"] for item in body["executions"])
        token = body["next_page_token"]
        if token is None:
            break
    assert sorted(seen) == sorted(started)


async def test_stored_workflow_runs_carry_their_version(
    api: httpx.AsyncClient, api_engine: Engine
) -> None:
    workflow_id = f"versioned-{uuid.uuid4().hex[:8]}"
    created = await api.post(
        f"{API}/workflows", json={"document": document(transform("a"), id=workflow_id)}
    )
    assert created.status_code == 201
    await api.put(f"{API}/workflows/{workflow_id}", json={"document": document(transform("b"))})
    response = await api.post(f"{API}/workflows/{workflow_id}/execute", params=WAIT, json={})
    execution_id = response.json()["execution_id"]
    if api_engine.client is not None:
        description = await api_engine.client.get_workflow_handle(execution_id).describe()
        assert description.typed_search_attributes.get(VERSION) == 2
        memo = (await description.memo())["flov7"]
        assert {k: memo[k] for k in ("workflow_id", "version")} == {
            "workflow_id": workflow_id,
            "version": 2,
        }
        assert len(memo["fingerprint"]) == 64  # the document and input, digested

    async def listed() -> dict[str, Any] | None:
        body = await listing(api, workflow_id=workflow_id)
        return body["executions"][0] if body["executions"] else None

    item = await eventually(listed)
    assert (item["execution_id"], item["version"]) == (execution_id, 2)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"status": "bogus"}, 422),
        ({"page_size": 0}, 422),
        ({"page_size": 101}, 422),
        ({"started_after": "yesterday"}, 422),
        ({"page_token": "%%%not-base64%%%"}, 400),
        ({"page_token": "bm90LWEtdG9rZW4"}, 400),
    ],
)
async def test_bad_listing_requests(
    api: httpx.AsyncClient, params: dict[str, Any], status: int
) -> None:
    response = await api.get(f"{API}/workflow/executions", params=params)
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("workflow_id", ["it's", 'say "hi"'])
async def test_quotes_in_workflow_id_filters(
    api: httpx.AsyncClient, engine: str, workflow_id: str
) -> None:
    """Temporal's visibility query language cannot quote them safely: refused. The
    local engine's store takes any value as a bound parameter: an empty page."""
    response = await api.get(f"{API}/workflow/executions", params={"workflow_id": workflow_id})
    if engine == "temporal":
        assert response.status_code == 400, response.text
        assert set(response.json()["error"]) == {"code", "message", "details"}
    else:
        assert response.status_code == 200, response.text
        assert response.json()["executions"] == []


def test_visibility_query_without_search_attributes() -> None:
    """A cluster without the Flov7 attributes: what can be asked still works."""
    plain = visibility_query(ExecutionFilters(status="running"), search_attributes=False)
    assert plain == "WorkflowType = 'WorkflowExecution' AND ExecutionStatus = 'Running'"
    with pytest.raises(InvalidQueryError, match="setup-search-attributes"):
        visibility_query(ExecutionFilters(workflow_id="x"), search_attributes=False)
    # Failed and cancelled Flov7 runs end Failed / Canceled in Temporal: Temporal's own
    # status answers those filters without the attributes.
    failed = visibility_query(ExecutionFilters(status="failed"), search_attributes=False)
    assert failed.endswith("ExecutionStatus = 'Failed'")
    pending = visibility_query(ExecutionFilters(status="pending"), search_attributes=False)
    assert pending == plain
    since = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    query = visibility_query(ExecutionFilters(started_after=since), search_attributes=True)
    assert query.endswith("StartTime >= '2026-01-02T03:04:05Z'")


async def test_runs_start_without_attributes_on_a_cluster_lacking_them(
    temporal_client: Client,
    flov7_worker: TemporalSettings,
    api_database: Database,
    tmp_path: Path,
) -> None:
    """The starter decides: no attributes set, no upsert, and the run still completes."""
    backend = TemporalBackend(flov7_worker, client=temporal_client)

    async def no_attributes() -> bool:
        return False

    backend.search_attributes_enabled = no_attributes  # type: ignore[method-assign]
    settings = api_settings(flov7_worker, tmp_path)
    async with (
        running_app(settings, backend=backend, database=api_database) as app,
        client_for(app) as client,
    ):
        doc = document(transform("a"), transform("b"), edges=chain("a", "b"))
        response = await client.post(
            f"{API}/workflow/execute", json={"workflow_data": doc}, params=WAIT
        )
        assert response.json()["status"] == "completed"
        handle = temporal_client.get_workflow_handle(response.json()["execution_id"])
        description = await handle.describe()
        assert description.typed_search_attributes.get(WORKFLOW_ID) is None
        assert description.typed_search_attributes.get(STATUS) is None
        refused = await client.get(f"{API}/workflow/executions", params={"workflow_id": doc["id"]})
        assert refused.status_code == 400
        assert "setup-search-attributes" in refused.json()["error"]["message"]
