"""The local runtime: runs workflow documents in this process, without Temporal.

``ENABLE_TEMPORAL_FEATURES=false`` selects it. It drives the same interpreter with the
same node implementations, retries, timeouts, branching and cancellation as the
Temporal runtime, so a document gives the same result on both.

What is lost without Temporal: durability. A run lives in this process's memory; if the
process stops, the run stops with it (the store marks such runs ``interrupted`` at the
next start). Delays are plain ``asyncio.sleep`` calls, not durable timers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flov7.engine.driver import GraphDriver
from flov7.engine.interpreter import Interpreter
from flov7.engine.observer import seconds_between
from flov7.engine.payloads import PayloadLimits
from flov7.engine.validate import validate_workflow
from flov7.errors import InvalidWorkflowError
from flov7.local.observe import LocalObserver
from flov7.local.runner import LocalNodeRunner
from flov7.local.sub_workflows import LocalSubWorkflows
from flov7.observability import correlation, metrics
from flov7.spec import ExecutionDefaults

ENGINE = "local"

log = logging.getLogger("flov7.local.run")

__all__ = ["ENGINE", "FinishedCallback", "LocalRun", "LocalRuntime", "process_identity"]


def process_identity() -> str:
    """``host:pid`` of this process: the worker identity of its local runs, and the
    owner of their store records."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class LocalRun:
    """One in-process run."""

    execution_id: str
    run_id: str
    interpreter: Interpreter
    driver: GraphDriver
    events: list[dict[str, Any]] = field(default_factory=list)
    """What the result alone cannot show, in order: every failed attempt
    (``{"time", "node_id", "event": "attempt_failed", "attempt", "error",
    "retry_in_seconds"}``, None when no retry follows) and cancel requests (``{"time",
    "node_id": None, "event": "cancel_requested", "reason"}``, then one ``{"time",
    "node_id", "event": "cancel_requested"}`` per node then in flight)."""
    task: asyncio.Task[dict[str, Any]] | None = None
    outcome: dict[str, Any] | None = None
    """The result document, as soon as the run has one (before ``on_finished``)."""
    terminated: bool = False
    """Ended by :meth:`LocalRuntime.terminate`: its task may still be unwinding."""
    workflow_label: str | None = None
    """The workflow id its logs and metrics name (the stored workflow's id)."""

    @property
    def done(self) -> bool:
        """True once the run has finished (completed, failed or cancelled)."""
        return self.task is not None and self.task.done()

    @property
    def started_at(self) -> str:
        """When :meth:`LocalRuntime.start` started the run (ISO 8601, UTC)."""
        assert self.interpreter.started_at is not None
        return self.interpreter.started_at

    def status(self) -> dict[str, Any]:
        """The same shape as the Temporal ``get_status`` query, plus ``engine``."""
        return {**self.interpreter.status_report(), "engine": ENGINE}

    def cancel(self, reason: str = "cancel requested") -> None:
        """Stop the run: nothing new starts, nodes in flight are cancelled.

        The request is recorded in :attr:`events` (as Temporal records the signal and
        the activity cancellations); a run that has its result already ignores it.
        """
        if self.outcome is not None:
            return
        now = _now()
        self.events.append(
            {"time": now, "node_id": None, "event": "cancel_requested", "reason": reason}
        )
        for node_id in self.interpreter.running:
            self.events.append({"time": now, "node_id": node_id, "event": "cancel_requested"})
        self.driver.request_cancel(reason)

    def deliver_event(self, name: str, data: Any) -> None:
        """Keep an event for the run's ``wait`` node waiting for it, now or later (the
        local form of the ``deliver_event`` signal); recorded in :attr:`events`."""
        runner = self.driver.runner
        assert isinstance(runner, LocalNodeRunner)
        self.events.append(
            {"time": _now(), "node_id": None, "event": "event_received", "name": name}
        )
        runner.deliver_event(name, data)

    async def result(self) -> dict[str, Any]:
        """Wait for the result document."""
        assert self.task is not None
        if self.terminated and self.outcome is not None:
            # Terminated runs are not waited for: their nodes may never return.
            return {**self.outcome, "engine": ENGINE}
        return {**await asyncio.shield(self.task), "engine": ENGINE}


FinishedCallback = Callable[[LocalRun, dict[str, Any]], Awaitable[None]]


