"""Payload encryption (FLOV7_ENCRYPTION_KEYS): ciphertext in Temporal, clear in Flov7.

A run whose input, node config and node output carry a marker string runs on a worker
with the keys. The marker must then be absent from the raw history (read by a client
without the keys) and from the dev server's SQLite files, while Flov7's own answers
(status, timeline, raw history, ``flov7 run``) show it, after a key rotation too. A
run without encryption shows the marker in the same places: the checks can fail.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client

from flov7.api.app import create_app
from flov7.config import Flov7Settings, NodeSettings, Settings, TemporalSettings
from flov7.nodes.resources import node_resources
from flov7.security.encryption import new_key_spec
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.client import get_temporal_client
from flov7.temporal.codec import ENCODING, DecryptionError, EncryptionCodec
from flov7.temporal.devserver import EmbeddedDevServer
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker
from nodes.http_servers import TestHttpServer

OLD_KEY = new_key_spec("k-old")
NEW_KEY = new_key_spec("k-new")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def echo_server() -> AsyncIterator[TestHttpServer]:
    async with TestHttpServer() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def encrypted(temporal_server: EmbeddedDevServer) -> AsyncIterator[TemporalSettings]:
    """A worker whose client encrypts with OLD_KEY; yields its settings."""
    temporal = TemporalSettings.from_values(
        task_queue=f"encrypted-{uuid.uuid4().hex[:8]}", encryption_keys=OLD_KEY
    )
    settings = Settings(
        temporal=temporal,
        flov7=Flov7Settings.from_values(),
        nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"),
    )
    client = await get_temporal_client(temporal, target=temporal_server.target)
    assert isinstance(client.data_converter.payload_codec, EncryptionCodec)
    async with (
        node_resources(settings) as resources,
        create_worker(client, temporal, resources=resources),
    ):
        yield temporal


def marked(server: TestHttpServer, marker: str) -> dict[str, Any]:
    return {
        "id": f"enc-{uuid.uuid4().hex[:8]}",
        "input": {"marker": marker},
        "nodes": [
            {
                "id": "call",
                "type": "api_call",
                "data": {
                    "url": server.url_for("/echo"),
                    "method": "POST",
                    "body": {"m": "{{ input.marker }}"},
                },
            },
            # Fails once: the failure's message quotes the URL, marker included. A regular
            # activity: its history keeps the failed attempt's cause (a local activity's
            # retries inside the worker leave none); "call" is a local activity, whose
            # marker (input, output) must be ciphertext too.
            {
                "id": "flaky",
                "type": "api_call",
                "execution": "activity",
                "data": {"url": server.url_for(f"/flaky/{marker}?failures=1"), "method": "GET"},
                "retry": {"max_attempts": 2, "initial_interval_seconds": 0.1},
            },
        ],
        "edges": [],
    }


@contextlib.asynccontextmanager
async def api_client(
    settings: Settings, backend: TemporalBackend, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, backend=backend, database=database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://flov7.test") as api:
            yield api


def payload_texts(value: Any) -> str:
    """The ``data`` of every payload in raw events (base64 in protobuf JSON), decoded."""
    if isinstance(value, dict):
        found = [payload_texts(item) for key, item in value.items() if key != "data"]
        if isinstance(value.get("data"), str) and "metadata" in value:
            found.append(base64.b64decode(value["data"]).decode(errors="replace"))
        return " ".join(found)
    if isinstance(value, list):
        return " ".join(payload_texts(item) for item in value)
    return ""


def sqlite_bytes(server: EmbeddedDevServer) -> bytes:
    assert server.db_path is not None
    files = [server.db_path, Path(f"{server.db_path}-wal")]
    return b"".join(path.read_bytes() for path in files if path.exists())


async def raw_history_bytes(client: Client, execution_id: str) -> bytes:
    events = client.get_workflow_handle(execution_id).fetch_history_events()
    return b"".join([event.SerializeToString() async for event in events])


async def run(client: Client, settings: TemporalSettings, document: dict[str, Any]) -> str:
    handle = await start_execution(client, document, settings)
    result = await handle.result()
    assert result["status"] == "completed", result
    return handle.id


async def test_payloads_are_ciphertext_in_history_and_database_and_clear_in_flov7(
    temporal_server: EmbeddedDevServer,
    temporal_client: Client,
    flov7_worker: TemporalSettings,
    encrypted: TemporalSettings,
    echo_server: TestHttpServer,
) -> None:
    # Control: without encryption the marker is in the history and in the database.
    plain_marker = f"PLAIN-{uuid.uuid4().hex}"
    plain_id = await run(temporal_client, flov7_worker, marked(echo_server, plain_marker))
    assert plain_marker.encode() in await raw_history_bytes(temporal_client, plain_id)

    marker = f"SECRET-{uuid.uuid4().hex}"
    client = await get_temporal_client(encrypted, target=temporal_server.target)
    execution_id = await run(client, encrypted, marked(echo_server, marker))
    # The server's view (a client without keys): ciphertext only.
    assert marker.encode() not in await raw_history_bytes(temporal_client, execution_id)
    # The dev server's SQLite files: the control's marker is there, ours is not.
    stored = sqlite_bytes(temporal_server)
    assert plain_marker.encode() in stored
    assert marker.encode() not in stored

    # Flov7 reads it in clear: status (the result), timeline and raw history.
    backend = TemporalBackend(encrypted, client=client)
    status = await backend.status(execution_id)
    assert status.result is not None
    assert marker in json.dumps(status.result)
    timeline = await backend.history(execution_id, None, 100, raw=False)
    # The activity's events are attributed to the node from their (decrypted) input.
    entries = timeline.model_dump(mode="json")["events"]
    of_call = [entry["event"] for entry in entries if entry["node_id"] == "call"]
    assert of_call == ["scheduled", "started", "completed"]
    # The failed attempt's message was encrypted in Temporal, and is readable here.
    failed = next(entry for entry in entries if entry["event"] == "attempt_failed")
    assert marker in failed["details"]["cause"]["message"]
    raw = await backend.history(execution_id, None, 100, raw=True)
    assert marker in payload_texts(raw.model_dump(mode="json")["events"])
    assert base64.b64encode(ENCODING).decode() not in raw.model_dump_json()

    # After a rotation (a new key first, the old one kept), the old run still reads.
    rotated = TemporalSettings.from_values(
        task_queue=encrypted.task_queue, encryption_keys=f"{NEW_KEY},{OLD_KEY}"
    )
    rotated_client = await get_temporal_client(rotated, target=temporal_server.target)
    again = await TemporalBackend(rotated, client=rotated_client).status(execution_id)
    assert marker in json.dumps(again.result)
    # Without the old key it cannot: the error names the missing key.
    ring = TemporalSettings.from_values(encryption_keys=NEW_KEY).key_ring
    assert ring is not None
    events = [
        e async for e in temporal_client.get_workflow_handle(execution_id).fetch_history_events()
    ]
    sealed = events[0].workflow_execution_started_event_attributes.input.payloads[0]
    with pytest.raises(DecryptionError, match="key 'k-old'"):
        EncryptionCodec(ring).decode_one(sealed)


async def test_codec_endpoint_decrypts_for_the_temporal_web_ui(
    temporal_server: EmbeddedDevServer,
    temporal_client: Client,
    encrypted: TemporalSettings,
    echo_server: TestHttpServer,
    tmp_path: Path,
) -> None:
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    marker = f"UI-{uuid.uuid4().hex}"
    client = await get_temporal_client(encrypted, target=temporal_server.target)
    execution_id = await run(client, encrypted, marked(echo_server, marker))
    events = [
        e async for e in temporal_client.get_workflow_handle(execution_id).fetch_history_events()
    ]
    sealed = events[0].workflow_execution_started_event_attributes.input
    body = json_format.MessageToDict(sealed)
    assert marker not in json.dumps(body)

    settings = Settings(
        temporal=encrypted,
        flov7=Flov7Settings.from_values(data_dir=tmp_path, api_keys="codec-key-7b1f09e2"),
    )
    backend = TemporalBackend(encrypted, client=client)
    async with (
        Database.open(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}") as database,
        api_client(settings, backend, database) as api,
    ):
        origin = {"Origin": "http://localhost:8233"}
        preflight = await api.options("/api/v1/codec/decode", headers=origin)
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:8233"
        refused = await api.post("/api/v1/codec/decode", json=body)
        assert refused.status_code == 401
        auth = {**origin, "X-API-Key": "codec-key-7b1f09e2", "X-Namespace": "default"}
        answer = await api.post("/api/v1/codec/decode", json=body, headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == "http://localhost:8233"
        decoded = json_format.ParseDict(answer.json(), Payloads())
        assert marker.encode() in decoded.payloads[0].data
        # And back: what the UI sends with a signal comes out encrypted.
        encoded = await api.post("/api/v1/codec/encode", json=answer.json(), headers=auth)
        assert marker not in encoded.text
        again = json_format.ParseDict(encoded.json(), Payloads())
        assert again.payloads[0].metadata["encoding"] == b"binary/encrypted"


def test_flov7_run_decrypts_transparently(
    temporal_server: EmbeddedDevServer, tmp_path: Path
) -> None:
    marker = f"CLI-{uuid.uuid4().hex}"
    document = {
        "id": "enc-cli",
        "input": {"marker": marker},
        "nodes": [{"id": "t", "type": "transform", "data": {"mapping": {"m": "input.marker"}}}],
        "edges": [],
    }
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    env = {
        **base,
        "TEMPORAL_HOST": temporal_server.target,
        "TEMPORAL_TASK_QUEUE": f"enc-cli-{uuid.uuid4().hex[:8]}",
        "FLOV7_DATA_DIR": str(tmp_path / "data"),
        "FLOV7_ENCRYPTION_KEYS": OLD_KEY,
    }
    result = subprocess.run(
        [sys.executable, "-m", "flov7.cli", "run", str(path), "--worker", "always"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout  # the result, decrypted
    assert OLD_KEY.split(":")[1] not in result.stderr
