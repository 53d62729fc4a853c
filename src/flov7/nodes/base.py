"""The node-type protocol and registry.

Each node type describes itself (n8n style): a pydantic config model that both the
validator and ``GET /node-types`` use, a description, an example, and how it runs:

- ``PURE`` nodes (``condition``, ``transform``) are evaluated inside workflow code by
  :meth:`NodeType.evaluate`: deterministic, no I/O, no activity round trip.
- ``TIMER`` nodes (``delay``) become a durable timer (``workflow.sleep``).
- ``ACTIVITY`` nodes touch the world and run as one Temporal activity per node type,
  calling :meth:`NodeType.execute`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from flov7.engine.messages import error_message, rendered_note
from flov7.errors import NodeExecutionError


class NodeKind(StrEnum):
    """Where a node type runs."""

    PURE = "pure"
    TIMER = "timer"
    ACTIVITY = "activity"


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

    def evaluate(self, config: NodeConfig, scope: Mapping[str, Any]) -> Any:
        """Run a ``PURE`` node; ``scope`` holds inputs, nodes, input, execution."""
        raise TypeError(f"{self.name} is not a pure node type")

    def timer_seconds(self, config: NodeConfig) -> float:
        """How long a ``TIMER`` node sleeps."""
        raise TypeError(f"{self.name} is not a timer node type")

    def timer_output(self, config: NodeConfig, inputs: Any) -> Any:
        """What a ``TIMER`` node outputs once its timer fired."""
        raise TypeError(f"{self.name} is not a timer node type")

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


_REGISTRY: dict[str, NodeType] = {}


def register(node_type: NodeType) -> NodeType:
    """Add a node type to the registry (one instance per type name)."""
    _REGISTRY[node_type.name] = node_type
    return node_type


def unregister(name: str) -> None:
    """Remove a node type (tests registering their own types clean up with this)."""
    _REGISTRY.pop(name, None)


def get_node_type(name: str) -> NodeType | None:
    """The registered node type called ``name``, or None."""
    _ensure_builtin_types()
    return _REGISTRY.get(name)


def node_types() -> dict[str, NodeType]:
    """Every registered node type, by name: built-ins in the guide's order, then others."""
    _ensure_builtin_types()
    from flov7.nodes.builtin import GUIDE_ORDER

    rank = {name: index for index, name in enumerate(GUIDE_ORDER)}
    names = sorted(_REGISTRY, key=lambda name: (rank.get(name, len(rank)), name))
    return {name: _REGISTRY[name] for name in names}


_builtins_loaded = False


def _ensure_builtin_types() -> None:
    # Imported lazily: the node modules import this one for the base classes.
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        import flov7.nodes.builtin  # noqa: F401


def passthrough(inputs: Any, **extra: Any) -> dict[str, Any]:
    """Output of a node that forwards what it received plus a few fields of its own.

    A ``condition`` or ``delay`` sits between two nodes without hiding the first one's
    output from the second (``inputs.body`` still works after a condition).
    """
    if isinstance(inputs, dict):
        return {**inputs, **extra}
    return {"data": inputs, **extra}
