"""Keep what a run sends through Temporal under Temporal's limits.

Temporal refuses any payload over 2 MB and terminates a run whose history passes
50 MB. Hitting either from workflow code does not fail a node: the workflow task fails
again and again and the run hangs. So the driver checks sizes itself, and a node that
would break a limit fails with an error that says which, like any other node failure:

- a node's output over :attr:`PayloadLimits.node_output_bytes` (pure nodes here; I/O
  nodes in the activity, before Temporal sees the result);
- an I/O node's input (its rendered config) over :attr:`PayloadLimits.activity_input_bytes`;
- a run whose activity inputs and outputs add up past :attr:`PayloadLimits.history_bytes`;
- the result document: the largest outputs are elided (:func:`fit_result`) rather than
  failing a run that has finished; a result that cannot fit even then ends the run with
  a ``ResultTooLarge`` error (never a workflow task that fails for ever).

The limits are a :class:`PayloadLimits` value. Without a payload store they are
Temporal's own (:data:`INLINE_LIMITS`: 1 MB a node output). With one
(``FLOV7_PAYLOAD_STORE_DIR``, :mod:`flov7.temporal.payload_storage`), payloads over a
threshold travel by reference (a claim check) and the history only holds the reference,
so a node output may be as large as ``FLOV7_MAX_LARGE_OUTPUT_BYTES``
(:meth:`PayloadLimits.with_store`), and a stored payload counts in the history budget by
the size of its reference. The starter stamps which applies into the run's defaults
(:attr:`flov7.spec.ExecutionDefaults.large_payloads`), so every replay of a run uses the
limits it started with.

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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flov7.engine.json_check import MAX_JSON_NESTING, JsonTooLarge, NotPlainJson, measure_json

if TYPE_CHECKING:
    from flov7.spec import ExecutionDefaults

MAX_RESULT_BYTES = 1_500_000
"""Budget for the whole result, below Temporal's 2 MB with room for its envelope."""
MAX_NODE_OUTPUT_BYTES = 1_000_000
"""One node's output (an activity result is one payload; outputs also feed later nodes)."""
MAX_ACTIVITY_INPUT_BYTES = 1_500_000
"""One I/O node's rendered input (one payload)."""
MAX_HISTORY_BYTES = 40_000_000
"""Activity inputs and outputs of one run, added up: under Temporal's 50 MB history."""
MAX_CONTINUATION_BYTES = 1_500_000
"""Largest state (finished nodes and their outputs, as JSON) a run carries into the next
run of its chain when it continues as new: the workflow input is one payload, and
Temporal refuses payloads over 2 MB."""
REFERENCE_BYTES = 512
"""What a payload stored by reference costs in the history: the SDK's reference (driver
name, claim, size) is about 200 bytes; rounded up so the budget errs on the safe side."""
MAX_OUTPUT_DEPTH = MAX_JSON_NESTING
"""Deepest nesting of lists and dicts in one node's output, whatever its parents produced."""

MAX_RECORDED_INPUT_BYTES = 64_000
"""A node's rendered config as kept in its result (``input``), for people to read: a
copy of what the node was sent, so a small cap keeps results small."""

STORE_DIR_SETTING = "FLOV7_PAYLOAD_STORE_DIR"
LARGE_OUTPUT_SETTING = "FLOV7_MAX_LARGE_OUTPUT_BYTES"


