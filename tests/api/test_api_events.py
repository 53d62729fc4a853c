"""POST /workflow/event/{execution_id} and the ``wait`` node, on both engines.

The waiting node shows ``waiting`` with the event's name in the status and the history
timeline; the event resumes it with its data; an event sent before the wait starts is
kept; closed and unknown runs answer 409 and 404.
"""

from __future__ import annotations

from typing import Any

import httpx
from api_support import API, chain, delay, document, eventually, transform


def wait(node_id: str, event: str, timeout: float | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"event": event}
    if timeout is not None:
        data["timeout_seconds"] = timeout
    return {"id": node_id, "type": "wait", "data": data}


async def start(api: httpx.AsyncClient, doc: dict[str, Any]) -> str:
    response = await api.post(f"{API}/workflow/execute", json={"workflow_data": doc})
    assert response.status_code == 202, response.text
    execution_id: str = response.json()["execution_id"]
    return execution_id


async def status_of(api: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    response = await api.get(f"{API}/workflow/status/{execution_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def closed(api: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body = await status_of(api, execution_id)
        return body if body["engine_status"] != "RUNNING" else None

    final: dict[str, Any] = await eventually(probe)
    return final


async def send(api: httpx.AsyncClient, execution_id: str, event: str, data: Any) -> httpx.Response:
    return await api.post(
        f"{API}/workflow/event/{execution_id}", json={"event": event, "data": data}
    )


async def test_a_waiting_run_shows_its_event_and_resumes_on_it(
    api: httpx.AsyncClient, engine: str
) -> None:
    doc = document(
        wait("approve", "invoice_paid", timeout=600),
        transform("after", paid="inputs.amount"),
        edges=chain("approve", "after"),
    )
    execution_id = await start(api, doc)

    async def waiting() -> dict[str, Any] | None:
        body = await status_of(api, execution_id)
        return body if body["nodes"]["approve"]["status"] == "waiting" else None

    status = await eventually(waiting)
    assert status["status"] == "running"
    assert status["nodes"]["approve"]["waiting_for"] == "invoice_paid"
    history = (await api.get(f"{API}/workflow/history/{execution_id}")).json()
    assert history["nodes"]["approve"]["status"] == "waiting"
    assert history["nodes"]["approve"]["waiting_for"] == "invoice_paid"
    entries = [e for e in history["events"] if e["node_id"] == "approve"]
    assert [e["event"] for e in entries] == ["waiting"]
    assert entries[0]["details"]["event"] == "invoice_paid"

    response = await send(api, execution_id, "invoice_paid", {"amount": 120})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "delivered" and body["engine"] == engine
    assert body["links"]["status"] == f"{API}/workflow/status/{execution_id}"

    final = await closed(api, execution_id)
    assert final["status"] == "completed"
    assert final["nodes"]["approve"]["status"] == "completed"
    assert final["nodes"]["approve"]["waiting_for"] is None
    assert final["result"]["node_results"]["after"]["output"] == {"paid": 120}
    history = (await api.get(f"{API}/workflow/history/{execution_id}")).json()
    names = [e["event"] for e in history["events"]]
    assert "event_received" in names
    received = next(e for e in history["events"] if e["event"] == "event_received")
    assert received["details"] == {"event": "invoice_paid"}
    assert "120" not in str(received)  # the data shows as the node's output only


async def test_an_event_sent_before_the_wait_starts_is_taken_by_it(
    api: httpx.AsyncClient,
) -> None:
    doc = document(
        delay("first", 1), wait("approve", "go", timeout=600), edges=chain("first", "approve")
    )
    execution_id = await start(api, doc)
    response = await send(api, execution_id, "go", ["early"])
    assert response.status_code == 202, response.text
    final = await closed(api, execution_id)
    assert final["status"] == "completed"
    assert final["result"]["node_results"]["approve"]["output"] == ["early"]


async def test_a_wait_without_its_event_times_out_and_on_error_handles_it(
    api: httpx.AsyncClient,
) -> None:
    node = {**wait("approve", "never", timeout=0.5), "on_error": "continue"}
    doc = document(
        node, transform("after", why="inputs.error.type"), edges=chain("approve", "after")
    )
    execution_id = await start(api, doc)
    final = await closed(api, execution_id)
    assert final["status"] == "completed"
    assert final["nodes"]["approve"]["status"] == "failed"
    assert final["nodes"]["approve"]["error"]["type"] == "WaitTimedOut"
    assert final["result"]["node_results"]["after"]["output"] == {"why": "WaitTimedOut"}


async def test_events_for_closed_and_unknown_runs_are_refused(api: httpx.AsyncClient) -> None:
    execution_id = await start(api, document(transform("a")))
    await closed(api, execution_id)
    response = await send(api, execution_id, "late", None)
    assert response.status_code == 409, response.text
    response = await send(api, "no-such-run-for-events", "late", None)
    assert response.status_code == 404, response.text
    response = await api.post(f"{API}/workflow/event/{execution_id}", json={"event": ""})
    assert response.status_code == 422
