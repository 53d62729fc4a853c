"""A Flov7 worker on the session's dev server, and a helper to run documents on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from flov7.config import TemporalSettings, load_settings
from flov7.temporal.environment import node_resources
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker

RunWorkflow = Callable[..., Awaitable[dict[str, Any]]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def flov7_worker(temporal_client: Client) -> AsyncIterator[TemporalSettings]:
    """A worker on its own task queue; yields the settings that point at it.

    Outbound HTTP to 127.0.0.1 is allowed for the test servers (the SSRF guard refuses
    loopback by default).
    """
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FLOV7_OUTBOUND_ALLOWLIST", "127.0.0.1")
        settings = load_settings()
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
        result = await handle.result()
        assert isinstance(result, dict)
        return result

    return run
