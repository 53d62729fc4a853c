"""Status and history of runs with composite nodes, through the API on both engines."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.api_support import API, WAIT, document

pytestmark = pytest.mark.asyncio(loop_scope="session")


def for_each_with_io(url: str) -> dict[str, Any]:
    return document(
        {
            "id": "each",
            "type": "for_each",
            "data": {
                "items": "range(3)",
                "concurrency": 2,
                "body": {
                    "nodes": [
                        {"id": "call", "type": "api_call", "data": {"url": url}},
                        {"id": "wait", "type": "delay", "data": {"delay_seconds": 0.01}},
                    ],
                    "edges": [{"id": "b", "source": "call", "target": "wait"}],
                },
            },
        },
        {"id": "after", "type": "transform", "data": {"mapping": {"n": "inputs.count"}}},
        edges=[{"id": "e", "source": "each", "target": "after"}],
    )


async def test_history_and_status_of_a_for_each_run(api: httpx.AsyncClient) -> None:
    # The body's nodes are not nodes of the outer graph: the timeline must still answer.
    body = {"workflow_data": for_each_with_io("http://127.0.0.1:9/unreachable")}
    body["workflow_data"]["nodes"][0]["data"]["on_item_error"] = "continue"
    body["workflow_data"]["nodes"][0]["data"]["body"]["nodes"][0]["retry"] = {"max_attempts": 1}
    response = await api.post(f"{API}/workflow/execute", params=WAIT, json=body)
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["status"] == "completed", status["error"]
    assert status["nodes"]["each"]["status"] == "completed"
    assert status["result"]["node_results"]["each"]["output"]["failed"] == 3
    assert status["result"]["node_results"]["after"]["output"] == {"n": 3}

    history = await api.get(f"{API}/workflow/history/{status['execution_id']}")
    assert history.status_code == 200, history.text
    nodes = history.json()["nodes"]
    # On Temporal the body's activities also show, under the body's node ids.
    assert {"each", "after"} <= set(nodes) <= {"each", "after", "call", "wait"}
    raw = await api.get(f"{API}/workflow/history/{status['execution_id']}", params={"raw": "true"})
    assert raw.status_code == 200, raw.text
