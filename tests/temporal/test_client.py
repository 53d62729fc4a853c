"""get_temporal_client and the worker-presence check, against the session dev server."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from flov7.config import TemporalSettings
from flov7.errors import ConfigError, NoWorkerError, TemporalConnectionError
from flov7.temporal.client import (
    clear_client_cache,
    ensure_task_queue_has_pollers,
    get_temporal_client,
    resolve_target,
    task_queue_pollers,
)
from flov7.temporal.devserver import EmbeddedDevServer, free_port

# Settings come from the test itself, never from the developer's shell or .env.
pytestmark = pytest.mark.usefixtures("clean_env", "_no_cached_clients")


@pytest.fixture
def _no_cached_clients() -> None:
    clear_client_cache()


@workflow.defn(name="PollerCheckNoop")
class _Noop:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_guide_usage_connects_to_temporal_host(
    monkeypatch: pytest.MonkeyPatch, temporal_server: EmbeddedDevServer
) -> None:
    monkeypatch.setenv("TEMPORAL_HOST", temporal_server.target)
    client = await get_temporal_client()
    assert client.namespace == "default"
    assert client.service_client.config.target_host == temporal_server.target
    assert await client.service_client.check_health()


async def test_without_host_the_embedded_server_port_is_used(
    monkeypatch: pytest.MonkeyPatch, temporal_server: EmbeddedDevServer
) -> None:
    monkeypatch.setenv("FLOV7_DEVSERVER_PORT", str(temporal_server.port))
    assert resolve_target() == temporal_server.target
    client = await get_temporal_client()
    assert client.service_client.config.target_host == temporal_server.target


async def test_explicit_target_and_settings(temporal_server: EmbeddedDevServer) -> None:
    settings = TemporalSettings(namespace="default")
    client = await get_temporal_client(settings, target=temporal_server.target)
    assert client.service_client.config.target_host == temporal_server.target


async def test_one_client_per_target_and_namespace(temporal_server: EmbeddedDevServer) -> None:
    first, second = await asyncio.gather(
        get_temporal_client(target=temporal_server.target),
        get_temporal_client(target=temporal_server.target),
    )
    assert first is second
    assert await get_temporal_client(target=temporal_server.target) is first

    clear_client_cache()
    assert await get_temporal_client(target=temporal_server.target) is not first


async def test_unreachable_server_gives_an_actionable_error() -> None:
    target = f"127.0.0.1:{free_port()}"  # free, so nobody listens there
    settings = TemporalSettings(host=target, namespace="ns1", connect_timeout_seconds=2)
    with pytest.raises(TemporalConnectionError) as info:
        await get_temporal_client(settings)
    message = str(info.value)
    assert message.startswith(f"Failed to connect to Temporal server at {target} (namespace ns1): ")
    assert message.endswith(". Check TEMPORAL_HOST and that the server is running.")
    # A failure is not cached: the next call tries again.
    with pytest.raises(TemporalConnectionError):
        await get_temporal_client(settings)


async def test_tls_file_that_cannot_be_read(tmp_path: Path) -> None:
    # Validation checked the file exists; it vanishing later still gives a clear error.
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    settings = TemporalSettings(host="127.0.0.1:1", tls_ca_path=ca)
    ca.unlink()
    with pytest.raises(ConfigError, match="TEMPORAL_TLS_CA_PATH: cannot read"):
        await get_temporal_client(settings)


async def test_no_worker_on_the_task_queue(temporal_client: Client) -> None:
    queue = f"empty-{uuid.uuid4()}"
    with pytest.raises(NoWorkerError) as info:
        await ensure_task_queue_has_pollers(temporal_client, queue, wait_seconds=0)
    target = temporal_client.service_client.config.target_host
    assert str(info.value) == (
        f"No worker is polling task queue '{queue}' on {target}: "
        f"start one with `flov7 worker`, or set START_TEMPORAL_WORKER=true"
    )


async def test_a_polling_worker_satisfies_the_check(temporal_client: Client) -> None:
    queue = f"polled-{uuid.uuid4()}"
    worker = Worker(
        temporal_client,
        task_queue=queue,
        workflows=[_Noop],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        # The worker's first poll reaches the server shortly after start: the check waits.
        await ensure_task_queue_has_pollers(temporal_client, queue, wait_seconds=10)
        assert await task_queue_pollers(temporal_client, queue)
