"""The workflow document: :class:`WorkflowSpec`, :class:`NodeSpec`, :class:`EdgeSpec`.

Accepts the guide's shape plus React-Flow extras (``position``, ``data.label``,
``sourceHandle``, ``targetHandle``). A node keeps the top-level fields it does not know
(``NodeSpec.model_extra``) so that :mod:`flov7.engine.validate` can tell a presentation
field from a typo. Node *types*, per-type configuration and unknown fields are checked
there, not here, so that one document yields one report listing every problem.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flov7.errors import WorkflowDocumentError
from flov7.messages import error_message

# Keys a node may carry either at its top level or inside ``data`` (the guide keeps
# everything in ``data``; React-Flow editors tend to put behaviour at the top level).
NODE_BEHAVIOUR_KEYS = ("on_error", "timeout_seconds", "retry", "execution")


class OnError(StrEnum):
    """What a node's failure does to the run."""

    FAIL = "fail"
    """The run fails; nodes not yet started are not started."""
    CONTINUE = "continue"
    """The error becomes the node's output and the run goes on."""
    ERROR_HANDLE = "error_handle"
    """Edges with ``sourceHandle: "error"`` are taken, the others are not."""


class Execution(StrEnum):
    """How an I/O node runs on Temporal (the local runtime runs every node in-process).

    The default, when a node names neither, is decided by
    :func:`flov7.engine.execution.choose_execution` (docs/nodes.md, "Local activities").
    """

    LOCAL = "local"
    """A Temporal local activity: run by the worker that runs the workflow, inside its
    workflow task (no server round trip per step); it cannot heartbeat."""
    ACTIVITY = "activity"
    """A regular activity: scheduled through the server, any worker may run it, it
    heartbeats (a killed worker is noticed within the heartbeat timeout)."""


class RetrySpec(BaseModel):
    """Retry policy of one node (overrides the run's defaults field by field)."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int | None = Field(default=None, ge=1, le=100)
    initial_interval_seconds: float | None = Field(default=None, gt=0, le=3600)
    backoff_coefficient: float | None = Field(default=None, ge=1, le=100)
    max_interval_seconds: float | None = Field(default=None, gt=0, le=86400)


class LargePayloads(BaseModel):
    """How the starter's payload store keeps large payloads out of Temporal's history."""

    model_config = ConfigDict(extra="forbid")

    threshold_bytes: int = Field(gt=0)
    """Payloads of at least this many bytes are stored by reference."""
    max_output_bytes: int = Field(gt=0)
    """Largest node output (and activity input, and result) a run accepts."""


class ExecutionDefaults(BaseModel):
    """Defaults a starter stamps into the document (from ``TEMPORAL_*`` settings).

    Workflow code must not read the environment (a replay on another worker would see
    other values), so the settings travel inside the workflow input instead.
    """

    model_config = ConfigDict(extra="forbid")

    activity_timeout_seconds: float = Field(default=300, gt=0)
    """One attempt of an I/O node (Temporal start-to-close)."""
    node_timeout_seconds: float = Field(default=300, gt=0)
    """One I/O node across all its attempts (Temporal schedule-to-close)."""
    heartbeat_timeout_seconds: float = Field(default=5, gt=0)
    """An I/O activity heartbeats well within this; a silent one is presumed dead (its
    worker was killed) and retried. Heartbeats also carry cancellation to activities."""
    retry: RetrySpec = Field(
        default_factory=lambda: RetrySpec(
            max_attempts=3,
            initial_interval_seconds=1,
            backoff_coefficient=2.0,
            max_interval_seconds=10,
        )
    )
    continue_as_new_after_bytes: int = Field(default=20_000_000, gt=0)
    """On Temporal, a run whose activity inputs and outputs pass this many bytes (or that
    Temporal says has a long history) continues as new once its nodes in flight finish:
    same execution id, a fresh history, its finished nodes carried over."""
    search_attributes: bool = False
    """Keep the ``Flov7Status`` search attribute up to date (upserted at start and end).

    Set by the starter, which knows whether the cluster has the Flov7 search attributes
    registered: upserting one that is not registered would fail every workflow task.
    """
    large_payloads: LargePayloads | None = None
    """Set by a starter whose payloads over a threshold go to a payload store
    (``FLOV7_PAYLOAD_STORE_DIR``): node outputs may then be as large as
    ``FLOV7_MAX_LARGE_OUTPUT_BYTES`` (see :class:`flov7.engine.payloads.PayloadLimits`).
    None (and every run recorded before it existed): Temporal's own limits."""


class NodeSpec(BaseModel):
    """One node of the graph.

    Unknown top-level fields are kept in ``model_extra`` (never read by the engine): the
    validator accepts presentation fields there and reports the others.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)
    on_error: OnError = OnError.FAIL
    timeout_seconds: float | None = Field(default=None, gt=0, le=7 * 86400)
    retry: RetrySpec | None = None
    execution: Execution | None = None
    """``local`` or ``activity`` for an I/O node; None: the rule of
    :mod:`flov7.engine.execution` decides. Ignored by the local runtime."""

    @model_validator(mode="before")
    @classmethod
    def _lift_behaviour_from_data(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("data"), dict):
            data = value["data"]
            lifted = {k: data[k] for k in NODE_BEHAVIOUR_KEYS if k in data and k not in value}
            if lifted:
                value = {**value, **lifted}
        if isinstance(value, dict) and value.get("on_error") == "error":
            value = {**value, "on_error": OnError.ERROR_HANDLE}
        return value

    @property
    def label(self) -> str:
        """The editor's label, or the id."""
        label = self.data.get("label")
        return label if isinstance(label, str) and label else self.id


