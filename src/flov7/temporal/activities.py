"""Temporal activities: one per I/O node type (``flov7.api_call``, ``flov7.webhook``, ...).

Each activity receives an :class:`~flov7.engine.driver.ActivityRequest` as a plain JSON
object, runs the node type's ``execute`` and returns ``{"output", "attempt"}``.

While a node runs, the activity heartbeats in the background. That is how Temporal
tells it about cancellation (a cancelled run stops its in-flight calls) and how a
worker killed mid-node is noticed within the heartbeat timeout and the node retried
elsewhere, instead of waiting for the whole start-to-close timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from flov7.engine.payloads import MAX_NODE_OUTPUT_BYTES, json_size, output_too_large
from flov7.errors import NodeExecutionError
from flov7.nodes.base import ActivityContext, NodeKind, NodeType
from flov7.nodes.registry import node_types
from flov7.observability import correlation, metrics
from flov7.temporal.names import activity_name

ActivityFunction = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class NodeActivities:
    """Builds the activities of every I/O node type around shared worker resources."""

    def __init__(self, resources: Any = None) -> None:
        self.resources = resources

    def all(self) -> list[ActivityFunction]:
        """One activity function per ``ACTIVITY`` node type."""
        return [
            self._activity_for(node_type)
            for node_type in node_types().values()
            if node_type.kind == NodeKind.ACTIVITY
        ]

    def _activity_for(self, node_type: NodeType) -> ActivityFunction:
        async def run_node(request: dict[str, Any]) -> dict[str, Any]:
            return await self.run(node_type, request)

        run_node.__name__ = f"run_{node_type.name}"
        return activity.defn(name=activity_name(node_type.name))(run_node)

    async def run(self, node_type: NodeType, request: dict[str, Any]) -> dict[str, Any]:
        """Run one attempt of a node; errors become ``ApplicationError`` for Temporal.

        Every log line of the attempt (the node's own included) carries the run's
        correlation fields; the attempt is counted in the node metrics here, where it
        runs, with its outcome.
        """
        info = activity.info()
        execution = request.get("execution")
        execution = execution if isinstance(execution, dict) else {}
        kind = "local_activity" if info.is_local else "activity"
        outcome = "failed"
        started = time.monotonic()
        with (
            correlation.bound(
                request_id=execution.get("request_id"),
                execution_id=info.workflow_id,
                workflow_id=execution.get("workflow_id"),
                node_id=str(request.get("node_id", "")),
                node_type=node_type.name,
                attempt=info.attempt,
            ),
            metrics.slot_in_use(kind),
        ):
            try:
                result = await self._run_attempt(node_type, request, info)
                outcome = "completed"
                return result
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            finally:
                metrics.record_node_execution(
                    node_type.name, outcome, time.monotonic() - started, attempt=info.attempt
                )

    async def _run_attempt(
        self, node_type: NodeType, request: dict[str, Any], info: activity.Info
    ) -> dict[str, Any]:
        attempt = info.attempt
        context = ActivityContext(
            workflow_id=info.workflow_id or "",
            run_id=info.workflow_run_id or "",
            node_id=str(request.get("node_id", "")),
            attempt=attempt,
            heartbeat=activity.heartbeat,
            resources=self.resources,
            extras={"execution": request.get("execution", {})},
        )
        node = f"node '{context.node_id}' ({node_type.name}) of {context.workflow_id}"
        log = activity.logger
        if attempt > 1:
            log.info(
                "%s: retried, attempt %d started", node, attempt, extra={"event": "node_retried"}
            )
        else:
            log.debug("%s: attempt %d started", node, attempt)
        started = time.monotonic()
        beating = asyncio.create_task(_heartbeat_until_done(attempt, info.heartbeat_timeout))
        try:
            config = node_type.parse_config(request.get("config") or {})
            output = await node_type.execute(config, context)
        except NodeExecutionError as exc:
            log.warning(
                "%s: attempt %d failed (%s, %s): %s",
                node,
                attempt,
                exc.error_type,
                "retryable" if exc.retryable else "not retryable",
                exc.message,
            )
            raise ApplicationError(
                exc.message,
                {"attempt": attempt, "details": exc.details},
                type=exc.error_type,
                non_retryable=not exc.retryable,
                next_retry_delay=(
                    timedelta(seconds=exc.retry_after_seconds)
                    if exc.retry_after_seconds is not None
                    else None
                ),
                # Not "from exc": Temporal records the cause chain in the history, and a
                # driver's original exception may quote what the node redacted.
            ) from None
        except asyncio.CancelledError:
            log.info("%s: attempt %d cancelled", node, attempt)
            raise
        except Exception as exc:  # An unexpected error: retry it under the node's policy.
            # Driver errors can quote a connection URL: never let a secret through.
            message = self._redact(f"{type(exc).__name__}: {exc}")
            log.warning("%s: attempt %d failed unexpectedly: %s", node, attempt, message)
            raise ApplicationError(message, {"attempt": attempt}, type=type(exc).__name__) from None
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        size = json_size(output)
        if size > MAX_NODE_OUTPUT_BYTES:
            # Temporal would refuse the result (and retry the attempt forever): fail the
            # node now, with a reason, instead.
            error = output_too_large(size)
            raise ApplicationError(
                error["message"], {"attempt": attempt}, type=error["type"], non_retryable=True
            )
        log.info(
            "%s: attempt %d completed in %.0f ms",
            node,
            attempt,
            (time.monotonic() - started) * 1000,
        )
        return {"output": output, "attempt": attempt}

    def _redact(self, text: str) -> str:
        redact = getattr(self.resources, "redact", None)
        return str(redact(text)) if callable(redact) else text


async def _heartbeat_until_done(attempt: int, heartbeat_timeout: timedelta | None) -> None:
    # The SDK throttles heartbeats itself; beating a few times per timeout keeps the
    # activity alive and lets cancellation reach it promptly.
    interval = max(0.2, heartbeat_timeout.total_seconds() / 4) if heartbeat_timeout else 5.0
    while True:
        activity.heartbeat({"attempt": attempt})
        await asyncio.sleep(interval)
