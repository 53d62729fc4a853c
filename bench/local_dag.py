"""The local runtime on 1,000-node DAGs of pure nodes: time per node.

Reproduce with::

    .venv/bin/python bench/local_dag.py            # 5 runs of each, medians
    .venv/bin/python bench/local_dag.py --nodes 1000 --runs 9

Scenarios (all ``transform`` nodes, run by ``LocalRuntime`` in this process):

- deep: a chain of N nodes, each adding one to its parent's output.
- wide: one root, N-2 independent nodes reading it, one join reading them all.

Baseline, in the same process: the same N expressions evaluated in a plain loop with
``flov7.engine.expressions.evaluate`` (the nodes' own work, without any engine). The
ratio is what the engine (validation, scheduling, scopes, results) adds on top.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from flov7.engine.expressions import evaluate
from flov7.local.runtime import LocalRuntime


def deep(n: int) -> dict[str, Any]:
    """A chain: n0 -> n1 -> ... each node ``inputs + 1``."""
    nodes = [
        {
            "id": f"n{i}",
            "type": "transform",
            "data": {"transform_type": "expression", "expression": "0" if i == 0 else "inputs + 1"},
        }
        for i in range(n)
    ]
    edges = [{"id": f"e{i}", "source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, n)]
    return {"id": f"deep-{n}", "nodes": nodes, "edges": edges}


def wide(n: int) -> dict[str, Any]:
    """A fan-out of n-2 nodes between one root and one join."""
    middle = [
        {"id": f"m{i}", "type": "transform", "data": {"mapping": {f"v{i}": f"inputs.base + {i}"}}}
        for i in range(n - 2)
    ]
    nodes = [
        {"id": "root", "type": "transform", "data": {"mapping": {"base": "1"}}},
        *middle,
        {
            "id": "join",
            "type": "transform",
            "data": {"transform_type": "expression", "expression": "len(inputs)"},
        },
    ]
    edges = [{"id": f"a{i}", "source": "root", "target": f"m{i}"} for i in range(n - 2)]
    edges += [{"id": f"b{i}", "source": f"m{i}", "target": "join"} for i in range(n - 2)]
    return {"id": f"wide-{n}", "nodes": nodes, "edges": edges}


def baseline(n: int) -> Callable[[], None]:
    """The nodes' expressions alone, in a loop."""

    def run() -> None:
        value: Any = evaluate("0", {})
        for _ in range(n - 1):
            value = evaluate("inputs + 1", {"inputs": value})

    return run


async def median_seconds(runs: int, once: Callable[[], Any]) -> float:
    samples = []
    for _ in range(runs + 1):  # the first one warms caches and is dropped
        start = time.perf_counter()
        result = once()
        if asyncio.iscoroutine(result):
            await result
        samples.append(time.perf_counter() - start)
    return statistics.median(samples[1:])


async def main(n: int, runs: int) -> None:
    runtime = LocalRuntime()

    async def run_document(document: dict[str, Any]) -> None:
        result = await runtime.run(document)
        assert result["status"] == "completed", result["error"]
        assert result["completed_nodes"] == n

    base = await median_seconds(runs, baseline(n))
    print(
        f"baseline: {n} expressions in a loop   {base * 1000:8.1f} ms   "
        f"{base / n * 1e6:7.1f} us/node"
    )
    for name, document in (("deep", deep(n)), ("wide", wide(n))):
        seconds = await median_seconds(runs, lambda d=document: run_document(d))
        print(
            f"local {name:5s} {n} nodes             {seconds * 1000:8.1f} ms   "
            f"{seconds / n * 1e6:7.1f} us/node   {seconds / base:5.1f}x baseline"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.nodes, args.runs))
