"""Inbound webhooks on both engines: each mode and each auth starts a run with the call
as input; a sync hook answers with its ``respond`` node; redeliveries with one
``Idempotency-Key`` start one run; refusals look alike; the rate is enforced."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from api_support import API, eventually

from flov7.nodes.webhook import sign_payload

PUBLIC = "http://127.0.0.1:8002"  # FLOV7_PUBLIC_URL unset: FLOV7_API_HOST:FLOV7_API_PORT


def _document(workflow_id: str, *, respond: bool = False) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {
            "id": "read",
            "type": "transform",
            "data": {
                "mapping": {
                    "order": "input.body.order",
                    "method": "input.method",
                    "src": "input.query.src",
                    "headers": "input.headers",
                }
            },
        }
    ]
    edges: list[dict[str, Any]] = []
    if respond:
        nodes.append(
            {
                "id": "answer",
                "type": "respond",
                "data": {
                    "status_code": 201,
                    "headers": {"X-Order": "{{ inputs.order }}"},
                    "body": {"accepted": "{{ inputs.order }}"},
                },
            }
        )
        edges.append({"id": "e1", "source": "read", "target": "answer"})
    return {"id": workflow_id, "nodes": nodes, "edges": edges}


async def _workflow(api: httpx.AsyncClient, *, respond: bool = False) -> str:
    workflow_id = f"hooked-{uuid.uuid4().hex[:8]}"
    body = {"id": workflow_id, "document": _document(workflow_id, respond=respond)}
    response = await api.post(f"{API}/workflows", json=body)
    assert response.status_code == 201, response.text
    return workflow_id


async def _hook(api: httpx.AsyncClient, workflow_id: str, **fields: Any) -> dict[str, Any]:
    response = await api.post(f"{API}/workflows/{workflow_id}/hooks", json=fields)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _path(url: str) -> str:
    assert url.startswith(PUBLIC + "/hooks/"), url
    return url.removeprefix(PUBLIC)


async def _final(api: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    async def closed() -> dict[str, Any] | None:
        body = (await api.get(f"{API}/workflow/status/{execution_id}")).json()
        return body if body["engine_status"] != "RUNNING" else None

    final: dict[str, Any] = await eventually(closed)
    return final


async def test_a_token_hook_starts_a_run_with_the_call_as_input(
    api: httpx.AsyncClient, engine: str
) -> None:
    workflow_id = await _workflow(api)
    hook = await _hook(api, workflow_id)
    assert hook["auth"] == "token" and hook["mode"] == "async"
    assert hook["secret"] in hook["url"] and len(hook["secret"]) >= 32
    response = await api.post(
        _path(hook["url"]),
        params={"src": "shop"},
        json={"order": 42},
        headers={"Authorization": "Bearer not-for-the-run", "X-Shop": "acme"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["engine"] == engine and body["created"] is True
    final = await _final(api, body["execution_id"])
    assert final["trigger"] == {"type": "webhook", "hook_id": hook["hook_id"]}
    assert final["workflow_id"] == workflow_id and final["version"] == 1
    output = final["result"]["node_results"]["read"]["output"]
    assert output["order"] == 42 and output["method"] == "POST" and output["src"] == "shop"
    assert output["headers"]["x-shop"] == "acme"
    assert "authorization" not in output["headers"]

    listing = (await api.get(f"{API}/workflows/{workflow_id}/hooks")).json()
    assert [h["hook_id"] for h in listing] == [hook["hook_id"]]
    assert hook["secret"] not in str(listing)


async def test_refusals_look_alike(api: httpx.AsyncClient) -> None:
    workflow_id = await _workflow(api)
    token_hook = await _hook(api, workflow_id)
    hmac_hook = await _hook(api, workflow_id, auth="hmac")
    stale = str(int(time.time()) - 3600)
    calls = [
        await api.post(f"/hooks/{token_hook['hook_id']}/wrong-token", json={}),
        await api.post(f"/hooks/{token_hook['hook_id']}", json={}),
        await api.post("/hooks/hk_0000000000000000/anything", json={}),
        await api.post(f"/hooks/{hmac_hook['hook_id']}", json={}),
        await api.post(
            f"/hooks/{hmac_hook['hook_id']}",
            content=b"{}",
            headers={
                "X-Flov7-Timestamp": stale,
                "X-Flov7-Signature": sign_payload(hmac_hook["secret"], stale, b"{}"),
            },
        ),
    ]
    assert {c.status_code for c in calls} == {404}
    assert len({c.text for c in calls}) == 1


async def test_an_hmac_hook_takes_what_the_webhook_node_signs(api: httpx.AsyncClient) -> None:
    workflow_id = await _workflow(api)
    hook = await _hook(api, workflow_id, auth="hmac")
    assert hook["url"] == f"{PUBLIC}/hooks/{hook['hook_id']}"
    body = b"order=7&tag=a&tag=b"
    now = str(int(time.time()))
    response = await api.post(
        _path(hook["url"]),
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Flov7-Timestamp": now,
            "X-Flov7-Signature": sign_payload(hook["secret"], now, body),
        },
    )
    assert response.status_code == 202, response.text
    final = await _final(api, response.json()["execution_id"])
    output = final["result"]["node_results"]["read"]["output"]
    assert output["order"] == "7"
    assert "x-flov7-signature" not in output["headers"]
    tampered = await api.post(
        _path(hook["url"]),
        content=body + b"&more=1",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Flov7-Timestamp": now,
            "X-Flov7-Signature": sign_payload(hook["secret"], now, body),
        },
    )
    assert tampered.status_code == 404


async def test_a_sync_hook_answers_with_its_respond_node(api: httpx.AsyncClient) -> None:
    workflow_id = await _workflow(api, respond=True)
    hook = await _hook(api, workflow_id, mode="sync", timeout_seconds=30)
    response = await api.put(_path(hook["url"]), json={"order": "A-1"})
    assert response.status_code == 201, response.text
    assert response.json() == {"accepted": "A-1"}
    assert response.headers["x-order"] == "A-1"

    plain = await _workflow(api)
    hook = await _hook(api, plain, mode="sync")
    response = await api.post(_path(hook["url"]), json={"order": 5})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "completed"
    assert answer["outputs"]["read"]["order"] == 5


async def test_a_redelivery_with_one_idempotency_key_starts_one_run(
    api: httpx.AsyncClient,
) -> None:
    workflow_id = await _workflow(api)
    hook = await _hook(api, workflow_id)
    key = {"Idempotency-Key": f"delivery-{uuid.uuid4().hex}"}
    first = await api.post(_path(hook["url"]), json={"order": 1}, headers=key)
    again = await api.post(_path(hook["url"]), json={"order": 1}, headers=key)
    assert first.status_code == again.status_code == 202
    assert first.json()["execution_id"] == again.json()["execution_id"]
    assert first.json()["created"] is True and again.json()["created"] is False
    other = await api.post(_path(hook["url"]), json={"order": 1})
    assert other.json()["execution_id"] != first.json()["execution_id"]


async def test_over_its_rate_a_hook_answers_429_and_deleted_hooks_404(
    api: httpx.AsyncClient,
) -> None:
    workflow_id = await _workflow(api)
    hook = await _hook(api, workflow_id, rate_per_minute=1)
    assert (await api.post(_path(hook["url"]), json={})).status_code == 202
    limited = await api.post(_path(hook["url"]), json={})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    bad_json = await _hook(api, workflow_id)
    broken = await api.post(
        _path(bad_json["url"]), content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    deleted = await api.delete(f"{API}/workflows/{workflow_id}/hooks/{hook['hook_id']}")
    assert deleted.status_code == 204
    assert (await api.post(_path(hook["url"]), json={})).status_code == 404
    assert (
        await api.post(f"{API}/workflows/nope-{uuid.uuid4().hex}/hooks", json={})
    ).status_code == 404
