"""/workflows: stored workflows, immutable versions, and running them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from api_support import API, WAIT, chain, document, transform

from flov7.store.database import Database
from flov7.store.repository import Repository


def new_id() -> str:
    return f"stored-{uuid.uuid4().hex[:10]}"


async def create(api: httpx.AsyncClient, workflow_id: str, **extra: Any) -> dict[str, Any]:
    doc = extra.pop("doc", None) or document(transform("a", v="input.v"), id=workflow_id)
    response = await api.post(f"{API}/workflows", json={"document": doc, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_get_update_and_versions(api: httpx.AsyncClient) -> None:
    workflow_id = new_id()
    doc = document(transform("a", v="input.v"), id=workflow_id, name="First name")
    response = await api.post(f"{API}/workflows", json={"document": doc, "description": "demo"})
    assert response.status_code == 201
    assert response.headers["location"] == f"{API}/workflows/{workflow_id}"
    created = response.json()
    assert created["id"] == workflow_id
    assert created["name"] == "First name"
    assert created["description"] == "demo"
    assert (created["current_version"], created["version"]) == (1, 1)
    assert created["document"]["nodes"] == doc["nodes"]

    got = (await api.get(f"{API}/workflows/{workflow_id}")).json()
    assert got["document"] == created["document"]

    second = document(transform("b"), id="ignored-id")
    updated = await api.put(
        f"{API}/workflows/{workflow_id}",
        json={"document": second, "name": "Renamed", "expected_version": 1},
    )
    assert updated.status_code == 200
    body = updated.json()
    assert body["current_version"] == 2
    assert body["name"] == "Renamed"
    assert body["document"]["id"] == workflow_id  # the stored id wins
    assert body["updated_at"] >= body["created_at"]

    versions = (await api.get(f"{API}/workflows/{workflow_id}/versions")).json()
    assert [v["version"] for v in versions["versions"]] == [1, 2]
    assert all(v["document"] is None for v in versions["versions"])
    first = (await api.get(f"{API}/workflows/{workflow_id}/versions/1")).json()
    assert first["document"]["nodes"][0]["id"] == "a"
    old = (await api.get(f"{API}/workflows/{workflow_id}", params={"version": 1})).json()
    assert (old["version"], old["current_version"]) == (1, 2)
    assert old["document"]["nodes"][0]["id"] == "a"


async def test_update_with_a_stale_version_is_409(api: httpx.AsyncClient) -> None:
    workflow_id = new_id()
    await create(api, workflow_id)
    doc = document(transform("x"))
    ok = await api.put(
        f"{API}/workflows/{workflow_id}", json={"document": doc, "expected_version": 1}
    )
    assert ok.status_code == 200
    stale = await api.put(
        f"{API}/workflows/{workflow_id}", json={"document": doc, "expected_version": 1}
    )
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "version_conflict"
    assert error["details"] == {"current_version": 2}


async def test_create_conflicts_and_invalid_documents(api: httpx.AsyncClient) -> None:
    workflow_id = new_id()
    await create(api, workflow_id)
    again = await api.post(
        f"{API}/workflows", json={"document": document(transform("a"), id=workflow_id)}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "workflow_exists"

    invalid = await api.post(
        f"{API}/workflows",
        json={"id": new_id(), "document": {"nodes": [{"id": "a", "type": "nope"}]}},
    )
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_workflow"
    assert invalid.json()["error"]["details"]["issues"][0]["code"] == "unknown_node_type"

    no_id = await api.post(f"{API}/workflows", json={"document": {"nodes": []}})
    assert no_id.status_code == 400
    unsafe = await api.post(
        f"{API}/workflows", json={"document": document(transform("a"), id="has space")}
    )
    assert unsafe.status_code == 400
    bad_field = await api.post(f"{API}/workflows", json={"id": "a/b", "document": {}})
    assert bad_field.status_code == 422


async def test_body_id_overrides_the_document_id(api: httpx.AsyncClient) -> None:
    workflow_id = new_id()
    body = await create(api, workflow_id, doc=document(transform("a"), id="doc-id"), id=workflow_id)
    assert body["id"] == workflow_id
    assert body["document"]["id"] == workflow_id


async def test_delete_hides_and_recreate_continues_numbering(api: httpx.AsyncClient) -> None:
    workflow_id = new_id()
    await create(api, workflow_id)
    assert (await api.delete(f"{API}/workflows/{workflow_id}")).status_code == 204
    assert (await api.get(f"{API}/workflows/{workflow_id}")).status_code == 404
    assert (await api.get(f"{API}/workflows/{workflow_id}/versions")).status_code == 404
    assert (await api.delete(f"{API}/workflows/{workflow_id}")).status_code == 404
    put = await api.put(
        f"{API}/workflows/{workflow_id}", json={"document": document(transform("a"))}
    )
    assert put.status_code == 404
    recreated = await create(api, workflow_id)
    assert recreated["current_version"] == 2


async def test_missing_workflow_and_version_are_404(api: httpx.AsyncClient) -> None:
    missing = new_id()
    for method, path in [
        ("GET", f"/workflows/{missing}"),
        ("GET", f"/workflows/{missing}/versions"),
        ("GET", f"/workflows/{missing}/versions/1"),
        ("DELETE", f"/workflows/{missing}"),
        ("POST", f"/workflows/{missing}/execute"),
    ]:
        response = await api.request(method, f"{API}{path}")
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    workflow_id = new_id()
    await create(api, workflow_id)
    response = await api.get(f"{API}/workflows/{workflow_id}/versions/7")
    assert response.status_code == 404


async def test_list_pages_through_every_workflow(api: httpx.AsyncClient) -> None:
    prefix = f"zz-list-{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-{i}" for i in range(5)]
    for workflow_id in ids:
        await create(api, workflow_id)
    seen: list[str] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"page_size": 2}
        if token:
            params["page_token"] = token
        body = (await api.get(f"{API}/workflows", params=params)).json()
        assert len(body["workflows"]) <= 2
        assert all("document" not in item for item in body["workflows"])
        seen.extend(item["id"] for item in body["workflows"])
        token = body["next_page_token"]
        if token is None:
            break
    assert [i for i in seen if i.startswith(prefix)] == ids
    assert seen == sorted(seen)
    bad = await api.get(f"{API}/workflows", params={"page_token": "garbage!"})
    assert bad.status_code == 400


async def test_execute_a_stored_workflow_records_its_version(
    api: httpx.AsyncClient, api_database: Database, engine: str
) -> None:
    workflow_id = new_id()
    await create(api, workflow_id)
    v2 = document(
        transform("a", v="input.v * 2"), transform("b", w="inputs.v + 1"), edges=chain("a", "b")
    )
    await api.put(f"{API}/workflows/{workflow_id}", json={"document": v2})

    current = await api.post(
        f"{API}/workflows/{workflow_id}/execute",
        json={"input": {"v": 5}},
        params=WAIT,
    )
    assert current.status_code == 200, current.text
    body = current.json()
    assert (body["workflow_id"], body["version"]) == (workflow_id, 2)
    assert body["result"]["node_results"]["b"]["output"] == {"w": 11}
    record = await Repository(api_database).get_execution(body["execution_id"])
    assert record is not None
    assert (record.workflow_id, record.version, record.engine) == (workflow_id, 2, engine)
    assert record.status == "completed"

    pinned = await api.post(
        f"{API}/workflows/{workflow_id}/execute",
        json={"input": {"v": 5}, "version": 1},
        params=WAIT,
    )
    assert pinned.json()["version"] == 1
    assert pinned.json()["result"]["node_results"]["a"]["output"] == {"v": 5}

    # The same through POST /workflow/execute, by id and version.
    by_id = await api.post(
        f"{API}/workflow/execute",
        json={"workflow_id": workflow_id, "version": 1, "input": {"v": 1}},
        params=WAIT,
    )
    assert (by_id.json()["workflow_id"], by_id.json()["version"]) == (workflow_id, 1)
    latest = await api.post(
        f"{API}/workflow/execute", json={"workflow_id": workflow_id}, params=WAIT
    )
    assert latest.json()["version"] == 2


async def test_execute_stored_without_body_and_idempotently(api: httpx.AsyncClient) -> None:
    workflow_id = new_id()
    await create(api, workflow_id)
    plain = await api.post(f"{API}/workflows/{workflow_id}/execute")
    assert plain.status_code == 202
    execution_id = f"once-{uuid.uuid4().hex[:8]}"
    first = await api.post(
        f"{API}/workflows/{workflow_id}/execute", json={"execution_id": execution_id}
    )
    second = await api.post(
        f"{API}/workflows/{workflow_id}/execute", json={"execution_id": execution_id}
    )
    assert (first.json()["created"], second.json()["created"]) == (True, False)
    missing = await api.post(f"{API}/workflows/{workflow_id}/execute", json={"version": 9})
    assert missing.status_code == 404


@pytest.mark.parametrize("path", ["/workflows/a%20b", "/workflows/-leading"])
async def test_unsafe_ids_in_paths_are_422(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(f"{API}{path}")
    assert response.status_code == 422
