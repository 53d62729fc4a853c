"""``delay``: waits on a durable timer, then forwards its inputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from flov7.nodes.base import NodeConfig, NodeKind, NodeType, passthrough
from flov7.nodes.outputs import passthrough_object

MAX_DELAY_SECONDS = 366 * 24 * 3600


class DelayConfig(NodeConfig):
    """Config of a ``delay`` node."""

    delay_seconds: float = Field(
        ge=0,
        le=MAX_DELAY_SECONDS,
        description="Seconds to wait. On Temporal this is a durable timer: it survives "
        "worker restarts and costs nothing while it waits.",
        examples=[30],
    )


class DelayNode(NodeType):
    """Waits, then passes its inputs on with ``delayed_seconds`` added."""

    name = "delay"
    kind = NodeKind.TIMER
    config_model = DelayConfig
    output_schema = passthrough_object(
        "The node's inputs plus 'delayed_seconds'.", {"delayed_seconds": {"type": "number"}}
    )
    description = (
        "Waits delay_seconds on a durable timer (workflow.sleep on Temporal), then "
        "outputs its inputs plus 'delayed_seconds'."
    )
    example: ClassVar[dict[str, Any]] = {"delay_seconds": 5}

    def wait_seconds(self, config_data: Mapping[str, Any]) -> float | None:
        """``delay_seconds`` when written as a number (None when templated)."""
        seconds = config_data.get("delay_seconds")
        return float(seconds) if isinstance(seconds, int | float) else None

    def waited_seconds(self, output: Any) -> float | None:
        """The ``delayed_seconds`` of a finished delay's output."""
        seconds = output.get("delayed_seconds") if isinstance(output, dict) else None
        return float(seconds) if isinstance(seconds, int | float) else None

    def timer_seconds(self, config: NodeConfig) -> float:
        assert isinstance(config, DelayConfig)
        return config.delay_seconds

    def timer_output(self, config: NodeConfig, inputs: Any) -> Any:
        assert isinstance(config, DelayConfig)
        return passthrough(inputs, delayed_seconds=config.delay_seconds)


delay_node = DelayNode()
