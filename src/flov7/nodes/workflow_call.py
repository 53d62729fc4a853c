"""``workflow``: runs a stored workflow as a sub-workflow and outputs what it gave back.

The node type only describes the config; the engine runs it
(:mod:`flov7.engine.sub_workflow`): a Temporal child workflow of the run on Temporal, a
nested run on the local engine.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from flov7.nodes.base import NodeConfig, NodeKind, NodeType


class WorkflowCallConfig(NodeConfig):
    """Config of a ``workflow`` node."""

    workflow_id: str = Field(
        min_length=1, description="The stored workflow to run.", examples=["notify-customer"]
    )
    version: int | Literal["latest"] = Field(
        default="latest",
        description="Which version: a number, or 'latest' (its current version when the "
        "node starts).",
    )
    input: dict[str, Any] = Field(
        default_factory=dict,
        description="The sub-workflow's run input, merged over its document's 'input' "
        "(templates rendered first).",
        examples=[{"customer": "{{ inputs.body.customer_id }}"}],
    )


class WorkflowCallNode(NodeType):
    """Runs a stored workflow and waits for it; its failure fails this node."""

    name = "workflow"
    kind = NodeKind.COMPOSITE
    config_model = WorkflowCallConfig
    description = (
        "Runs the stored workflow 'workflow_id' (at 'version', default latest) with "
        "'input' as a sub-workflow (a Temporal child workflow) and outputs what its last "
        "node output; its failure fails this node."
    )
    example: ClassVar[dict[str, Any]] = {
        "workflow_id": "notify-customer",
        "version": "latest",
        "input": {"customer": "{{ inputs.body.customer_id }}"},
    }


workflow_call_node = WorkflowCallNode()
