"""Result trimming only ever shrinks the result; what cannot fit ends the run clearly.

Sizes are checked with ``json.dumps`` as Temporal's JSON converter writes them (compact
separators), independently of the measuring code under test.
"""

from __future__ import annotations

import json
import random
from typing import Any

from flov7.engine.payloads import (
    INLINE_LIMITS,
    REFERENCE_BYTES,
    RESULT_TOO_LARGE,
    PayloadLimits,
    check_output,
    fit_result,
)
from flov7.local.runtime import LocalRuntime
from flov7.spec import ExecutionDefaults, LargePayloads


def wire_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def node(output: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": "transform",
        "status": "completed",
        "output": output,
        "error": None,
        "attempts": 1,
        "started_at": "2026-12-01T00:00:00.000000+00:00",
        "finished_at": "2026-12-01T00:00:00.000000+00:00",
        "input": {"mapping": {"v": "inputs.v + 1"}},
        "worker": None,
        **extra,
    }


def result_of(nodes: dict[str, dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {
        "workflow_id": "wf",
        "status": status,
        "node_results": nodes,
        "execution_path": list(nodes),
        "total_nodes": len(nodes),
        "error": None,
        "input": {},
    }


def chain_result(count: int) -> dict[str, Any]:
    return result_of({f"n{i:05d}": node({"v": i}) for i in range(count)})


def test_many_small_outputs_shrink_instead_of_growing() -> None:
    """The issue's case: ~7,800 small outputs just over the budget used to grow 50%."""
    result = chain_result(7_000)
    before = wire_size(result)
    limit = before - 50_000  # just over the budget, like 1.52 MB against 1.5 MB
    fitted = fit_result(result, limit)
    assert fitted["status"] == "completed"
    assert wire_size(fitted) <= limit < before
    summary = fitted["result_trimmed"]
    assert summary["dropped"] > 0 and summary["limit_bytes"] == limit
    # Dropped outputs leave the node's other fields alone.
    assert all(entry["status"] == "completed" for entry in fitted["node_results"].values())


def test_trimming_never_grows_whatever_the_mix() -> None:
    rng = random.Random(7)
    for _ in range(40):
        nodes = {
            f"n{i}": node(
                "x" * rng.choice([0, 1, 5, 40, 300, 5_000]),
                input=rng.choice([None, {}, {"body": "y" * rng.choice([1, 50, 2_000])}]),
            )
            for i in range(rng.randint(1, 300))
        }
        result = result_of(nodes)
        before = wire_size(result)
        limit = rng.randint(before // 4, before)
        fitted = fit_result(result, limit)
        after = wire_size(fitted)
        assert after <= before
        if fitted["status"] != "failed":
            assert after <= limit
        else:
            assert fitted["error"]["type"] == RESULT_TOO_LARGE


def test_largest_outputs_go_first_and_small_ones_keep_their_value() -> None:
    result = result_of({"big": node("b" * 50_000), "mid": node("m" * 5_000), "s": node("tiny")})
    fitted = fit_result(result, wire_size(result) - 40_000)
    assert fitted["truncated_outputs"] == ["big"]
    assert fitted["node_results"]["big"]["output"] == {"truncated": True, "size_bytes": 50_002}
    assert fitted["node_results"]["mid"]["output"] == "m" * 5_000
    assert fitted["node_results"]["s"]["output"] == "tiny"


def test_a_result_that_cannot_fit_fails_the_run_with_a_clear_error() -> None:
    result = chain_result(2_000)
    result["error"] = None
    fitted = fit_result(result, 50_000)  # not even the node entries fit
    assert fitted["status"] == "failed"
    assert fitted["error"]["type"] == RESULT_TOO_LARGE
    assert "2000 nodes" in fitted["error"]["message"]
    assert "FLOV7_PAYLOAD_STORE_DIR" in fitted["error"]["message"]
    assert fitted["node_results"] == {} and fitted["result_trimmed"]["nodes_dropped"] == 2_000
    assert wire_size(fitted) < 50_000
    assert fitted["total_nodes"] == 2_000  # the counts stay


def test_a_failed_run_that_cannot_fit_keeps_its_own_error_as_the_cause() -> None:
    result = chain_result(2_000)
    result["status"] = "failed"
    result["error"] = {"type": "HttpError", "message": "500", "node_id": "n00007"}
    fitted = fit_result(result, 50_000)
    assert fitted["error"]["cause"] == {"type": "HttpError", "message": "500", "node_id": "n00007"}


async def test_an_8000_node_chain_ends_on_the_local_runtime() -> None:
    """Same workflow as the Temporal test: the result fits (trimmed) or the run fails
    with ResultTooLarge; either way under the limit (and it does not hang)."""
    document = transform_chain(8_000)
    result = await LocalRuntime().run(document)
    assert wire_size(result) <= INLINE_LIMITS.result_bytes
    assert result["status"] in ("completed", "failed")
    if result["status"] == "failed":
        assert result["error"]["type"] == RESULT_TOO_LARGE
    else:
        assert result["result_trimmed"]["dropped"] > 0


def transform_chain(count: int) -> dict[str, Any]:
    """``count`` transform nodes in a row, each adding one to the last."""
    nodes: list[dict[str, Any]] = [
        {"id": "n0", "type": "transform", "data": {"mapping": {"v": "0"}}},
        *(
            {"id": f"n{i}", "type": "transform", "data": {"mapping": {"v": "inputs.v + 1"}}}
            for i in range(1, count)
        ),
    ]
    edges = [{"id": f"e{i}", "source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, count)]
    return {"id": f"chain-{count}", "nodes": nodes, "edges": edges}


def test_limits_with_a_store() -> None:
    limits = PayloadLimits.with_store(256 * 1024, 64 * 1024**2)
    assert limits.by_reference and not INLINE_LIMITS.by_reference
    assert limits.history_cost(10_000_000) == REFERENCE_BYTES
    assert limits.history_cost(1_000) == 1_000
    assert INLINE_LIMITS.history_cost(10_000_000) == 10_000_000
    stamped = ExecutionDefaults(
        large_payloads=LargePayloads(threshold_bytes=256 * 1024, max_output_bytes=64 * 1024**2)
    )
    assert PayloadLimits.for_defaults(stamped) == limits
    assert PayloadLimits.for_defaults(ExecutionDefaults()) is INLINE_LIMITS


def test_output_errors_name_the_setting_that_decides() -> None:
    big = ["x" * 1000] * 2000  # ~2 MB
    inline = check_output(big, "n1")
    assert inline.error is not None and inline.error["type"] == "OutputTooLarge"
    assert "FLOV7_PAYLOAD_STORE_DIR" in inline.error["message"]
    assert (
        check_output(big, "n1", limits=PayloadLimits.with_store(1024, 64 * 1024**2)).error is None
    )
    small_store = PayloadLimits.with_store(1024, 1_000_000)
    stored = check_output(big, "n1", limits=small_store)
    assert stored.error is not None and stored.error["type"] == "OutputTooLarge"
    assert "FLOV7_MAX_LARGE_OUTPUT_BYTES" in stored.error["message"]
    assert "1000000-byte limit" in stored.error["message"]
