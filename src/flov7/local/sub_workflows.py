"""Sub-workflows on the local engine: a ``workflow`` node's child is a nested local run.

The child is a run of its own (its own execution id, status and record, started through
the same path as any run) that the calling node awaits; cancelling the node cancels it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from flov7.engine.driver import NodeFailed
from flov7.engine.sub_workflow import (
    SubWorkflowCall,
    SubWorkflowOutcome,
    WorkflowNotFound,
    WorkflowSource,
)

if TYPE_CHECKING:
    from flov7.local.runtime import LocalRun

StartChild = Callable[[dict[str, Any], str, SubWorkflowCall, int], Awaitable["LocalRun"]]
"""``start_child(document, execution_id, call, version)`` -> the started child run."""


class LocalSubWorkflows:
    """Resolves stored workflows from ``source`` and runs them with ``start_child``."""

    def __init__(self, source: WorkflowSource, start_child: StartChild) -> None:
        self.source = source
        self.start_child = start_child

    async def run(
        self, call: SubWorkflowCall, on_started: Callable[[str], None]
    ) -> SubWorkflowOutcome:
        """Run ``call`` to its end; see :class:`~flov7.engine.sub_workflow.SubWorkflowRunner`."""
        try:
            version, document = await self.source.document(call.workflow_id, call.version)
        except WorkflowNotFound as exc:
            error = {"type": "WorkflowNotFound", "message": str(exc), "attempts": 1}
            raise NodeFailed(error, 1) from exc
        child_document = call.child_document(document)
        execution_id = f"{call.parent.execution_id}-{call.node_id}-{uuid.uuid4().hex[:8]}"
        try:
            run = await self.start_child(child_document, execution_id, call, version)
        except Exception as exc:  # an invalid stored document, say: the node fails
            error = {"type": "SubWorkflowNotStarted", "message": str(exc), "attempts": 1}
            raise NodeFailed(error, 1) from exc
        on_started(execution_id)
        try:
            result = await run.result()
        except asyncio.CancelledError:
            # The calling node was cancelled: cancel the child and wait until it has
            # cancelled its own nodes, so nothing keeps running behind the caller's back.
            run.cancel("the calling workflow node was cancelled")
            await run.result()
            raise
        return SubWorkflowOutcome(execution_id, child_document, result)
