"""``for_each``: runs an inline sub-graph (its ``body``) once per item of a list.

The node type only describes the config; the engine runs it
(:mod:`flov7.engine.for_each`), because the body's nodes are ordinary nodes of the run:
on Temporal its I/O nodes are the run's activities and its pure nodes run in the
workflow, on the local engine they run in-process, the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from flov7.nodes.base import NodeConfig, NodeKind, NodeType

MAX_CONCURRENCY = 100
"""Most items a ``for_each`` node runs at once."""
MAX_ITEMS = 10_000
"""Most items one ``for_each`` node takes (the expression language's collection cap)."""
MAX_IO_ITEMS = 5_000
"""Most items when the body runs activities, timers or sub-workflows: every item adds
events to the run's one history (Temporal ends a run past about 50,000 events)."""


class ForEachConfig(NodeConfig):
    """Config of a ``for_each`` node."""

    items: str = Field(
        min_length=1,
        description="An expression giving the list to iterate over (up to 10,000 items).",
        examples=["inputs.body.orders", "where(inputs.body.orders, 'status', 'open')"],
    )
    concurrency: int = Field(
        default=10,
        ge=1,
        le=MAX_CONCURRENCY,
        description="At most this many items run at once.",
    )
    on_item_error: Literal["fail", "continue"] = Field(
        default="fail",
        description="'fail': the first failed item fails the node and cancels the items "
        "in flight; 'continue': failed items are listed in 'errors' and the others go on.",
    )
    body: dict[str, Any] | None = Field(
        default=None,
        description="The sub-graph run per item: {'nodes': [...], 'edges': [...]}. Its "
        "nodes see 'item' and 'index' besides the usual names, and 'outer' (the for_each "
        "node's own 'inputs' and 'nodes'). Give either 'body' or 'workflow_id'.",
        examples=[
            {
                "nodes": [
                    {
                        "id": "ship",
                        "type": "api_call",
                        "data": {"url": "https://ship.example/orders/{{ item.id }}"},
                    }
                ],
                "edges": [],
            }
        ],
    )
    workflow_id: str | None = Field(
        default=None,
        min_length=1,
        description="Instead of 'body': a stored workflow run per item as a sub-workflow, "
        "with input {'item': ..., 'index': ...} merged over its own.",
    )
    version: int | Literal["latest"] = Field(
        default="latest", description="With 'workflow_id': which version."
    )

    @model_validator(mode="after")
    def _body_or_workflow(self) -> ForEachConfig:
        if (self.body is None) == (self.workflow_id is None):
            raise ValueError("give either 'body' (an inline sub-graph) or 'workflow_id'")
        return self


class ForEachNode(NodeType):
    """Runs its body once per item, at most ``concurrency`` at a time."""

    name = "for_each"
    kind = NodeKind.COMPOSITE
    config_model = ForEachConfig
    description = (
        "Runs the 'body' sub-graph once per item of the 'items' list, at most "
        "'concurrency' items at once; outputs {results (in item order), count, "
        "completed, failed, errors}."
    )
    example: ClassVar[dict[str, Any]] = {
        "items": "inputs.body.orders",
        "concurrency": 10,
        "on_item_error": "fail",
        "body": {
            "nodes": [
                {
                    "id": "label",
                    "type": "transform",
                    "data": {"mapping": {"id": "item.id", "position": "index"}},
                }
            ],
            "edges": [],
        },
    }
    expression_fields = ("items",)
    # The body is rendered per item by its own nodes, never as the for_each's template.
    literal_fields = ("body",)

    def bodies(self, config_data: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The ``body`` document, validated like a workflow of its own."""
        body = config_data.get("body")
        return [("body", body)] if isinstance(body, dict) else []


for_each_node = ForEachNode()
