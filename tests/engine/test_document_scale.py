"""Large documents: the node limit, validation in steps, joins of thousands of parents,
the checkpoint before a large result, and the local runtime on thousands of nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from flov7.engine.driver import PACED_PURE_NODE_STEPS, RESULT_STEPS_PER_NODE, GraphDriver
from flov7.engine.interpreter import Interpreter
from flov7.engine.validate import (
    MAX_WORKFLOW_EDGES,
    MAX_WORKFLOW_NODES,
    validate_workflow,
    validation_steps,
)
from flov7.local.runner import LocalNodeRunner
from flov7.local.runtime import LocalRuntime

T = TypeVar("T")


def chain(count: int) -> dict[str, Any]:
    nodes = [{"id": "n0", "type": "transform", "data": {"mapping": {"v": "0"}}}] + [
        {"id": f"n{i}", "type": "transform", "data": {"mapping": {"v": "inputs.v + 1"}}}
        for i in range(1, count)
    ]
    edges = [{"id": f"e{i}", "source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, count)]
    return {"id": f"chain-{count}", "nodes": nodes, "edges": edges}


def join(parents: list[dict[str, str]], expression: str = "inputs.x") -> dict[str, Any]:
    """A root, one parent per mapping, and a join reading ``expression``."""
    ids = [f"p{i}" for i in range(len(parents))]
    return {
        "id": "join",
        "nodes": [
            {"id": "root", "type": "transform", "data": {"mapping": {"v": "1"}}},
            *(
                {"id": node_id, "type": "transform", "data": {"mapping": mapping}}
                for node_id, mapping in zip(ids, parents, strict=True)
            ),
            {"id": "join", "type": "transform", "data": {"mapping": {"n": expression}}},
        ],
        "edges": [{"id": f"a{n}", "source": "root", "target": n} for n in ids]
        + [{"id": f"b{n}", "source": n, "target": "join"} for n in ids],
    }


def test_a_document_over_the_node_limit_is_refused_before_it_is_read() -> None:
    document = {
        "id": "huge",
        "nodes": [{"id": f"n{i}"} for i in range(MAX_WORKFLOW_NODES + 1)],  # no type even
        "edges": [],
    }
    report = validate_workflow(document)

    assert [issue.code for issue in report.issues] == ["too_many_nodes"]
    message = report.issues[0].message
    assert f"{MAX_WORKFLOW_NODES + 1:,} nodes" in message
    assert f"at most {MAX_WORKFLOW_NODES:,}" in message
    assert "'workflow' nodes" in message
    assert report.issues[0].field == "nodes"


def test_a_document_over_the_edge_limit_is_refused() -> None:
    document = {
        "id": "dense",
        "nodes": [{"id": "a", "type": "transform", "data": {"mapping": {"v": "1"}}}],
        "edges": [
            {"id": f"e{i}", "source": "a", "target": "a"} for i in range(MAX_WORKFLOW_EDGES + 1)
        ],
    }
    assert [issue.code for issue in validate_workflow(document).issues] == ["too_many_edges"]


def test_replays_of_runs_from_before_the_limit_do_not_apply_it() -> None:
    document = chain(30)
    assert validate_workflow(document, max_nodes=10).issues[0].code == "too_many_nodes"
    assert validate_workflow(document, max_nodes=None).valid


def test_validation_in_steps_gives_the_same_report_at_the_same_costs() -> None:
    document = join([{"x": "inputs.v"}, {"x": "inputs.v + 1"}], "inputs.x + nodes.nope.output")

    def in_steps() -> tuple[list[int], Any]:
        steps = validation_steps(document)
        costs: list[int] = []
        while True:
            try:
                costs.append(next(steps))
            except StopIteration as done:
                return costs, done.value

    costs, report = in_steps()
    whole = validate_workflow(document)
    assert report.as_dict() == whole.as_dict()
    assert [issue.code for issue in report.issues] == ["unknown_node_reference"]
    assert all(cost > 0 for cost in costs)
    # Counted from the document, never timed: a replay stops at the same places.
    assert in_steps()[0] == costs


def test_a_join_of_twenty_thousand_parents_is_checked_in_linear_time() -> None:
    # Every parent outputs its own key: nothing is shared (the check used to compare
    # all 200 million pairs of parents, which took minutes).
    distinct = join([{f"k{i}": "inputs.v"} for i in range(20_000)], "len(inputs)")
    report = validate_workflow(distinct)
    assert report.valid
    assert not [w for w in report.warnings if w.code == "inputs_overlap"]
    # Every parent outputs 'x': found on the second parent.
    shared = join([{"x": "inputs.v"} for _ in range(20_000)], "len(inputs)")
    overlaps = [w for w in validate_workflow(shared).warnings if w.code == "inputs_overlap"]
    assert len(overlaps) == 1
    assert "share 'x':" in overlaps[0].message


def test_shared_keys_are_named_in_the_order_the_parents_meet_them() -> None:
    report = validate_workflow(
        join([{"x": "1", "y": "2"}, {"y": "3", "x": "4"}, {"z": "5", "x": "6"}])
    )
    (overlap,) = [w for w in report.warnings if w.code == "inputs_overlap"]
    assert "share 'y', 'x':" in overlap.message


class CountingRunner(LocalNodeRunner):
    """Pure nodes inline (as on Temporal), checkpoints counted."""

    def __init__(self) -> None:
        super().__init__()
        self.checkpoints = 0

    async def run_pure(self, work: Callable[[], T]) -> T:
        return work()

    async def checkpoint(self) -> None:
        self.checkpoints += 1


def run_paced(document: dict[str, Any], *, result_node_steps: int) -> tuple[dict[str, Any], int]:
    spec = validate_workflow(document).spec
    assert spec is not None
    runner = CountingRunner()
    driver = GraphDriver(Interpreter(spec), runner, input_data={}, defaults=spec.defaults)
    driver.pure_node_steps = PACED_PURE_NODE_STEPS
    driver.result_node_steps = result_node_steps
    # 2,000 nodes fit in one task, but not with their 2,000-node result.
    driver.max_steps_per_checkpoint = 2_000 * PACED_PURE_NODE_STEPS + 50_000
    result = asyncio.run(driver.run())
    return result, runner.checkpoints


def test_a_large_result_gets_a_workflow_task_of_its_own() -> None:
    result, checkpoints = run_paced(chain(2_000), result_node_steps=RESULT_STEPS_PER_NODE)
    assert result["status"] == "completed"
    assert result["node_results"]["n1999"]["output"] == {"v": 1999}
    assert checkpoints == 1
    # Runs recorded before (and nested drivers) count no result: no checkpoint.
    assert run_paced(chain(2_000), result_node_steps=0)[1] == 0


def test_the_local_runtime_runs_thousands_of_nodes() -> None:
    result = asyncio.run(LocalRuntime().run(chain(5_000)))
    assert result["status"] == "completed"
    assert result["completed_nodes"] == 5_000
    assert result["node_results"]["n4999"]["output"] == {"v": 4999}
