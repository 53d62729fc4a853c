"""The async loop shared by both runtimes: start ready nodes, collect outcomes, repeat.

A runtime supplies a :class:`NodeRunner` (how to run one I/O node, how to sleep, what
time it is); everything else (rendering templates, pure nodes, the order of events)
happens here, identically for Temporal and the local runtime.

Inside Temporal workflow code this loop must stay deterministic: completions arrive
through an ``asyncio.Queue`` (FIFO, in the order the workflow's event loop resolves
them on every replay) and nothing iterates a set.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from flov7.engine.expressions import StepMeter, render_value, step_meter
from flov7.engine.interpreter import Interpreter, NodeStatus, RunStatus
from flov7.engine.observer import NodeEvent, NodeReport, RunObserver, seconds_between
from flov7.engine.payloads import (
    MAX_ACTIVITY_INPUT_BYTES,
    MAX_HISTORY_BYTES,
    MAX_NODE_OUTPUT_BYTES,
    fit_result,
    json_size,
    output_too_large,
)
from flov7.errors import ExpressionError, NodeExecutionError
from flov7.nodes.base import NodeKind, NodeType
from flov7.spec import ExecutionDefaults, NodeSpec

MAX_STEPS_PER_CHECKPOINT = 500_000
"""Expression steps of pure nodes between two checkpoints. Pure nodes run inline in one
workflow task; Temporal fails a task that holds the thread for 2 s (deadlock detection),
so after this much work the driver awaits ``runner.checkpoint()`` (a 1 ms durable timer
on Temporal, which ends the task) before going on. Counted in steps, not time, so that
replays take the same path."""


@dataclass(frozen=True)
class ActivityPolicy:
    """Timeouts and retries of one I/O node, from its overrides and the run's defaults."""

    start_to_close_seconds: float
    schedule_to_close_seconds: float
    heartbeat_seconds: float
    max_attempts: int
    initial_interval_seconds: float
    backoff_coefficient: float
    max_interval_seconds: float

    @classmethod
    def for_node(cls, node: NodeSpec, defaults: ExecutionDefaults) -> ActivityPolicy:
        """Per-node ``timeout_seconds`` and ``retry`` win over the run's defaults."""
        retry = defaults.retry
        override = node.retry
        attempt_timeout = node.timeout_seconds or defaults.activity_timeout_seconds

        def pick(name: str, fallback: float) -> float:
            value = getattr(override, name, None) if override else None
            if value is None:
                value = getattr(retry, name)
            return float(value if value is not None else fallback)

        return cls(
            start_to_close_seconds=attempt_timeout,
            # The node's overall budget never cuts a single attempt short.
            schedule_to_close_seconds=max(defaults.node_timeout_seconds, attempt_timeout),
            heartbeat_seconds=defaults.heartbeat_timeout_seconds,
            max_attempts=int(pick("max_attempts", 3)),
            initial_interval_seconds=pick("initial_interval_seconds", 1),
            backoff_coefficient=pick("backoff_coefficient", 2.0),
            max_interval_seconds=pick("max_interval_seconds", 10),
        )