@dataclass(frozen=True)
class PayloadLimits:
    """The size limits of one run's payloads (the driver, the activities and the local
    runtime take one, so both runtimes refuse the same outputs)."""

    node_output_bytes: int = MAX_NODE_OUTPUT_BYTES
    """One node's output (an activity result is one payload; outputs also feed later nodes)."""
    activity_input_bytes: int = MAX_ACTIVITY_INPUT_BYTES
    """One I/O node's rendered input (one payload)."""
    result_bytes: int = MAX_RESULT_BYTES
    """The whole result document (one payload)."""
    continuation_bytes: int = MAX_CONTINUATION_BYTES
    """The state handed to the next run of a chain on continue-as-new (one payload)."""
    history_bytes: int = MAX_HISTORY_BYTES
    """Activity inputs and outputs of one run, added up as the history holds them."""
    reference_threshold_bytes: int | None = None
    """Payloads of at least this many bytes go to the payload store and the history holds
    a reference; None: no store, every payload is inline."""

    @property
    def by_reference(self) -> bool:
        """Whether large payloads go to a payload store."""
        return self.reference_threshold_bytes is not None

    @classmethod
    def with_store(cls, threshold_bytes: int, max_output_bytes: int) -> PayloadLimits:
        """The limits when payloads of ``threshold_bytes`` or more are stored by reference.

        One payload (an output, an activity input, the result, a continuation) may be up to
        ``max_output_bytes``; the history budget stays Temporal's, counted by reference.
        """
        return cls(
            node_output_bytes=max_output_bytes,
            activity_input_bytes=max_output_bytes,
            # The result holds the outputs: room for a few of the largest whole.
            result_bytes=4 * max_output_bytes,
            continuation_bytes=max_output_bytes,
            reference_threshold_bytes=threshold_bytes,
        )

    @classmethod
    def for_defaults(cls, defaults: ExecutionDefaults) -> PayloadLimits:
        """The limits a run's stamped defaults call for (:data:`INLINE_LIMITS` when the
        starter stored nothing by reference, as for every run recorded before)."""
        large = defaults.large_payloads
        if large is None:
            return INLINE_LIMITS
        return cls.with_store(large.threshold_bytes, large.max_output_bytes)

    def history_cost(self, size: int) -> int:
        """What a payload of ``size`` bytes adds to the history: its reference when it is
        stored (an estimate: the threshold applies to the encoded payload)."""
        threshold = self.reference_threshold_bytes
        if threshold is not None and size >= threshold:
            return REFERENCE_BYTES
        return size


INLINE_LIMITS = PayloadLimits()
"""Temporal's own limits: no payload store."""


REDACTED = "***"
# Field names whose values are secrets whatever the node type (headers, bodies, auth):
# credentials are resolved in the worker, but a document may still inline one.
_SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api[-_]?key|authorization|cookie|private[-_]?key",
    re.IGNORECASE,
)


def output_too_large(
    size: int | None, node_id: str | None = None, limits: PayloadLimits = INLINE_LIMITS
) -> dict[str, Any]:
    """The error of a node whose output is over ``limits.node_output_bytes``.

    ``size`` is None when the measure stopped at the limit (it never goes further). The
    message names the setting that decides the limit.
    """
    limit = limits.node_output_bytes
    who = f"Node '{node_id}': the" if node_id else "The"
    amount = f"is {size} bytes" if size is not None else f"is more than {limit}"
    if limits.by_reference:
        why = (
            f"over the {limit}-byte limit of one node's output ({LARGE_OUTPUT_SETTING}); "
            f"select or trim the data, page through it, or raise {LARGE_OUTPUT_SETTING}"
        )
    else:
        why = (
            f"over the {limit}-byte limit of one node's output (Temporal refuses payloads "
            "over 2 MB); select or trim the data, or page through it, or store large "
            f"outputs by reference ({STORE_DIR_SETTING}, see docs/reliability.md)"
        )
    return {"type": "OutputTooLarge", "message": f"{who} node's output {amount} of JSON, {why}"}


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
    value: Any,
    node_id: str | None = None,
    *,
    limits: PayloadLimits = INLINE_LIMITS,
    limit: int | None = None,
) -> OutputCheck:
    """Check that ``value`` is plain JSON of at most ``limits.node_output_bytes`` bytes
    (or ``limit``), without serialising it.

    Returns the size, or an ``OutputTooLarge`` / ``InvalidOutput`` error naming the node.
    """
    limit = limits.node_output_bytes if limit is None else limit
    try:
        measured = measure_json(value, limit=limit, strict=True, max_depth=MAX_OUTPUT_DEPTH)
    except JsonTooLarge as exc:
        return OutputCheck(limit + 1, exc.visits, output_too_large(None, node_id, limits))
    except NotPlainJson as exc:
        return OutputCheck(0, exc.visits, invalid_output(exc, node_id))
    return OutputCheck(measured.size, measured.visits)


