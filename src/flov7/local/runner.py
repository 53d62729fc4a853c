"""Runs I/O nodes in-process, with the same retries and timeouts Temporal would apply.

Used by the local runtime (``ENABLE_TEMPORAL_FEATURES=false``). Nothing here is
durable: a process restart loses the run. The retry schedule mirrors Temporal's
(initial interval x backoff^n, capped, ``Retry-After`` honoured), so the two runtimes
give the same results.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flov7.engine.driver import (
    ActivityOutcome,
    ActivityPolicy,
    ActivityRequest,
    NodeFailed,
    timeout_error,
)
from flov7.engine.payloads import MAX_NODE_OUTPUT_BYTES, json_size, output_too_large
from flov7.errors import NodeExecutionError
from flov7.nodes.base import ActivityContext, NodeType
from flov7.nodes.registry import get_node_type
from flov7.observability import correlation, metrics

log = logging.getLogger("flov7.local.run")


class LocalNodeRunner:
    """A :class:`~flov7.engine.driver.NodeRunner` that calls node types directly."""

    def __init__(
        self,
        resources: Any = None,
        *,
        execution_id: str = "local",
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.resources = resources
        self.execution_id = execution_id
        self.on_event = on_event
        """Told of every failed attempt (the result only shows the last one)."""

    def now(self) -> str:
        return datetime.now(UTC).isoformat()

    async def sleep(self, seconds: float, node_id: str | None = None) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def checkpoint(self) -> None:
        # Let other tasks (the API's requests) run between long stretches of pure nodes.
        await asyncio.sleep(0)

    async def run_activity(
        self, request: ActivityRequest, policy: ActivityPolicy
    ) -> ActivityOutcome:
        node_type = get_node_type(request.node_type)
        if node_type is None:
            raise NodeFailed({"type": "UnknownNodeType", "message": request.node_type}, 0)
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
            size = json_size(output)
            if size > MAX_NODE_OUTPUT_BYTES:  # As the Temporal activity refuses it.
                too_large = output_too_large(size)
                raise NodeExecutionError(
                    too_large["message"], error_type=too_large["type"], retryable=False
                )
            return ActivityOutcome(output=output, attempts=attempt), 0.0
        except NodeExecutionError as exc:
            error: dict[str, Any] = {"type": exc.error_type, "message": exc.message}
            if exc.details:
                error["details"] = exc.details
            if not exc.retryable:
                self._attempt_failed(request, attempt, error, None)
                raise NodeFailed({**error, "attempts": attempt}, attempt) from exc
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
            raise NodeFailed({**error, "attempts": attempt}, attempt)
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
                    "error": error,
                    "retry_in_seconds": retry_in,
                }
            )


def _backoff(policy: ActivityPolicy, attempt: int) -> float:
    delay = policy.initial_interval_seconds * policy.backoff_coefficient ** (attempt - 1)
    return float(min(delay, policy.max_interval_seconds))


def _no_heartbeat(*details: Any) -> None:
    """In-process nodes need no heartbeat: cancellation reaches them directly."""
