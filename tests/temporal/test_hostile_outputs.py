"""On Temporal, bad node outputs and bugs fail the run instead of the workflow task.

Before, each of these made the workflow task fail again and again (Temporal's converter
or a RecursionError raised in workflow code), so the run hung until its timeout. The runs
here get a bounded wait: a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import Client

from flov7.config import TemporalSettings
from flov7.nodes.condition import ConditionNode
from flov7.nodes.transform import TransformNode
from flov7.temporal.executions import start_execution

from support.hostile import HostileCase, check_hostile, expression_node, hostile_cases
from support.results import result_document

pytestmark = pytest.mark.asyncio(loop_scope="session")

BOUNDED_WAIT_SECONDS = 120
"""A generous bound: a stuck run would otherwise wait for its 30-minute timeout."""


async def run_bounded(
    client: Client, settings: TemporalSettings, document: dict[str, Any], run_input: Any = None
) -> dict[str, Any]:
    handle = await start_execution(client, document, settings, run_input=run_input)
    try:
        result = await asyncio.wait_for(result_document(handle), BOUNDED_WAIT_SECONDS)
    except TimeoutError:
        await handle.terminate("test: the run got stuck")
        raise
    assert isinstance(result, dict)
    return result


@pytest.mark.parametrize("case", hostile_cases(), ids=lambda case: case.name)
async def test_bad_output_fails_the_node_on_temporal(
    case: HostileCase, temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    result = await run_bounded(temporal_client, flov7_worker, case.document, case.run_input)
    check_hostile(result, case)


async def test_a_bug_in_a_node_fails_the_run_with_an_internal_error(
    temporal_client: Client, flov7_worker: TemporalSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: TransformNode, config: Any, scope: Any) -> Any:
        raise RuntimeError("boom in evaluate")

    # Flov7's modules are passed through the workflow sandbox: the worker sees the patch.
    monkeypatch.setattr(TransformNode, "evaluate", broken)
    document = {
        "id": "bug",
        "nodes": [expression_node("n", "1")],
        "edges": [],
    }
    result = await run_bounded(temporal_client, flov7_worker, document)
    assert result["status"] == "failed"
    assert result["error"]["type"] == "InternalError"
    assert result["error"]["node_id"] == "n"
    assert result["error"]["message"] == (
        "Internal error in node 'n': RuntimeError: boom in evaluate"
    )


async def test_a_bug_in_the_interpreter_fails_the_run_with_an_internal_error(
    temporal_client: Client, flov7_worker: TemporalSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: ConditionNode, output: Any) -> Any:
        raise KeyError("no such handle")

    monkeypatch.setattr(ConditionNode, "active_handles", broken)
    document = {
        "id": "bug2",
        "nodes": [
            {"id": "c", "type": "condition", "data": {"condition": "true"}},
            expression_node("t", "1"),
        ],
        "edges": [{"id": "e", "source": "c", "target": "t", "sourceHandle": "true"}],
    }
    result = await run_bounded(temporal_client, flov7_worker, document)
    assert result["status"] == "failed"
    assert result["error"]["type"] == "InternalError"
    # Raised while deciding whether "t" runs (its incoming edge's handle): "t" is named.
    assert result["error"]["node_id"] == "t"
    assert result["error"]["message"].startswith("Internal error in node 't': KeyError")
    assert "no such handle" in result["error"]["message"]
    assert result["node_results"]["t"]["status"] == "pending"


async def test_a_costly_strip_never_fails_a_workflow_task(
    temporal_client: Client, flov7_worker: TemporalSettings
) -> None:
    # Wide characters against thousands of distinct ones: CPython's strip(chars) is
    # O(len(text) x len(chars)) here, and before the cost model one such call held the
    # workflow task past Temporal's deadlock detector (the task failed, again and again).
    from temporalio.api.enums.v1 import EventType

    # 100,000 characters, each checked against 49,151 others before its match: about a
    # second of CPU per call in CPython, two calls in one node, one workflow task.
    target = chr(0xC000)
    others = "".join(chr(code) for code in range(0x1000, 0xD000) if code != 0xC000)
    run_input = {"text": target * 100_000 + "!", "chars": others + target}
    document = {
        "id": "costly-strip",
        "nodes": [
            {
                "id": "n",
                "type": "transform",
                "data": {
                    "mapping": {
                        "left": "len(input.text.lstrip(input.chars))",
                        "both": "len(input.text.strip(input.chars))",
                    }
                },
            }
        ],
        "edges": [],
    }
    handle = await start_execution(temporal_client, document, flov7_worker, run_input=run_input)
    result = await asyncio.wait_for(result_document(handle), BOUNDED_WAIT_SECONDS)
    assert result["status"] == "completed", result["error"]
    assert result["node_results"]["n"]["output"] == {"left": 1, "both": 1}
    events = [event async for event in handle.fetch_history_events()]
    failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert failed == []
