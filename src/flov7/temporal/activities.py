"""Temporal activities: one per I/O node type (``flov7.api_call``, ``flov7.webhook``, ...).

Each activity receives an :class:`~flov7.engine.driver.ActivityRequest` as a plain JSON
object, runs the node type's ``execute`` and returns ``{"output", "attempt", "worker"}``.

``worker`` is the identity of the worker that ran the attempt: an activity may run on
another worker than its workflow, so only the activity itself can say. Failures carry it
in their details and heartbeats in theirs (a timed-out attempt names who was running it).

While a node runs as a regular activity, it heartbeats in the background. That is how
Temporal tells it about cancellation (a cancelled run stops its in-flight calls) and how
a worker killed mid-node is noticed within the heartbeat timeout and the node retried
elsewhere, instead of waiting for the whole start-to-close timeout.

The same functions run as local activities (short I/O nodes, see
:mod:`flov7.engine.execution`): then they never heartbeat. A local activity runs in the
worker that runs its workflow task; that worker cancels it in-process, and when it dies
the workflow task times out and another worker replays it, running the node again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from flov7.engine.payloads import PayloadLimits, check_output, check_small_output
from flov7.errors import NodeExecutionError
from flov7.nodes.base import ActivityContext, NodeKind, NodeType
from flov7.nodes.registry import node_types
from flov7.observability import correlation, metrics
from flov7.temporal.names import CANCEL_OWN_RUN_ACTIVITY, activity_name

ActivityFunction = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

# Not activity.logger: it appends the whole activity info to every line. One line names
# the execution, the node, the attempt and the cause; the SDK's own "Completing activity
# as failed" record with its traceback is dropped (flov7.observability.logging) unless
# debugging, since the failure is expected and already said here.
log = logging.getLogger(__name__)

INLINE_CHECK_BYTES = 16_000
"""Outputs up to this much JSON are checked on the event loop (a few ms at most); larger
ones in a thread, so that checking tens of MB cannot hold up the heartbeats. A thread hop
for every output cost more than checking a small one: about 0.13 ms of CPU per node, and
two GIL hand-offs between threads on a busy machine (most API responses are small)."""


class NodeActivities:
    """Builds the activities of every I/O node type around shared worker resources."""

    def __init__(
        self,
        resources: Any = None,
        *,
        identity: str | None = None,
        limits: PayloadLimits | None = None,
    ) -> None:
        self.resources = resources
        self.identity = identity
        """The hosting worker's identity; None: the client's (a Worker's default)."""
        self.limits = limits
        """Largest output an attempt may return; None: what the worker's client can send
        (larger with a payload store: :func:`flov7.temporal.payload_storage.payload_limits`)."""

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        """One activity function per ``ACTIVITY`` node type (and per ``EVENT`` type that
        prepares its wait in one: ``approval``), and the run's own cancel."""
        return [
            *(
                self._activity_for(node_type)
                for node_type in node_types().values()
                if node_type.kind == NodeKind.ACTIVITY or node_type.prepares
            ),
            cancel_own_run,
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
        worker = self._worker_identity()
        context = ActivityContext(
            workflow_id=info.workflow_id or "",
            run_id=info.workflow_run_id or "",
            node_id=str(request.get("node_id", "")),
            attempt=attempt,
            # A local activity has no heartbeats (nothing to send them to: it runs in the
            # worker that runs its workflow task, which cancels it in-process).
            heartbeat=_no_heartbeat if info.is_local else activity.heartbeat,
            resources=self.resources,
            extras={"execution": request.get("execution", {})},
        )
        node = f"execution {context.workflow_id} node '{context.node_id}' ({node_type.name})"
        if attempt > 1:
            log.info(
                "%s: retried, attempt %d started", node, attempt, extra={"event": "node_retried"}
            )
        else:
            log.debug("%s: attempt %d started", node, attempt)
        started = time.monotonic()
        beating = (
            None
            if info.is_local
            else asyncio.create_task(_heartbeat_until_done(attempt, worker, info.heartbeat_timeout))
        )
        try:
            config = node_type.parse_config(request.get("config") or {})
            output = await node_type.execute(config, context)
            limits = self._limits()
            node_id = context.node_id or None
            check = check_small_output(output, node_id, limits=limits, budget=INLINE_CHECK_BYTES)
            if check is None:
                # Larger: in a thread, while the heartbeats go on. Checking tens of MB
                # takes seconds, and a loop blocked that long misses the heartbeat timeout.
                check = await asyncio.to_thread(check_output, output, node_id, limits=limits)
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
                {"attempt": attempt, "worker": worker, "details": exc.details},
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
            # A bug, not an expected failure: its traceback at debug level only, since a
            # driver's exception text (in the traceback) may quote a secret.
            log.warning(
                "%s: attempt %d failed unexpectedly: %s",
                node,
                attempt,
                message,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            raise ApplicationError(
                message, {"attempt": attempt, "worker": worker}, type=type(exc).__name__
            ) from None
        finally:
            if beating is not None:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating
        if check.error is not None:
            # Temporal would refuse the result (too large: retried for ever) or its converter
            # would fail on it (not plain JSON): fail the node now, with a reason, instead.
            error = check.error
            raise ApplicationError(
                error["message"],
                {"attempt": attempt, "worker": worker},
                type=error["type"],
                non_retryable=True,
            )
        log.info(
            "%s: attempt %d completed in %.0f ms",
            node,
            attempt,
            (time.monotonic() - started) * 1000,
        )
        return {"output": output, "attempt": attempt, "worker": worker}

    def _limits(self) -> PayloadLimits:
        # From the worker's own client when not given: what it can actually send, so an
        # output Temporal would refuse (no store here) fails the node, never the worker.
        if self.limits is None:
            from flov7.temporal.payload_storage import payload_limits

            self.limits = payload_limits(activity.client().data_converter)
        return self.limits

    def _worker_identity(self) -> str:
        # activity.info() has no identity (SDK 1.35); a Worker without an explicit
        # identity polls under its client's, which activity.client() returns.
        return self.identity or activity.client().identity

    def _redact(self, text: str) -> str:
        redact = getattr(self.resources, "redact", None)
        return str(redact(text)) if callable(redact) else text


def _no_heartbeat(*_details: Any) -> None:
    """A local activity's heartbeat: nothing to do (see ``_run_attempt``)."""


async def _heartbeat_until_done(
    attempt: int, worker: str, heartbeat_timeout: timedelta | None
) -> None:
    # The SDK throttles heartbeats itself; beating a few times per timeout keeps the
    # activity alive and lets cancellation reach it promptly.
    interval = max(0.2, heartbeat_timeout.total_seconds() / 4) if heartbeat_timeout else 5.0
    while True:
        activity.heartbeat({"attempt": attempt, "worker": worker})
        await asyncio.sleep(interval)


@activity.defn(name=CANCEL_OWN_RUN_ACTIVITY)
async def cancel_own_run() -> None:
    """Ask Temporal to cancel the run that scheduled this activity.

    Workflow code cannot do it itself: the SDK ends a workflow as Canceled only after
    Temporal delivered a cancel request, and the server refuses a workflow's request to
    cancel itself through an external handle (``ExternalWorkflowExecutionNotFound``).
    A client call is an ordinary cancel request, as from the UI or ``handle.cancel()``.
    Idempotent: a second request for the same run changes nothing.
    """
    info = activity.info()
    if info.workflow_id is None:
        raise ApplicationError("not scheduled by a workflow", non_retryable=True)
    handle = activity.client().get_workflow_handle(info.workflow_id, run_id=info.workflow_run_id)
    await handle.cancel()
