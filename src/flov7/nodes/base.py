"""The node-type protocol.

Each node type describes itself (n8n style): a pydantic config model that both the
validator and ``GET /node-types`` use, a description, an example, and how it runs:

- ``PURE`` nodes (``condition``, ``transform``) are evaluated inside workflow code by
  :meth:`NodeType.evaluate`: deterministic, no I/O, no activity round trip.
- ``TIMER`` nodes (``delay``) become a durable timer (``workflow.sleep``).
- ``EVENT`` nodes (``wait``, ``approval``) wait for a named event sent to the run (a
  Temporal signal) with an optional timeout, then output what the event carried.
- ``ACTIVITY`` nodes touch the world and run as one Temporal activity per node type,
  calling :meth:`NodeType.execute`.

A node type also answers what the engine, the validator and the timelines need to know
about its config without reading its fields themselves: which fields hold expressions
(:meth:`NodeType.expressions`) and how long it waits (:meth:`NodeType.wait_seconds`).
The built-in types are listed in :mod:`flov7.nodes.registry`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from flov7.errors import NodeExecutionError
from flov7.messages import error_message, rendered_note
from flov7.spec import Execution

REQUEST_HANDLE = "request"
"""Source handle of the edges a preparing ``EVENT`` node (``approval``) feeds while it
still waits (see :attr:`NodeType.prepares`)."""


class NodeKind(StrEnum):
    """Where a node type runs."""

    PURE = "pure"
    TIMER = "timer"
    EVENT = "event"
    ACTIVITY = "activity"
    COMPOSITE = "composite"
    """Runs a sub-graph per item (``for_each``): the engine drives it with the run's own
    runner, so its nodes are the run's activities and timers (:mod:`flov7.engine.for_each`)."""


class NodeConfig(BaseModel):
    """Base of every node config model: unknown (presentation) fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    label: str | None = None


@dataclass
class ActivityContext:
    """What an ``ACTIVITY`` node's :meth:`NodeType.execute` receives besides its config."""

    workflow_id: str
    run_id: str
    node_id: str
    attempt: int
    heartbeat: Callable[..., None]
    resources: Any = None
    """Shared per-worker resources (HTTP client, database engines, credentials)."""
    extras: dict[str, Any] = field(default_factory=dict)


