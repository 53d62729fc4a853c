"""The ``approval`` node end to end, on both engines: the links go out along its
``request`` edge (a real ``webhook`` to a real HTTP server), a person opens one, sees
the confirmation page, decides once; the run goes on with the decision.

Each engine gets its own app and worker sharing one signing key, as ``flov7 serve``
(one process) or a worker with the same ``FLOV7_APPROVAL_SIGNING_KEY`` would.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from api_support import API, api_settings, client_for, eventually, running_app
from temporalio.client import Client

from flov7.config import NodeSettings, Settings, TemporalSettings
from flov7.local.backend import LocalBackend
from flov7.nodes.resources import node_resources
from flov7.runs.contract import ExecutionBackend
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.worker import create_worker
from nodes.http_servers import TestHttpServer

KEY = "approval-test-key-" + uuid.uuid4().hex


def _settings(tmp_path: Path, temporal: TemporalSettings, *, local: bool) -> Settings:
    settings = api_settings(
        temporal,
        tmp_path,
        nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"),
        enable_temporal_features=not local,
        approval_signing_key=KEY,
        public_url="http://flov7.test",
    )
    return settings


@pytest.fixture(params=["temporal", "local"])
def approval_engine(request: pytest.FixtureRequest) -> Client | None:
    """The Temporal client for the Temporal engine; None for the local engine."""
    if request.param == "local":
        return None
    client: Client = request.getfixturevalue("temporal_client")
    return client


@pytest_asyncio.fixture(loop_scope="session")
async def approvals(
    approval_engine: Client | None, tmp_path: Path, api_database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose engine mints links with the app's key."""
    if approval_engine is None:
        settings = _settings(tmp_path, TemporalSettings(), local=True)
        async with (
            LocalBackend(settings, database=api_database) as backend,
            running_app(settings, backend=backend, database=api_database) as app,
            client_for(app) as client,
        ):
            yield client
        return
    temporal_client = approval_engine
    temporal = TemporalSettings(task_queue=f"approvals-{uuid.uuid4().hex[:8]}")
    settings = _settings(tmp_path, temporal, local=False)
    temporal_backend: ExecutionBackend = TemporalBackend(temporal, client=temporal_client)
    async with (
        node_resources(settings) as resources,
        create_worker(temporal_client, temporal, resources=resources),
        running_app(settings, backend=temporal_backend, database=api_database) as app,
        client_for(app) as client,
    ):
        yield client


def _document(sink: str) -> dict[str, Any]:
    return {
        "id": f"approve-{uuid.uuid4().hex[:8]}",
        "input": {"order": 42},
        "nodes": [
            {
                "id": "ask",
                "type": "approval",
                "data": {"title": "Ship order {{ input.order }}?", "timeout_seconds": 600},
            },
            {
                "id": "notify",
                "type": "webhook",
                "data": {
                    "url": sink,
                    "payload": {
                        "approve": "{{ inputs.approve_url }}",
                        "reject": "{{ inputs.reject_url }}",
                    },
                },
            },
            {
                "id": "after",
                "type": "transform",
                "data": {"mapping": {"ok": "inputs.approved", "why": "inputs.comment"}},
            },
        ],
        "edges": [
            {"id": "e1", "source": "ask", "target": "notify", "sourceHandle": "request"},
            {"id": "e2", "source": "ask", "target": "after"},
        ],
    }


async def _start_and_get_links(
    client: httpx.AsyncClient, server: TestHttpServer
) -> tuple[str, dict[str, str]]:
    doc = _document(server.url_for("/webhook"))
    response = await client.post(f"{API}/workflow/execute", json={"workflow_data": doc})
    assert response.status_code == 202, response.text
    execution_id: str = response.json()["execution_id"]
    deliveries = await eventually(lambda: _deliveries(server))
    links: dict[str, str] = deliveries[-1].json()
    status = (await client.get(f"{API}/workflow/status/{execution_id}")).json()
    assert status["nodes"]["ask"]["status"] == "waiting"
    assert status["nodes"]["ask"]["waiting_for"] == "approval:ask"
    assert status["nodes"]["notify"]["status"] == "completed"
    return execution_id, links