class LocalRuntime:
    """Starts and tracks in-process runs."""

    def __init__(
        self,
        resources: Any = None,
        *,
        defaults: ExecutionDefaults | None = None,
        on_finished: FinishedCallback | None = None,
        sub_workflows: LocalSubWorkflows | None = None,
    ) -> None:
        self.resources = resources
        self.sub_workflows = sub_workflows
        """How ``workflow`` nodes run their children (None: they fail, no store)."""
        self.defaults = defaults
        self.on_finished = on_finished
        self._runs: dict[str, LocalRun] = {}

    def start(
        self,
        document: dict[str, Any],
        *,
        run_input: dict[str, Any] | None = None,
        execution_id: str | None = None,
        workflow_label: str | None = None,
    ) -> LocalRun:
        """Validate and start a run; an execution id already running returns that run.

        ``workflow_label``: the workflow id the run's logs and metrics name (the stored
        workflow's, as on Temporal); default: the document's ``id``.
        """
        if execution_id is not None and execution_id in self._runs:
            return self._runs[execution_id]
        prepared = dict(document)
        if run_input:
            prepared["input"] = {**(prepared.get("input") or {}), **run_input}
        if "defaults" not in prepared and self.defaults is not None:
            prepared["defaults"] = self.defaults.model_dump(mode="json")
        report = validate_workflow(prepared)
        if not report.valid or report.spec is None:
            raise InvalidWorkflowError(report)
        spec = report.spec
        execution_id = execution_id or f"{spec.id}-{uuid.uuid4().hex[:12]}"
        run_id = str(uuid.uuid4())
        execution: dict[str, Any] = {
            "execution_id": execution_id,
            "run_id": run_id,
            "workflow_id": spec.id,
            "attempt": 1,
        }
        request_id = correlation.request_id()
        if request_id is not None:  # as on Temporal, where it comes from the memo
            execution["request_id"] = request_id
        interpreter = Interpreter(spec, execution=execution)
        # Started now, not when the task first runs: the caller may record the start
        # time before that, and status and records must agree on it.
        interpreter.start(_now())
        events: list[dict[str, Any]] = []
        # No history here, but the same limits as on Temporal (the run's stamped ones),
        # so a workflow gives the same results on both runtimes.
        runner = LocalNodeRunner(
            self.resources,
            on_event=events.append,
            sub_workflows=self.sub_workflows,
            limits=PayloadLimits.for_defaults(spec.defaults),
        )
        label = workflow_label or spec.id
        fields = {
            "request_id": request_id,
            "execution_id": execution_id,
            "workflow_id": label,
        }
        driver = GraphDriver(
            interpreter,
            runner,
            input_data=spec.input,
            defaults=spec.defaults,
            observer=LocalObserver(fields),
        )
        run = LocalRun(execution_id, run_id, interpreter, driver, events, workflow_label=label)
        metrics.record_run_started(label, correlation.trigger())
        log.info(
            "Run of workflow '%s' started (%d nodes)",
            spec.id,
            len(spec.nodes),
            extra={**fields, "event": "run_started"},
        )
        run.task = asyncio.create_task(self._drive(run), name=f"flov7-local-{execution_id}")
        self._runs[execution_id] = run
        return run

    async def run(
        self, document: dict[str, Any], *, run_input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Start a run and wait for its result."""
        return await self.start(document, run_input=run_input).result()

    def get(self, execution_id: str) -> LocalRun | None:
        """A run this process started (finished runs included), or None."""
        return self._runs.get(execution_id)

    def runs(self) -> list[LocalRun]:
        """Every run this process started, oldest first."""
        return list(self._runs.values())

    def discard(self, execution_id: str) -> None:
        """Forget a finished run (its record lives elsewhere now, e.g. in the store).

        A long-lived process would otherwise keep every run's node outputs in memory.
        A run still going is kept: it is the only handle to cancel it.
        """
        run = self._runs.get(execution_id)
        if run is not None and run.outcome is not None:
            del self._runs[execution_id]

    async def terminate(self, execution_id: str, reason: str) -> None:
        """End a run now: nodes in flight are cancelled but not waited for, and the run
        is ``terminated`` at once (``on_finished`` records it before this returns)."""
        run = self._runs.get(execution_id)
        if run is None or run.outcome is not None:
            return
        now = _now()
        run.events.append(
            {"time": now, "node_id": None, "event": "terminate_requested", "reason": reason}
        )
        run.driver.request_cancel(reason)
        result = run.interpreter.result()
        result.update(
            status="terminated",
            error={"type": "Terminated", "message": reason},
            finished_at=now,
        )
        run.terminated = True
        run.outcome = result
        metrics.record_run_finished("terminated", _duration(result))
        if self.on_finished is not None:
            await self.on_finished(run, result)

    async def aclose(self) -> None:
        """Cancel the runs still going and wait for them to record it."""
        pending = [run for run in self._runs.values() if not run.done]
        for run in pending:
            run.cancel("the Flov7 process is stopping")
        for run in pending:
            assert run.task is not None
            await asyncio.gather(run.task, return_exceptions=True)

    async def _drive(self, run: LocalRun) -> dict[str, Any]:
        # The task copied the starter's context (its request id); add the run's ids.
        with correlation.bound(execution_id=run.execution_id, workflow_id=run.workflow_label):
            result = await run.driver.run()
            if run.terminated and run.outcome is not None:
                return run.outcome  # recorded by terminate(); what unwound since is moot
            metrics.record_run_finished(str(result["status"]), _duration(result))
            log.info(
                "Run of workflow '%s' %s: %d completed, %d failed, %d skipped",
                run.interpreter.spec.id,
                result["status"],
                result["completed_nodes"],
                result["failed_nodes"],
                result["skipped_nodes"],
                extra={"event": f"run_{result['status']}"},
            )
            return await self._finished(run, result)

    async def _finished(self, run: LocalRun, result: dict[str, Any]) -> dict[str, Any]:
        run.outcome = result
        if self.on_finished is not None:
            await self.on_finished(run, result)
        return result


def _duration(result: dict[str, Any]) -> float | None:
    return seconds_between(result.get("started_at"), result.get("finished_at"))


def _now() -> str:
    # The same clock and format as LocalNodeRunner.now().
    return datetime.now(UTC).isoformat()
