"""The interpreter's rules, driven step by step, and the shared driver loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flov7.engine.driver import GraphDriver
from flov7.engine.interpreter import Interpreter
from flov7.local.runner import LocalNodeRunner
from flov7.spec import parse_workflow

from support.cases import Case, check_result, load_cases

T = "2026-01-01T00:00:00+00:00"


def interpreter(
    nodes: list[dict[str, Any]], edges: list[tuple[str, str, str | None]]
) -> Interpreter:
    spec = parse_workflow(
        {
            "nodes": nodes,
            "edges": [
                {"id": f"{s}-{t}-{h}", "source": s, "target": t, "sourceHandle": h}
                for s, t, h in edges
            ],
        }
    )
    return Interpreter(spec, execution={"execution_id": "x"})


def tf(node_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "transform", "data": {"mapping": {"v": 1}}, **extra}


def test_roots_start_first_then_children_when_all_parents_finish() -> None:
    it = interpreter([tf("a"), tf("b"), tf("c")], [("a", "c", None), ("b", "c", None)])
    assert it.advance(T) == ["a", "b"]
    it.complete("a", {"x": 1}, attempts=1, now=T)
    assert it.advance(T) == []  # c still waits for b
    it.complete("b", {"y": 2}, attempts=1, now=T)
    assert it.advance(T) == ["c"]
    assert it.scope_for("c", {})["inputs"] == {"x": 1, "y": 2}


def test_single_parent_output_is_passed_as_is_and_roots_see_the_run_input() -> None:
    it = interpreter([tf("a"), tf("b")], [("a", "b", None)])
    assert it.scope_for("a", {"order": 7})["inputs"] == {"order": 7}
    it.advance(T)
    it.complete("a", [1, 2], attempts=1, now=T)
    it.advance(T)
    assert it.scope_for("b", {})["inputs"] == [1, 2]


def test_non_dict_outputs_of_several_parents_are_keyed_by_parent() -> None:
    it = interpreter([tf("a"), tf("b"), tf("c")], [("a", "c", None), ("b", "c", None)])
    it.advance(T)
    it.complete("a", 5, attempts=1, now=T)
    it.complete("b", {"k": 1}, attempts=1, now=T)
    it.advance(T)
    assert it.scope_for("c", {})["inputs"] == {"a": 5, "k": 1}


def test_nodes_scope_shows_only_finished_upstream_nodes() -> None:
    it = interpreter(
        [
            tf("a"),
            tf("side"),
            {"id": "c", "type": "transform", "data": {"mapping": {"v": "nodes.a.output"}}},
        ],
        [("a", "c", None)],
    )
    it.advance(T)
    it.complete("a", {"x": 1}, attempts=1, now=T)
    it.complete("side", {"secret": 1}, attempts=1, now=T)
    it.advance(T)
    assert it.scope_for("c", {})["nodes"] == {"a": {"output": {"x": 1}, "status": "completed"}}


def test_condition_branch_skips_and_skip_propagates_to_a_join_only_if_all_inactive() -> None:
    it = interpreter(
        [
            {"id": "c", "type": "condition", "data": {"condition": "true"}},
            tf("yes"),
            tf("no"),
            tf("no2"),
            tf("join"),
        ],
        [
            ("c", "yes", "true"),
            ("c", "no", "false"),
            ("no", "no2", None),
            ("yes", "join", None),
            ("no2", "join", None),
        ],
    )
    assert it.advance(T) == ["c"]
    it.complete("c", {"result": True}, attempts=1, now=T)
    assert it.advance(T) == ["yes"]
    assert it.states["no"].status == "skipped" and it.states["no2"].status == "skipped"
    it.complete("yes", {}, attempts=1, now=T)
    assert it.advance(T) == ["join"]


def test_failure_with_fail_stops_new_starts_but_records_nodes_in_flight() -> None:
    it = interpreter([tf("a"), tf("b"), tf("after_a")], [("a", "after_a", None)])
    assert it.advance(T) == ["a", "b"]
    it.fail("a", {"type": "X", "message": "boom"}, attempts=3, now=T)
    it.complete("b", {"ok": True}, attempts=1, now=T)
    assert it.advance(T) == []
    it.finish(T)
    result = it.result()
    assert result["status"] == "failed"
    assert result["error"] == {"node_id": "a", "type": "X", "message": "boom"}
    assert result["node_results"]["after_a"]["status"] == "pending"
    assert result["node_results"]["b"]["status"] == "completed"
    assert result["node_results"]["a"]["attempts"] == 3


def test_error_edge_makes_failure_handled() -> None:
    it = interpreter(
        [tf("a"), tf("ok"), tf("handler")], [("a", "ok", None), ("a", "handler", "error")]
    )
    it.advance(T)
    it.fail("a", {"type": "X", "message": "boom"}, attempts=1, now=T)
    assert it.advance(T) == ["handler"]
    assert it.states["ok"].status == "skipped"
    assert it.scope_for("handler", {})["inputs"] == {"error": {"type": "X", "message": "boom"}}


def test_cancel_returns_running_nodes_and_nothing_starts_after() -> None:
    it = interpreter([tf("a"), tf("b")], [("a", "b", None)])
    it.advance(T)
    assert it.cancel("stop") == ["a"]
    it.mark_cancelled("a", now=T)
    assert it.advance(T) == []
    it.finish(T)
    result = it.result()
    assert result["status"] == "cancelled"
    assert result["cancelled_nodes"] == ["a"]


def test_finishing_a_node_twice_is_a_bug_caught_loudly() -> None:
    it = interpreter([tf("a")], [])
    it.advance(T)
    it.complete("a", 1, attempts=1, now=T)
    with pytest.raises(ValueError, match="not running"):
        it.complete("a", 1, attempts=1, now=T)


# -- the driver loop, with the in-process runner ----------------------------------------


async def drive(
    document: dict[str, Any], run_input: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec = parse_workflow({**document, "input": {**document.get("input", {}), **(run_input or {})}})
    driver = GraphDriver(
        Interpreter(spec, execution={"execution_id": "local-test"}),
        LocalNodeRunner(),
        input_data=spec.input,
        defaults=spec.defaults,
    )
    return await driver.run()


@pytest.mark.parametrize("case", load_cases(), ids=lambda case: case.id)
async def test_driver_runs_the_corpus_in_process(case: Case) -> None:
    check_result(await drive(case.document, case.run_input), case.expect)


async def test_driver_cancel_request_cancels_timers_in_flight() -> None:
    spec = parse_workflow(
        {
            "nodes": [
                {"id": "slow", "type": "delay", "data": {"delay_seconds": 3600}},
                {"id": "fast", "type": "transform", "data": {"mapping": {"x": 1}}},
                {"id": "after", "type": "transform", "data": {"mapping": {"x": 1}}},
            ],
            "edges": [{"id": "e", "source": "slow", "target": "after"}],
        }
    )
    driver = GraphDriver(
        Interpreter(spec), LocalNodeRunner(), input_data={}, defaults=spec.defaults
    )
    task = asyncio.create_task(driver.run())
    for _ in range(500):
        if driver.interpreter.states["slow"].status == "running":
            break
        await asyncio.sleep(0.01)
    driver.request_cancel("user asked")
    result = await task
    assert result["status"] == "cancelled"
    assert result["cancelled_nodes"] == ["slow"]
    assert result["node_results"]["fast"]["status"] == "completed"
    assert result["node_results"]["after"]["status"] == "pending"
    assert result["error"] == {"type": "Cancelled", "message": "user asked"}
    assert not driver.cancelled_from_outside


async def test_driver_records_cancellation_of_the_whole_task() -> None:
    spec = parse_workflow(
        {"nodes": [{"id": "slow", "type": "delay", "data": {"delay_seconds": 3600}}]}
    )
    driver = GraphDriver(
        Interpreter(spec), LocalNodeRunner(), input_data={}, defaults=spec.defaults
    )
    task = asyncio.create_task(driver.run())
    await asyncio.sleep(0.05)
    task.cancel()
    result = await task
    assert result["status"] == "cancelled"
    assert driver.cancelled_from_outside


async def test_templates_render_from_the_scope_before_a_node_runs() -> None:
    result = await drive(
        {
            "input": {"wait": 0},
            "nodes": [
                {"id": "w", "type": "delay", "data": {"delay_seconds": "{{ input.wait }}"}},
                {"id": "bad", "type": "delay", "data": {"delay_seconds": "{{ input.missing }}"}},
            ],
        }
    )
    assert result["node_results"]["w"]["status"] == "completed"
    bad = result["node_results"]["bad"]
    assert bad["status"] == "failed"
    assert bad["error"]["type"] == "InvalidNodeConfig"
    assert "delay_seconds" in bad["error"]["message"]


async def test_a_failure_cancels_what_still_runs() -> None:
    """A failed run does not stay open for a parallel branch's hour-long delay."""
    spec = parse_workflow(
        {
            "nodes": [
                {"id": "long", "type": "delay", "data": {"delay_seconds": 3600}},
                {"id": "boom", "type": "transform", "data": {"mapping": {"x": "1 / 0"}}},
            ]
        }
    )
    driver = GraphDriver(
        Interpreter(spec), LocalNodeRunner(), input_data={}, defaults=spec.defaults
    )
    result = await asyncio.wait_for(driver.run(), timeout=60)
    assert result["status"] == "failed"
    assert result["error"]["node_id"] == "boom"
    assert result["node_results"]["long"]["status"] == "cancelled"
    assert result["cancelled_nodes"] == ["long"]