def check_small_output(
    value: Any, node_id: str | None = None, *, limits: PayloadLimits, budget: int
) -> OutputCheck | None:
    """:func:`check_output`'s answer when ``value`` is at most ``budget`` bytes of JSON,
    else None (the walk stopped at ``budget``: check it with :func:`check_output`).

    For callers that may check a small value in place but must not spend long on a large
    one (the activities, on the event loop). The walk is the same, in the same order, so
    whatever it finds within the budget, a full check would find too.
    """
    if budget >= limits.node_output_bytes:
        return check_output(value, node_id, limits=limits)
    try:
        measured = measure_json(value, limit=budget, strict=True, max_depth=MAX_OUTPUT_DEPTH)
    except JsonTooLarge:
        return None
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


_LEAVES = frozenset({str, int, float, bool, type(None)})
"""Exact types :func:`redact_secrets` returns as they are without an isinstance call (it
runs in workflow code, where the sandbox wraps isinstance in Python)."""


def redact_secrets(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-looking keys replaced by ``***``."""
    if type(value) in _LEAVES:
        return value
    if isinstance(value, dict):
        return {
            key: REDACTED
            if (type(key) is str or isinstance(key, str))
            and _SECRET_NAME.search(key)
            and value[key] is not None
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


RESULT_TOO_LARGE = "ResultTooLarge"
"""Error type of a run whose result document cannot fit even without its outputs."""

_FIELDS = ("output", "input")


def fit_result(
    result: dict[str, Any],
    max_bytes: int = MAX_RESULT_BYTES,
    bounds: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """``result`` itself when it fits in ``max_bytes``, else a smaller copy; never larger.

    ``bounds``: node id -> an upper bound of that node's output size, for outputs too
    large to walk again in workflow code (a 10 MB walk takes most of the 2 s a workflow
    task may hold the thread). When the bounds and the rest fit, nothing is walked.

    Trimming only ever removes bytes, largest first:

    1. the largest outputs (and recorded inputs) become ``{"truncated": true,
       "size_bytes": N}`` (output node ids listed in ``truncated_outputs``), but only
       where the marker and its list entry are smaller than what they replace;
    2. if that is not enough, the remaining (small) outputs and inputs are dropped from
       their node entries, largest first;
    3. if the result still does not fit (too many nodes for one document), the run
       ends ``failed`` with a ``ResultTooLarge`` error and no node entries: a result
       Temporal would refuse would fail the workflow task again and again instead.

    A trimmed copy says what was done in one summary, ``result_trimmed``.
    """
    if bounds and _fits_within_bounds(result, max_bytes, bounds):
        return result
    if json_size(result, max_bytes) <= max_bytes:
        return result
    nodes = {node_id: dict(node) for node_id, node in result["node_results"].items()}
    sizes = sorted(
        (
            (json_size(node.get(field)), node_id, field)
            for node_id, node in nodes.items()
            for field in _FIELDS
            if node.get(field) is not None
        ),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    # The exact total, from parts: the envelope with every output and input null (4 bytes
    # each), plus those fields' own sizes, plus the summary fields this adds (sized for
    # the largest numbers they can hold).
    envelope = {
        **result,
        "node_results": {
            k: {**v, **{field: None for field in _FIELDS if field in v}} for k, v in nodes.items()
        },
    }
    original = json_size(envelope) + sum(field_size - 4 for field_size, _, _ in sizes)
    size = original + json_size(
        {"truncated_outputs": [], "result_trimmed": _summary(max_bytes, original, 10**9, 10**9)}
    )
    truncated: list[str] = []
    elided = dropped = 0
    for field_size, node_id, field in sizes:
        if size <= max_bytes:
            break
        marker = {"truncated": True, "size_bytes": field_size}
        # The list entry: the quoted id and a comma.
        cost = json_size(marker) + (json_size(node_id) + 1 if field == "output" else 0)
        if cost >= field_size:
            continue  # A marker would not save anything here (see step 2).
        nodes[node_id][field] = marker
        size -= field_size - cost
        elided += 1
        if field == "output":
            truncated.append(node_id)
    if size > max_bytes:
        for field_size, node_id, field in sizes:
            if size <= max_bytes:
                break
            if nodes[node_id].get(field) is None or field_size <= 4:
                continue  # Already a marker or null (or too small to matter).
            if isinstance(nodes[node_id][field], dict) and nodes[node_id][field].get("truncated"):
                continue
            # Every node entry has other keys, so the comma goes with it: "output":...,
            del nodes[node_id][field]
            size -= json_size(field) + 1 + field_size + 1
            dropped += 1
    if size > max_bytes:
        return _result_too_large(result, max_bytes, original)
    return {
        **result,
        "node_results": nodes,
        "truncated_outputs": truncated,
        "result_trimmed": _summary(max_bytes, original, elided, dropped),
    }


def _fits_within_bounds(result: dict[str, Any], max_bytes: int, bounds: Mapping[str, int]) -> bool:
    entries = result.get("node_results") or {}
    bounded = [node_id for node_id in bounds if node_id in entries]
    rest = {
        **result,
        "node_results": {
            node_id: ({**entry, "output": None} if node_id in bounds else entry)
            for node_id, entry in entries.items()
        },
    }
    budget = max_bytes - sum(bounds[node_id] for node_id in bounded)
    return budget > 0 and json_size(rest, budget) <= budget


def _summary(max_bytes: int, original: int, elided: int, dropped: int) -> dict[str, Any]:
    return {
        "size_bytes": original,
        "limit_bytes": max_bytes,
        "elided": elided,
        "dropped": dropped,
        "reason": "the result document was over its limit: the largest outputs and inputs "
        "were replaced by markers, then small ones dropped",
    }


def _result_too_large(result: dict[str, Any], max_bytes: int, original: int) -> dict[str, Any]:
    """The run's end when its result cannot fit: failed, counts kept, nodes dropped."""
    count = len(result.get("node_results") or {})
    message = (
        f"The run's result document is {original} bytes, over its {max_bytes}-byte limit, "
        f"even without its {count} nodes' outputs: too many nodes for one result (Temporal "
        "refuses payloads over 2 MB). Split the workflow into sub-workflows"
        + (
            ""
            if max_bytes > MAX_RESULT_BYTES
            else f", or store large results by reference ({STORE_DIR_SETTING})"
        )
    )
    previous = result.get("error")
    error: dict[str, Any] = {"type": RESULT_TOO_LARGE, "message": message, "node_id": None}
    if isinstance(previous, dict):
        # The run's own error (a node failure) is kept, small: type and message only.
        error["cause"] = {
            key: previous.get(key) for key in ("type", "message", "node_id") if key in previous
        }
    status = result.get("status")
    small = {
        key: value
        for key, value in result.items()
        if key not in ("node_results", "execution_path", "cancelled_nodes", "input", "error")
    }
    return {
        **small,
        "status": "cancelled" if status == "cancelled" else "failed",
        "node_results": {},
        "execution_path": [],
        "cancelled_nodes": [],
        "input": None,
        "error": error,
        "result_trimmed": {
            **_summary(max_bytes, original, 0, 0),
            "nodes_dropped": count,
            "reason": message,
        },
    }