async def _deliveries(server: TestHttpServer) -> Any:
    return server.requests_to("/webhook")


async def _closed(client: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body = (await client.get(f"{API}/workflow/status/{execution_id}")).json()
        return body if body["engine_status"] != "RUNNING" else None

    final: dict[str, Any] = await eventually(probe)
    return final


def _path(url: str) -> str:
    assert url.startswith("http://flov7.test/")
    return url.removeprefix("http://flov7.test")


async def test_an_approval_link_approves_exactly_once(approvals: httpx.AsyncClient) -> None:
    async with TestHttpServer() as server:
        execution_id, links = await _start_and_get_links(approvals, server)
    approve, reject = _path(links["approve"]), _path(links["reject"])

    page = await approvals.get(approve)  # shows, decides nothing
    assert page.status_code == 200
    assert "Ship order 42?" in page.text and "<form method='post'>" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert (await approvals.get(approve)).status_code == 200

    decided = await approvals.post(approve, data={"comment": "fine <b>by</b> me"})
    assert decided.status_code == 200, decided.text
    assert "Approved" in decided.text
    again = await approvals.post(approve, data={})
    assert again.status_code == 409
    assert (await approvals.post(reject, data={})).status_code == 409

    final = await _closed(approvals, execution_id)
    assert final["status"] == "completed"
    output = final["result"]["node_results"]["ask"]["output"]
    assert output["approved"] is True and output["comment"] == "fine <b>by</b> me"
    assert output["decided_at"]
    assert final["result"]["node_results"]["after"]["output"] == {
        "ok": True,
        "why": "fine <b>by</b> me",
    }
    assert (await approvals.get(approve)).status_code == 409


async def test_a_rejection_and_links_that_do_not_verify(approvals: httpx.AsyncClient) -> None:
    async with TestHttpServer() as server:
        execution_id, links = await _start_and_get_links(approvals, server)
    approve, reject = _path(links["approve"]), _path(links["reject"])
    token = reject.removeprefix("/reject/")
    # A reject token on the approve path, a tampered one, garbage: all alike, 404.
    assert (await approvals.get(f"/approve/{token}")).status_code == 404
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await approvals.post(f"/reject/{tampered}", data={})).status_code == 404
    assert (await approvals.get("/reject/not-a-token")).status_code == 404

    decided = await approvals.post(reject, data={"comment": ""})
    assert decided.status_code == 200 and "Rejected" in decided.text
    final = await _closed(approvals, execution_id)
    output = final["result"]["node_results"]["ask"]["output"]
    assert output["approved"] is False and output["comment"] is None
    assert (await approvals.post(approve, data={})).status_code == 409


async def test_the_order_approval_example_waits_for_a_person(
    approvals: httpx.AsyncClient,
) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "order_approval.json"
    doc = json.loads(example.read_text())
    async with TestHttpServer() as server:
        body = {
            "workflow_data": doc,
            "input": {"amount": 250, "notify_url": server.url_for("/webhook")},
        }
        response = await approvals.post(f"{API}/workflow/execute", json=body)
        assert response.status_code == 202, response.text
        execution_id = response.json()["execution_id"]
        deliveries = await eventually(lambda: _deliveries(server))
    sent = deliveries[-1].json()
    assert sent["text"] == "Approve the order of ACME for 250?"
    decided = await approvals.post(_path(sent["approve"]), data={"comment": "ok"})
    assert decided.status_code == 200, decided.text
    final = await _closed(approvals, execution_id)
    summary = final["result"]["node_results"]["summary"]["output"]
    assert summary == "ACME: approved by a person (250)"


def test_approval_tokens_stay_out_of_the_access_log(tmp_path: Path) -> None:
    from flov7.api.access_log import CapabilityPathFilter
    from flov7.api.app import create_app

    create_app(api_settings(TemporalSettings(), tmp_path))

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/approve/abc.def?x=1", "1.1", 200),
        None,
    )
    assert CapabilityPathFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /approve/<redacted>?x=1 HTTP/1.1" 200'
    installed = logging.getLogger("uvicorn.access").filters
    assert any(isinstance(f, CapabilityPathFilter) for f in installed)
