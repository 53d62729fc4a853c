"""Non-JSON, too deep and too large node outputs fail the node on the local runtime, and
bugs fail the run with an InternalError."""

from __future__ import annotations

from typing import Any

import pytest

from flov7.local.runtime import LocalRuntime
from flov7.nodes.condition import ConditionNode
from flov7.nodes.transform import TransformNode

from support.hostile import HostileCase, chain, check_hostile, expression_node, hostile_cases

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("case", hostile_cases(), ids=lambda case: case.name)
async def test_bad_output_fails_the_node(case: HostileCase) -> None:
    result = await LocalRuntime().run(case.document, run_input=case.run_input)
    check_hostile(result, case)


async def test_a_bug_in_a_node_fails_the_local_run_with_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: TransformNode, config: Any, scope: Any) -> Any:
        raise RuntimeError("boom in evaluate")

    monkeypatch.setattr(TransformNode, "evaluate", broken)
    result = await LocalRuntime().run(chain([expression_node("n", "1")]))
    assert result["status"] == "failed"
    assert result["error"]["type"] == "InternalError"
    assert result["error"]["node_id"] == "n"
    assert (
        result["error"]["message"] == "Internal error in node 'n': RuntimeError: boom in evaluate"
    )


async def test_a_bug_in_the_interpreter_fails_the_local_run_with_an_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: ConditionNode, output: Any) -> Any:
        raise KeyError("no such handle")

    monkeypatch.setattr(ConditionNode, "active_handles", broken)
    document = {
        "id": "bug",
        "nodes": [
            {"id": "c", "type": "condition", "data": {"condition": "true"}},
            expression_node("t", "1"),
        ],
        "edges": [{"id": "e", "source": "c", "target": "t", "sourceHandle": "true"}],
    }
    result = await LocalRuntime().run(document)
    assert result["status"] == "failed"
    assert result["error"]["type"] == "InternalError"
    assert result["error"]["node_id"] == "t"
    assert result["node_results"]["t"]["status"] == "pending"
