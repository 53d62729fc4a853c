"""Logs of a run: one search for the request id finds the request, the run and every
node attempt, and no secret of any kind appears in any line.

The run uses every credential kind (bearer, basic, header, plain secret, webhook
signing secret) against a real HTTP server; the API key is sent once, wrongly, in a
query string, and once properly. Log lines are captured with Flov7's own handler
(JSON format, correlation and secret filters), on both engines. On Temporal the run's
nodes run on a worker of this module whose resources hold the credentials.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from api_support import API, WAIT, Engine, api_settings, client_for, document, running_app

from flov7.config import NodeSettings, TemporalSettings
from flov7.local.backend import LocalBackend
from flov7.nodes.resources import node_resources
from flov7.observability.logging import log_handler
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.worker import create_worker
from nodes.conftest import CREDENTIALS, SECRETS
from nodes.db_fixtures import closed_port
from nodes.http_servers import TestHttpServer

API_KEY = "flov7-apikey-6d1e0c93b2"
TEMPORAL_API_KEY = "temporal-cloud-key-a81f27"
UNKNOWN_KEY = "not-a-flov7-key-3c9b0d"
DB_PASSWORD = "pw-db-5f1c0e9a77"
LLM_KEY = "sk-ops-7d2e61c0ab44"
# Nothing listens there: the database and LLM nodes fail (on_error: continue), and
# their errors, which name the endpoint, must still not carry the secrets.
NOWHERE = closed_port()
OPS_CREDENTIALS = {
    **CREDENTIALS,
    "warehouse": {
        "type": "database",
        "url": f"postgresql://flov7_ops:{DB_PASSWORD}@127.0.0.1:{NOWHERE}/ops",
    },
    "llm": {"type": "llm", "base_url": f"http://127.0.0.1:{NOWHERE}/v1", "api_key": LLM_KEY},
}
ALL_SECRETS = {**SECRETS, "api_key": API_KEY, "database": DB_PASSWORD, "llm": LLM_KEY}


@contextlib.contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the block, as ``flov7 serve`` / ``worker`` write them (JSON)."""
    stream = io.StringIO()
    handler = log_handler(stream, "json")
    root = logging.getLogger()
    names = ("", "temporalio.workflow", "temporalio.activity", "httpx")
    levels = {name: logging.getLogger(name).level for name in names}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    # This test's own API client logs every URL it requests (the query strings that
    # wrongly carry keys included): that is the caller's log, not Flov7's.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http_server() -> AsyncIterator[TestHttpServer]:
    async with TestHttpServer() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def logs_api(
    api_engine: Engine, api_database: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with an API key, and an engine whose nodes hold the test credentials."""
    data_dir = Path(tmp_path_factory.mktemp("logs"))
    nodes = NodeSettings.from_values(outbound_allowlist="127.0.0.1", credentials=OPS_CREDENTIALS)
    async with contextlib.AsyncExitStack() as stack:
        if api_engine.client is not None:
            temporal = TemporalSettings.from_values(
                task_queue=f"logs-{uuid.uuid4().hex[:8]}", api_key=TEMPORAL_API_KEY
            )
            settings = api_settings(temporal, data_dir, nodes=nodes, api_keys=API_KEY)
            resources = await stack.enter_async_context(node_resources(settings))
            await stack.enter_async_context(
                create_worker(api_engine.client, temporal, resources=resources)
            )
            backend: Any = TemporalBackend(temporal, client=api_engine.client)
        else:
            settings = api_settings(
                TemporalSettings.from_values(api_key=TEMPORAL_API_KEY),
                data_dir,
                nodes=nodes,
                api_keys=API_KEY,
                enable_temporal_features=False,
            )
            backend = await stack.enter_async_context(LocalBackend(settings, database=api_database))
        app = await stack.enter_async_context(
            running_app(settings, backend=backend, database=api_database)
        )
        yield await stack.enter_async_context(client_for(app))


def call(node_id: str, url: str, auth: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "api_call",
        "data": {"url": url, "method": "GET", "auth": auth},
        "retry": {"max_attempts": 2, "initial_interval_seconds": 0.1},
        "on_error": "continue",
    }


def every_credential(server: TestHttpServer, key: str) -> dict[str, Any]:
    return document(
        call("bearer", server.url_for("/echo"), {"type": "bearer", "credential": "api_token"}),
        call("basic", server.url_for("/echo"), {"type": "basic", "credential": "login"}),
        call(
            "header",
            server.url_for("/echo"),
            {"type": "header", "credential": "custom_header"},
        ),
        # Fails once (a retried attempt is logged), then answers.
        call(
            "plain",
            server.url_for(f"/flaky/{key}?failures=1"),
            {"type": "bearer", "credential": "plain"},
        ),
        {
            "id": "hook",
            "type": "webhook",
            "data": {"url": server.url_for("/webhook"), "payload": {"ok": True}, "secret": "hook"},
        },
        # The run itself sees the request id that started it.
        {"id": "rid", "type": "transform", "data": {"mapping": {"rid": "execution.request_id"}}},
        {
            "id": "db",
            "type": "database",
            "data": {"connection": "warehouse", "operation": "query", "query": "SELECT 1"},
            "retry": {"max_attempts": 1},
            "on_error": "continue",
        },
        {
            "id": "agent",
            "type": "ai_agent",
            "data": {"prompt": "hello", "credential": "llm", "model": "m"},
            "retry": {"max_attempts": 1},
            "on_error": "continue",
        },
    )


async def test_one_request_id_finds_request_run_and_every_attempt_and_no_secret(
    logs_api: httpx.AsyncClient, http_server: TestHttpServer, engine: str
) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    doc = every_credential(http_server, uuid.uuid4().hex)
    with captured_logs() as stream:
        # A key wrongly sent in the query string is refused, and never logged: the
        # real one (which the logs also mask) and one Flov7 does not know (no mask).
        for key in (API_KEY, UNKNOWN_KEY):
            wrong = await logs_api.post(
                f"{API}/workflow/execute", params={"api_key": key}, json={"workflow_data": doc}
            )
            assert wrong.status_code == 401
        response = await logs_api.post(
            f"{API}/workflow/execute",
            json={"workflow_data": doc},
            params=WAIT,
            headers={"Authorization": f"Bearer {API_KEY}", "X-Request-ID": request_id},
        )
        assert response.status_code == 200, response.text
        assert response.headers["X-Request-ID"] == request_id
        assert response.json()["status"] == "completed", response.text
        execution_id = response.json()["execution_id"]
        node_results = response.json()["result"]["node_results"]
        assert node_results["rid"]["output"] == {"rid": request_id}
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]

    for name, secret in {
        **ALL_SECRETS,
        "temporal": TEMPORAL_API_KEY,
        "unknown": UNKNOWN_KEY,
    }.items():
        assert secret not in text, f"the {name} secret is in the logs"

    ours = [line for line in lines if line.get("request_id") == request_id]
    events = [line.get("event") for line in ours]
    # The failing database and LLM nodes were logged, so their errors were checked.
    failed = {line["node_id"] for line in ours if line.get("event") == "node_failed"}
    assert failed == {"db", "agent"}
    assert "http_request" in events
    assert events.count("run_started") == 1
    assert events.count("run_completed") == 1
    for node_id in ("bearer", "basic", "header", "plain", "hook", "db", "agent"):
        of_node = [line for line in ours if line.get("node_id") == node_id]
        assert [line["event"] for line in of_node if "event" in line].count("node_started") == 1
        assert {line["execution_id"] for line in of_node} == {execution_id}
        assert {line.get("node_type") for line in of_node} <= {
            "api_call",
            "webhook",
            "database",
            "ai_agent",
        }
        assert all("attempt" in line for line in of_node if line.get("event") != "node_started")
    # The retried node: its second attempt is logged as a retry, with its number.
    retried = [line for line in ours if line.get("event") == "node_retried"]
    assert [(line["node_id"], line["attempt"]) for line in retried] == [("plain", 2)]
    attempts = {line.get("attempt") for line in ours if line.get("node_id") == "plain"}
    assert {1, 2} <= attempts
    # Every line of the run carries the run's ids.
    run_lines = [line for line in ours if line.get("event") != "http_request"]
    assert all(line.get("execution_id") == execution_id for line in run_lines)


async def test_a_bad_request_id_is_replaced(logs_api: httpx.AsyncClient) -> None:
    response = await logs_api.get("/health", headers={"X-Request-ID": 'x"\n{"forged": 1}'})
    assert response.status_code == 200
    assert len(response.headers["X-Request-ID"]) == 32
    fresh = await logs_api.get("/health")
    assert fresh.headers["X-Request-ID"] != response.headers["X-Request-ID"]
