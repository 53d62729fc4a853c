"""Shared fixtures.

``temporal_server`` / ``temporal_client`` start one embedded Temporal dev server for the
whole session, and only if a test asks for them: pure unit tests never pay for it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from flov7.config import NodeSettings, TemporalSettings, reset_settings_cache, settings_with
from flov7.nodes.resources import node_resources
from flov7.temporal.client import clear_client_cache
from flov7.temporal.devserver import EmbeddedDevServer, free_ports
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker

from support.results import result_document

# Prefixes of the variables Flov7 reads (see flov7.config).
_FLOV7_VARIABLES = ("TEMPORAL_", "FLOV7_", "START_TEMPORAL_WORKER", "ENABLE_TEMPORAL_FEATURES")


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Each test reads the settings again (after its own monkeypatched env / CWD)."""
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Default settings: no Flov7 variable from the shell, no ``.env`` from the checkout.

    Unsets every variable Flov7 reads and moves to an empty working directory (returned),
    where a test may write its own ``.env``.
    """
    for name in list(os.environ):
        if name.upper().startswith(_FLOV7_VARIABLES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[EmbeddedDevServer]:
    """One embedded Temporal dev server (SQLite, no UI, free ports) for the session."""
    port, ui_port = free_ports(2)
    server = EmbeddedDevServer(
        tmp_path_factory.mktemp("temporal"),
        port=port,
        ui_port=ui_port,
        ui=False,
    )
    async with server:
        yield server


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_client(temporal_server: EmbeddedDevServer) -> AsyncIterator[Client]:
    """A client of :func:`temporal_server`, namespace ``default``."""
    client = await Client.connect(temporal_server.target)
    yield client
    # Clients cached by get_temporal_client point at a server about to stop.
    clear_client_cache()


RunWorkflow = Callable[..., Awaitable[dict[str, Any]]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def flov7_worker(temporal_client: Client) -> AsyncIterator[TemporalSettings]:
    """A worker on its own task queue; yields the settings that point at it.

    Outbound HTTP to 127.0.0.1 is allowed for the test servers (the SSRF guard refuses
    loopback by default).
    """
    settings = settings_with(nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"))
    temporal = TemporalSettings(task_queue=f"flov7-test-{uuid.uuid4().hex[:8]}")
    async with (
        node_resources(settings) as resources,
        create_worker(temporal_client, temporal, resources=resources),
    ):
        yield temporal


@pytest.fixture
def run_on_temporal(temporal_client: Client, flov7_worker: TemporalSettings) -> RunWorkflow:
    """``await run_on_temporal(document, run_input=None)`` -> the result document."""

    async def run(
        document: dict[str, Any],
        run_input: dict[str, Any] | None = None,
        execution_id: str | None = None,
    ) -> dict[str, Any]:
        handle = await start_execution(
            temporal_client,
            document,
            flov7_worker,
            run_input=run_input,
            execution_id=execution_id,
        )
        return await result_document(handle)

    return run
