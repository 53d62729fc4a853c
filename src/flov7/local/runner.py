"""Runs I/O nodes in-process, with the same retries and timeouts Temporal would apply.

Used by the local runtime (``ENABLE_TEMPORAL_FEATURES=false``). Nothing here is
durable: a process restart loses the run. The retry schedule mirrors Temporal's
(initial interval x backoff^n, capped, ``Retry-After`` honoured), so the two runtimes
give the same results.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flov7.engine.driver import (
    ActivityOutcome,
    ActivityPolicy,
    ActivityRequest,
    NodeFailed,
    timeout_error,
)
from flov7.engine.events import EventMailbox, ReceivedEvent
from flov7.engine.payloads import INLINE_LIMITS, PayloadLimits, check_output
from flov7.engine.sub_workflow import SubWorkflowCall, SubWorkflowOutcome, unavailable_message
from flov7.errors import NodeExecutionError
from flov7.local.sub_workflows import LocalSubWorkflows
from flov7.nodes.base import ActivityContext, NodeType
from flov7.nodes.registry import get_node_type
from flov7.observability import correlation, metrics

log = logging.getLogger("flov7.local.run")

T = TypeVar("T")


def local_worker_identity() -> str:
    """This process, as the worker of its in-process runs: ``local:<pid>@<hostname>``.

    Shaped like Temporal's default worker identity (``<pid>@<hostname>``), with a prefix
    that says no Temporal worker was involved.
    """
    return f"local:{os.getpid()}@{socket.gethostname()}"


class LocalNodeRunner:
    """A :class:`~flov7.engine.driver.NodeRunner` that calls node types directly."""

    def __init__(
        self,
        resources: Any = None,
        *,
        execution_id: str = "local",
        on_event: Callable[[dict[str, Any]], None] | None = None,
        sub_workflows: LocalSubWorkflows | None = None,
        limits: PayloadLimits = INLINE_LIMITS,
    ) -> None:
        self.resources = resources
        self.limits = limits
        """Largest output a node may return: the run's (as the Temporal activity checks)."""
        self.sub_workflows = sub_workflows
        """Runs ``workflow`` nodes' children (None: no workflow store, they fail)."""
        self.execution_id = execution_id
        self.on_event = on_event
        """Told of every failed attempt (the result only shows the last one)."""
        self.mailbox = EventMailbox()
        self._arrived = asyncio.Event()
        self.identity = local_worker_identity()
        """Every node of a local run runs in this process: one identity for all."""

    def deliver_event(self, name: str, data: Any) -> None:
        """Keep an event for the ``wait`` node waiting for it, now or later."""
        self.mailbox.deliver(name, data, self.now())
        self._arrived.set()

    def worker_identity(self) -> str | None:
        return self.identity

    def now(self) -> str:
        return datetime.now(UTC).isoformat()

    async def sleep(self, seconds: float, node_id: str | None = None) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def checkpoint(self) -> None:
        # Let other tasks (the API's requests) run between long stretches of pure nodes.
        await asyncio.sleep(0)

    async def run_pure(self, work: Callable[[], T]) -> T:
        # Off the event loop: a pure node's work is bounded (its step budget) but may take
        # a large fraction of a second, and the API's requests share this loop. Pure work
        # touches no shared state but its own node's; the loop waits for the result.
        return await asyncio.to_thread(work)

    async def wait_for_event(
        self, event: str, timeout_seconds: float | None, node_id: str
    ) -> ReceivedEvent:
        async with asyncio.timeout(timeout_seconds):
            while (received := self.mailbox.take(event)) is None:
                # Several waits may share the flag: each one re-checks its own name.
                self._arrived.clear()
                await self._arrived.wait()
        return received

    async def run_sub_workflow(
        self, call: SubWorkflowCall, on_started: Callable[[str], None]
    ) -> SubWorkflowOutcome:
        """A nested local run (see :mod:`flov7.local.sub_workflows`)."""
        if self.sub_workflows is None:
            error = {
                "type": "SubWorkflowsUnavailable",
                "message": unavailable_message(call.workflow_id),
                "attempts": 1,
            }
            raise NodeFailed(error, 1)
        return await self.sub_workflows.run(call, on_started)

    async def run_activity(
        self, request: ActivityRequest, policy: ActivityPolicy
    ) -> ActivityOutcome:
        node_type = get_node_type(request.node_type)
        if node_type is None:
            raise NodeFailed(
                {"type": "UnknownNodeType", "message": request.node_type}, 0, worker=self.identity
            )
        deadline = time.monotonic() + policy.schedule_to_close_seconds
        attempt = 0
        while True:
            attempt += 1
            with correlation.bound(
                node_id=request.node_id, node_type=request.node_type, attempt=attempt
            ):
                outcome, delay = await self._attempt(request, policy, node_type, attempt, deadline)
            if outcome is not None:
                return outcome
            await asyncio.sleep(delay)

    async def _attempt(
        self,
        request: ActivityRequest,
        policy: ActivityPolicy,
        node_type: NodeType,
        attempt: int,
        deadline: float,
    ) -> tuple[ActivityOutcome | None, float]:
        """One attempt: its outcome, or None and the wait before the next attempt.

        Counted in the node metrics, per attempt, as the Temporal activity counts its own.
        """
        if attempt > 1:  # as the Temporal activity logs its retries
            log.info(
                "node '%s' (%s): retried, attempt %d started",
                request.node_id,
                request.node_type,
                attempt,
                extra={"event": "node_retried"},
            )
        started = time.monotonic()
        outcome = "failed"
        try:
            result = await self._try_once(request, policy, node_type, attempt, deadline)
            outcome = "completed" if result[0] is not None else "failed"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            metrics.record_node_execution(
                node_type.name, outcome, time.monotonic() - started, attempt=attempt
            )

    async def _try_once(
        self,
        request: ActivityRequest,
        policy: ActivityPolicy,
        node_type: NodeType,
        attempt: int,
        deadline: float,
    ) -> tuple[ActivityOutcome | None, float]:
        """One attempt, its errors turned into a retry delay or :class:`NodeFailed`."""
        context = ActivityContext(
            workflow_id=str(request.execution.get("execution_id", self.execution_id)),
            run_id=str(request.execution.get("run_id", "")),
            node_id=request.node_id,
            attempt=attempt,
            heartbeat=_no_heartbeat,
            resources=self.resources,
            extras={"execution": request.execution},
        )
        retry_after: float | None = None
        try:
            config = node_type.parse_config(request.config)
            budget = min(policy.start_to_close_seconds, deadline - time.monotonic())
            async with asyncio.timeout(max(budget, 0.001)):
                output = await node_type.execute(config, context)
            check = check_output(output, request.node_id, limits=self.limits)
            if check.error is not None:  # As the Temporal activity refuses it.
                raise NodeExecutionError(
                    check.error["message"], error_type=check.error["type"], retryable=False
                )
            return ActivityOutcome(output=output, attempts=attempt, worker=self.identity), 0.0
        except NodeExecutionError as exc:
            error: dict[str, Any] = {"type": exc.error_type, "message": exc.message}
            if exc.details:
                error["details"] = exc.details
            if not exc.retryable:
                self._attempt_failed(request, attempt, error, None)
                raise NodeFailed(
                    {**error, "attempts": attempt}, attempt, worker=self.identity
                ) from exc
            retry_after = exc.retry_after_seconds
        except TimeoutError:
            kind, limit = (
                ("schedule-to-close", policy.schedule_to_close_seconds)
                if time.monotonic() >= deadline
                else ("start-to-close", policy.start_to_close_seconds)
            )
            error = timeout_error(kind, limit)
        except Exception as exc:  # Unexpected: retried, as Temporal would.
            error = {"type": type(exc).__name__, "message": f"{type(exc).__name__}: {exc}"}
        delay = retry_after if retry_after is not None else _backoff(policy, attempt)
        final = attempt >= policy.max_attempts or time.monotonic() + delay >= deadline
        self._attempt_failed(request, attempt, error, None if final else delay)
        if final:
            raise NodeFailed({**error, "attempts": attempt}, attempt, worker=self.identity)
        return None, delay

    def _attempt_failed(
        self, request: ActivityRequest, attempt: int, error: dict[str, Any], retry_in: float | None
    ) -> None:
        if self.on_event is not None:
            self.on_event(
                {
                    "time": self.now(),
                    "node_id": request.node_id,
                    "event": "attempt_failed",
                    "attempt": attempt,
                    "worker": self.identity,
                    "error": error,
                    "retry_in_seconds": retry_in,
                }
            )


def _backoff(policy: ActivityPolicy, attempt: int) -> float:
    delay = policy.initial_interval_seconds * policy.backoff_coefficient ** (attempt - 1)
    return float(min(delay, policy.max_interval_seconds))


def _no_heartbeat(*details: Any) -> None:
    """In-process nodes need no heartbeat: cancellation reaches them directly."""
