"""Strict node fields: a mistyped field is an error with a suggestion, not dropped.

A node's top level and its ``data`` (with nested config objects such as ``auth``) may
carry only the fields Flov7 reads, plus presentation fields that editors add and Flov7
never reads:

- top level: ``label``, ``position``, React-Flow's own node properties
  (:data:`REACT_FLOW_NODE_KEYS`), and anything under ``ui`` or ``meta``;
- inside ``data``: ``label``, ``description``, and anything under ``ui`` or ``meta``.

Everything else is reported (``unknown_field``), with the closest known field when one
is close, and fields that exist but sit at the wrong level (``url`` next to ``data``,
``timeout_seconds`` inside an ``api_call``'s ``data``) are reported as
``misplaced_field`` naming the place they belong.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from flov7.nodes.base import NodeType
from flov7.spec import NODE_BEHAVIOUR_KEYS, EdgeSpec, NodeSpec, WorkflowSpec
from flov7.suggestions import closest

PRESENTATION_KEYS = ("ui", "meta")
"""Keys whose content is the editor's own: never read, never checked."""

NODE_KEYS = ("id", "type", "data", "on_error", "timeout_seconds", "retry", "execution")
"""What Flov7 reads at a node's top level."""

REACT_FLOW_NODE_KEYS = (
    "label",
    "position",
    "positionAbsolute",
    "sourcePosition",
    "targetPosition",
    "width",
    "height",
    "initialWidth",
    "initialHeight",
    "measured",
    "selected",
    "dragging",
    "draggable",
    "selectable",
    "connectable",
    "deletable",
    "focusable",
    "resizing",
    "hidden",
    "style",
    "className",
    "zIndex",
    "parentNode",
    "parentId",
    "extent",
    "expandParent",
    "dragHandle",
    "ariaLabel",
    "origin",
    "handles",
)
"""Node properties React Flow (and editors built on it) write next to ``data``."""

REACT_FLOW_EDGE_KEYS = (
    "type",
    "animated",
    "label",
    "labelStyle",
    "labelShowBg",
    "labelBgStyle",
    "labelBgPadding",
    "labelBgBorderRadius",
    "style",
    "className",
    "markerStart",
    "markerEnd",
    "selected",
    "hidden",
    "deletable",
    "focusable",
    "selectable",
    "updatable",
    "reconnectable",
    "interactionWidth",
    "zIndex",
    "ariaLabel",
    "pathOptions",
    "data",
)
"""Edge properties React Flow writes; Flov7 reads only id, source, target and handles."""

EDGE_KEYS = ("id", "source", "target", "sourceHandle", "targetHandle")
WORKFLOW_PRESENTATION_KEYS = ("viewport", *("ui", "meta"))
"""Accepted at a document's top level besides its fields (React Flow's ``viewport``), as
are keys starting with ``x-``."""

DATA_PRESENTATION_KEYS = ("label", "description")
"""Presentation fields accepted inside ``data``."""

HTTP_TIMEOUT_FIELD = "http_timeout_seconds"
"""The HTTP time limit of ``api_call``, ``webhook`` and ``ai_agent`` (inside ``data``)."""


@dataclass(frozen=True)
class FieldProblem:
    """One unknown or misplaced field of a node."""

    code: str
    field: str
    message: str
    suggestion: str | None = None


def node_field_problems(node: NodeSpec, node_type: NodeType) -> list[FieldProblem]:
    """Unknown and misplaced fields at the node's top level and inside its ``data``."""
    problems = list(_top_level_problems(node, node_type))
    problems.extend(_data_problems(node, node_type))
    return problems


def workflow_field_problems(spec: WorkflowSpec) -> list[FieldProblem]:
    """Unknown top-level document fields (``edgs``): warnings, the document still runs."""
    known = tuple(WorkflowSpec.model_fields)
    problems = []
    for key in spec.model_extra or {}:
        if key in WORKFLOW_PRESENTATION_KEYS or key.startswith("x-"):
            continue  # x-...: extensions, as in OpenAPI (test corpora use them).
        suggestion = closest(key, known)
        hint = f"; did you mean '{suggestion}'?" if suggestion else "."
        problems.append(
            FieldProblem(
                "unknown_field",
                key,
                f"Unknown workflow field '{key}' is ignored{hint} A workflow has {_listing(known)}",
                suggestion,
            )
        )
    return problems


def edge_field_problems(edge: EdgeSpec) -> list[FieldProblem]:
    """Unknown edge fields (``sourceHandel``): warnings; React Flow's own are accepted."""
    problems = []
    accepted = (*EDGE_KEYS, "source_handle", "target_handle", *REACT_FLOW_EDGE_KEYS)
    for key in edge.model_extra or {}:
        if key in accepted or key in PRESENTATION_KEYS:
            continue
        suggestion = closest(key, EDGE_KEYS)
        hint = f"; did you mean '{suggestion}'?" if suggestion else "."
        problems.append(
            FieldProblem(
                "unknown_field",
                key,
                f"Unknown edge field '{key}' is ignored{hint} An edge has {_listing(EDGE_KEYS)}",
                suggestion,
            )
        )
    return problems


