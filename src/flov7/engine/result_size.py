"""Keep a run's result document under Temporal's payload limit.

Temporal refuses any payload over 2 MB. A result carries every node's output, so a few
large outputs would make the final workflow task fail again and again, and the run
would never finish. Instead, the largest outputs are replaced by a marker saying so;
the nodes' statuses, errors and timings are always kept. Pure and deterministic (it
runs in workflow code), and applied by both runtimes so they give the same result.
"""

from __future__ import annotations

import json
from typing import Any

MAX_RESULT_BYTES = 1_500_000
"""Budget for the whole result, below Temporal's 2 MB with room for its envelope."""


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (how Temporal's converter encodes it)."""
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def fit_result(result: dict[str, Any], max_bytes: int = MAX_RESULT_BYTES) -> dict[str, Any]:
    """``result`` itself when small enough, else a copy with the largest outputs elided.

    The copy lists the elided nodes in ``truncated_outputs``; each elided output becomes
    ``{"truncated": true, "size_bytes": N, "reason": ...}``.
    """
    size = json_size(result)
    if size <= max_bytes:
        return result
    nodes = {node_id: dict(node) for node_id, node in result["node_results"].items()}
    sizes = sorted(
        ((json_size(node.get("output")), node_id) for node_id, node in nodes.items()),
        key=lambda item: (-item[0], item[1]),
    )
    truncated: list[str] = []
    for output_size, node_id in sizes:
        if size <= max_bytes:
            break
        marker = {
            "truncated": True,
            "size_bytes": output_size,
            "reason": "output too large for the run result (Temporal payload limit)",
        }
        nodes[node_id]["output"] = marker
        size -= output_size - json_size(marker)
        truncated.append(node_id)
    return {**result, "node_results": nodes, "truncated_outputs": truncated}
