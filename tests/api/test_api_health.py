"""/health and /health/temporal (the guide's path), plus their /api/v1 aliases."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from api_support import API, api_settings, client_for, running_app
from fastapi import FastAPI
from temporalio.client import Client

from flov7.config import TemporalSettings
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.devserver import free_port


@pytest.mark.parametrize("prefix", ["", API])
async def test_liveness(api: httpx.AsyncClient, engine: str, prefix: str) -> None:
    response = await api.get(f"{prefix}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["engine"] == engine


@pytest.mark.parametrize("prefix", ["", API])
async def test_temporal_health_ok(
    temporal_api: httpx.AsyncClient, flov7_worker: TemporalSettings, prefix: str
) -> None:
    response = await temporal_api.get(f"{prefix}/health/temporal")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["reachable"] is True
    assert body["latency_ms"] >= 0
    assert body["task_queue"] == flov7_worker.task_queue
    assert body["pollers"], "the session worker polls this queue"
    assert body["worker_running"] is False  # the worker is the fixture's, not the app's
    assert body["reason"] is None


async def _health_of(
    backend: TemporalBackend, database: Database, tmp_path: Path
) -> httpx.Response:
    settings = api_settings(backend.settings, tmp_path)
    async with (
        running_app(settings, backend=backend, database=database) as app,
        client_for(app) as client,
    ):
        return await client.get("/health/temporal")


async def test_no_poller_is_unhealthy_with_the_reason(
    temporal_client: Client, api_database: Database, tmp_path: Path
) -> None:
    temporal = TemporalSettings(task_queue=f"deserted-{uuid.uuid4().hex[:8]}")
    response = await _health_of(
        TemporalBackend(temporal, client=temporal_client), api_database, tmp_path
    )
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "temporal_unhealthy"
    assert "No worker polls task queue" in error["message"]
    assert error["details"]["reachable"] is True
    assert error["details"]["status"] == "unhealthy"


async def test_unreachable_temporal_is_503_not_500(api_database: Database, tmp_path: Path) -> None:
    target = f"127.0.0.1:{free_port()}"
    temporal = TemporalSettings(host=target, connect_timeout_seconds=1)
    backend = TemporalBackend(temporal, target=target)
    response = await _health_of(backend, api_database, tmp_path)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["details"]["reachable"] is False
    assert target in error["message"]
    settings = api_settings(temporal, tmp_path)
    async with (
        running_app(settings, backend=backend, database=api_database) as app,
        client_for(app) as client,
    ):
        for method, path in [
            ("GET", f"{API}/workflow/status/x"),
            ("GET", f"{API}/workflow/history/x"),
            ("POST", f"{API}/workflow/cancel/x"),
            ("GET", f"{API}/workflow/executions"),
        ]:
            failed = await client.request(method, path)
            assert failed.status_code == 503, (path, failed.text)
            assert failed.json()["error"]["code"] == "temporal_unavailable"
            assert "Traceback" not in failed.text
        started = await client.post(
            f"{API}/workflow/execute",
            json={
                "workflow_data": {
                    "nodes": [{"id": "a", "type": "transform", "data": {"mapping": {}}}]
                }
            },
        )
        assert started.status_code == 503
        assert (await client.get("/health")).status_code == 200


async def test_health_while_not_started(tmp_path: Path) -> None:
    """Before the lifespan ran (or after it ended) there is nothing to ask."""
    from flov7.api.app import create_app

    app: FastAPI = create_app(api_settings(TemporalSettings(), tmp_path))
    async with client_for(app) as client:
        assert (await client.get("/health")).json()["engine"] is None
        temporal = await client.get("/health/temporal")
        assert temporal.status_code == 503
        assert (await client.get(f"{API}/node-types")).status_code == 503
