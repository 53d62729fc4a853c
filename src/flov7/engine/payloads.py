"""Keep what a run sends through Temporal under Temporal's limits.

Temporal refuses any payload over 2 MB and terminates a run whose history passes
50 MB. Hitting either from workflow code does not fail a node: the workflow task fails
again and again and the run hangs. So the driver checks sizes itself, and a node that
would break a limit fails with an error that says which, like any other node failure:

- a node's output over :data:`MAX_NODE_OUTPUT_BYTES` (pure nodes here; I/O nodes in the
  activity, before Temporal sees the result);
- an I/O node's input (its rendered config) over :data:`MAX_ACTIVITY_INPUT_BYTES`;
- a run whose activity inputs and outputs add up past :data:`MAX_HISTORY_BYTES`;
- the result document: the largest outputs are elided (:func:`fit_result`) rather than
  failing a run that has finished.

Pure and deterministic (it runs in workflow code), and used by both runtimes so they
give the same results.
"""

from __future__ import annotations

import json
from typing import Any

MAX_RESULT_BYTES = 1_500_000
"""Budget for the whole result, below Temporal's 2 MB with room for its envelope."""
MAX_NODE_OUTPUT_BYTES = 1_000_000
"""One node's output (an activity result is one payload; outputs also feed later nodes)."""
MAX_ACTIVITY_INPUT_BYTES = 1_500_000
"""One I/O node's rendered input (one payload)."""
MAX_HISTORY_BYTES = 40_000_000
"""Activity inputs and outputs of one run, added up: under Temporal's 50 MB history."""


def output_too_large(size: int) -> dict[str, Any]:
    """The error of a node whose output is over :data:`MAX_NODE_OUTPUT_BYTES`."""
    return {
        "type": "OutputTooLarge",
        "message": f"The node's output is {size} bytes of JSON, over the "
        f"{MAX_NODE_OUTPUT_BYTES}-byte limit of one node's output (Temporal refuses "
        "payloads over 2 MB); select or trim the data, or page through it",
    }


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
