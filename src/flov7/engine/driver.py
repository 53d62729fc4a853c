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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from flov7.engine.composite import run_composite
from flov7.engine.events import ReceivedEvent
from flov7.engine.execution import choose_execution
from flov7.engine.expressions import StepMeter, render_value, step_meter
from flov7.engine.interpreter import Interpreter, NodeStatus, RunStatus
from flov7.engine.observer import NodeEvent, NodeReport, RunObserver, seconds_between
from flov7.engine.payloads import (
    OutputCheck,
    PayloadLimits,
    check_output,
    fit_result,
    json_size,
    recorded_input,
)
from flov7.errors import ExpressionError, Flov7Error, NodeExecutionError
from flov7.nodes.base import NodeConfig, NodeKind, NodeType
from flov7.spec import Execution, ExecutionDefaults, NodeSpec

MAX_STEPS_PER_CHECKPOINT = 500_000
"""Expression steps of pure nodes between two checkpoints. Pure nodes run inline in one
workflow task; Temporal fails a task that holds the thread for 2 s (deadlock detection),
so after this much work the driver awaits ``runner.checkpoint()`` (a 1 ms durable timer
on Temporal, which ends the task) before going on. Counted in steps, not time, so that
replays take the same path."""

PURE_NODE_STEPS = 250
"""Steps a pure node counts for on top of its expressions' (see the checkpoint above):
a checkpoint at least every 2,000 pure nodes. Not more often: each checkpoint is a
1 ms timer, which Temporal fires on its next whole second (the server's
``history.timerProcessorMaxTimeShift``, 1 s by default): about 1 s per checkpoint."""

PACED_PURE_NODE_STEPS = 100
""":data:`PURE_NODE_STEPS` of runs started since the ``flov7-paced-validation`` patch: a
checkpoint at least every 5,000 pure nodes (about 0.2-0.4 s of CPU here), so a
20,000-node chain waits for 4 timers instead of 10 (see workflows.py)."""

RESULT_STEPS_PER_NODE = 40
"""What building, fitting and encoding the result document costs per node, in steps
(about 22 us of CPU per node here): with :attr:`GraphDriver.result_node_steps` set, a
large run takes a checkpoint before it if the last stretch of nodes and the result would
not fit in one workflow task together."""


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
    execution: Execution = Execution.ACTIVITY
    """Local or regular activity on Temporal (:mod:`flov7.engine.execution`); the local
    runtime ignores it."""

    @classmethod
    def for_node(
        cls,
        node: NodeSpec,
        defaults: ExecutionDefaults,
        *,
        node_type: NodeType | None = None,
        config: NodeConfig | None = None,
    ) -> ActivityPolicy:
        """Per-node ``timeout_seconds`` and ``retry`` win over the run's defaults.

        With ``node_type``, the node runs as :func:`choose_execution` decides (its
        rendered ``config`` gives the type's own time bound); without, as a regular
        activity (``approval``'s preparing activity).
        """
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
            execution=(
                choose_execution(node, node_type, config, attempt_timeout)
                if node_type is not None
                else Execution.ACTIVITY
            ),
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
    worker: str | None = None
    """Identity of the worker that ran the last attempt (None when unknown)."""


class NodeFailed(Flov7Error):
    """An I/O node failed for good (retries exhausted or non-retryable)."""

    def __init__(self, error: dict[str, Any], attempts: int, *, worker: str | None = None) -> None:
        super().__init__(error.get("message", "node failed"))
        self.error = error
        self.attempts = attempts
        self.worker = worker
        """Identity of the worker that ran the last attempt (None when unknown)."""


T = TypeVar("T")


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

    async def run_pure(self, work: Callable[[], T]) -> T:
        """Run a pure node's evaluation (bounded, deterministic work) and return its result.

        On Temporal, inline in workflow code; on the local runtime, off the event loop, so
        no node can block it.
        """
        ...

    async def wait_for_event(
        self, event: str, timeout_seconds: float | None, node_id: str
    ) -> ReceivedEvent:
        """Take the next event called ``event`` sent to the run (one that came before
        counts), waiting durably for it; raise :class:`TimeoutError` past the timeout."""
        ...

    def worker_identity(self) -> str | None:
        """Who evaluates pure nodes and timers right now (None when not known)."""
        ...


def timeout_error(kind: str, limit_seconds: float) -> dict[str, Any]:
    """The error of a node that ran out of time, the same on both runtimes."""
    return {
        "type": "Timeout",
        "message": f"Node timed out ({kind} timeout of {limit_seconds:g}s); raise the node's "
        "timeout_seconds or TEMPORAL_ACTIVITY_TIMEOUT_MINUTES / TEMPORAL_NODE_TIMEOUT_MINUTES",
    }


