"""Running a ``for_each`` node: its body once per item, ``concurrency`` items at a time.

Each item is a nested run of the body (an :class:`~flov7.engine.interpreter.Interpreter`
and a driver of its own) driven by the *same* :class:`~flov7.engine.driver.NodeRunner` as
the run: on Temporal the body's I/O nodes are activities of the run's workflow and its
pure nodes run inside it, on the local engine everything runs in-process. One design,
both engines, the same results.

Why not a child workflow per item: a pure body (the common "reshape each order" case)
then costs no history event at all, so 10,000 items finish in one workflow history
(only the checkpoint timers below are recorded); an I/O body costs what the same nodes
written out would. ``docs/workflows.md`` gives the limits.

Determinism: ``concurrency`` worker tasks take the next index from a shared counter, in
order; results are stored by index; nothing iterates a set. Long stretches of pure
items end the workflow task through ``runner.checkpoint()``, counted in steps (as the
driver does), so replays take the same path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flov7.engine.expressions import evaluate, step_meter
from flov7.engine.interpreter import Interpreter
from flov7.engine.outputs import body_outputs
from flov7.engine.payloads import PayloadLimits, json_size, output_too_large
from flov7.engine.sub_workflow import call_workflow
from flov7.engine.validate import validate_workflow
from flov7.errors import ExpressionError
from flov7.nodes.base import NodeKind
from flov7.nodes.for_each import MAX_IO_ITEMS, MAX_ITEMS, ForEachConfig
from flov7.nodes.registry import get_node_type
from flov7.spec import NodeSpec, WorkflowSpec

if TYPE_CHECKING:
    from flov7.engine.driver import GraphDriver

ITEM_OVERHEAD_STEPS = 1_000
"""What setting up one item's nested run is charged, in expression steps, towards the
driver's checkpoint pacing (building an interpreter costs about as much as that many
steps), so that 10,000 trivial items still yield the workflow task now and then."""


@dataclass
class _Progress:
    total: int
    results: list[Any]
    errors: list[dict[str, Any]] = field(default_factory=list)
    done: int = 0
    completed: int = 0
    failed: int = 0
    next_index: int = 0
    stop: bool = False
    first_error: dict[str, Any] | None = None
    work: int = 0
    in_flight: dict[int, Callable[[], object]] = field(default_factory=dict)
    """How to cancel each item in flight, by index."""

    def report(self) -> dict[str, int]:
        return {
            "items_done": self.done,
            "items_total": self.total,
            "items_completed": self.completed,
            "items_failed": self.failed,
        }


def _body_spec(driver: GraphDriver, node: NodeSpec, body: dict[str, Any]) -> WorkflowSpec | str:
    document = {
        "id": f"{driver.interpreter.spec.id}.{node.id}",
        "nodes": body.get("nodes", []),
        "edges": body.get("edges", []),
        "defaults": driver.defaults.model_dump(mode="json"),
    }
    # The body's expressions see item, index and the outer scope: not a whole workflow's.
    report = validate_workflow(document, static_checks=False)
    if not report.valid or report.spec is None:
        return report.summary().replace("\n", " ")
    return report.spec


async def run_for_each(
    driver: GraphDriver, node: NodeSpec, config: ForEachConfig, scope: dict[str, Any]
) -> tuple[str, Any, int]:
    """Run ``node``'s body per item; ``(kind, payload, attempts)`` as the driver records."""
    try:
        with step_meter():
            items = evaluate(config.items, scope)
    except ExpressionError as exc:
        return "failed", {"type": "ExpressionError", "message": f"items: {exc}"}, 1
    if items is None:
        items = []
    if not isinstance(items, list | tuple):
        message = f"'items' must give a list, got {type(items).__name__}"
        return "failed", {"type": "InvalidItems", "message": message}, 1
    if len(items) > MAX_ITEMS:
        message = f"'items' gave {len(items)} items; one for_each takes at most {MAX_ITEMS}"
        return "failed", {"type": "TooManyItems", "message": message}, 1
    if len(items) > MAX_IO_ITEMS and not _pure_body(config):
        message = (
            f"'items' gave {len(items)} items; a for_each whose items run activities or "
            f"sub-workflows takes at most {MAX_IO_ITEMS} (they all go into one run's "
            "history): split the list with chunk() and call once per chunk"
        )
        return "failed", {"type": "TooManyItems", "message": message}, 1
    spec: WorkflowSpec | None = None
    if config.body is not None:
        built = _body_spec(driver, node, config.body)
        if isinstance(built, str):
            return "failed", {"type": "InvalidNodeConfig", "message": f"body: {built}"}, 1
        spec = built
    progress = _Progress(total=len(items), results=[None] * len(items))
    state = driver.interpreter.states[node.id]
    state.progress = progress.report()
    outer = {"inputs": scope.get("inputs"), "nodes": scope.get("nodes")}

    async def run_body(index: int, body: WorkflowSpec) -> tuple[str, Any]:
        interpreter = Interpreter(
            body,
            execution={**driver.interpreter.execution, "node_id": node.id, "item_index": index},
            extra_scope={"item": items[index], "index": index, "outer": outer},
        )
        nested = type(driver)(
            interpreter, driver.runner, input_data=driver.input_data, defaults=driver.defaults
        )
        nested.may_continue_as_new = False
        # One history for the whole run: items count against the run's byte budget
        # (RunTooLarge), starting from what the run has sent so far.
        start_bytes = driver.history_bytes
        nested.history_bytes = start_bytes
        progress.in_flight[index] = lambda: nested.request_cancel(
            "another item of the for_each failed"
        )
        try:
            result = await nested.run()
        finally:
            del progress.in_flight[index]
            driver.history_bytes += nested.history_bytes - start_bytes
        progress.work += ITEM_OVERHEAD_STEPS + nested.pending_steps
        status = result.get("status")
        if status == "completed":
            return "ok", body_outputs(body, result)
        if status == "failed":
            return "failed", dict(result.get("error") or {"type": "ItemFailed"})
        return "cancelled", None

    async def run_stored(index: int, workflow_id: str) -> tuple[str, Any]:
        call = asyncio.create_task(
            call_workflow(
                driver,
                node,
                workflow_id,
                config.version,
                {"item": items[index], "index": index},
                lambda _: None,
            )
        )
        progress.in_flight[index] = call.cancel
        try:
            kind, payload, _ = await call
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the node itself is being cancelled
            return "cancelled", None  # stopped by _stop: another item failed
        finally:
            progress.in_flight.pop(index, None)
        progress.work += ITEM_OVERHEAD_STEPS
        return kind, payload

    async def run_item(index: int) -> None:
        if spec is not None:
            kind, payload = await run_body(index, spec)
        else:
            assert config.workflow_id is not None
            kind, payload = await run_stored(index, config.workflow_id)
        if kind == "ok":
            progress.results[index] = payload
            progress.completed += 1
        elif kind == "failed":
            error = dict(payload or {"type": "ItemFailed", "message": "failed"})
            progress.failed += 1
            progress.errors.append({"index": index, "error": error})
            if config.on_item_error == "fail" and progress.first_error is None:
                progress.first_error = {"index": index, "error": error}
                _stop(progress)
        else:
            # Cancelled: the node is stopping (a failed item, or the run was cancelled);
            # the item neither passed nor failed, and no worker takes another one.
            progress.stop = True
            return
        progress.done += 1
        state.progress = progress.report()

    async def worker() -> None:
        while not progress.stop and progress.next_index < progress.total:
            index = progress.next_index
            progress.next_index += 1
            await run_item(index)
            if progress.work > driver.max_steps_per_checkpoint:
                progress.work = 0
                await driver.runner.checkpoint()

    workers = [asyncio.create_task(worker()) for _ in range(min(config.concurrency, len(items)))]
    try:
        await asyncio.gather(*workers)
    except asyncio.CancelledError:
        # The run (or this node) was cancelled: gather cancelled the workers; wait until
        # every item in flight has cancelled its own nodes, then report the node cancelled.
        _stop(progress)
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return _outcome(config, progress, driver.limits)


