"""GET /workflow/history of a run whose I/O nodes ran as Temporal local activities.

A local activity has no activity events in Temporal's history, only one
``MarkerRecorded`` event when it resolves; the timeline still shows the node with its
attempts, worker and outcome, as for a regular activity. The same document on the
local runtime (which ignores ``execution``) gives the same node results.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from api_support import API, WAIT, document

from nodes.http_servers import TestHttpServer

pytestmark = pytest.mark.asyncio(loop_scope="session")

FAST = {"initial_interval_seconds": 0.1, "backoff_coefficient": 1.0, "max_interval_seconds": 0.2}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http() -> AsyncIterator[TestHttpServer]:
    async with TestHttpServer() as server:
        yield server


def of_node(events: list[dict[str, Any]], node_id: str) -> list[str]:
    return [event["event"] for event in events if event["node_id"] == node_id]


async def test_local_activity_nodes_on_the_timeline(
    api: httpx.AsyncClient, engine: str, http: TestHttpServer
) -> None:
    key = uuid.uuid4().hex
    doc = document(
        {
            "id": "flaky",
            "type": "api_call",
            "retry": FAST,
            "data": {"url": http.url_for(f"/flaky/{key}?failures=1")},
        },
        {
            "id": "broken",
            "type": "api_call",
            "on_error": "continue",
            "execution": "local",
            "retry": {**FAST, "max_attempts": 2},
            "data": {"url": http.url_for("/status/503")},
        },
    )
    response = await api.post(f"{API}/workflow/execute", json={"workflow_data": doc}, params=WAIT)
    assert response.status_code == 200, response.text
    execution_id = response.json()["execution_id"]
    response = await api.get(f"{API}/workflow/history/{execution_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed"
    events = body["events"]
    nodes = body["nodes"]
    assert (nodes["flaky"]["status"], nodes["flaky"]["attempts"]) == ("completed", 2)
    assert (nodes["broken"]["status"], nodes["broken"]["attempts"]) == ("failed", 2)
    assert nodes["broken"]["error"]["type"] == "HttpServerError"
    if engine == "local":
        return  # The local runtime's own timeline: covered by test_api_history.py.
    # One marker per node: scheduled and started when it was asked for, the earlier
    # attempts by their count, then the outcome.
    assert of_node(events, "flaky") == ["scheduled", "started", "attempt_failed", "completed"]
    assert of_node(events, "broken") == ["scheduled", "started", "attempt_failed", "failed"]
    for node_id in ("flaky", "broken"):
        entries = [e for e in events if e["node_id"] == node_id]
        assert all(e["source"] == "history" for e in entries)
        assert all(e["details"].get("local_activity") is True for e in entries)
        assert all(e["node_type"] == "api_call" for e in entries)
        started = next(e for e in entries if e["event"] == "started")
        assert "@" in started["details"]["worker"]
        assert entries[-1]["attempt"] == 2
        assert nodes[node_id]["in_history"] is True
    failed = next(e for e in events if e["node_id"] == "broken" and e["event"] == "failed")
    assert failed["details"]["cause"]["type"] == "HttpServerError"
    assert "stack" not in str(failed["details"]).lower()
