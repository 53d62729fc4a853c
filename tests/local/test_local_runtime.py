"""The in-process runtime: start, status, cancel, invalid documents, retries."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from flov7.engine.driver import ActivityPolicy, ActivityRequest, NodeFailed
from flov7.errors import NodeExecutionError
from flov7.local.runner import LocalNodeRunner
from flov7.local.runtime import InvalidWorkflowError, LocalRuntime
from flov7.nodes.base import ActivityContext, NodeConfig, NodeKind, NodeType
from flov7.nodes.registry import register, unregister

pytestmark = pytest.mark.asyncio(loop_scope="session")

SLOW = {
    "id": "slow",
    "nodes": [
        {"id": "a", "type": "transform", "data": {"mapping": {"x": 1}}},
        {"id": "wait", "type": "delay", "data": {"delay_seconds": 3600}},
        {"id": "b", "type": "transform", "data": {"mapping": {"x": 2}}},
    ],
    "edges": [
        {"id": "e1", "source": "a", "target": "wait"},
        {"id": "e2", "source": "wait", "target": "b"},
    ],
}


async def test_status_while_running_then_cancel() -> None:
    runtime = LocalRuntime()
    run = runtime.start(SLOW, execution_id="slow-1")
    for _ in range(200):
        if run.status()["nodes"]["wait"]["status"] == "running":
            break
        await asyncio.sleep(0.01)
    status = run.status()
    assert status["engine"] == "local"
    assert status["status"] == "running"
    assert status["nodes"]["a"]["status"] == "completed"
    run.cancel("stop it")
    result = await run.result()
    assert result["status"] == "cancelled"
    assert result["cancelled_nodes"] == ["wait"]
    assert runtime.get("slow-1") is run


async def test_same_execution_id_returns_the_same_run() -> None:
    runtime = LocalRuntime()
    first = runtime.start(SLOW, execution_id="dup")
    assert runtime.start(SLOW, execution_id="dup") is first
    await runtime.aclose()
    assert (await first.result())["status"] == "cancelled"


async def test_invalid_document_raises_with_the_report() -> None:
    with pytest.raises(InvalidWorkflowError) as error:
        LocalRuntime().start({"nodes": []})
    assert error.value.report.issues[0].code == "empty_workflow"


class _Flaky(NodeType):
    """A test node type: fails ``failures`` times per key, then succeeds."""

    name = "test_flaky"
    kind = NodeKind.ACTIVITY
    config_model = NodeConfig
    description = "test only"
    example: ClassVar[dict[str, Any]] = {}
    calls: dict[str, int] = {}

    async def execute(self, config: NodeConfig, context: ActivityContext) -> Any:
        count = self.calls.get(context.node_id, 0) + 1
        self.calls[context.node_id] = count
        if context.node_id.startswith("fatal"):
            raise NodeExecutionError("bad request", error_type="BadInput", retryable=False)
        if count < 3:
            raise NodeExecutionError(f"try {count} failed", error_type="Flaky")
        if context.node_id.startswith("crash"):
            raise RuntimeError("unexpected")
        return {"attempt": context.attempt}


@pytest.fixture(autouse=True)
def _test_node_types() -> Any:
    register(_Flaky())
    register(_Sleepy())
    yield
    unregister(_Flaky.name)
    unregister(_Sleepy.name)


class _Sleepy(_Flaky):
    name = "test_sleepy"

    async def execute(self, config: NodeConfig, context: ActivityContext) -> Any:
        await asyncio.sleep(10)


def _policy(**overrides: Any) -> ActivityPolicy:
    values = dict(
        start_to_close_seconds=5,
        schedule_to_close_seconds=30,
        heartbeat_seconds=10,
        max_attempts=5,
        initial_interval_seconds=0.01,
        backoff_coefficient=2,
        max_interval_seconds=0.05,
    )
    values.update(overrides)
    return ActivityPolicy(**values)  # type: ignore[arg-type]


def _request(node_id: str) -> ActivityRequest:
    return ActivityRequest(node_id, "test_flaky", {}, {"execution_id": "x"})


async def test_retries_until_success_and_reports_attempts() -> None:
    events: list[dict[str, Any]] = []
    outcome = await LocalNodeRunner(on_event=events.append).run_activity(
        _request("ok-1"), _policy()
    )
    assert outcome.attempts == 3 and outcome.output == {"attempt": 3}
    assert [e["attempt"] for e in events] == [1, 2]
    assert events[0]["error"] == {"type": "Flaky", "message": "try 1 failed"}


async def test_non_retryable_stops_at_once() -> None:
    with pytest.raises(NodeFailed) as failure:
        await LocalNodeRunner().run_activity(_request("fatal-1"), _policy())
    assert failure.value.attempts == 1
    assert failure.value.error["type"] == "BadInput"


async def test_max_attempts_is_respected() -> None:
    with pytest.raises(NodeFailed) as failure:
        await LocalNodeRunner().run_activity(_request("ok-2"), _policy(max_attempts=2))
    assert failure.value.attempts == 2
    assert failure.value.error["message"] == "try 2 failed"


async def test_timeout_of_an_attempt_is_reported() -> None:
    request = ActivityRequest("s", "test_sleepy", {}, {})
    with pytest.raises(NodeFailed) as failure:
        await LocalNodeRunner().run_activity(
            request, _policy(start_to_close_seconds=0.05, max_attempts=2)
        )
    assert failure.value.error["type"] == "Timeout"
    assert "start-to-close timeout of 0.05s" in failure.value.error["message"]
    assert failure.value.attempts == 2