class EdgeSpec(BaseModel):
    """A directed edge; ``source_handle`` selects a branch (``true``/``false``/``error``).

    Unknown fields are kept in ``model_extra`` for the validator, like a node's.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    source_handle: str | None = Field(default=None, alias="sourceHandle")
    target_handle: str | None = Field(default=None, alias="targetHandle")

    @model_validator(mode="before")
    @classmethod
    def _accept_snake_case_handles(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if "source_handle" in value and "sourceHandle" not in value:
                value = {**value, "sourceHandle": value["source_handle"]}
            if "target_handle" in value and "targetHandle" not in value:
                value = {**value, "targetHandle": value["target_handle"]}
            if isinstance(value.get("sourceHandle"), bool):
                value = {**value, "sourceHandle": str(value["sourceHandle"]).lower()}
        return value


class ParentRef(BaseModel):
    """The run that started this one through a ``workflow`` node (set by the engine)."""

    model_config = ConfigDict(extra="forbid")

    execution_id: str = Field(min_length=1)
    node_id: str = Field(min_length=1)
    depth: int = Field(ge=1, le=1000)
    """How deep this run is in the chain of calls (a top-level run's child: 1)."""


class RecordedNode(BaseModel):
    """A node's outcome kept from an earlier run (a rerun does not run it again)."""

    model_config = ConfigDict(extra="ignore")

    output: Any = None
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    status: str = "completed"
    """``completed``, or ``failed`` for a failure that was handled (``continue`` or an
    ``error`` edge) when a run continues as new."""
    error: dict[str, Any] | None = None
    handled_as: OnError | None = None


class RerunPlan(BaseModel):
    """Set on the document of a rerun (see :mod:`flov7.engine.rerun`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    of: str = Field(min_length=1)
    """The execution id of the run this one reruns."""
    start_from: str = Field(alias="from", min_length=1)
    """``failed``, ``start`` or a node id."""
    recorded: dict[str, RecordedNode] = Field(default_factory=dict)
    """Nodes that keep their recorded outcome, by id: they complete at once."""


class Continuation(BaseModel):
    """Set on the document of a run that continued as new: what the chain did so far."""

    model_config = ConfigDict(extra="forbid")

    runs: int = Field(ge=1)
    """How many runs of the chain came before this one."""
    started_at: str | None = None
    execution_path: list[str] = Field(default_factory=list)
    recorded: dict[str, RecordedNode] = Field(default_factory=dict)
    """Every node that finished in an earlier run of the chain, by id."""


class WorkflowSpec(BaseModel):
    """A whole workflow document.

    Unknown top-level fields are kept in ``model_extra`` for the validator, like a node's.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(default="workflow", min_length=1, max_length=200)
    name: str = ""
    description: str = ""
    input: dict[str, Any] = Field(default_factory=dict)
    nodes: list[NodeSpec] = Field(default_factory=list)
    edges: list[EdgeSpec] = Field(default_factory=list)
    defaults: ExecutionDefaults = Field(default_factory=ExecutionDefaults)
    parent: ParentRef | None = None
    """Set on the document of a sub-workflow run: who called it (``workflow`` node)."""
    rerun: RerunPlan | None = None
    """Set on the document of a rerun: what it reruns and which nodes it keeps."""
    continued: Continuation | None = None
    """Set by the engine when a run continues as new (see :mod:`flov7.engine.driver`)."""

    @property
    def display_name(self) -> str:
        """The name, or the id when the document has no name."""
        return self.name or self.id


MAX_DOCUMENT_DEPTH = 64
"""Deepest nesting of objects and lists in a document. Deeper ones are refused before
anything walks them recursively (copying, validating, rendering)."""


def parse_workflow(document: Any) -> WorkflowSpec:
    """Parse a workflow document (a dict, or a :class:`WorkflowSpec`).

    Raises :class:`WorkflowDocumentError` naming every malformed field.
    """
    if isinstance(document, WorkflowSpec):
        return document
    if not isinstance(document, dict):
        raise WorkflowDocumentError(
            f"A workflow document must be a JSON object, got {type(document).__name__}"
        )
    if nesting_depth(document) > MAX_DOCUMENT_DEPTH:
        message = f"The document nests objects or lists deeper than {MAX_DOCUMENT_DEPTH} levels"
        raise WorkflowDocumentError(message, problems=[("document", message)])
    try:
        return WorkflowSpec.model_validate(document)
    except ValidationError as exc:
        problems = document_problems(exc, document)
        lines = "\n  ".join(f"{where}: {message}" for where, message in problems)
        raise WorkflowDocumentError(
            f"Invalid workflow document:\n  {lines}", problems=problems
        ) from exc


def nesting_depth(value: Any) -> int:
    """How deeply objects and lists nest in ``value`` (iterative: no recursion limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DOCUMENT_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def document_problems(exc: ValidationError, document: Any = None) -> list[tuple[str, str]]:
    """``(location, message)`` pairs, locations like ``nodes[2] (id 'n3').timeout_seconds``."""
    return [(_locate(err["loc"], document), error_message(err)) for err in exc.errors()]


def _locate(loc: tuple[int | str, ...], document: Any) -> str:
    parts: list[str] = []
    current = document
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(current, list) and 0 <= item < len(current):
                current = current[item]
                if isinstance(current, dict) and isinstance(current.get("id"), str):
                    label += f" (id '{current['id']}')"
            else:
                current = None
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
            current = current.get(item) if isinstance(current, dict) else None
    return "".join(parts) or "document"