@dataclass(frozen=True)
class ActivityRequest:
    """What an I/O node's activity receives (a plain JSON object on the wire)."""

    node_id: str
    node_type: str
    config: dict[str, Any]
    execution: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The wire form."""
        return {
            "node_id": self.node_id,
            "node_type": self.node_type,
            "config": self.config,
            "execution": self.execution,
        }


@dataclass(frozen=True)
class ActivityOutcome:
    """A successful I/O node: its output and how many attempts it took."""

    output: Any
    attempts: int


class NodeFailed(Exception):
    """An I/O node failed for good (retries exhausted or non-retryable)."""

    def __init__(self, error: dict[str, Any], attempts: int) -> None:
        super().__init__(error.get("message", "node failed"))
        self.error = error
        self.attempts = attempts


class NodeRunner(Protocol):
    """What a runtime provides to the driver."""

    def now(self) -> str:
        """Current time as an ISO-8601 string (``workflow.now()`` on Temporal)."""
        ...

    async def sleep(self, seconds: float, node_id: str | None = None) -> None:
        """Sleep durably (a Temporal timer, named after ``node_id``) or not (local)."""
        ...

    async def run_activity(
        self, request: ActivityRequest, policy: ActivityPolicy
    ) -> ActivityOutcome:
        """Run an I/O node with retries; raise :class:`NodeFailed` when it fails."""
        ...

    async def checkpoint(self) -> None:
        """Let the runtime breathe after a long stretch of pure nodes (see the driver)."""
        ...


def timeout_error(kind: str, limit_seconds: float) -> dict[str, Any]:
    """The error of a node that ran out of time, the same on both runtimes."""
    return {
        "type": "Timeout",
        "message": f"Node timed out ({kind} timeout of {limit_seconds:g}s); raise the node's "
        "timeout_seconds or TEMPORAL_ACTIVITY_TIMEOUT_MINUTES / TEMPORAL_NODE_TIMEOUT_MINUTES",
    }


def error_dict(exc: BaseException, *, attempts: int = 1) -> dict[str, Any]:
    """The JSON form of a node error."""
    if isinstance(exc, NodeExecutionError):
        return {"type": exc.error_type, "message": exc.message, "attempts": attempts}
    if isinstance(exc, ExpressionError):
        return {"type": "ExpressionError", "message": str(exc), "attempts": attempts}
    return {"type": type(exc).__name__, "message": str(exc), "attempts": attempts}


class GraphDriver:
    """Runs an :class:`Interpreter` to the end with a :class:`NodeRunner`."""

    def __init__(
        self,
        interpreter: Interpreter,
        runner: NodeRunner,
        *,
        input_data: dict[str, Any],
        defaults: ExecutionDefaults,
        observer: RunObserver | None = None,
    ) -> None:
        """``observer``: told of every node event (logs, metrics; see observer.py)."""
        self.interpreter = interpreter
        self.observer = observer
        self.runner = runner
        self.input_data = input_data
        self.defaults = defaults
        self.cancelled_from_outside = False
        """True when the runtime itself cancelled the run (a Temporal cancel request)."""
        self._tasks: dict[str, asyncio.Task[tuple[str, Any, int]]] = {}
        self._outcomes: asyncio.Queue[tuple[str, str, Any, int]] = asyncio.Queue()
        self._steps_since_checkpoint = 0
        self._history_bytes = 0
        """Activity inputs and outputs sent through Temporal so far (see payloads.py)."""

    def request_cancel(self, reason: str = "cancel requested") -> None:
        """Stop starting nodes and cancel every node in flight."""
        self.interpreter.cancel(reason)
        self._cancel_in_flight()

    async def run(self) -> dict[str, Any]:
        """Run until no node runs any more; return the result document."""
        interpreter = self.interpreter
        interpreter.start(self.runner.now())
        while True:
            # Pure nodes finish inline and may release children: advance until stable.
            started = interpreter.advance(self.runner.now())
            while started:
                for node_id in started:
                    if interpreter.status != RunStatus.RUNNING:
                        # The run failed or was cancelled since this batch was released.
                        interpreter.mark_cancelled(node_id, now=self.runner.now())
                        continue
                    self._start(node_id)
                    if self._steps_since_checkpoint > MAX_STEPS_PER_CHECKPOINT:
                        self._steps_since_checkpoint = 0
                        await self.runner.checkpoint()
                started = interpreter.advance(self.runner.now())
            if not self._tasks:
                break
            try:
                node_id, kind, payload, attempts = await self._outcomes.get()
            except asyncio.CancelledError:
                # The runtime cancelled the whole run (Temporal cancel request, local
                # task cancel): cancel the nodes in flight and wait for them to stop.
                self.cancelled_from_outside = True
                self.request_cancel("the run was cancelled")
                continue
            del self._tasks[node_id]
            self._record(node_id, kind, payload, attempts)
        interpreter.finish(self.runner.now())
        for node_id, state in interpreter.states.items():
            if state.status == NodeStatus.SKIPPED:
                self._notify(node_id, NodeEvent.SKIPPED)
        return fit_result(interpreter.result())

    def _notify(self, node_id: str, event: NodeEvent, **details: Any) -> None:
        if self.observer is None:
            return
        state = self.interpreter.states[node_id]
        finished = event in (NodeEvent.COMPLETED, NodeEvent.FAILED, NodeEvent.CANCELLED)
        self.observer.node_event(
            NodeReport(
                node_id=node_id,
                node_type=self.interpreter.nodes[node_id].type,
                kind=self.interpreter.types[node_id].kind,
                event=event,
                attempts=state.attempts,
                error=state.error if event == NodeEvent.FAILED else None,
                duration_seconds=(
                    seconds_between(state.started_at, state.finished_at) if finished else None
                ),
                **details,
            )
        )

    def _record(self, node_id: str, kind: str, payload: Any, attempts: int) -> None:
        now = self.runner.now()
        if kind == "ok":
            self.interpreter.complete(node_id, payload, attempts=attempts, now=now)
            self._notify(node_id, NodeEvent.COMPLETED)
        elif kind == "cancelled":
            self.interpreter.mark_cancelled(node_id, now=now)
            self._notify(node_id, NodeEvent.CANCELLED)
        else:
            was_running = self.interpreter.status == RunStatus.RUNNING
            self.interpreter.fail(node_id, payload, attempts=attempts, now=now)
            self._notify(node_id, NodeEvent.FAILED)
            if was_running and self.interpreter.status == RunStatus.FAILED:
                # The run has failed: what still runs is moot. Stop it rather than keep
                # a failed run open (a long delay in a parallel branch, say).
                self._cancel_in_flight()

    def _cancel_in_flight(self) -> None:
        for node_id in self.interpreter.running:
            task = self._tasks.get(node_id)
            if task is not None:
                task.cancel()

    def _start(self, node_id: str) -> None:
        node = self.interpreter.nodes[node_id]
        node_type = self.interpreter.types[node_id]
        self._notify(node_id, NodeEvent.STARTED)
        if node_type.kind == NodeKind.PURE:
            # Evaluated inline: no task, no timer, no activity.
            kind, payload = self._evaluate_pure(node, node_type)
            self._record(node_id, kind, payload, 1)
            return
        task = asyncio.create_task(self._execute(node, node_type))
        task.add_done_callback(lambda done: self._report(node_id, done))
        self._tasks[node_id] = task

    def _render_config(self, node: NodeSpec, node_type: NodeType) -> tuple[Any, dict[str, Any]]:
        scope = self.interpreter.scope_for(node.id, self.input_data)
        with step_meter() as meter:
            rendered = self._render_with(node, node_type, scope)
        self._steps_since_checkpoint += meter.used
        return scope, rendered

    def _render_with(
        self, node: NodeSpec, node_type: NodeType, scope: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            key: (
                value
                if key in node_type.expression_fields or key in node_type.literal_fields
                else render_value(value, scope)
            )
            for key, value in node.data.items()
        }

    def _evaluate_pure(self, node: NodeSpec, node_type: NodeType) -> tuple[str, Any]:
        meter = StepMeter()
        try:
            scope = self.interpreter.scope_for(node.id, self.input_data)
            # One budget for the whole node: templates, then its expressions.
            with step_meter() as meter:
                rendered = self._render_with(node, node_type, scope)
                config = node_type.parse_config(rendered)
                output = node_type.evaluate(config, scope)
        except (ExpressionError, NodeExecutionError) as exc:
            return "failed", error_dict(exc)
        finally:
            self._steps_since_checkpoint += meter.used
        size = json_size(output)
        if size > MAX_NODE_OUTPUT_BYTES:
            return "failed", {**output_too_large(size), "attempts": 1}
        return "ok", output

    def _report(self, node_id: str, task: asyncio.Task[tuple[str, Any, int]]) -> None:
        # A done callback, not a try/finally in the task: a task cancelled before it ever
        # ran (a failure right after it was started) and a task torn down by Temporal's
        # eviction (its own BaseException) still report, so run() never waits forever.
        outcome: tuple[str, Any, int]
        if task.cancelled():
            outcome = ("cancelled", None, self.interpreter.states[node_id].attempts)
        elif (error := task.exception()) is not None:
            if isinstance(error, Exception):  # A bug, not a node failure: report it as one.
                outcome = ("failed", {**error_dict(error), "type": "InternalError"}, 1)
            else:
                outcome = ("cancelled", None, self.interpreter.states[node_id].attempts)
        else:
            outcome = task.result()
        self._outcomes.put_nowait((node_id, *outcome))

    async def _execute(self, node: NodeSpec, node_type: NodeType) -> tuple[str, Any, int]:
        try:
            scope, rendered = self._render_config(node, node_type)
            config = node_type.parse_config(rendered)
        except (ExpressionError, NodeExecutionError) as exc:
            return "failed", error_dict(exc), 1
        if node_type.kind == NodeKind.TIMER:
            self._notify(node.id, NodeEvent.WAITING, wait_seconds=node_type.timer_seconds(config))
            await self.runner.sleep(node_type.timer_seconds(config), node_id=node.id)
            return "ok", node_type.timer_output(config, scope["inputs"]), 1
        request = ActivityRequest(
            node_id=node.id,
            node_type=node.type,
            config=rendered,
            execution={**self.interpreter.execution, "node_id": node.id},
        )
        refused = self._refuse_oversized(request)
        if refused is not None:
            return "failed", refused, 0
        policy = ActivityPolicy.for_node(node, self.defaults)
        try:
            outcome = await self.runner.run_activity(request, policy)
        except NodeFailed as failure:
            return "failed", failure.error, failure.attempts
        self._history_bytes += json_size(outcome.output)
        return "ok", outcome.output, outcome.attempts

    def _refuse_oversized(self, request: ActivityRequest) -> dict[str, Any] | None:
        """The error of an activity Temporal would refuse, or None to go ahead."""
        size = json_size(request.as_dict())
        if size > MAX_ACTIVITY_INPUT_BYTES:
            return {
                "type": "InputTooLarge",
                "message": f"The node's rendered config is {size} bytes of JSON, over the "
                f"{MAX_ACTIVITY_INPUT_BYTES}-byte limit of one activity input (Temporal "
                "refuses payloads over 2 MB); pass less data into it through templates",
                "attempts": 0,
            }
        if self._history_bytes + size > MAX_HISTORY_BYTES:
            return {
                "type": "RunTooLarge",
                "message": f"This run has sent about {self._history_bytes} bytes through "
                f"its nodes; this node would pass the {MAX_HISTORY_BYTES}-byte budget of "
                "one run (Temporal ends runs whose history passes 50 MB); split the "
                "workflow or move less data between nodes",
                "attempts": 0,
            }
        self._history_bytes += size
        return None
