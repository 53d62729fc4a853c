"""Workflows whose nodes produce values that are not plain JSON, or too deep, or too big.

Each used to make a run that could never finish on Temporal (the converter or a
RecursionError failed the workflow task for ever). Each must now fail the node that
produced the value, with an error that names the node and the problem, on both runtimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flov7.engine.payloads import MAX_OUTPUT_DEPTH


def expression_node(node_id: str, expression: str) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "transform",
        "data": {"transform_type": "expression", "expression": expression},
    }


def chain(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    edges = [
        {"id": f"e{i}", "source": nodes[i]["id"], "target": nodes[i + 1]["id"]}
        for i in range(len(nodes) - 1)
    ]
    return {"id": "hostile", "name": "hostile", "nodes": nodes, "edges": edges}


@dataclass(frozen=True)
class HostileCase:
    """A workflow, its run input, and the node that must fail with which error."""

    name: str
    document: dict[str, Any]
    run_input: dict[str, Any] | None
    failed_node: str
    error_type: str
    message_part: str


def hostile_cases() -> list[HostileCase]:
    """The cases, fresh each time (tests may not share mutable documents)."""
    deep = chain(
        [expression_node("n0", "input")]
        + [expression_node(f"n{i}", "[inputs]") for i in range(1, MAX_OUTPUT_DEPTH + 3)]
    )
    doubling = chain(
        [expression_node("n0", "[input.s, input.s]")]
        + [expression_node(f"n{i}", "[inputs, inputs]") for i in range(1, 30)]
    )
    return [
        HostileCase(
            "mixed_keys",
            chain([expression_node("n", "{1: 'a', 'b': 2}"), expression_node("after", "1")]),
            None,
            "n",
            "InvalidOutput",
            "a dict key that is int, not a string",
        ),
        HostileCase(
            "null_key",
            chain([expression_node("n", "{'x': {null: 1}}")]),
            None,
            "n",
            "InvalidOutput",
            "a dict key that is null, not a string at $.x[None]",
        ),
        HostileCase(
            "lone_surrogate",
            chain([expression_node("n", "{'text': json_decode('\"\\\\ud800\"')}")]),
            None,
            "n",
            "InvalidOutput",
            "a string with a lone surrogate (invalid Unicode) at $.text",
        ),
        HostileCase(
            "nesting_grows_across_a_chain",
            deep,
            {"x": 1},
            # n0 outputs the input (1 level); each node adds one: n99 has 100 levels.
            f"n{MAX_OUTPUT_DEPTH}",
            "InvalidOutput",
            f"nesting deeper than {MAX_OUTPUT_DEPTH} levels",
        ),
        HostileCase(
            "io_node_config_with_a_lone_surrogate",
            chain(
                [
                    {
                        "id": "call",
                        "type": "api_call",
                        "data": {
                            "url": "http://127.0.0.1:9/",
                            "method": "POST",
                            "body": {"text": "{{ json_decode('\"\\\\udfff\"') }}"},
                        },
                    }
                ]
            ),
            None,
            "call",
            "InvalidInput",
            "a rendered config that is not plain JSON: a string with a lone surrogate",
        ),
        HostileCase(
            "shared_references_double_per_node",
            doubling,
            {"s": "x" * 1000},
            # n0 is ~2 KB and each node doubles it: n9 is ~1 MB of JSON.
            "n9",
            "OutputTooLarge",
            "Node 'n9': the node's output is more than 1000000",
        ),
    ]


def check_hostile(result: dict[str, Any], case: HostileCase) -> None:
    """The run failed at the case's node, with its error type and a message naming both."""
    assert result["status"] == "failed", result["error"]
    error = result["error"]
    assert error["node_id"] == case.failed_node
    assert error["type"] == case.error_type
    assert case.message_part in error["message"]
    assert f"'{case.failed_node}'" in error["message"]
    node = result["node_results"][case.failed_node]
    assert node["status"] == "failed"
    assert node["output"] is None
