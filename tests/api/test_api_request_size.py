"""FLOV7_MAX_REQUEST_BYTES is sized for real documents: 5,000 nodes fit the default."""

from __future__ import annotations

import json
from typing import Any

import httpx
from api_support import API


def chain(count: int) -> dict[str, Any]:
    """A 5,000-node document as an editor saves it (positions and labels included)."""
    nodes = [
        {
            "id": f"node-{i:05d}",
            "type": "transform",
            "position": {"x": 240 * (i % 20), "y": 120 * (i // 20)},
            "data": {"label": f"Step {i}", "mapping": {"v": "inputs.v + 1" if i else "0"}},
        }
        for i in range(count)
    ]
    edges = [
        {"id": f"edge-{i:05d}", "source": f"node-{i - 1:05d}", "target": f"node-{i:05d}"}
        for i in range(1, count)
    ]
    return {"id": "five-thousand", "name": "Five thousand", "nodes": nodes, "edges": edges}


async def test_a_5000_node_document_is_accepted(api: httpx.AsyncClient) -> None:
    document = chain(5_000)
    body = json.dumps({"workflow_data": document})
    assert len(body) > 1024 * 1024  # over the old 1 MiB default
    response = await api.post(
        f"{API}/workflow/validate", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text[:300]
    assert response.json()["valid"] is True


async def test_a_body_over_the_limit_names_the_setting(api: httpx.AsyncClient) -> None:
    body = json.dumps({"workflow_data": {"nodes": [], "padding": "x" * (4 * 1024 * 1024)}})
    response = await api.post(
        f"{API}/workflow/validate", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "FLOV7_MAX_REQUEST_BYTES" in error["message"]
    assert "4194304 bytes" in error["message"]


async def test_a_run_input_temporal_refuses_is_a_413_that_says_what_to_do(
    temporal_api: httpx.AsyncClient,
) -> None:
    # Under the request limit, over Temporal's 2 MB per payload, and no payload store
    # in this setup: the server's "Blob data size exceeds limit" becomes a clear error.
    document = {
        "id": "too-big-input",
        "description": "x" * (2_500_000),
        "nodes": [{"id": "a", "type": "transform", "data": {"mapping": {"v": "1"}}}],
        "edges": [],
    }
    execution_id = "too-big-input-1"
    response = await temporal_api.post(
        f"{API}/workflow/execute",
        json={"workflow_data": document, "execution_id": execution_id},
    )
    assert response.status_code == 413, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "2.5 MB" in error["message"] and "FLOV7_PAYLOAD_STORE_DIR" in error["message"]
    assert (await temporal_api.get(f"{API}/workflow/status/{execution_id}")).status_code == 404
