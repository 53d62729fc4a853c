"""``transform``: builds a new value from expressions (``mapping`` or ``expression``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from flov7.engine.expressions import evaluate
from flov7.nodes.base import NodeConfig, NodeKind, NodeType
from flov7.nodes.outputs import closed_object


class TransformConfig(NodeConfig):
    """Config of a ``transform`` node."""

    transform_type: Literal["mapping", "expression"] = Field(
        default="mapping",
        description="'mapping': an object whose leaves are expressions; "
        "'expression': a single expression whose value is the output.",
    )
    mapping: dict[str, Any] | None = Field(
        default=None,
        description="Output key -> expression (nested objects and lists allowed; "
        "non-string leaves are copied as they are).",
        examples=[{"result": "inputs.body.items", "count": "len(inputs.body.items)"}],
    )
    expression: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _needs_its_field(self) -> TransformConfig:
        if self.transform_type == "mapping" and self.mapping is None:
            raise ValueError("transform_type 'mapping' needs a 'mapping' object")
        if self.transform_type == "expression" and self.expression is None:
            raise ValueError("transform_type 'expression' needs an 'expression' string")
        return self


def _evaluate_mapping(mapping: Any, scope: Mapping[str, Any]) -> Any:
    if isinstance(mapping, str):
        return evaluate(mapping, scope)
    if isinstance(mapping, dict):
        return {key: _evaluate_mapping(value, scope) for key, value in mapping.items()}
    if isinstance(mapping, list):
        return [_evaluate_mapping(value, scope) for value in mapping]
    return mapping


class TransformNode(NodeType):
    """Reshapes data with expressions, inside the workflow (no activity)."""

    name = "transform"
    kind = NodeKind.PURE
    config_model = TransformConfig
    description = (
        "Builds its output from expressions: 'mapping' maps output keys to expressions, "
        "'expression' evaluates one expression."
    )
    example: ClassVar[dict[str, Any]] = {
        "transform_type": "mapping",
        "mapping": {"result": "inputs.body", "customer": "input.customer"},
    }
    expression_fields = ("mapping", "expression")

    def output_schema_for(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """A mapping's output has exactly its keys; an expression's is unknown."""
        mapping = data.get("mapping")
        if data.get("transform_type", "mapping") != "mapping" or not isinstance(mapping, dict):
            return None
        return closed_object("The mapping's keys.", {str(key): {} for key in mapping})

    def evaluate(self, config: NodeConfig, scope: Mapping[str, Any]) -> Any:
        assert isinstance(config, TransformConfig)
        if config.transform_type == "expression":
            assert config.expression is not None
            return evaluate(config.expression, scope)
        return _evaluate_mapping(config.mapping, scope)


transform_node = TransformNode()
