"""Rerun planning: which nodes of an earlier run keep their recorded outcome.

A rerun is a new run of a workflow document whose ``rerun`` field lists the nodes that
keep what they recorded in the original run (:class:`~flov7.spec.RerunPlan`): the
interpreter completes those at once, with their recorded output, without running them
(no side effect repeats), and runs everything else as usual. This module computes that
list from the original's result document; it is pure and engine-free, so both engines
rerun the same way.

Restart points:

- ``failed``: every node that failed or was cancelled in the original run, or was still
  running when it ended (terminated, timed out); there must be at least one;
- a node id: that node;
- ``start``: nothing is kept, the whole workflow runs again.

Kept: every node that *completed* in the original and is neither a restart point nor
downstream of one. So upstream nodes (and unrelated parallel branches) keep their
outputs, and the restart points and everything after them run again.
"""

from __future__ import annotations

from typing import Any

from flov7.engine.graph import Graph
from flov7.errors import Flov7Error
from flov7.spec import parse_workflow

__all__ = ["RerunError", "plan_rerun"]

START = "start"
FAILED = "failed"


class RerunError(Flov7Error, ValueError):
    """The rerun asked for cannot be planned (unknown node, nothing failed...)."""


def _descendants(graph: Graph, roots: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    stack = list(roots)
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen[node_id] = None
        stack.extend(edge.target for edge in graph.outgoing[node_id])
    return list(seen)


def plan_rerun(
    document: dict[str, Any],
    original: dict[str, Any],
    start_from: str,
    *,
    original_execution_id: str,
) -> dict[str, Any]:
    """``document`` with its ``rerun`` field set: the rerun of ``original`` (a result
    document) from ``start_from`` (``failed``, ``start`` or a node id)."""
    spec = parse_workflow(document)
    graph = Graph.from_spec(spec)
    results = original.get("node_results") or {}
    if start_from == START:
        restart: list[str] = list(graph.node_ids)
    elif start_from == FAILED:
        restart = [
            node_id
            for node_id in graph.node_ids
            # "running": a run that ended without finishing its nodes (terminated).
            if (results.get(node_id) or {}).get("status") in ("failed", "cancelled", "running")
        ]
        if not restart:
            raise RerunError("Nothing failed in that run: rerun it from 'start' or from a node id")
    elif start_from in graph.incoming:
        restart = [start_from]
    else:
        raise RerunError(f"'{start_from}' is not a node of the workflow (nor 'failed' or 'start')")
    again = _descendants(graph, restart)
    recorded: dict[str, Any] = {}
    for node_id in graph.node_ids:
        entry = results.get(node_id) or {}
        if node_id in again or entry.get("status") != "completed":
            continue
        if "output" not in entry or (
            isinstance(entry["output"], dict) and entry["output"].get("truncated") is True
        ):
            # The result document elided or dropped this output (payloads.fit_result):
            # run it again.
            continue
        recorded[node_id] = {
            "output": entry.get("output"),
            "attempts": entry.get("attempts") or 0,
            "started_at": entry.get("started_at"),
            "finished_at": entry.get("finished_at"),
        }
    plan = {"of": original_execution_id, "from": start_from, "recorded": recorded}
    return {**document, "rerun": plan}