def _render_field(key: str, value: Any, scope: dict[str, Any]) -> Any:
    """Render one config field; a failing template is named with its field."""
    try:
        return render_value(value, scope)
    except ExpressionError as exc:
        raise ExpressionError(f"data.{key}: {exc}") from None


def internal_error(node_id: str | None, exc: BaseException) -> dict[str, Any]:
    """The error of a bug (an exception nothing expected), naming the node and the error.

    Text only: the exception object itself never reaches the result, so the result always
    serialises.
    """
    where = f"node '{node_id}'" if node_id else "the run"
    detail = str(exc)
    if len(detail) > 500:
        detail = detail[:497] + "..."
    return {
        "type": "InternalError",
        "message": f"Internal error in {where}: {type(exc).__name__}: {detail}",
        "attempts": 1,
    }


def wait_timed_out(event: str, timeout_seconds: float | None) -> dict[str, Any]:
    """The error of a ``wait`` whose event did not come in time (both runtimes)."""
    return {
        "type": "WaitTimedOut",
        "message": f"No '{event}' event arrived within {timeout_seconds or 0:g}s",
        "event": event,
        "attempts": 1,
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
        limits: PayloadLimits | None = None,
    ) -> None:
        """``observer``: told of every node event (logs, metrics; see observer.py);
        ``limits``: payload sizes (default: what ``defaults`` were stamped with)."""
        self.limits = limits or PayloadLimits.for_defaults(defaults)
        """Size limits of outputs, inputs, the result and the history (payloads.py)."""
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
        self._current: str | None = None
        """The node being started or recorded, named by an internal error."""
        self._history_bytes = 0
        """Activity inputs and outputs sent through Temporal so far (see payloads.py)."""
        self._large_outputs: dict[str, int] = {}
        """Upper bounds of the outputs stored by reference (not walked again)."""
        self._workers: dict[str, str | None] = {}
        """Worker that ran each I/O node handed to the runner, until recorded."""
        self.max_steps_per_checkpoint = MAX_STEPS_PER_CHECKPOINT
        self.pure_node_steps = PURE_NODE_STEPS
        """What each pure node adds to the steps counted towards a checkpoint (0: only its
        expressions, as runs recorded before the pacing; see workflows.py)."""
        self.result_node_steps = 0
        """What the result document costs per node, in steps, counted towards a
        checkpoint before it is built (0: not counted, as runs recorded before
        :data:`RESULT_STEPS_PER_NODE`; nested drivers build no result document)."""
        self.continuation: dict[str, Any] | None = None
        """Set when the run stopped to continue as new: the next run's ``continued``."""
        self.may_continue_as_new = True
        """False for nested drivers (a ``for_each`` item): only a whole run continues."""
        self._draining = False
        self._continue_refused = False

    @property
    def history_bytes(self) -> int:
        """Activity inputs and outputs this driver has sent through the runtime so far."""
        return self._history_bytes

    @history_bytes.setter
    def history_bytes(self, value: int) -> None:
        # A for_each item starts from the run's total and hands its growth back.
        self._history_bytes = value

    @property
    def pending_steps(self) -> int:
        """Expression steps of pure nodes since the last checkpoint (a ``for_each`` adds
        up its items' to pace the workflow task the same way)."""
        return self._steps_since_checkpoint

    def add_steps(self, steps: int) -> None:
        """Count work done outside the driver (validating the document, building the
        interpreter) in the same workflow task towards the next checkpoint."""
        self._steps_since_checkpoint += steps

    def request_cancel(self, reason: str = "cancel requested") -> None:
        """Stop starting nodes and cancel every node in flight."""
        self.interpreter.cancel(reason)
        self._cancel_in_flight()

    async def run(self) -> dict[str, Any]:
        """Run until no node runs any more; return the result document.

        Never raises for a bug in a node, the interpreter or this loop: an unexpected
        exception fails the run with an ``InternalError`` naming the node. Raising here
        would fail the Temporal workflow task, which is retried for ever (the run would
        hang until its timeout, and cancel could not stop it).
        """
        interpreter = self.interpreter
        interpreter.start(self.runner.now())
        while True:
            try:
                if not await self._step():
                    break
            except Exception as exc:  # A bug: fail the run, never the workflow task.
                self._abort(exc)
        if self.continuation is not None:
            # Not finished: the run goes on in a fresh run of the same execution.
            return interpreter.status_report()
        await self._room_for_result()
        try:
            interpreter.finish(self.runner.now())
            for node_id, state in interpreter.states.items():
                if state.status == NodeStatus.SKIPPED:
                    self._notify(node_id, NodeEvent.SKIPPED)
            return fit_result(interpreter.result(), self.limits.result_bytes, self._large_outputs)
        except Exception as exc:
            self._abort(exc)
            return fit_result(interpreter.result(), self.limits.result_bytes, self._large_outputs)

    async def _room_for_result(self) -> None:
        """Checkpoint first when the result document (its cost counted per node) would
        not fit in this workflow task with the work already done in it."""
        cost = self.result_node_steps * len(self.interpreter.states)
        if not cost or self._steps_since_checkpoint + cost <= self.max_steps_per_checkpoint:
            return
        self._steps_since_checkpoint = 0
        try:
            await self.runner.checkpoint()
        except asyncio.CancelledError:
            # A Temporal cancel request during the checkpoint: as in _step, the run ends
            # cancelled (every node has finished; the result says so).
            self.cancelled_from_outside = True
            self.request_cancel("the run was cancelled")

    async def _step(self) -> bool:
        """Start what is ready, then record one outcome; False once nothing runs."""
        interpreter = self.interpreter
        interpreter.resolving = None
        if self._should_continue_as_new():
            # Start nothing more; once the nodes in flight have finished, hand the run's
            # state to a fresh run of the same execution (continue-as-new).
            if not self._tasks:
                self.continuation = interpreter.continuation()
                return False
            started: list[str] = []
        else:
            # Pure nodes finish inline and may release children: advance until stable.
            started = interpreter.advance(self.runner.now())
        while started:
            for node_id in started:
                if interpreter.status != RunStatus.RUNNING:
                    # The run failed or was cancelled since this batch was released.
                    interpreter.mark_cancelled(node_id, now=self.runner.now())
                    continue
                self._current = node_id
                await self._start(node_id)
                self._current = None
                if self._steps_since_checkpoint > self.max_steps_per_checkpoint:
                    self._steps_since_checkpoint = 0
                    await self.runner.checkpoint()
            started = interpreter.advance(self.runner.now())
        if not self._tasks:
            return False
        try:
            node_id, kind, payload, attempts = await self._outcomes.get()
        except asyncio.CancelledError:
            # The runtime cancelled the whole run (Temporal cancel request, local
            # task cancel): cancel the nodes in flight and wait for them to stop.
            self.cancelled_from_outside = True
            self.request_cancel("the run was cancelled")
            return True
        if kind == "offered":
            return True  # the node still runs; advance() starts its request edges' targets
        del self._tasks[node_id]
        self._current = node_id
        self._record(node_id, kind, payload, attempts)
        self._current = None
        return True

    def _abort(self, exc: Exception) -> None:
        """Fail the run for an unexpected error at the current node; stop what runs."""
        node_id, self._current = self._current or self.interpreter.resolving, None
        self.interpreter.abort(node_id, internal_error(node_id, exc), now=self.runner.now())
        # Nodes still running are cancelled; their outcomes drain through the loop.
        self._cancel_in_flight()
        for pending in self.interpreter.running:
            if pending not in self._tasks:  # Nothing will report for it: close it now.
                self.interpreter.mark_cancelled(pending, now=self.runner.now())

    def _should_continue_as_new(self) -> bool:
        """Whether the runtime wants this run to continue as new (Temporal: its history
        grew past the run's budget, or the server suggests it); never once it ended."""
        suggest = getattr(self.runner, "continue_as_new_suggested", None)
        if (
            suggest is None
            or not self.may_continue_as_new
            or self._continue_refused
            or self.interpreter.status != RunStatus.RUNNING
        ):
            return False
        if self._draining:
            return True
        if not suggest(self._history_bytes, self.defaults.continue_as_new_after_bytes):
            return False
        # The next run starts with the finished nodes' outputs as its input, which must
        # fit one payload; when it would not, stay in this run (the byte budget of
        # _refuse_oversized still protects the history).
        limit = self.limits.continuation_bytes
        if json_size(self.interpreter.continuation(), limit) > limit:
            self._continue_refused = True
            return False
        self._draining = True
        return True

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
        # An I/O node names the worker its runner reported; anything else (pure nodes,
        # timers, configs that failed to render) ran where the driver runs.
        if node_id in self._workers:
            worker = self._workers.pop(node_id)
        else:
            worker = self.runner.worker_identity()
        if kind == "ok":
            self.interpreter.complete(node_id, payload, attempts=attempts, now=now, worker=worker)
            self._notify(node_id, NodeEvent.COMPLETED)
        elif kind == "cancelled":
            self.interpreter.mark_cancelled(node_id, now=now, worker=worker)
            self._notify(node_id, NodeEvent.CANCELLED)
        else:
            was_running = self.interpreter.status == RunStatus.RUNNING
            self.interpreter.fail(node_id, payload, attempts=attempts, now=now, worker=worker)
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

    async def _start(self, node_id: str) -> None:
        node = self.interpreter.nodes[node_id]
        node_type = self.interpreter.types[node_id]
        self._notify(node_id, NodeEvent.STARTED)
        if node_type.kind == NodeKind.PURE:
            # No task, no timer, no activity: inline on Temporal (run_pure does not yield
            # there, so replays take the same path), off the event loop on the local runtime.
            try:
                kind, payload = await self.runner.run_pure(
                    lambda: self._evaluate_pure(node, node_type)
                )
            except asyncio.CancelledError:
                # The local run was cancelled while the node was evaluated (the work itself
                # is bounded and finishes on its own): cancel the run, like run() does.
                self.cancelled_from_outside = True
                self.request_cancel("the run was cancelled")
                kind, payload = "cancelled", None
            self._record(node_id, kind, payload, 1)
            # What a pure node costs besides its expression steps (scope, record, check):
            # a chain of thousands of trivial nodes must checkpoint too, or one workflow
            # task holds the thread past the SDK's 2 s deadlock detection and retries
            # for ever (see PURE_NODE_STEPS).
            self._steps_since_checkpoint += self.pure_node_steps
            return
        task = asyncio.create_task(self._execute(node, node_type))
        task.add_done_callback(lambda done: self._report(node_id, done))
        self._tasks[node_id] = task

    def _render_config(self, node: NodeSpec, node_type: NodeType) -> tuple[Any, dict[str, Any]]:
        scope = self.interpreter.scope_for(node.id, self.input_data)
        with step_meter() as meter:
            rendered = self._render_with(node, node_type, scope)
        self._steps_since_checkpoint += meter.used
        self.interpreter.states[node.id].input = recorded_input(rendered)
        return scope, rendered

    def _render_with(
        self, node: NodeSpec, node_type: NodeType, scope: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            key: (
                value
                if key in node_type.expression_fields or key in node_type.literal_fields
                else _render_field(key, value, scope)
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
                self.interpreter.states[node.id].input = recorded_input(rendered)
                config = node_type.parse_config(rendered, node.data)
                output = node_type.evaluate(config, scope)
        except (ExpressionError, NodeExecutionError) as exc:
            return "failed", error_dict(exc)
        except Exception as exc:  # A bug in a node: fail it, never the workflow task.
            return "failed", internal_error(node.id, exc)
        finally:
            self._steps_since_checkpoint += meter.used
        # Checked here, at the node: Temporal's converter would fail the workflow task (for
        # ever) on a non-JSON value, and a later node would only see the damage.
        check = check_output(output, node.id, limits=self.limits)
        self._steps_since_checkpoint += check.visits
        if check.error is not None:
            return "failed", {**check.error, "attempts": 1}
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
            config = node_type.parse_config(rendered, node.data)
        except (ExpressionError, NodeExecutionError) as exc:
            return "failed", error_dict(exc), 1
        if node_type.kind == NodeKind.COMPOSITE:
            return await run_composite(self, node, config, scope)
        if node_type.kind == NodeKind.TIMER:
            self._notify(node.id, NodeEvent.WAITING, wait_seconds=node_type.timer_seconds(config))
            await self.runner.sleep(node_type.timer_seconds(config), node_id=node.id)
            return "ok", node_type.timer_output(config, scope["inputs"]), 1
        if node_type.kind == NodeKind.EVENT:
            if node_type.prepares:
                prepared = await self._prepare_wait(node, rendered)
                if prepared is not None:
                    return prepared
            return await self._wait_for_event(node, node_type, config)
        request = ActivityRequest(
            node_id=node.id,
            node_type=node.type,
            config=rendered,
            execution={**self.interpreter.execution, "node_id": node.id},
        )
        refused = self._refuse_oversized(request)
        if refused is not None:
            return "failed", refused, 0
        policy = ActivityPolicy.for_node(node, self.defaults, node_type=node_type, config=config)
        self._workers[node.id] = None  # Cancelled before an answer: no worker known.
        try:
            outcome = await self.runner.run_activity(request, policy)
        except NodeFailed as failure:
            self._workers[node.id] = failure.worker
            return "failed", failure.error, failure.attempts
        # Checked again here: a runtime's runner checks too, but this is the last line
        # before the value enters workflow state (and later nodes' inputs).
        threshold = self.limits.reference_threshold_bytes
        check = check_output(outcome.output, node.id, limits=self.limits, limit=threshold)
        if threshold is not None and check.error is not None and check.size > threshold:
            # Over the store's threshold: it came by reference and costs the history
            # its reference only. The runner (the activity, the local runner) checked it
            # against the same limits already; walking tens of MB again here would hold
            # the workflow task past Temporal's 2 s deadlock detection.
            check = OutputCheck(threshold, check.visits)
            self._large_outputs[node.id] = self.limits.node_output_bytes
        self._steps_since_checkpoint += check.visits
        if check.error is not None:
            return "failed", {**check.error, "attempts": outcome.attempts}, outcome.attempts
        self._history_bytes += self.limits.history_cost(check.size)
        self._workers[node.id] = outcome.worker
        return "ok", outcome.output, outcome.attempts

    async def _prepare_wait(
        self, node: NodeSpec, rendered: dict[str, Any]
    ) -> tuple[str, Any, int] | None:
        """Run a preparing EVENT node's activity and offer its output along the node's
        ``request`` edges; the failure of the node if it failed, else None."""
        request = ActivityRequest(
            node_id=node.id,
            node_type=node.type,
            config=rendered,
            execution={**self.interpreter.execution, "node_id": node.id},
        )
        # The node's timeout_seconds is how long it waits, not how long minting may
        # take: the activity gets the run's defaults.
        policy = ActivityPolicy.for_node(
            node.model_copy(update={"timeout_seconds": None}), self.defaults
        )
        try:
            outcome = await self.runner.run_activity(request, policy)
        except NodeFailed as failure:
            return "failed", failure.error, failure.attempts
        self.interpreter.offer(node.id, outcome.output)
        # Wake the loop: the request edges' targets may start while this node waits.
        self._outcomes.put_nowait((node.id, "offered", None, outcome.attempts))
        return None

    async def _wait_for_event(
        self, node: NodeSpec, node_type: NodeType, config: Any
    ) -> tuple[str, Any, int]:
        event, timeout = node_type.event_wait(config, node.id)
        self.interpreter.mark_waiting(node.id, event)
        try:
            received = await self.runner.wait_for_event(event, timeout, node.id)
        except TimeoutError:
            return "failed", wait_timed_out(event, timeout), 1
        finally:
            self.interpreter.mark_waiting(node.id, None)
        output = node_type.event_output(config, received.data, received.received_at)
        # The event's data is anyone's JSON: checked like every node output.
        check = check_output(output, node.id, limits=self.limits)
        self._steps_since_checkpoint += check.visits
        if check.error is not None:
            return "failed", {**check.error, "attempts": 1}, 1
        return "ok", output, 1

    def _refuse_oversized(self, request: ActivityRequest) -> dict[str, Any] | None:
        """The error of an activity Temporal would refuse, or None to go ahead."""
        limits = self.limits
        check = check_output(
            request.as_dict(), request.node_id, limits=limits, limit=limits.activity_input_bytes
        )
        self._steps_since_checkpoint += check.visits
        size = limits.history_cost(check.size)  # a stored input costs its reference only
        if check.error is not None and check.error["type"] == "InvalidOutput":
            message = check.error["message"].replace("an output", "a rendered config", 1)
            return {"type": "InvalidInput", "message": message, "attempts": 0}
        if check.error is not None:
            return {
                "type": "InputTooLarge",
                "message": "The node's rendered config is over the "
                f"{limits.activity_input_bytes}-byte limit of one activity input ("
                + (
                    "FLOV7_MAX_LARGE_OUTPUT_BYTES"
                    if limits.by_reference
                    else "Temporal refuses payloads over 2 MB"
                )
                + "); pass less data into it through templates",
                "attempts": 0,
            }
        if self._history_bytes + size > limits.history_bytes:
            return {
                "type": "RunTooLarge",
                "message": f"This run has sent about {self._history_bytes} bytes through "
                f"its nodes; this node would pass the {limits.history_bytes}-byte budget of "
                "one run (Temporal ends runs whose history passes 50 MB); split the "
                "workflow or move less data between nodes",
                "attempts": 0,
            }
        self._history_bytes += size
        return None
