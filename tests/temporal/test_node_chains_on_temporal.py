"""Chains of I/O nodes on the real dev server: database -> webhook, ai_agent -> branch."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from flov7.config import TemporalSettings
from flov7.nodes.resources import NodeResources
from flov7.nodes.settings import NodeSettings
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker
from nodes.fake_llm_server import FakeLlmServer
from nodes.http_servers import TestHttpServer

from support.results import result_document

pytestmark = pytest.mark.asyncio(loop_scope="session")

API_KEY = "sk-chain-7e1f0c2b9a"
HOOK_SECRET = "whsec-chain-31d9aa"


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total REAL)")
        conn.executemany(
            "INSERT INTO orders (customer, total) VALUES (?, ?)",
            [("acme", 120.0), ("acme", 30.5), ("globex", 99.0)],
        )
    return path


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLlmServer]:
    with FakeLlmServer(api_key=API_KEY) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def receiver() -> AsyncIterator[TestHttpServer]:
    async with TestHttpServer() as server:
        server.webhook_secret = HOOK_SECRET
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chain_worker(
    temporal_client: Client, shop_db: Path, llm: FakeLlmServer
) -> AsyncIterator[TemporalSettings]:
    settings = NodeSettings(  # type: ignore[call-arg]
        _env_file=None,
        outbound_allowlist=("127.0.0.1",),
        databases={"shop": {"url": f"sqlite:///{shop_db}", "read_only": True}},
        credentials={"hook": {"type": "secret", "value": HOOK_SECRET}},
        llm_base_url=llm.base_url,
        llm_api_key=API_KEY,
        llm_model="test-model",
        llm_timeout_seconds=10,
    )
    temporal = TemporalSettings(task_queue=f"chains-{uuid.uuid4().hex[:8]}")
    async with (
        NodeResources.open(settings) as resources,
        create_worker(temporal_client, temporal, resources=resources),
    ):
        yield temporal


async def run(client: Client, settings: TemporalSettings, document: dict[str, Any]) -> Any:
    handle = await start_execution(client, document, settings)
    return await result_document(handle), handle


async def test_database_select_feeds_a_signed_webhook(
    temporal_client: Client, chain_worker: TemporalSettings, receiver: TestHttpServer
) -> None:
    document = {
        "id": "orders-to-hook",
        "input": {"customer": "acme"},
        "nodes": [
            {
                "id": "orders",
                "type": "database",
                "data": {
                    "connection": "shop",
                    "operation": "select",
                    "table": "orders",
                    "where": {"customer": "{{ input.customer }}"},
                    "order_by": "id",
                },
            },
            {
                "id": "notify",
                "type": "webhook",
                "data": {
                    "url": receiver.url_for("/webhook"),
                    "secret": "hook",
                    "payload": {
                        "customer": "{{ input.customer }}",
                        "count": "{{ inputs.row_count }}",
                        "totals": "{{ inputs.rows }}",
                    },
                },
            },
        ],
        "edges": [{"id": "e", "source": "orders", "target": "notify"}],
    }
    result, handle = await run(temporal_client, chain_worker, document)
    assert result["status"] == "completed", result["error"]
    assert result["node_results"]["orders"]["output"]["row_count"] == 2
    assert result["node_results"]["notify"]["output"]["delivered"] is True
    delivery = receiver.webhooks[-1]
    assert delivery.signature_valid is True
    body = json.loads(delivery.request.body)
    assert body["customer"] == "acme" and body["count"] == 2
    assert [row["total"] for row in body["totals"]] == [120.0, 30.5]
    # The secret signed the delivery but is nowhere in the run's history.
    history = json.dumps((await handle.fetch_history()).to_json_dict())
    assert HOOK_SECRET not in history


async def test_read_only_connection_refuses_a_write_without_retrying(
    temporal_client: Client, chain_worker: TemporalSettings
) -> None:
    document = {
        "id": "write-refused",
        "nodes": [
            {
                "id": "wipe",
                "type": "database",
                "data": {
                    "connection": "shop",
                    "operation": "delete",
                    "table": "orders",
                    "where": {"customer": "acme"},
                },
            }
        ],
    }
    result, _ = await run(temporal_client, chain_worker, document)
    assert result["status"] == "failed"
    assert result["error"]["attempts"] == 1
    assert "read-only" in result["error"]["message"].lower()


async def test_ai_agent_classify_chooses_a_branch(
    temporal_client: Client, chain_worker: TemporalSettings, llm: FakeLlmServer
) -> None:
    llm.reset()
    llm.script('{"label": "urgent"}')
    document = {
        "id": "triage",
        "input": {"ticket": "The production database is down!"},
        "nodes": [
            {
                "id": "classify",
                "type": "ai_agent",
                "data": {
                    "agent_type": "classify",
                    "prompt": "Ticket: {{ input.ticket }}",
                    "labels": ["urgent", "normal"],
                },
            },
            {
                "id": "is_urgent",
                "type": "condition",
                "data": {"condition": "inputs.data == 'urgent'"},
            },
            {"id": "page", "type": "transform", "data": {"mapping": {"action": "'page on-call'"}}},
            {"id": "queue", "type": "transform", "data": {"mapping": {"action": "'queue'"}}},
        ],
        "edges": [
            {"id": "e1", "source": "classify", "target": "is_urgent"},
            {"id": "e2", "source": "is_urgent", "target": "page", "sourceHandle": "true"},
            {"id": "e3", "source": "is_urgent", "target": "queue", "sourceHandle": "false"},
        ],
    }
    result, handle = await run(temporal_client, chain_worker, document)
    assert result["status"] == "completed", result["error"]
    assert result["node_results"]["classify"]["output"]["data"] == "urgent"
    assert result["node_results"]["page"]["output"] == {"action": "page on-call"}
    assert result["node_results"]["queue"]["status"] == "skipped"
    sent = llm.bodies[-1]
    assert "The production database is down!" in json.dumps(sent["messages"])
    history = json.dumps((await handle.fetch_history()).to_json_dict())
    assert API_KEY not in history
