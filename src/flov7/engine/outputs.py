"""What a finished graph gives back to its caller (a ``for_each`` item, a sub-workflow)."""

from __future__ import annotations

from typing import Any

from flov7.engine.graph import Graph
from flov7.spec import WorkflowSpec


def body_outputs(spec: WorkflowSpec, result: dict[str, Any]) -> Any:
    """What a finished body (or sub-workflow) run gives back: the output of its sink.

    Sinks are the nodes no edge leaves. One completed sink: its output; several: a dict
    of their outputs by node id; none completed (all skipped): null.
    """
    graph = Graph.from_spec(spec)
    node_results = result.get("node_results") or {}
    sinks = [
        node_id
        for node_id in graph.node_ids
        if not graph.outgoing[node_id]
        and (node_results.get(node_id) or {}).get("status") == "completed"
    ]
    if not sinks:
        return None
    if len(sinks) == 1:
        return node_results[sinks[0]].get("output")
    return {node_id: node_results[node_id].get("output") for node_id in sinks}
