"""``flov7 event``: an event sent from the command line reaches the run's wait node."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from flov7.config import TemporalSettings
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker
from test_cli import external, flov7  # noqa: F401  (external is a fixture)

DOCUMENT: dict[str, Any] = {
    "id": "cli-wait",
    "nodes": [{"id": "wait", "type": "wait", "data": {"event": "paid"}}],
    "edges": [],
}


async def test_event_command_delivers_and_refuses_bad_cases(
    temporal_client: Any,
    external: dict[str, str],  # noqa: F811
) -> None:
    settings = TemporalSettings(task_queue=external["TEMPORAL_TASK_QUEUE"])
    handle = await start_execution(temporal_client, DOCUMENT, settings)
    sent = await asyncio.to_thread(
        flov7, "event", handle.id, "paid", "--data", '{"amount": 7}', env=external
    )
    assert sent.returncode == 0, sent.stderr
    assert f"run {handle.id}: event 'paid' delivered" in sent.stderr
    # Nobody polled the queue yet: the event waits in Temporal for the worker.
    async with create_worker(temporal_client, settings):
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result["node_results"]["wait"]["output"] == {"amount": 7}

    closed = await asyncio.to_thread(flov7, "event", handle.id, "paid", env=external)
    assert closed.returncode == 1 and "is closed (completed)" in closed.stderr
    unknown = await asyncio.to_thread(
        flov7, "event", f"nope-{uuid.uuid4().hex[:8]}", "paid", env=external
    )
    assert unknown.returncode == 1 and "No execution" in unknown.stderr
    bad = flov7("event", handle.id, "paid", "--data", "{nope", env=external)
    assert bad.returncode == 2 and "--data is not valid JSON" in bad.stderr
