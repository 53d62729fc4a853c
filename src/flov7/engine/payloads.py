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
import re
from typing import Any

MAX_RESULT_BYTES = 1_500_000
"""Budget for the whole result, below Temporal's 2 MB with room for its envelope."""
MAX_NODE_OUTPUT_BYTES = 1_000_000
"""One node's output (an activity result is one payload; outputs also feed later nodes)."""
MAX_ACTIVITY_INPUT_BYTES = 1_500_000
"""One I/O node's rendered input (one payload)."""
MAX_HISTORY_BYTES = 40_000_000
"""Activity inputs and outputs of one run, added up: under Temporal's 50 MB history."""
MAX_RECORDED_INPUT_BYTES = 64_000
"""A node's rendered config as kept in its result (``input``), for people to read: a
copy of what the node was sent, so a small cap keeps results small."""

REDACTED = "***"
# Field names whose values are secrets whatever the node type (headers, bodies, auth):
# credentials are resolved in the worker, but a document may still inline one.
_SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api[-_]?key|authorization|cookie|private[-_]?key",
    re.IGNORECASE,
)


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


def redact_secrets(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-looking keys replaced by ``***``."""
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and _SECRET_NAME.search(key) and value[key] is not None
            else redact_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_secrets(item) for item in value]
    return value


def recorded_input(rendered: dict[str, Any]) -> Any:
    """What a node result keeps of the node's rendered config (its ``input``): secrets
    redacted, and a marker instead when over :data:`MAX_RECORDED_INPUT_BYTES`."""
    redacted = redact_secrets(rendered)
    size = json_size(redacted)
    if size <= MAX_RECORDED_INPUT_BYTES:
        return redacted
    return {
        "truncated": True,
        "size_bytes": size,
        "reason": f"rendered config over {MAX_RECORDED_INPUT_BYTES} bytes is not kept",
    }


def fit_result(result: dict[str, Any], max_bytes: int = MAX_RESULT_BYTES) -> dict[str, Any]:
    """``result`` itself when small enough, else a copy with the largest outputs (and
    recorded inputs) elided.

    The copy lists the nodes whose output was elided in ``truncated_outputs``; each
    elided output or input becomes ``{"truncated": true, "size_bytes": N, "reason": ...}``.
    """
    size = json_size(result)
    if size <= max_bytes:
        return result
    nodes = {node_id: dict(node) for node_id, node in result["node_results"].items()}
    sizes = sorted(
        (
            (json_size(node.get(field)), node_id, field)
            for node_id, node in nodes.items()
            for field in ("output", "input")
            if node.get(field) is not None
        ),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    truncated: list[str] = []
    for field_size, node_id, field in sizes:
        if size <= max_bytes:
            break
        marker = {
            "truncated": True,
            "size_bytes": field_size,
            "reason": f"{field} too large for the run result (Temporal payload limit)",
        }
        nodes[node_id][field] = marker
        size -= field_size - json_size(marker)
        if field == "output":
            truncated.append(node_id)
    return {**result, "node_results": nodes, "truncated_outputs": truncated}