def _top_level_problems(node: NodeSpec, node_type: NodeType) -> Iterator[FieldProblem]:
    config_fields = model_field_names(node_type.config_model)
    for key in node.model_extra or {}:
        if key in REACT_FLOW_NODE_KEYS or key in PRESENTATION_KEYS:
            continue
        if key in config_fields:
            yield FieldProblem(
                "misplaced_field",
                key,
                f"'{key}' is a setting of {node.type}: it belongs inside 'data' "
                f"(data.{key}), not next to it",
                f"data.{key}",
            )
            continue
        suggestion = closest(key, (*NODE_KEYS, *REACT_FLOW_NODE_KEYS))
        if suggestion is None:
            guess = closest(key, config_fields)
            if guess is not None:
                yield FieldProblem(
                    "unknown_field",
                    key,
                    f"Unknown node field '{key}'; did you mean data.{guess} (a setting of "
                    f"{node.type}, inside 'data')?",
                    f"data.{guess}",
                )
                continue
        hint = f"; did you mean '{suggestion}'?" if suggestion else "."
        yield FieldProblem(
            "unknown_field",
            key,
            f"Unknown node field '{key}'{hint} A node has {_listing(NODE_KEYS)}; "
            f"presentation fields ({_listing(('label', 'position', *PRESENTATION_KEYS))} and "
            "React Flow's own) are accepted too",
            suggestion,
        )


def _data_problems(node: NodeSpec, node_type: NodeType) -> Iterator[FieldProblem]:
    model = node_type.config_model
    config_fields = model_field_names(model)
    has_http_timeout = HTTP_TIMEOUT_FIELD in config_fields
    for key in node.data:
        if key == "timeout_seconds" and has_http_timeout:
            yield FieldProblem(
                "misplaced_field",
                "data.timeout_seconds",
                f"'timeout_seconds' inside data is ambiguous for {node.type}: the HTTP time "
                f"limit is data.{HTTP_TIMEOUT_FIELD}; the time limit of one attempt of the "
                "node is 'timeout_seconds' next to 'data'",
                f"data.{HTTP_TIMEOUT_FIELD}",
            )
            continue
        if key in config_fields or key in NODE_BEHAVIOUR_KEYS:
            continue
        if key in DATA_PRESENTATION_KEYS or key in PRESENTATION_KEYS:
            continue
        if key == HTTP_TIMEOUT_FIELD:
            yield FieldProblem(
                "misplaced_field",
                f"data.{key}",
                f"{node.type} makes no HTTP request of its own: '{key}' applies to "
                "api_call, webhook and ai_agent; the time limit of one attempt is "
                "'timeout_seconds' next to 'data'",
                "timeout_seconds",
            )
            continue
        yield _unknown_data_field(node, key, "data", config_fields)
    yield from _nested_problems(node, model, node.data, "data")


def _unknown_data_field(
    node: NodeSpec, key: str, where: str, known: tuple[str, ...]
) -> FieldProblem:
    candidates = (*known, *NODE_BEHAVIOUR_KEYS) if where == "data" else known
    suggestion = closest(key, candidates)
    hint = f"; did you mean '{suggestion}'?" if suggestion else "."
    return FieldProblem(
        "unknown_field",
        f"{where}.{key}",
        f"Unknown field '{key}' in {where} of {node.type} node '{node.id}'{hint} "
        f"Known fields: {_listing(known)}",
        f"{where}.{suggestion}" if suggestion else None,
    )


def _nested_problems(
    node: NodeSpec, model: type[BaseModel], data: Mapping[str, Any], where: str
) -> Iterator[FieldProblem]:
    """Unknown fields inside config values that are objects of their own (``auth``)."""
    for key, name, nested in _nested_models(model):
        value = data.get(key, data.get(name))
        if not isinstance(value, Mapping):
            continue
        path = f"{where}.{key}"
        nested_fields = model_field_names(nested)
        for inner in value:
            if inner not in nested_fields and inner not in DATA_PRESENTATION_KEYS:
                yield _unknown_data_field(node, str(inner), path, nested_fields)
        yield from _nested_problems(node, nested, value, path)


# Cached per model class: validation runs in workflow code for every run, once per node,
# and there the sandbox routes each isinstance/issubclass call (typing.get_origin makes
# several) through a Python-level wrapper; a 40-node document spent half its validation
# here even outside the sandbox. A config model's fields never change once it exists.
@functools.cache
def model_field_names(model: type[BaseModel]) -> tuple[str, ...]:
    """The names a document may use for a model's fields (aliases where set)."""
    return tuple(info.alias or name for name, info in model.model_fields.items())


@functools.cache
def _nested_models(model: type[BaseModel]) -> tuple[tuple[str, str, type[BaseModel]], ...]:
    """``(document key, field name, model)`` of each field of ``model`` that is a model
    of its own (``auth: AuthConfig | None``), in field order."""
    nested = []
    for name, info in model.model_fields.items():
        inner = _model_of(info.annotation)
        if inner is not None:
            nested.append((info.alias or name, name, inner))
    return tuple(nested)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``Model`` or ``Model | None``, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [m for m in map(_model_of, typing.get_args(annotation)) if m is not None]
        return models[0] if len(models) == 1 else None
    return None


def _listing(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{name}'" for name in names if name != "label")


def timeout_warnings(
    node: NodeSpec, node_type: NodeType, attempt_default_seconds: float
) -> list[FieldProblem]:
    """An HTTP time limit at least as long as the attempt's can never trip: the attempt
    is cut first, as a timeout of the node rather than of the request."""
    limit = node.data.get(HTTP_TIMEOUT_FIELD)
    if HTTP_TIMEOUT_FIELD not in model_field_names(node_type.config_model):
        return []
    if not isinstance(limit, int | float) or isinstance(limit, bool):
        return []
    attempt = node.timeout_seconds or attempt_default_seconds
    if limit < attempt:
        return []
    where = "the node's timeout_seconds" if node.timeout_seconds else "the default attempt limit"
    return [
        FieldProblem(
            "http_timeout_not_shorter",
            f"data.{HTTP_TIMEOUT_FIELD}",
            f"data.{HTTP_TIMEOUT_FIELD} ({limit:g} s) is not shorter than {where} "
            f"({attempt:g} s), so it never trips: the attempt is cut first. Make the HTTP "
            "limit shorter, so that a slow server fails as a Timeout the node retries",
        )
    ]
