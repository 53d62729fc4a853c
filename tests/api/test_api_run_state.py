"""Run state Temporal, probes and users can trust: live workers, stuck runs say why.

- ``/health/temporal`` counts only workers that polled within the liveness window:
  Temporal lists a poller for minutes after its process died.
- An open run that does not progress says why: no live worker, or the last
  workflow-task failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from api_support import api_settings, client_for, eventually, running_app
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from flov7.config import TemporalSettings
from flov7.runs.contract import WorkflowRef
from flov7.store.database import Database
from flov7.temporal.backend import TemporalBackend
from flov7.temporal.devserver import EmbeddedDevServer

DOCUMENT: dict[str, Any] = {
    "id": "state",
    "nodes": [{"id": "a", "type": "transform", "data": {"mapping": {"n": 1}}}],
    "edges": [],
}


def _worker_process(
    server: EmbeddedDevServer, queue: str, data_dir: Path
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    env |= {
        "TEMPORAL_HOST": server.target,
        "TEMPORAL_TASK_QUEUE": queue,
        "FLOV7_DATA_DIR": str(data_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flov7.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_health_turns_503_once_the_killed_workers_leave_the_window(
    temporal_server: EmbeddedDevServer,
    temporal_client: Client,
    api_database: Database,
    tmp_path: Path,
) -> None:
    queue = f"health-{uuid.uuid4().hex[:8]}"
    window = 3.0
    backend = TemporalBackend(
        TemporalSettings(task_queue=queue), client=temporal_client, liveness_seconds=window
    )
    worker = _worker_process(temporal_server, queue, tmp_path)
    settings = api_settings(backend.settings, tmp_path)
    try:
        async with (
            running_app(settings, backend=backend, database=api_database) as app,
            client_for(app) as client,
        ):

            async def health(code: int) -> dict[str, Any] | None:
                response = await client.get("/health/temporal")
                return response.json() if response.status_code == code else None

            healthy = await eventually(lambda: health(200), within=60)
            assert [poller["live"] for poller in healthy["pollers"]] == [True] * len(
                healthy["pollers"]
            )
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            killed_at = time.monotonic()
            gone = await eventually(lambda: health(503), within=window + 60)
            # Not before the window has passed: the last poll was at most just before the kill.
            assert time.monotonic() - killed_at >= window - 1.0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    error = gone["error"]
    assert error["code"] == "temporal_unhealthy"
    assert f"none within the last {window:g} s" in error["message"]
    pollers = error["details"]["pollers"]
    assert pollers, "Temporal still lists the dead worker's pollers"
    assert all(poller["live"] is False for poller in pollers)


async def test_a_run_without_a_live_worker_says_so(temporal_client: Client) -> None:
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    backend = TemporalBackend(TemporalSettings(task_queue=queue), client=temporal_client)
    execution_id = f"lonely-{uuid.uuid4().hex[:8]}"
    await backend.start(DOCUMENT, None, execution_id, WorkflowRef("state"))
    try:
        status = await backend.status(execution_id)
        assert status.status == "pending"
        assert status.reason is not None
        assert f"No live worker polls task queue '{queue}'" in status.reason
    finally:
        await backend.terminate(execution_id, "test over")
    assert (await backend.status(execution_id)).status == "terminated"


@workflow.defn(name="WorkflowExecution")
class BrokenExecution:
    """Stands in for a workflow whose code fails every workflow task (a bug)."""

    @workflow.run
    async def run(self, workflow_data: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom in workflow code")


async def test_a_run_whose_workflow_task_keeps_failing_shows_the_failure(
    temporal_client: Client,
) -> None:
    queue = f"broken-{uuid.uuid4().hex[:8]}"
    backend = TemporalBackend(
        TemporalSettings(task_queue=queue), client=temporal_client, query_timeout=1.0
    )
    execution_id = f"broken-{uuid.uuid4().hex[:8]}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[BrokenExecution],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        await backend.start(DOCUMENT, None, execution_id, WorkflowRef("state"))
        try:

            async def failing() -> str | None:
                reason = (await backend.status(execution_id)).reason
                return reason if reason and "keeps failing" in reason else None

            reason = await eventually(failing, within=60, interval=0.5)
        finally:
            await backend.terminate(execution_id, "test over")
    assert "boom in workflow code" in reason
