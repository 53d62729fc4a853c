"""Output shapes: the JSON Schema of what a node type outputs.

Node types declare them so that the validator can warn about a field a parent cannot
have (``inputs.data`` after an ``api_call``, whose output has ``body``) and so that
``GET /api/v1/node-types`` can show them. A schema with ``additionalProperties: false``
is *closed*: every key the output can have is listed. A ``condition`` or ``delay``
forwards its inputs (:func:`flov7.nodes.base.passthrough`); its schema carries
``x-flov7-passthrough: true`` and lists only the keys it adds.
"""

from __future__ import annotations

from typing import Any

PASSTHROUGH = "x-flov7-passthrough"
"""Schema keyword: the output is the node's inputs plus the listed properties."""


def closed_object(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON object with exactly ``properties`` (each may still be absent or null)."""
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": False,
    }


def passthrough_object(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    """The node's inputs (an object) plus ``properties``."""
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": True,
        PASSTHROUGH: True,
    }


ERROR_OUTPUT_PROPERTY: dict[str, Any] = {
    "type": "object",
    "description": "A failure kept as output (on_error 'continue', or an 'error' edge).",
    "properties": {
        "type": {"type": "string"},
        "message": {"type": "string"},
        "attempts": {"type": "integer"},
    },
}
"""What ``error`` holds in the output of a node whose failure did not fail the run."""


def property_names(schema: dict[str, Any] | None) -> tuple[str, ...]:
    """The keys a schema lists under ``properties``."""
    if not schema:
        return ()
    properties = schema.get("properties")
    return tuple(properties) if isinstance(properties, dict) else ()


def is_closed(schema: dict[str, Any] | None) -> bool:
    """True when the schema lists every key its object can have."""
    return bool(schema) and schema.get("additionalProperties") is False  # type: ignore[union-attr]
