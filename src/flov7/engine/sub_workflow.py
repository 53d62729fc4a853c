"""Running a ``workflow`` node: a stored workflow as a sub-workflow of the run.

The engine decides everything that must be the same on both runtimes (how deep calls
may nest, the child's document and input, what the node outputs, how a failure reads);
the runtime's runner only resolves the stored document and runs it
(:class:`SubWorkflowRunner`): on Temporal an activity reads the store and the run
starts a child ``WorkflowExecution``; on the local engine a nested run of the local
runtime. Cancelling the node (the run was cancelled, or another node failed) cancels
the child.

The child's document carries ``parent`` (execution id, node id, depth): its status and
result link back to the caller, and the caller's node shows ``child_execution_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from flov7.engine.outputs import body_outputs
from flov7.engine.validate import validate_workflow
from flov7.errors import Flov7Error
from flov7.nodes.workflow_call import WorkflowCallConfig
from flov7.spec import ExecutionDefaults, NodeSpec, ParentRef

if TYPE_CHECKING:
    from flov7.engine.driver import GraphDriver

MAX_WORKFLOW_DEPTH = 8
"""How deep ``workflow`` nodes may nest: a top-level run is depth 0, the workflow it calls
depth 1... A call that would start a run at depth 9 fails the node with
``WorkflowDepthExceeded`` (a workflow calling itself ends there, not in a runaway)."""


class WorkflowNotFound(Flov7Error, LookupError):
    """A :class:`WorkflowSource` has no such workflow or version."""


class WorkflowSource(Protocol):
    """Where a runtime reads stored workflows from (the store, in Flov7)."""

    async def document(self, workflow_id: str, version: int | None) -> tuple[int, dict[str, Any]]:
        """``(version, document)`` of ``workflow_id`` at ``version`` (None: the current
        one); raises :class:`WorkflowNotFound`."""
        ...


@dataclass(frozen=True)
class SubWorkflowCall:
    """What a runner needs to run one sub-workflow."""

    node_id: str
    workflow_id: str
    version: int | None
    """None: the current version."""
    input: dict[str, Any]
    parent: ParentRef
    defaults: ExecutionDefaults

    def child_document(self, document: dict[str, Any]) -> dict[str, Any]:
        """The stored ``document`` as the child runs it: the call's input merged over
        its own, the caller's run defaults (timeouts, retries), and the parent link."""
        own_input = document.get("input")
        return {
            **document,
            "input": {**(own_input if isinstance(own_input, dict) else {}), **self.input},
            "defaults": self.defaults.model_dump(mode="json"),
            "parent": self.parent.model_dump(),
        }


@dataclass(frozen=True)
class SubWorkflowOutcome:
    """A finished sub-workflow: its id, the document it ran, its result document."""

    execution_id: str
    document: dict[str, Any]
    result: dict[str, Any]


@runtime_checkable
class SubWorkflowRunner(Protocol):
    """A :class:`~flov7.engine.driver.NodeRunner` that can run sub-workflows."""

    async def run_sub_workflow(
        self, call: SubWorkflowCall, on_started: Callable[[str], None]
    ) -> SubWorkflowOutcome:
        """Resolve and run the call; ``on_started(execution_id)`` once the child has an id.

        Raises :class:`~flov7.engine.driver.NodeFailed` when the workflow cannot be
        resolved or started; a cancelled wait cancels the child, then re-raises.
        """
        ...


def unavailable_message(workflow_id: str) -> str:
    """Why a ``workflow`` node fails where no workflow store is configured (the same
    words on both engines)."""
    return (
        f"No workflow store to read workflow '{workflow_id}' from: sub-workflows run "
        "through the Flov7 service (or a worker with FLOV7_DATABASE_URL)"
    )


def _fail(error_type: str, message: str, **details: Any) -> tuple[str, Any, int]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if details:
        error["details"] = details
    return "failed", error, 1


async def run_workflow_node(
    driver: GraphDriver, node: NodeSpec, config: WorkflowCallConfig
) -> tuple[str, Any, int]:
    """Run the node's sub-workflow; ``(kind, payload, attempts)`` as the driver records."""
    state = driver.interpreter.states[node.id]

    def started(child_execution_id: str) -> None:
        state.child_execution_id = child_execution_id

    return await call_workflow(
        driver, node, config.workflow_id, config.version, dict(config.input), started
    )


async def call_workflow(
    driver: GraphDriver,
    node: NodeSpec,
    workflow_id: str,
    version: int | Literal["latest"],
    input_data: dict[str, Any],
    on_started: Callable[[str], None],
) -> tuple[str, Any, int]:
    """Run ``workflow_id`` as a sub-workflow of ``node`` (a ``workflow`` node, or one item
    of a ``for_each`` over a stored workflow); ``(kind, payload, attempts)``."""
    from flov7.engine.driver import NodeFailed  # the driver imports this module

    execution = driver.interpreter.execution
    depth = int(execution.get("depth") or 0) + 1
    if depth > MAX_WORKFLOW_DEPTH:
        return _fail(
            "WorkflowDepthExceeded",
            f"Calling workflow '{workflow_id}' would nest sub-workflows "
            f"{depth} deep; the limit is {MAX_WORKFLOW_DEPTH} (does a workflow call itself?)",
            depth=depth,
        )
    runner = driver.runner
    if not isinstance(runner, SubWorkflowRunner):
        return _fail(
            "SubWorkflowsUnavailable", "This runtime cannot run sub-workflows (no workflow store)"
        )
    call = SubWorkflowCall(
        node_id=node.id,
        workflow_id=workflow_id,
        version=None if version == "latest" else version,
        input=input_data,
        parent=ParentRef(
            execution_id=str(execution.get("execution_id") or "unknown"),
            node_id=node.id,
            depth=depth,
        ),
        defaults=driver.defaults,
    )
    try:
        outcome = await runner.run_sub_workflow(call, on_started)
    except NodeFailed as failure:
        return "failed", failure.error, failure.attempts
    on_started(outcome.execution_id)
    result = outcome.result
    status = result.get("status")
    if status == "completed":
        spec = validate_workflow(outcome.document).spec
        return "ok", body_outputs(spec, result) if spec is not None else None, 1
    error = result.get("error") if isinstance(result.get("error"), dict) else {}
    assert isinstance(error, dict)
    where = f" at node '{error['node_id']}'" if error.get("node_id") else ""
    return _fail(
        str(error.get("type") or ("Cancelled" if status == "cancelled" else "SubWorkflowFailed")),
        f"Sub-workflow '{workflow_id}' ({outcome.execution_id}) {status or 'failed'}"
        f"{where}: {error.get('message', 'no error message')}",
        execution_id=outcome.execution_id,
        error=error,
    )
