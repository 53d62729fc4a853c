"""``/api/v1/node-types``: what each node type accepts, from the validator's own models."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from flov7.api.errors import NotFoundError
from flov7.api.schemas.common import error_responses
from flov7.api.schemas.node_types import NodeTypeList, NodeTypeOut
from flov7.nodes.base import NodeType
from flov7.nodes.registry import get_node_type, node_types

router = APIRouter(prefix="/node-types", tags=["node types"])


def describe(node_type: NodeType) -> dict[str, Any]:
    """A node type as the API shows it."""
    return {
        "name": node_type.name,
        "kind": node_type.kind.value,
        "description": node_type.description,
        "config_schema": node_type.json_schema(),
        "output_schema": node_type.output_schema,
        "example": node_type.example,
        "branch_handles": list(node_type.branch_handles),
        "expression_fields": list(node_type.expression_fields),
    }


@router.get(
    "",
    response_model=NodeTypeList,
    responses=error_responses(),
    summary="List node types",
    operation_id="list_node_types",
)
async def list_node_types() -> dict[str, Any]:
    """Every node type with its config JSON Schema, description and a valid example:
    generated from the same models the validator checks documents against."""
    return {"node_types": [describe(node_type) for node_type in node_types().values()]}


@router.get(
    "/{name}",
    response_model=NodeTypeOut,
    responses=error_responses(404),
    summary="Describe one node type",
    operation_id="get_node_type",
)
async def get_one(
    name: Annotated[str, Path(min_length=1, max_length=100, examples=["api_call"])],
) -> dict[str, Any]:
    """One node type; 404 for a name that is not registered."""
    node_type = get_node_type(name)
    if node_type is None:
        raise NotFoundError(f"No node type '{name}'; GET /api/v1/node-types lists them")
    return describe(node_type)