class NodeType:
    """A node type. Subclasses set the class attributes and override one runner."""

    name: ClassVar[str]
    kind: ClassVar[NodeKind]
    config_model: ClassVar[type[NodeConfig]]
    description: ClassVar[str]
    example: ClassVar[dict[str, Any]]
    expression_fields: ClassVar[tuple[str, ...]] = ()
    """Config fields holding bare expressions: syntax-checked, never template-rendered."""
    literal_fields: ClassVar[tuple[str, ...]] = ()
    """Config fields taken exactly as written: never template-rendered, and a ``{{ }}``
    in them is a validation error (``database.query``: values go through ``params``,
    so run data can never become SQL)."""
    branch_handles: ClassVar[tuple[str, ...]] = ()
    """Source handles this type's outgoing edges must carry (``condition``: true/false)."""
    output_schema: ClassVar[dict[str, Any] | None] = None
    """JSON Schema of the output (see :mod:`flov7.nodes.outputs`); None when unknown."""
    execution: ClassVar[Execution] = Execution.ACTIVITY
    """``ACTIVITY`` types: how their nodes prefer to run on Temporal when the node does
    not say (``LOCAL``: short I/O; the rule of :mod:`flov7.engine.execution` still
    checks the attempt's time limit). ``approval``'s preparing activity stays regular."""
    prepares: ClassVar[bool] = False
    """``EVENT`` types only: :meth:`execute` runs first, as an activity, and its output
    goes at once along the node's ``request`` edges while the node waits (``approval``:
    the links to send to the person who decides)."""

    def parse_config(
        self, data: Mapping[str, Any], written: Mapping[str, Any] | None = None
    ) -> NodeConfig:
        """Validate raw ``data`` against :attr:`config_model`.

        ``written``: the node's data before its templates were rendered; an error in a
        rendered value then names the template (``'{{ input.wait }}' rendered to null``).
        Raises :class:`NodeExecutionError` (non-retryable) when invalid; the validator
        reports the same errors per field before a run starts.
        """
        try:
            return self.config_model.model_validate(dict(data))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'data'}: {error_message(err)}"
                f"{rendered_note(err, written)}"
                for err in exc.errors()
            )
            raise NodeExecutionError(
                f"Invalid {self.name} configuration: {problems}",
                error_type="InvalidNodeConfig",
                retryable=False,
            ) from exc

    def attempt_bound_seconds(self, config: NodeConfig) -> float | None:
        """The longest one attempt can take by this type's own limits (an HTTP time limit
        that bounds the whole exchange), or None when only the attempt timeout bounds it.

        Read by :func:`flov7.engine.execution.choose_execution`: a node that cannot run
        long may run as a local activity even under a long attempt timeout.
        """
        return None

    def expressions(self, config_data: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Every ``(field path, expression text)`` in raw config ``data``.

        Paths are relative to ``data`` (``condition``, ``mapping.result``,
        ``mapping.items[0]``). The default walks :attr:`expression_fields`: a string is
        one expression, an object or a list holds one per string leaf. The validator
        syntax-checks each before a run starts.
        """
        leaves: list[tuple[str, str]] = []
        for name in self.expression_fields:
            value = config_data.get(name)
            if value is not None:
                leaves.extend(expression_leaves(value, name))
        return leaves

    def bodies(self, config_data: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """Every ``(field path, workflow document)`` nested in raw config ``data``.

        The validator checks each like a workflow of its own (``for_each.body``); none by
        default.
        """
        return []

    def wait_seconds(self, config_data: Mapping[str, Any]) -> float | None:
        """How long a node of this type waits, read from raw config ``data``.

        None for types that do not wait, and when the duration is not known before the
        run (a templated value). Timelines and status answers use it for a node that is
        still waiting; :meth:`waited_seconds` reads it from a finished node's output.
        """
        return None

    def waited_seconds(self, output: Any) -> float | None:
        """How long a finished node of this type waited, read from its ``output``.

        None for types that do not wait.
        """
        return None

    def evaluate(self, config: NodeConfig, scope: Mapping[str, Any]) -> Any:
        """Run a ``PURE`` node; ``scope`` holds inputs, nodes, input, execution."""
        raise TypeError(f"{self.name} is not a pure node type")

    def timer_seconds(self, config: NodeConfig) -> float:
        """How long a ``TIMER`` node sleeps."""
        raise TypeError(f"{self.name} is not a timer node type")

    def timer_output(self, config: NodeConfig, inputs: Any) -> Any:
        """What a ``TIMER`` node outputs once its timer fired."""
        raise TypeError(f"{self.name} is not a timer node type")

    def event_wait(self, config: NodeConfig, node_id: str) -> tuple[str, float | None]:
        """The event an ``EVENT`` node waits for, and its timeout in seconds (None: none)."""
        raise TypeError(f"{self.name} is not an event node type")

    def event_output(self, config: NodeConfig, data: Any, received_at: str) -> Any:
        """What an ``EVENT`` node outputs once its event arrived with ``data``."""
        raise TypeError(f"{self.name} is not an event node type")

    def execute(self, config: NodeConfig, context: ActivityContext) -> Awaitable[Any]:
        """Run an ``ACTIVITY`` node (inside a Temporal activity or the local runtime)."""
        raise TypeError(f"{self.name} is not an activity node type")

    def active_handles(self, output: Any) -> tuple[str, ...] | None:
        """Handles made active by ``output``; None means every non-error edge."""
        return None

    def output_schema_for(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """The output's JSON Schema for this config (``transform``: its mapping's keys)."""
        return self.output_schema

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of the config, as shown by ``GET /node-types``."""
        return self.config_model.model_json_schema()


def get_node_type(name: str) -> NodeType | None:
    """The node type called ``name``, or None: see :func:`flov7.nodes.registry.get_node_type`.

    Kept here for callers that predate :mod:`flov7.nodes.registry`; new code imports the
    registry. Imported when called: the registry imports every node module, and they
    import this one.
    """
    from flov7.nodes import registry

    return registry.get_node_type(name)


def node_types() -> dict[str, NodeType]:
    """Every node type, by name: see :func:`flov7.nodes.registry.node_types`."""
    from flov7.nodes import registry

    return registry.node_types()


def expression_leaves(value: Any, path: str) -> list[tuple[str, str]]:
    """Every ``(path, expression)`` string leaf of ``value`` (nested objects and lists).

    ``path`` names ``value`` itself; leaves get ``path.key`` and ``path[index]``. Values
    that are neither strings nor containers hold no expression.
    """
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [
            leaf for key, item in value.items() for leaf in expression_leaves(item, f"{path}.{key}")
        ]
    if isinstance(value, list):
        return [
            leaf for i, item in enumerate(value) for leaf in expression_leaves(item, f"{path}[{i}]")
        ]
    return []


def passthrough(inputs: Any, **extra: Any) -> dict[str, Any]:
    """Output of a node that forwards what it received plus a few fields of its own.

    A ``condition`` or ``delay`` sits between two nodes without hiding the first one's
    output from the second (``inputs.body`` still works after a condition).
    """
    if isinstance(inputs, dict):
        return {**inputs, **extra}
    return {"data": inputs, **extra}
