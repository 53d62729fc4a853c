"""The activity wrapper checks a node's output on the event loop when it is small, in a
thread when it is large, and fails the node alike either way."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from flov7.engine.payloads import PayloadLimits
from flov7.nodes.base import ActivityContext, NodeConfig, NodeKind, NodeType
from flov7.temporal import activities
from flov7.temporal.activities import INLINE_CHECK_BYTES, NodeActivities


class _Returns(NodeType):
    """An activity node type whose output is whatever the test sets."""

    name = "returns"
    kind = NodeKind.ACTIVITY
    config_model = NodeConfig
    output: ClassVar[Any] = None

    async def execute(self, config: NodeConfig, context: ActivityContext) -> Any:
        return type(self).output


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions the activities module sent to a thread."""
    sent: list[str] = []
    to_thread = asyncio.to_thread

    async def recording(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        sent.append(function.__name__)
        return await to_thread(function, *args, **kwargs)

    monkeypatch.setattr(activities.asyncio, "to_thread", recording)
    return sent


async def run_returning(output: Any, limits: PayloadLimits | None = None) -> dict[str, Any]:
    _Returns.output = output
    node_activities = NodeActivities(identity="worker-1", limits=limits or PayloadLimits())
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, is_local=True)
    request = {"node_id": "n1", "node_type": "returns", "config": {}, "execution": {}}
    result: dict[str, Any] = await environment.run(node_activities.run, _Returns(), request)
    return result


async def test_a_small_output_is_checked_without_a_thread(threads: list[str]) -> None:
    output = {"status_code": 200, "body": {"ok": True}}
    result = await run_returning(output)
    assert result == {"output": output, "attempt": 1, "worker": "worker-1"}
    assert threads == []


async def test_a_large_output_is_checked_in_a_thread(threads: list[str]) -> None:
    output = {"body": "x" * (INLINE_CHECK_BYTES + 1)}
    result = await run_returning(output)
    assert result["output"] == output
    assert threads == ["check_output"]


@pytest.mark.parametrize("size", [10, INLINE_CHECK_BYTES + 10])
async def test_an_invalid_output_fails_the_node_whatever_its_size(
    threads: list[str], size: int
) -> None:
    output = {"padding": "x" * size, "bad": float("nan")}
    with pytest.raises(ApplicationError) as info:
        await run_returning(output)
    assert info.value.type == "InvalidOutput"
    assert info.value.non_retryable
    assert "$.bad" in info.value.message


async def test_an_output_over_the_limit_fails_the_node_inline_too(threads: list[str]) -> None:
    limits = PayloadLimits(node_output_bytes=100)
    with pytest.raises(ApplicationError) as info:
        await run_returning({"body": "x" * 200}, limits)
    assert info.value.type == "OutputTooLarge"
    assert threads == []  # the budget is over the limit: the full check ran inline
