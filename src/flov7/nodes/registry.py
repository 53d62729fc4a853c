"""The node registry: an explicit manifest of the built-in node types.

:data:`BUILTIN_NODE_TYPES` lists one instance of each built-in type, in the order the
integration guide lists them (listings such as ``GET /node-types`` follow it). Nothing
registers itself on import: a node type exists for the engine, the validator and the
workers because it is named here. Tests (and embedders) add their own types with
:func:`register` / :func:`unregister`, or for one block with :func:`registered`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from flov7.nodes.ai_agent import ai_agent_node
from flov7.nodes.api_call import api_call_node
from flov7.nodes.approval import approval_node
from flov7.nodes.base import NodeType
from flov7.nodes.condition import condition_node
from flov7.nodes.database import database_node
from flov7.nodes.delay import delay_node
from flov7.nodes.for_each import for_each_node
from flov7.nodes.respond import respond_node
from flov7.nodes.transform import transform_node
from flov7.nodes.wait import wait_node
from flov7.nodes.webhook import webhook_node
from flov7.nodes.workflow_call import workflow_call_node

__all__ = [
    "BUILTIN_NODE_TYPES",
    "get_node_type",
    "node_types",
    "register",
    "registered",
    "unregister",
]

BUILTIN_NODE_TYPES: tuple[NodeType, ...] = (
    api_call_node,
    condition_node,
    transform_node,
    delay_node,
    database_node,
    webhook_node,
    ai_agent_node,
    wait_node,
    approval_node,
    respond_node,
    for_each_node,
    workflow_call_node,
)
"""The built-in node types, in the integration guide's order, then Flov7's own."""

_BUILTINS: dict[str, NodeType] = {node_type.name: node_type for node_type in BUILTIN_NODE_TYPES}
_ADDED: dict[str, NodeType] = {}
_generation = 0


def generation() -> int:
    """A number that changes whenever :func:`register` or :func:`unregister` changes the
    node types (what remembers validation reports keys them on it)."""
    return _generation


def get_node_type(name: str) -> NodeType | None:
    """The node type called ``name`` (built-in or added with :func:`register`), or None."""
    return _BUILTINS.get(name) or _ADDED.get(name)


def node_types() -> dict[str, NodeType]:
    """Every node type, by name: the built-ins in the guide's order, then added ones by name."""
    return {**_BUILTINS, **{name: _ADDED[name] for name in sorted(_ADDED)}}


def register(node_type: NodeType) -> NodeType:
    """Add a node type that is not built in (one instance per name; a later one replaces).

    Raises :class:`ValueError` for the name of a built-in type: those are fixed by the
    manifest. Workers list their activities when they start, so register an ``ACTIVITY``
    type before creating the worker that should run it.
    """
    global _generation
    if node_type.name in _BUILTINS:
        raise ValueError(f"'{node_type.name}' is a built-in node type and cannot be replaced")
    _ADDED[node_type.name] = node_type
    _generation += 1
    return node_type


def unregister(name: str) -> None:
    """Remove a type added with :func:`register` (no-op for unknown names and built-ins)."""
    global _generation
    if _ADDED.pop(name, None) is not None:
        _generation += 1


@contextlib.contextmanager
def registered(*added: NodeType) -> Iterator[None]:
    """Register ``added`` for the duration of the block, then remove them again."""
    for node_type in added:
        register(node_type)
    try:
        yield
    finally:
        for node_type in added:
            unregister(node_type.name)
