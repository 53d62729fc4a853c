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

Every node output is also checked to be plain JSON (:func:`check_output`): string keys,
finite numbers, valid Unicode, nesting under :data:`MAX_OUTPUT_DEPTH`. Temporal's converter
raises on anything else inside the workflow task, which then fails for ever.

Sizes are measured by :mod:`flov7.engine.json_check`, which never builds the JSON and stops
as soon as a limit is passed, so a value that repeats one large reference costs at most
the limit to measure, not its serialised size.

Pure and deterministic (it runs in workflow code), and used by both runtimes so they
give the same results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flov7.engine.json_check import MAX_JSON_NESTING, JsonTooLarge, NotPlainJson, measure_json

MAX_RESULT_BYTES = 1_500_000
"""Budget for the whole result, below Temporal's 2 MB with room for its envelope."""
MAX_NODE_OUTPUT_BYTES = 1_000_000
"""One node's output (an activity result is one payload; outputs also feed later nodes)."""
MAX_ACTIVITY_INPUT_BYTES = 1_500_000
"""One I/O node's rendered input (one payload)."""
MAX_HISTORY_BYTES = 40_000_000
"""Activity inputs and outputs of one run, added up: under Temporal's 50 MB history."""
MAX_OUTPUT_DEPTH = MAX_JSON_NESTING
"""Deepest nesting of lists and dicts in one node's output, whatever its parents produced."""

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


def output_too_large(size: int | None, node_id: str | None = None) -> dict[str, Any]:
    """The error of a node whose output is over :data:`MAX_NODE_OUTPUT_BYTES`.

    ``size`` is None when the measure stopped at the limit (it never goes further).
    """
    who = f"Node '{node_id}': the" if node_id else "The"
    amount = f"is {size} bytes" if size is not None else f"is more than {MAX_NODE_OUTPUT_BYTES}"
    return {
        "type": "OutputTooLarge",
        "message": f"{who} node's output {amount} of JSON, over the "
        f"{MAX_NODE_OUTPUT_BYTES}-byte limit of one node's output (Temporal refuses "
        "payloads over 2 MB); select or trim the data, or page through it",
    }


def invalid_output(problem: NotPlainJson, node_id: str | None = None) -> dict[str, Any]:
    """The error of a node whose output is not plain JSON."""
    who = f"Node '{node_id}' produced" if node_id else "The node produced"
    return {
        "type": "InvalidOutput",
        "message": f"{who} an output that is not plain JSON: {problem.problem} at "
        f"{problem.path} (outputs must have string keys, finite numbers, valid Unicode "
        f"and at most {MAX_OUTPUT_DEPTH} levels of nesting)",
    }


@dataclass(frozen=True)
class OutputCheck:
    """What :func:`check_output` found: the size, the work it took, or the node's error."""

    size: int
    visits: int
    error: dict[str, Any] | None = None


def check_output(
    value: Any, node_id: str | None = None, *, limit: int = MAX_NODE_OUTPUT_BYTES
) -> OutputCheck:
    """Check that ``value`` is plain JSON of at most ``limit`` bytes, without serialising it.

    Returns the size, or an ``OutputTooLarge`` / ``InvalidOutput`` error naming the node.
    """
    try:
        measured = measure_json(value, limit=limit, strict=True, max_depth=MAX_OUTPUT_DEPTH)
    except JsonTooLarge as exc:
        return OutputCheck(limit + 1, exc.visits, output_too_large(None, node_id))
    except NotPlainJson as exc:
        return OutputCheck(0, exc.visits, invalid_output(exc, node_id))
    return OutputCheck(measured.size, measured.visits)


def json_size(value: Any, limit: int = MAX_HISTORY_BYTES) -> int:
    """Bytes of ``value`` as compact JSON (how Temporal's converter encodes it).

    Measured without serialising, leniently (``default=str``); stops at ``limit`` and
    answers ``limit + 1`` for anything larger.
    """
    try:
        return measure_json(value, limit=limit, strict=False, max_depth=2 * MAX_JSON_NESTING).size
    except JsonTooLarge:
        return limit + 1


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
    if json_size(result, max_bytes) <= max_bytes:
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
    # The exact total, from parts: the envelope with every output and input null (4 bytes
    # each), plus those fields' own sizes.
    envelope = {
        **result,
        "node_results": {
            k: {**v, **{field: None for field in ("output", "input") if field in v}}
            for k, v in nodes.items()
        },
    }
    size = json_size(envelope) + sum(field_size - 4 for field_size, _, _ in sizes)
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