def _pure_body(config: ForEachConfig) -> bool:
    """Whether every node of the body is evaluated inline (no activity, timer or child)."""
    if config.body is None:
        return False  # a stored workflow per item: one child workflow each
    nodes = config.body.get("nodes")
    if not isinstance(nodes, list):
        return False
    for node in nodes:
        node_type = get_node_type(str(node.get("type"))) if isinstance(node, dict) else None
        if node_type is None or node_type.kind != NodeKind.PURE:
            return False
    return True


def _stop(progress: _Progress) -> None:
    progress.stop = True
    for cancel in list(progress.in_flight.values()):
        cancel()


def _outcome(
    config: ForEachConfig, progress: _Progress, limits: PayloadLimits
) -> tuple[str, Any, int]:
    errors = sorted(progress.errors, key=lambda entry: int(entry["index"]))
    if progress.first_error is not None:
        first = progress.first_error
        message = first["error"].get("message", "failed")
        return (
            "failed",
            {
                "type": "ItemFailed",
                "message": f"Item {first['index']} failed: {message}",
                "details": {**progress.report(), "index": first["index"], "error": first["error"]},
            },
            1,
        )
    output = {
        "results": progress.results,
        "count": progress.total,
        "completed": progress.completed,
        "failed": progress.failed,
        "errors": errors,
    }
    limit = limits.node_output_bytes
    size = json_size(output, limit)
    if size > limit:
        return "failed", {**output_too_large(None, limits=limits), "attempts": 1}, 1
    return "ok", output, 1
