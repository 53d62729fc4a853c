"""The run's state machine: which node is ready, which branch is taken, what a node sees.

Written once, deterministic and free of I/O, and shared by both runtimes: Temporal
workflow code (where it is replayed, so no sets, no clocks, no randomness: the caller
passes ``now``) and the in-process local runtime. The runtimes only run nodes; see
:mod:`flov7.engine.driver`.

Rules (DESIGN.md):

- A node is resolved once every incoming edge's source has finished. It runs when at
  least one incoming edge is active, and is ``skipped`` otherwise; skipping propagates.
- An edge is active when its source completed and the edge's handle was chosen (a
  ``condition`` picks ``true`` or ``false``), or its source failed with ``on_error``
  ``continue`` (normal edges) or with an ``error`` handle (``error`` edges only).
- A failure with ``on_error: fail`` fails the run: no pending node starts any more.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flov7.engine.graph import Graph
from flov7.nodes.base import REQUEST_HANDLE, NodeType
from flov7.nodes.registry import get_node_type
from flov7.spec import EdgeSpec, NodeSpec, OnError, WorkflowSpec

ERROR_HANDLE = "error"


class NodeStatus(StrEnum):
    """Status of one node in a run."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    """Status of a run."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


_FINISHED = (NodeStatus.COMPLETED, NodeStatus.FAILED, NodeStatus.SKIPPED)

BUILD_STEPS_PER_NODE = 15
"""What building an :class:`Interpreter` costs per node (about 10 us of CPU here), in the
steps that pace a run's workflow tasks (engine/driver.py, engine/validate.py)."""


@dataclass
class NodeState:
    """What is known of one node so far."""

    status: NodeStatus = NodeStatus.PENDING
    output: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    handled_as: OnError | None = None
    """For a failed node: how the failure was handled."""
    input: Any = None
    """The node's rendered config as it ran (secrets redacted, size-capped)."""
    waiting_for: str | None = None
    """For a running ``wait`` / ``approval`` node: the event it waits for."""
    worker: str | None = None
    """Identity of the worker that ran the node's last attempt (None when unknown)."""
    progress: dict[str, int] | None = None
    """For a node that iterates (``for_each``): ``items_done``, ``items_total``..."""
    child_execution_id: str | None = None
    """For a ``workflow`` node: the execution id of the run it started."""
    reused_from: str | None = None
    """In a rerun: the execution id whose recorded outcome this node kept (not run)."""

    def as_dict(self) -> dict[str, Any]:
        """The node's entry in ``node_results``."""
        return {
            "status": self.status.value,
            "output": self.output,
            "error": self.error,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "input": self.input,
            "worker": self.worker,
            **({"child_execution_id": self.child_execution_id} if self.child_execution_id else {}),
            **({"reused_from": self.reused_from} if self.reused_from else {}),
        }


