"""``GET /api/v1/workflow/stream/{id}``: Server-Sent Events until the run closes, and
each node result's rendered ``input`` (secrets redacted), on both engines."""

from __future__ import annotations

import itertools
import json
import socket
from typing import Any

import httpx
from api_support import API, WAIT, chain, delay, document, transform

from flov7.api.routes.stream import node_changes, sse


def parse_events(text: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of a text/event-stream body (comments skipped)."""
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        name = next(line[6:].strip() for line in lines if line.startswith("event:"))
        data = "\n".join(line[5:].strip() for line in lines if line.startswith("data:"))
        events.append((name, json.loads(data)))
    return events


async def test_stream_sends_status_and_node_changes_until_the_run_closes(
    api: httpx.AsyncClient, engine: str
) -> None:
    doc = document(transform("first"), delay("pause", 0.6), transform("last"))
    doc["edges"] = chain("first", "pause", "last")
    started = await api.post(f"{API}/workflow/execute", json={"workflow_data": doc})
    assert started.status_code == 202, started.text
    execution_id = started.json()["execution_id"]

    response = await api.get(f"{API}/workflow/stream/{execution_id}", params={"poll": "0.1"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "status"
    assert names[-1] == "end" and events[-1][1] == {"status": "completed"}
    statuses = [data for name, data in events if name == "status"]
    assert statuses[-1]["status"] == "completed"
    assert statuses[-1]["result"]["node_results"]["last"]["status"] == "completed"
    assert statuses[-1]["engine"] == engine
    # Node events: each node's changes, ending completed; the delay was seen running.
    node_events = [data for name, data in events if name == "node"]
    seen = {(event["node_id"], event["status"]) for event in node_events}
    assert {("first", "completed"), ("pause", "completed"), ("last", "completed")} <= seen
    assert ("pause", "running") in seen
    # Each node change comes with the whole status that has it (clients may read either).
    latest: dict[str, Any] = {}
    for name, data in events:
        if name == "status":
            latest = data
        elif name == "node":
            change = {key: value for key, value in data.items() if key != "node_id"}
            assert latest["nodes"][data["node_id"]] == change
    # Nothing is sent twice: consecutive events of one node differ.
    by_node: dict[str, list[dict[str, Any]]] = {}
    for event in node_events:
        by_node.setdefault(event["node_id"], []).append(event)
    for changes in by_node.values():
        assert all(a != b for a, b in itertools.pairwise(changes))


async def test_stream_of_a_closed_run_is_its_final_status(api: httpx.AsyncClient) -> None:
    doc = document(transform("only"))
    done = await api.post(f"{API}/workflow/execute", params=WAIT, json={"workflow_data": doc})
    assert done.status_code == 200, done.text
    response = await api.get(f"{API}/workflow/stream/{done.json()['execution_id']}")
    names = [name for name, _ in parse_events(response.text)]
    assert names == ["status", "node", "end"]


async def test_stream_of_an_unknown_run_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get(f"{API}/workflow/stream/no-such-run-42")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_sse_framing_and_changes() -> None:
    assert sse("end", {"status": "completed"}) == ('event: end\ndata: {"status":"completed"}\n\n')
    before = {"nodes": {"a": {"status": "running"}, "b": {"status": "pending"}}}
    after = {"nodes": {"a": {"status": "completed"}, "b": {"status": "pending"}}}
    assert node_changes(before, after) == [{"node_id": "a", "status": "completed"}]
    assert [change["node_id"] for change in node_changes(None, after)] == ["a", "b"]


async def test_node_results_keep_their_rendered_input(api: httpx.AsyncClient) -> None:
    """The rendered config (templates filled in) is each node's ``input``, with
    secret-looking fields redacted; pure and I/O nodes alike, on both engines."""
    with socket.socket() as held:  # bound, not listening: connections are refused
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        call = {
            "id": "call",
            "type": "api_call",
            "data": {
                "url": f"http://127.0.0.1:{port}/{{{{ input.path }}}}",
                "method": "POST",
                "headers": {"Authorization": "Bearer {{ input.token }}", "X-Trace": "t-1"},
                "body": {"api_key": "{{ input.token }}", "who": "{{ input.path }}"},
                "retry": {"max_attempts": 1},
                "on_error": "continue",
            },
        }
        doc = document(transform("shape", path="input.path"), call)
        doc["edges"] = chain("shape", "call")
        body = {"workflow_data": doc, "input": {"path": "orders", "token": "tok-123"}}
        done = await api.post(f"{API}/workflow/execute", params=WAIT, json=body)
    assert done.status_code == 200, done.text
    results = done.json()["result"]["node_results"]
    assert results["shape"]["input"] == {"mapping": {"path": "input.path"}}
    rendered = results["call"]["input"]
    assert rendered["url"] == f"http://127.0.0.1:{port}/orders"
    assert rendered["headers"] == {"Authorization": "***", "X-Trace": "t-1"}
    assert rendered["body"] == {"api_key": "***", "who": "orders"}
    assert "tok-123" not in json.dumps(results)
