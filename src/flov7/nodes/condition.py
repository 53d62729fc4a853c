"""``condition``: evaluates an expression and takes the ``true`` or ``false`` edges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from flov7.engine.expressions import evaluate
from flov7.nodes.base import NodeConfig, NodeKind, NodeType, passthrough
from flov7.nodes.outputs import passthrough_object


class ConditionConfig(NodeConfig):
    """Config of a ``condition`` node."""

    condition: str = Field(
        min_length=1,
        description="Expression evaluated against inputs, nodes, input and execution.",
        examples=["inputs.status_code == 200"],
    )


class ConditionNode(NodeType):
    """Branches the run: edges with ``sourceHandle`` ``true`` or ``false`` are taken."""

    name = "condition"
    kind = NodeKind.PURE
    config_model = ConditionConfig
    output_schema = passthrough_object(
        "The node's inputs plus 'result'.", {"result": {"type": "boolean"}}
    )
    description = (
        "Evaluates an expression. Outgoing edges carry sourceHandle 'true' or 'false'; "
        "only the matching ones are taken. Output: the node's inputs plus 'result'."
    )
    example: ClassVar[dict[str, Any]] = {"condition": "inputs.status_code == 200"}
    expression_fields = ("condition",)
    branch_handles = ("true", "false")

    def evaluate(self, config: NodeConfig, scope: Mapping[str, Any]) -> Any:
        assert isinstance(config, ConditionConfig)
        result = bool(evaluate(config.condition, scope))
        return passthrough(scope.get("inputs"), result=result)

    def active_handles(self, output: Any) -> tuple[str, ...] | None:
        result = output.get("result") if isinstance(output, dict) else bool(output)
        return ("true",) if result else ("false",)


condition_node = ConditionNode()
