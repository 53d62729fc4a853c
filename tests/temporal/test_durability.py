"""Durability: replaying recorded histories, and a worker killed in the middle of a run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from flov7.config import TemporalSettings
from flov7.temporal.devserver import EmbeddedDevServer
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import WORKFLOWS, create_worker

from support.cases import Case, load_cases
from support.results import result_document

pytestmark = pytest.mark.asyncio(loop_scope="session")

HISTORIES = Path(__file__).resolve().parent.parent / "fixtures" / "histories"


@pytest.mark.parametrize("case", load_cases(), ids=lambda case: case.id)
async def test_fresh_history_replays_deterministically(
    case: Case, temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    handle = await start_execution(
        temporal_client, case.document, flov7_worker, run_input=case.run_input
    )
    await result_document(handle)
    history = await handle.fetch_history()
    result = await Replayer(workflows=WORKFLOWS).replay_workflow(history)
    assert result.replay_failure is None


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_still_replays(path: Path) -> None:
    """Histories recorded by earlier code: a change that breaks them breaks running runs.

    Re-record with ``python tests/fixtures/histories/record.py`` only for a deliberate,
    versioned change (``workflow.patched``), never to make this test pass.
    """
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    result = await Replayer(workflows=WORKFLOWS).replay_workflow(history)
    assert result.replay_failure is None


@pytest.mark.parametrize(
    ("name", "closed_by"),
    [
        # Recorded before the flov7-run-state patch: failed and signal-cancelled runs
        # completed. They replay on the old path (no patch marker in their history).
        ("on_error_fail-zero", "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"),
        ("cancel-signal", "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"),
        ("cancel-request", "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED"),
        # Recorded with the patch: Failed and Canceled in Temporal.
        ("run-state-failed", "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED"),
        ("run-state-cancel-signal", "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED"),
    ],
)
async def test_histories_from_before_and_after_the_run_state_patch(
    name: str, closed_by: str
) -> None:
    """Both generations are kept and replay: the old path for runs already in flight."""
    events = json.loads((HISTORIES / f"{name}.json").read_text())["events"]
    assert events[-1]["eventType"] == closed_by
    history = WorkflowHistory.from_json(name, {"events": events})
    result = await Replayer(workflows=WORKFLOWS).replay_workflow(history)
    assert result.replay_failure is None


async def test_recorded_histories_exist() -> None:
    assert len(list(HISTORIES.glob("*.json"))) >= 15


async def _wait_for(handle: Any, predicate: Any, attempts: int = 400) -> dict[str, Any]:
    status: dict[str, Any] = {}
    for _ in range(attempts):
        try:
            status = await handle.query("get_status")
        except Exception:
            status = {}
        if predicate(status):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached: {status}")


async def test_run_survives_its_worker_being_killed(
    temporal_server: EmbeddedDevServer, temporal_client: Client, tmp_path: Path
) -> None:
    """kill -9 the worker mid-run; another worker picks the run up and finishes it."""
    queue = f"kill-{uuid.uuid4().hex[:8]}"
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
    document = {
        "id": "survivor",
        "nodes": [
            {"id": "before", "type": "transform", "data": {"mapping": {"n": 1}}},
            {"id": "wait", "type": "delay", "data": {"delay_seconds": 2}},
            {"id": "after", "type": "transform", "data": {"mapping": {"n": "inputs.n + 1"}}},
        ],
        "edges": [
            {"id": "e1", "source": "before", "target": "wait"},
            {"id": "e2", "source": "wait", "target": "after"},
        ],
    }
    settings = TemporalSettings(task_queue=queue)
    try:
        handle = await start_execution(temporal_client, document, settings)
        await _wait_for(
            handle, lambda s: s.get("nodes", {}).get("wait", {}).get("status") == "running"
        )
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    async with create_worker(temporal_client, settings):
        result = await asyncio.wait_for(handle.result(), timeout=120)
    assert result["status"] == "completed"
    assert result["node_results"]["after"]["output"] == {"n": 2}
    assert result["execution_path"] == ["before", "wait", "after"]


@pytest.mark.parametrize("seed", ["1", "4242"])
async def test_histories_replay_under_other_hash_seeds(seed: str) -> None:
    """Another process, another hash seed: catches iteration over sets in workflow code."""
    tests = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(tests)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "support.replay_all",
        str(HISTORIES),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode()
    assert process.returncode == 0, text
    assert f"replayed {len(list(HISTORIES.glob('*.json')))} histories" in text
