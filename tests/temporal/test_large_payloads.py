"""Large data by reference (FLOV7_PAYLOAD_STORE_DIR): a 10 MB API response flows through
a workflow on Temporal, encrypted in the store, with only references in the history.

The worker's client is built by :func:`get_temporal_client` from settings that name a
store directory and encryption keys, as the API, the CLI and ``flov7 worker`` build theirs.
The history is read by a client with neither, as the server sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from flov7.api.app import create_app
from flov7.config import Flov7Settings, NodeSettings, Settings, TemporalSettings
from flov7.engine.payloads import RESULT_TOO_LARGE
from flov7.local.runtime import LocalRuntime
from flov7.nodes.resources import node_resources
from flov7.security.encryption import new_key_spec
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.client import get_temporal_client
from flov7.temporal.devserver import EmbeddedDevServer
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker
from nodes.http_servers import RecordedRequest, Reply, TestHttpServer

from support.results import result_document

THRESHOLD = 256 * 1024
KEY = new_key_spec("k-large")
MARKER = "PLAINTEXT-MARKER-4f1c9e"
HTTP_CAP = 80 * 1024 * 1024
"""FLOV7_HTTP_MAX_RESPONSE_BYTES for these tests (its default, 16 MiB, caps the largest)."""


def big_json(megabytes: float) -> bytes:
    """About ``megabytes`` MB of JSON: a list of records, each quoting the marker."""
    record = {"pad": MARKER + "x" * 70}
    count = int(megabytes * 1_000_000) // (len(json.dumps(record)) + 12)
    return json.dumps({"items": [{"i": i, **record} for i in range(count)]}).encode()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def big_server() -> AsyncIterator[TestHttpServer]:
    bodies: dict[str, bytes] = {}
    async with TestHttpServer() as server:

        @server.route("/big")
        async def big(request: RecordedRequest, _: TestHttpServer) -> Reply:
            size = request.query.get("mb", ["10"])[0]
            if size not in bodies:
                bodies[size] = big_json(float(size))
            return Reply(200, bodies[size], [("Content-Type", "application/json")])

        yield server


def node_settings() -> NodeSettings:
    return NodeSettings.from_values(
        outbound_allowlist="127.0.0.1", http_max_response_bytes=HTTP_CAP
    )


@contextlib.asynccontextmanager
async def worker_with(temporal: TemporalSettings, target: str) -> AsyncIterator[Client]:
    settings = Settings(temporal=temporal, flov7=Flov7Settings.from_values(), nodes=node_settings())
    client = await get_temporal_client(temporal, target=target)
    async with (
        node_resources(settings) as resources,
        create_worker(client, temporal, resources=resources),
    ):
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stored(
    temporal_server: EmbeddedDevServer, tmp_path_factory: Any
) -> AsyncIterator[TemporalSettings]:
    """A worker with a payload store (encrypted); yields its settings."""
    temporal = TemporalSettings.from_values(
        task_queue=f"large-{uuid.uuid4().hex[:8]}",
        payload_store_dir=tmp_path_factory.mktemp("payloads"),
        encryption_keys=KEY,
    )
    async with worker_with(temporal, temporal_server.target):
        yield temporal


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def small_bound(
    temporal_server: EmbeddedDevServer, tmp_path_factory: Any
) -> AsyncIterator[TemporalSettings]:
    """A worker whose store takes outputs up to 5 MB only."""
    temporal = TemporalSettings.from_values(
        task_queue=f"bound-{uuid.uuid4().hex[:8]}",
        payload_store_dir=tmp_path_factory.mktemp("bounded"),
        max_large_output_bytes=5_000_000,
    )
    async with worker_with(temporal, temporal_server.target):
        yield temporal


def fetch_and_count(server: TestHttpServer, megabytes: float = 10) -> dict[str, Any]:
    return {
        "id": f"large-{uuid.uuid4().hex[:8]}",
        "nodes": [
            {
                "id": "fetch",
                "type": "api_call",
                "data": {"url": server.url_for(f"/big?mb={megabytes}"), "method": "GET"},
                "retry": {"max_attempts": 1},
            },
            {
                "id": "count",
                "type": "transform",
                "data": {
                    "mapping": {
                        "n": "len(inputs.body.items)",
                        "last": "inputs.body.items[len(inputs.body.items) - 1].i",
                    }
                },
            },
        ],
        "edges": [{"id": "e", "source": "fetch", "target": "count"}],
    }


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every payload anywhere in ``message`` (a history event)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        entry = field.message_type
        if field.type != FieldDescriptor.TYPE_MESSAGE or entry is None:
            continue
        if entry.GetOptions().map_entry:
            if entry.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for key in value:
                    yield from payloads_in(value[key])
        elif field.is_repeated:
            for item in value:
                yield from payloads_in(item)
        else:
            yield from payloads_in(value)


def transform_chain(count: int) -> dict[str, Any]:
    """``count`` transform nodes in a row (as in tests/engine/test_result_trimming.py)."""
    nodes: list[dict[str, Any]] = [
        {"id": "n0", "type": "transform", "data": {"mapping": {"v": "0"}}},
        *(
            {"id": f"n{i}", "type": "transform", "data": {"mapping": {"v": "inputs.v + 1"}}}
            for i in range(1, count)
        ),
    ]
    edges = [{"id": f"e{i}", "source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, count)]
    return {"id": f"chain-{uuid.uuid4().hex[:6]}", "nodes": nodes, "edges": edges}


def expected_count() -> int:
    return len(json.loads(big_json(10))["items"])


async def test_a_10_mb_response_flows_through_a_workflow_by_reference(
    temporal_server: EmbeddedDevServer,
    temporal_client: Client,
    stored: TemporalSettings,
    big_server: TestHttpServer,
    tmp_path: Path,
) -> None:
    client = await get_temporal_client(stored, target=temporal_server.target)
    handle = await start_execution(client, fetch_and_count(big_server), stored)
    result = await result_document(handle)
    assert result["status"] == "completed", result.get("error")
    count = expected_count()
    assert result["node_results"]["count"]["output"] == {"n": count, "last": count - 1}
    assert len(result["node_results"]["fetch"]["output"]["body"]["items"]) == count
    assert "truncated_outputs" not in result  # kept whole: the result went by reference

    # The history, as the server holds it: no payload over the threshold.
    sizes = [
        payload.ByteSize()
        async for event in temporal_client.get_workflow_handle(handle.id).fetch_history_events()
        for payload in payloads_in(event)
    ]
    assert sizes and max(sizes) < THRESHOLD

    # The store holds them, encrypted: no plaintext in any stored file.
    assert stored.payload_store_dir is not None
    files = [path for path in stored.payload_store_dir.rglob("*") if path.is_file()]
    assert files and max(path.stat().st_size for path in files) > 9_000_000
    for path in files:
        assert MARKER.encode() not in path.read_bytes()

    # The API shows the output (its client reads references back through the same store).
    settings = Settings(temporal=stored, flov7=Flov7Settings.from_values(data_dir=tmp_path))
    backend = TemporalBackend(stored, client=client)
    async with (
        Database.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}") as database,
        api_client(settings, backend, database) as api,
    ):
        answer = await api.get(f"/api/v1/workflow/status/{handle.id}")
        assert answer.status_code == 200, answer.text[:500]
        body = answer.json()
        assert body["result"]["node_results"]["count"]["output"]["n"] == count
        timeline = await api.get(f"/api/v1/workflow/history/{handle.id}")
        assert timeline.status_code == 200, timeline.text[:500]


@contextlib.asynccontextmanager
async def api_client(
    settings: Settings, backend: TemporalBackend, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, backend=backend, database=database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://flov7.test") as api:
            yield api


async def test_over_the_upper_bound_the_node_fails_naming_the_setting(
    temporal_server: EmbeddedDevServer, small_bound: TemporalSettings, big_server: TestHttpServer
) -> None:
    client = await get_temporal_client(small_bound, target=temporal_server.target)
    handle = await start_execution(client, fetch_and_count(big_server), small_bound)
    result = await result_document(handle)
    assert result["status"] == "failed"
    error = result["node_results"]["fetch"]["error"]
    assert error["type"] == "OutputTooLarge"
    assert "FLOV7_MAX_LARGE_OUTPUT_BYTES" in error["message"]
    assert "5000000-byte limit" in error["message"]
    assert error["attempts"] == 1  # not retried


async def test_the_local_runtime_takes_the_same_large_output(big_server: TestHttpServer) -> None:
    temporal = TemporalSettings.from_values(payload_store_dir="/unused-by-local")
    settings = Settings(temporal=temporal, flov7=Flov7Settings.from_values(), nodes=node_settings())
    async with node_resources(settings) as resources:
        runtime = LocalRuntime(resources, defaults=temporal.execution_defaults())
        result = await runtime.run(fetch_and_count(big_server))
    assert result["status"] == "completed", result.get("error")
    count = expected_count()
    assert result["node_results"]["count"]["output"] == {"n": count, "last": count - 1}


async def test_without_a_store_the_old_limit_holds(
    run_on_temporal: Any, big_server: TestHttpServer
) -> None:
    """The session worker has no store: 2 MB fails the node as before, clearly."""
    result = await run_on_temporal(fetch_and_count(big_server, 2))
    assert result["status"] == "failed"
    error = result["node_results"]["fetch"]["error"]
    assert error["type"] in ("OutputTooLarge", "ResponseTooLarge")


async def test_flov7_run_shows_a_large_output(
    temporal_server: EmbeddedDevServer, big_server: TestHttpServer, tmp_path: Path
) -> None:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(fetch_and_count(big_server, 3)))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    env = {
        **base,
        "TEMPORAL_HOST": temporal_server.target,
        "TEMPORAL_TASK_QUEUE": f"large-cli-{uuid.uuid4().hex[:8]}",
        "FLOV7_DATA_DIR": str(tmp_path / "data"),
        "FLOV7_PAYLOAD_STORE_DIR": str(tmp_path / "payloads"),
        "FLOV7_OUTBOUND_ALLOWLIST": "127.0.0.1",
        "FLOV7_HTTP_MAX_RESPONSE_BYTES": str(HTTP_CAP),
    }
    # A subprocess driven from this loop: the HTTP server answers from it too.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "flov7.cli",
        "run",
        str(path),
        "--worker",
        "always",
        "--quiet",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode == 0, stderr.decode()[-2000:]
    shown = json.loads(stdout)
    result = shown.get("result", shown)
    items = result["node_results"]["fetch"]["output"]["body"]["items"]
    assert result["node_results"]["count"]["output"]["n"] == len(items) > 10_000
    assert any((tmp_path / "payloads").rglob("*"))  # it went through the store


async def test_an_8000_node_chain_ends_on_temporal_without_a_store(run_on_temporal: Any) -> None:
    """Without a store the result cannot hold 8,000 node entries: the run fails with a
    clear error instead of retrying its workflow task until the timeout."""
    result = await run_on_temporal(transform_chain(8_000))
    assert result["status"] == "failed"
    assert result["error"]["type"] == RESULT_TOO_LARGE
    assert result["total_nodes"] == 8_000
