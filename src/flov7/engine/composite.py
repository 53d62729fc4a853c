"""Composite nodes: node types the engine runs itself, with the run's own runner.

``for_each`` (:mod:`.for_each`) runs a body per item; ``workflow`` (:mod:`.sub_workflow`)
runs a stored workflow as a sub-workflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flov7.engine.for_each import run_for_each
from flov7.engine.sub_workflow import run_workflow_node
from flov7.nodes.base import NodeConfig
from flov7.nodes.for_each import ForEachConfig
from flov7.nodes.workflow_call import WorkflowCallConfig
from flov7.spec import NodeSpec

if TYPE_CHECKING:
    from flov7.engine.driver import GraphDriver


async def run_composite(
    driver: GraphDriver, node: NodeSpec, config: NodeConfig, scope: dict[str, Any]
) -> tuple[str, Any, int]:
    """Run a composite node; ``(kind, payload, attempts)`` as the driver records it."""
    if isinstance(config, ForEachConfig):
        return await run_for_each(driver, node, config, scope)
    if isinstance(config, WorkflowCallConfig):
        return await run_workflow_node(driver, node, config)
    message = f"'{node.type}' is not a composite node type this engine knows"
    return "failed", {"type": "InternalError", "message": message}, 1
