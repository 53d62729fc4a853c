"""The ``wait`` node on Temporal: the ``deliver_event`` signal, its timer, durability."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from flov7.config import TemporalSettings
from flov7.temporal.devserver import EmbeddedDevServer
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import WORKFLOWS, create_worker

from support.results import result_document

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _waiting(event: str = "paid", timeout: float | None = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"event": event}
    if timeout is not None:
        data["timeout_seconds"] = timeout
    return {
        "id": f"wait-{uuid.uuid4().hex[:8]}",
        "nodes": [
            {"id": "wait", "type": "wait", "data": data, **extra},
            {"id": "after", "type": "transform", "data": {"mapping": {"got": "inputs"}}},
        ],
        "edges": [{"id": "e1", "source": "wait", "target": "after"}],
    }


async def _status_when(handle: WorkflowHandle[Any, Any], predicate: Any) -> dict[str, Any]:
    status: dict[str, Any] = {}
    for _ in range(600):
        try:
            status = await handle.query("get_status")
        except Exception:
            status = {}
        if predicate(status):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"status never matched: {status}")


def _node_waiting(status: dict[str, Any]) -> bool:
    return status.get("nodes", {}).get("wait", {}).get("status") == "waiting"


async def test_the_event_signal_resumes_the_wait_with_its_data(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    handle = await start_execution(temporal_client, _waiting(timeout=600), flov7_worker)
    status = await _status_when(handle, _node_waiting)
    assert status["status"] == "running"
    assert status["nodes"]["wait"]["waiting_for"] == "paid"
    # Any Temporal client can send it: a plain signal by name with a JSON object.
    await handle.signal("deliver_event", {"event": "other", "data": 1})
    await handle.signal("deliver_event", {"event": "paid", "data": {"amount": 12}})
    result = await result_document(handle)
    assert result["status"] == "completed"
    assert result["node_results"]["wait"]["output"] == {"amount": 12}
    assert result["node_results"]["after"]["output"] == {"got": {"amount": 12}}
    replay = await Replayer(workflows=WORKFLOWS).replay_workflow(await handle.fetch_history())
    assert replay.replay_failure is None


async def test_an_event_sent_before_the_wait_starts_is_kept(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    document = _waiting()
    document["nodes"].insert(0, {"id": "first", "type": "delay", "data": {"delay_seconds": 1}})
    document["edges"].append({"id": "e0", "source": "first", "target": "wait"})
    handle = await start_execution(temporal_client, document, flov7_worker)
    # Two events of one name: the wait takes the first one, the second stays unused.
    await handle.signal("deliver_event", {"event": "paid", "data": "early"})
    await handle.signal("deliver_event", {"event": "paid", "data": "later"})
    result = await result_document(handle)
    assert result["node_results"]["first"]["status"] == "completed"
    assert result["node_results"]["wait"]["output"] == "early"


async def test_without_the_event_the_wait_times_out_into_its_error_edge(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    document = _waiting(timeout=0.5)
    document["nodes"].append(
        {"id": "late", "type": "transform", "data": {"mapping": {"why": "inputs.error.type"}}}
    )
    document["edges"].append(
        {"id": "e2", "source": "wait", "target": "late", "sourceHandle": "error"}
    )
    handle = await start_execution(temporal_client, document, flov7_worker)
    result = await result_document(handle)
    assert result["status"] == "completed"
    assert result["node_results"]["wait"]["status"] == "failed"
    assert result["node_results"]["wait"]["error"]["type"] == "WaitTimedOut"
    assert result["node_results"]["late"]["output"] == {"why": "WaitTimedOut"}
    assert result["node_results"]["after"]["status"] == "skipped"


async def test_a_malformed_event_signal_is_ignored(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    handle = await start_execution(temporal_client, _waiting(), flov7_worker)
    await _status_when(handle, _node_waiting)
    await handle.signal("deliver_event", {"data": "no name"})
    await handle.signal("deliver_event", {"event": "paid"})
    result = await result_document(handle)
    assert result["node_results"]["wait"]["status"] == "completed"
    assert result["node_results"]["wait"]["output"] is None


async def test_a_worker_killed_while_a_node_waits_loses_nothing(
    temporal_server: EmbeddedDevServer, temporal_client: Client, tmp_path: Path
) -> None:
    """kill -9 the worker while the wait waits; the event sent meanwhile is kept by
    Temporal, and another worker finishes the run with it."""
    queue = f"wait-kill-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    env |= {
        "TEMPORAL_HOST": temporal_server.target,
        "TEMPORAL_TASK_QUEUE": queue,
        "FLOV7_DATA_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flov7.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    settings = TemporalSettings(task_queue=queue)
    try:
        handle = await start_execution(temporal_client, _waiting(timeout=600), settings)
        await _status_when(handle, _node_waiting)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    await handle.signal("deliver_event", {"event": "paid", "data": {"while": "down"}})
    async with create_worker(temporal_client, settings):
        result = await asyncio.wait_for(result_document(handle), timeout=120)
    assert result["status"] == "completed"
    assert result["node_results"]["after"]["output"] == {"got": {"while": "down"}}


async def test_two_waits_for_one_name_take_one_event_each(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    document = {
        "id": f"two-waits-{uuid.uuid4().hex[:8]}",
        "nodes": [
            {"id": "w1", "type": "wait", "data": {"event": "go", "timeout_seconds": 600}},
            {"id": "w2", "type": "wait", "data": {"event": "go", "timeout_seconds": 600}},
        ],
        "edges": [],
    }
    handle = await start_execution(temporal_client, document, flov7_worker)

    def both_waiting(status: dict[str, Any]) -> bool:
        nodes = status.get("nodes", {})
        return all(nodes.get(n, {}).get("status") == "waiting" for n in ("w1", "w2"))

    await _status_when(handle, both_waiting)
    await handle.signal("deliver_event", {"event": "go", "data": 1})
    status = await _status_when(handle, lambda s: s.get("counts", {}).get("completed") == 1)
    assert status["status"] == "running"  # the other wait still waits
    await handle.signal("deliver_event", {"event": "go", "data": 2})
    result = await result_document(handle)
    outputs = sorted(result["node_results"][n]["output"] for n in ("w1", "w2"))
    assert result["status"] == "completed" and outputs == [1, 2]