class Interpreter:
    """Drives one run of a (validated) workflow, one event at a time."""

    def __init__(
        self,
        spec: WorkflowSpec,
        *,
        execution: dict[str, Any] | None = None,
        extra_scope: dict[str, Any] | None = None,
    ) -> None:
        self.spec = spec
        self.extra_scope = dict(extra_scope or {})
        """Names added to every node's scope (a ``for_each`` body: ``item``, ``index``)."""
        self.graph = Graph.from_spec(spec)
        self.execution = dict(execution or {})
        if spec.parent is not None:
            # A sub-workflow run: its nodes can see who called it, and how deep it is.
            self.execution.setdefault("parent_execution_id", spec.parent.execution_id)
            self.execution.setdefault("depth", spec.parent.depth)
        self.nodes: dict[str, NodeSpec] = {node.id: node for node in spec.nodes}
        self.types: dict[str, NodeType] = {}
        for node in spec.nodes:
            node_type = get_node_type(node.type)
            if node_type is None:
                raise ValueError(f"Unknown node type '{node.type}' (validate the workflow first)")
            self.types[node.id] = node_type
        self.states: dict[str, NodeState] = {node_id: NodeState() for node_id in self.nodes}
        self.status = RunStatus.RUNNING
        self.error: dict[str, Any] | None = None
        self.execution_path: list[str] = []
        self.cancelled_nodes: list[str] = []
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self._order = {node_id: index for index, node_id in enumerate(self.graph.node_ids)}
        self._unfinished_parents = {
            node_id: len(self.graph.incoming[node_id]) for node_id in self.graph.node_ids
        }
        self._resolvable: list[str] = self.graph.roots()
        self.resolving: str | None = None
        """The node :meth:`advance` is resolving (or resolved last)."""
        self._offered: dict[str, Any] = {}
        """Outputs sent along ``request`` edges by nodes still waiting (``approval``)."""
        # Insertion-ordered (a dict, not a set: replays iterate it in the same order);
        # removing one of 20,000 parallel nodes from a list would shift all the others.
        self._running: dict[str, None] = {}
        self._error_routed = {
            node_id: any(e.source_handle == ERROR_HANDLE for e in self.graph.outgoing[node_id])
            for node_id in self.graph.node_ids
        }
        rerun = spec.rerun
        self._recorded = {
            node_id: recorded
            for node_id, recorded in (rerun.recorded.items() if rerun else ())
            if node_id in self.nodes
        }
        continued = spec.continued
        if continued is not None:
            # An earlier run of this chain finished these nodes: they are replayed from
            # the record, in the order they finished.
            self._recorded.update({k: v for k, v in continued.recorded.items() if k in self.nodes})
            self.started_at = continued.started_at
            self.execution_path = [n for n in continued.execution_path if n in self.nodes]
        # Building ``nodes.<id>`` costs O(ancestors); only nodes that mention it pay.
        self._reads_nodes_scope = {node.id: "nodes" in repr(node.data) for node in spec.nodes}

    # -- scheduling -------------------------------------------------------------------

    def start(self, now: str) -> None:
        """Mark the run as started."""
        self.started_at = self.started_at or now

    def advance(self, now: str) -> list[str]:
        """Resolve every node whose parents have all finished.

        Nodes with no active incoming edge are skipped (which may resolve more nodes);
        the others are marked running and returned, in document order, to be run.
        """
        if self.status != RunStatus.RUNNING:
            return []
        started: list[str] = []
        while self._resolvable:
            batch = sorted(self._resolvable, key=self._order.__getitem__)
            self._resolvable = []
            for node_id in batch:
                self.resolving = node_id  # named by an internal error raised from here
                incoming = self.graph.incoming[node_id]
                if node_id in self._recorded and (
                    not incoming or any(self._edge_active(edge) for edge in incoming)
                ):
                    self._reuse(node_id)
                elif not incoming or any(self._edge_active(edge) for edge in incoming):
                    state = self.states[node_id]
                    state.status = NodeStatus.RUNNING
                    state.started_at = now
                    self._running[node_id] = None
                    started.append(node_id)
                else:
                    state = self.states[node_id]
                    state.status = NodeStatus.SKIPPED
                    state.finished_at = now
                    self._release_children(node_id)
        return started

    def _reuse(self, node_id: str) -> None:
        """A rerun keeps this node's recorded outcome: completed at once, not run."""
        recorded = self._recorded[node_id]
        state = self.states[node_id]
        state.output = recorded.output
        state.attempts = recorded.attempts
        state.started_at = recorded.started_at
        state.finished_at = recorded.finished_at
        continued = self.spec.continued
        if continued is not None and node_id in continued.recorded:
            # Carried over from an earlier run of the same chain (continue-as-new).
            state.status = NodeStatus(recorded.status)
            state.error = recorded.error
            state.handled_as = recorded.handled_as
        else:
            state.status = NodeStatus.COMPLETED
            state.reused_from = self.spec.rerun.of if self.spec.rerun else None
            self.execution_path.append(node_id)
        self._release_children(node_id)

    def continuation(self) -> dict[str, Any]:
        """The ``continued`` field of the next run of this chain: every finished node."""
        runs = self.spec.continued.runs if self.spec.continued is not None else 0
        recorded: dict[str, Any] = {}
        for node_id in self.graph.node_ids:
            state = self.states[node_id]
            if state.status not in (NodeStatus.COMPLETED, NodeStatus.FAILED):
                continue  # skipped nodes are derived again from their parents
            recorded[node_id] = {
                "output": state.output,
                "attempts": state.attempts,
                "started_at": state.started_at,
                "finished_at": state.finished_at,
                "status": state.status.value,
                "error": state.error,
                "handled_as": state.handled_as.value if state.handled_as else None,
            }
        return {
            "runs": runs + 1,
            "started_at": self.started_at,
            "execution_path": list(self.execution_path),
            "recorded": recorded,
        }

    def complete(
        self, node_id: str, output: Any, *, attempts: int, now: str, worker: str | None = None
    ) -> None:
        """Record a node's success (``worker``: who ran its last attempt)."""
        state = self._finish(node_id, NodeStatus.COMPLETED, now, attempts, worker)
        state.output = output
        self._release_children(node_id)

    def fail(
        self,
        node_id: str,
        error: dict[str, Any],
        *,
        attempts: int,
        now: str,
        worker: str | None = None,
    ) -> None:
        """Record a node's failure and apply its ``on_error``."""
        state = self._finish(node_id, NodeStatus.FAILED, now, attempts, worker)
        state.error = error
        mode = self.nodes[node_id].on_error
        if mode == OnError.FAIL and self._error_routed[node_id]:
            mode = OnError.ERROR_HANDLE  # An "error" edge is an explicit handler.
        state.handled_as = mode
        if mode == OnError.FAIL:
            if self.status == RunStatus.RUNNING:
                self.status = RunStatus.FAILED
                self.error = {"node_id": node_id, **error}
            return
        state.output = {"error": error}
        self._release_children(node_id)

    def abort(self, node_id: str | None, error: dict[str, Any], *, now: str) -> None:
        """Fail the run at once for an internal error (a bug, not a node failure).

        ``on_error`` does not apply: the node (if still running) is marked failed and no
        pending node starts any more. Nodes still running must be cancelled by the caller.
        """
        if node_id is not None and self.states[node_id].status == NodeStatus.RUNNING:
            attempts = max(1, self.states[node_id].attempts)
            state = self._finish(node_id, NodeStatus.FAILED, now, attempts)
            state.error = error
            state.handled_as = OnError.FAIL
        elif node_id is not None and self.states[node_id].error is None:
            self.states[node_id].error = error
        if self.status in (RunStatus.RUNNING, RunStatus.COMPLETED):
            self.status = RunStatus.FAILED
            self.error = {"node_id": node_id, **error}

    def cancel(self, reason: str = "cancel requested") -> list[str]:
        """Stop the run: no node starts any more. Returns the running nodes to cancel."""
        if self.status == RunStatus.RUNNING:
            self.status = RunStatus.CANCELLED
            self.error = {"type": "Cancelled", "message": reason}
        return list(self._running)

    def offer(self, node_id: str, output: Any) -> None:
        """A running node's early output: its ``request`` edges become active now (their
        targets may start), the others wait for the node to finish."""
        if node_id in self._offered:
            return
        self._offered[node_id] = output
        self._release_children(node_id, only_requests=True)

    def mark_waiting(self, node_id: str, event: str | None) -> None:
        """Show a running node as waiting for ``event`` (None: no longer waiting)."""
        self.states[node_id].waiting_for = event

    def mark_cancelled(self, node_id: str, *, now: str, worker: str | None = None) -> None:
        """Record that a running node was cancelled."""
        self._finish(node_id, NodeStatus.CANCELLED, now, self.states[node_id].attempts, worker)
        self.cancelled_nodes.append(node_id)
        if self.status == RunStatus.RUNNING:
            # A node cancelled on its own (not by a run cancel) still stops the run.
            self.status = RunStatus.CANCELLED
            self.error = {"type": "Cancelled", "message": f"node '{node_id}' was cancelled"}

    def finish(self, now: str) -> None:
        """Close the run once nothing runs any more."""
        self.finished_at = now
        if self.status == RunStatus.RUNNING:
            self.status = RunStatus.COMPLETED

    @property
    def running(self) -> list[str]:
        """Nodes started and not yet finished."""
        return list(self._running)

    # -- what a node sees ---------------------------------------------------------------

    def scope_for(self, node_id: str, input_data: dict[str, Any]) -> dict[str, Any]:
        """The names an expression in ``node_id`` can use.

        ``inputs``: the output of its active parents (one parent: that output; several:
        their dict outputs merged in edge order, other outputs under the parent's id;
        none: the run's input). ``nodes``: ``{id: {output, status}}`` of finished
        upstream nodes. ``input``: the run's input. ``execution``: ids and attempt.
        """
        scope: dict[str, Any] = {
            "inputs": self._inputs_of(node_id, input_data),
            "input": input_data,
            "execution": {**self.execution, "node_id": node_id},
            "nodes": self._upstream_view(node_id) if self._reads_nodes_scope[node_id] else {},
        }
        if self.extra_scope:
            scope.update(self.extra_scope)
        return scope

    def _inputs_of(self, node_id: str, input_data: dict[str, Any]) -> Any:
        incoming = self.graph.incoming[node_id]
        if not incoming:
            return input_data
        outputs: dict[str, Any] = {}
        for edge in incoming:
            if edge.source not in outputs and self._edge_active(edge):
                outputs[edge.source] = (
                    self._offered[edge.source]
                    if edge.source_handle == REQUEST_HANDLE
                    else self.states[edge.source].output
                )
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        merged: dict[str, Any] = {}
        for parent, output in outputs.items():
            if isinstance(output, dict):
                merged.update(output)
            else:
                merged[parent] = output
        return merged

    def _upstream_view(self, node_id: str) -> dict[str, Any]:
        view: dict[str, Any] = {}
        stack = self.graph.parents(node_id)
        while stack:
            ancestor = stack.pop()
            if ancestor in view:
                continue
            state = self.states[ancestor]
            if state.status in _FINISHED:
                view[ancestor] = {"output": state.output, "status": state.status.value}
            stack.extend(self.graph.parents(ancestor))
        return view

    # -- reports ------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """How many nodes are in each status."""
        counts = {status.value: 0 for status in NodeStatus}
        for state in self.states.values():
            counts[state.status.value] += 1
        return counts

    def status_report(self) -> dict[str, Any]:
        """What the ``get_status`` query answers while the run goes on."""
        return {
            "workflow_id": self.spec.id,
            "workflow_name": self.spec.display_name,
            "execution_id": self.execution.get("execution_id"),
            "status": self.status.value,
            "nodes": {
                node_id: {
                    "type": self.nodes[node_id].type,
                    # A waiting node is running for the graph; callers see it waiting.
                    "status": "waiting" if state.waiting_for else state.status.value,
                    **({"waiting_for": state.waiting_for} if state.waiting_for else {}),
                    "attempts": state.attempts,
                    "started_at": state.started_at,
                    "finished_at": state.finished_at,
                    "error": state.error,
                    "worker": state.worker,
                    **({"progress": dict(state.progress)} if state.progress else {}),
                    **(
                        {"child_execution_id": state.child_execution_id}
                        if state.child_execution_id
                        else {}
                    ),
                }
                for node_id, state in self.states.items()
            },
            "counts": self.counts(),
            "execution_path": list(self.execution_path),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            **self._parent_link(),
        }

    def _parent_link(self) -> dict[str, Any]:
        """``parent`` (execution_id, node_id, depth) of a sub-workflow run and
        ``rerun_of`` of a rerun, when they apply."""
        links: dict[str, Any] = {}
        if self.spec.parent is not None:
            links["parent"] = self.spec.parent.model_dump()
        if self.spec.rerun is not None:
            links["rerun_of"] = self.spec.rerun.of
        return links

    def result(self) -> dict[str, Any]:
        """The run's result document (the workflow's return value)."""
        counts = self.counts()
        return {
            "workflow_id": self.spec.id,
            "workflow_name": self.spec.display_name,
            "execution_id": self.execution.get("execution_id"),
            "run_id": self.execution.get("run_id"),
            "status": self.status.value,
            "node_results": {
                node_id: {"type": self.nodes[node_id].type, **state.as_dict()}
                for node_id, state in self.states.items()
            },
            "execution_path": list(self.execution_path),
            "total_nodes": len(self.states),
            "completed_nodes": counts[NodeStatus.COMPLETED],
            "failed_nodes": counts[NodeStatus.FAILED],
            "skipped_nodes": counts[NodeStatus.SKIPPED],
            "cancelled_nodes": list(self.cancelled_nodes),
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "input": self.spec.input,
            **self._parent_link(),
        }

    # -- internals ----------------------------------------------------------------------

    def _finish(
        self,
        node_id: str,
        status: NodeStatus,
        now: str,
        attempts: int,
        worker: str | None = None,
    ) -> NodeState:
        state = self.states[node_id]
        if state.status != NodeStatus.RUNNING:
            raise ValueError(f"Node '{node_id}' is {state.status.value}, not running")
        state.status = status
        state.finished_at = now
        state.attempts = attempts
        state.worker = worker
        del self._running[node_id]
        if status != NodeStatus.CANCELLED:
            self.execution_path.append(node_id)
        return state

    def _release_children(self, node_id: str, *, only_requests: bool = False) -> None:
        offered = node_id in self._offered
        for edge in self.graph.outgoing[node_id]:
            is_request = edge.source_handle == REQUEST_HANDLE
            # Request edges are released once: by offer(), or else when the node ends.
            if (only_requests and not is_request) or (is_request and offered and not only_requests):
                continue
            self._unfinished_parents[edge.target] -= 1
            if self._unfinished_parents[edge.target] == 0:
                self._resolvable.append(edge.target)

    def _edge_active(self, edge: EdgeSpec) -> bool:
        if edge.source_handle == REQUEST_HANDLE:
            return edge.source in self._offered  # whatever became of the node since
        state = self.states[edge.source]
        if state.status == NodeStatus.COMPLETED:
            handles = self.types[edge.source].active_handles(state.output)
            if handles is None:
                return edge.source_handle != ERROR_HANDLE
            return edge.source_handle in handles
        if state.status == NodeStatus.FAILED:
            if state.handled_as == OnError.CONTINUE:
                return edge.source_handle != ERROR_HANDLE
            if state.handled_as == OnError.ERROR_HANDLE:
                return edge.source_handle == ERROR_HANDLE
        return False
