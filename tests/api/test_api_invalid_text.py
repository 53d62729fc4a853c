"""Lone surrogates and other invalid text never make the API answer 500.

A lone surrogate (``"\\ud800"``) is valid in Python strings and in JSON escapes, but not in
UTF-8: a workflow name, a run input or an upstream value carrying one used to make
``execute?wait=true`` answer 500 after the run had started, and the run's status answer
500 for ever. The API now escapes such text consistently (as ``\\ufffd``, the replacement
character) in every JSON response and in what it stores.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_support import document, transform

from flov7.nodes.transform import TransformNode

pytestmark = pytest.mark.asyncio(loop_scope="session")

LONE = "\ud800"
REPLACED = "\ufffd"


def raw_json(payload: dict[str, Any]) -> bytes:
    """JSON with ``\\uXXXX`` escapes, as a client in any language may send it."""
    import json

    return json.dumps(payload, ensure_ascii=True).encode()


async def post(api: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> httpx.Response:
    return await api.post(
        url, content=raw_json(payload), headers={"content-type": "application/json"}
    )


async def test_a_lone_surrogate_in_name_and_input_never_gives_a_500(api: httpx.AsyncClient) -> None:
    workflow = document(
        transform("n", echo="input.text", name="'x' + input.text"),
        name=f"name with {LONE} inside",
    )
    started = await post(
        api,
        "/api/v1/workflow/execute?wait=true&timeout=60",
        {"workflow_data": workflow, "input": {"text": f"a{LONE}b", f"k{LONE}": 1}},
    )
    assert started.status_code == 200, started.text
    body = started.json()
    execution_id = body["execution_id"]
    status = await api.get(f"/api/v1/workflow/status/{execution_id}")
    assert status.status_code == 200, status.text
    assert status.json()["status"] == "completed"
    # Replaced on the way in: the run saw (and its result shows) U+FFFD.
    output = status.json()["result"]["node_results"]["n"]["output"]
    assert output == {"echo": f"a{REPLACED}b", "name": f"xa{REPLACED}b"}
    assert status.json()["workflow_name"] == f"name with {REPLACED} inside"
    history = await api.get(f"/api/v1/workflow/history/{execution_id}")
    assert history.status_code in (200, 404), history.text
    listing = await api.get("/api/v1/workflow/executions")
    assert listing.status_code == 200, listing.text


async def test_a_stored_workflow_with_a_lone_surrogate_can_be_read_and_run(
    api: httpx.AsyncClient,
) -> None:
    workflow = document(transform("n", ok="true"), name=f"stored {LONE}")
    created = await post(api, "/api/v1/workflows", {"document": workflow})
    assert created.status_code in (200, 201), created.text
    workflow_id = created.json()["id"]
    shown = await api.get(f"/api/v1/workflows/{workflow_id}")
    assert shown.status_code == 200, shown.text
    assert REPLACED in shown.json()["name"]
    ran = await api.post(f"/api/v1/workflows/{workflow_id}/execute?wait=true&timeout=60")
    assert ran.status_code == 200, ran.text
    assert ran.json()["status"] == "completed"


async def test_a_lone_surrogate_made_inside_a_run_fails_its_node(api: httpx.AsyncClient) -> None:
    workflow = document(transform("n", text="json_decode('\"\\\\ud800\"')"))
    started = await api.post(
        "/api/v1/workflow/execute?wait=true&timeout=60", json={"workflow_data": workflow}
    )
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "failed"
    assert started.json()["error"]["type"] == "InvalidOutput"
    status = await api.get(f"/api/v1/workflow/status/{started.json()['execution_id']}")
    assert status.status_code == 200, status.text


async def test_a_result_carrying_a_lone_surrogate_is_still_readable(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An error message quoting text with a lone surrogate: the result holds it (Temporal
    # escapes it in its payloads); every answer about the run must still be valid JSON.
    def broken(self: TransformNode, config: Any, scope: Any) -> Any:
        raise RuntimeError(f"upstream said {LONE}")

    monkeypatch.setattr(TransformNode, "evaluate", broken)
    started = await api.post(
        "/api/v1/workflow/execute?wait=true&timeout=60",
        json={"workflow_data": document(transform("n", ok="true"))},
    )
    assert started.status_code == 200, started.text
    error = started.json()["error"]
    assert error["message"].endswith(f"upstream said {REPLACED}"), error
    execution_id = started.json()["execution_id"]
    for url in (
        f"/api/v1/workflow/status/{execution_id}",
        f"/api/v1/workflow/executions/{execution_id}",
        "/api/v1/workflow/executions",
    ):
        answer = await api.get(url)
        assert answer.status_code in (200, 404), (url, answer.text)
        answer.content.decode("utf-8")  # strict: valid UTF-8
