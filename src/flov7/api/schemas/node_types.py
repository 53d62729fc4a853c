"""``GET /node-types``: each node type described by the models the validator uses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["NodeTypeList", "NodeTypeOut"]


class NodeTypeOut(BaseModel):
    """One node type."""

    name: str = Field(examples=["delay"])
    kind: str = Field(
        description="`pure` (evaluated in workflow code), `timer` (a durable timer) or "
        "`activity` (an activity with retries and timeouts).",
        examples=["timer"],
    )
    description: str
    config_schema: dict[str, Any] = Field(
        description="JSON Schema of the node's `data` (the validator's own model)."
    )
    output_schema: dict[str, Any] | None = Field(
        description="JSON Schema of the node's output; `additionalProperties: false` lists "
        "every key. `x-flov7-passthrough: true`: the node's inputs plus the listed keys. "
        "A transform's output is its mapping's keys; null when not known in advance."
    )
    example: dict[str, Any] = Field(description="A valid `data` for this type.")
    branch_handles: list[str] = Field(
        description="`sourceHandle` values its outgoing edges must carry (condition)."
    )
    expression_fields: list[str] = Field(
        description="Fields holding bare expressions (not `{{ }}` templates)."
    )


class NodeTypeList(BaseModel):
    """Every registered node type, in the integration guide's order."""

    node_types: list[NodeTypeOut]
