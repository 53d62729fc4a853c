"""Sequential chains: Flov7 transform chains against hand-written Temporal workflows.

Reproduce with::

    .venv/bin/python bench/chain.py            # 15 runs of each, medians and ratios
    .venv/bin/python bench/chain.py --runs 30

Everything runs in this process against one embedded dev server (in memory, started
with the same flags as Flov7's embedded server), one worker hosting all workflows:

- flov7-transform-10 / -40: ``WorkflowExecution`` over a chain of N ``transform``
  nodes (evaluated inside the workflow: no activity).
- baseline-1-activity: a hand-written workflow running one trivial activity.
- baseline-40-activities: a hand-written workflow running 40 trivial activities in a row
  (what a chain of 40 nodes costs when every node is a regular activity).

The ratio that matters: flov7-transform-40 / baseline-1-activity (target: below 2).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from flov7.config import TemporalSettings
from flov7.temporal.devserver import EmbeddedDevServer, free_ports
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker

QUEUE = "bench-chain"


@activity.defn(name="bench_step")
async def bench_step(value: int) -> int:
    """The trivial work one chain step does."""
    return value + 1


@workflow.defn(name="BenchActivityChain")
class BenchActivityChain:
    """The hand-written baseline: ``length`` activities in a row."""

    @workflow.run
    async def run(self, length: int) -> int:
        value = 0
        for _ in range(length):
            value = await workflow.execute_activity(
                bench_step, value, start_to_close_timeout=timedelta(seconds=30)
            )
        return value


def transform_chain(length: int) -> dict[str, Any]:
    """A Flov7 document: ``length`` transform nodes, each adding one."""
    nodes = [
        {
            "id": f"n{i}",
            "type": "transform",
            "data": {"transform_type": "expression", "expression": "0" if i == 0 else "inputs + 1"},
        }
        for i in range(length)
    ]
    edges = [{"id": f"e{i}", "source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, length)]
    return {"id": f"chain-{length}", "nodes": nodes, "edges": edges}


async def timed(runs: int, once: Callable[[], Awaitable[Any]]) -> list[float]:
    """Wall-clock seconds of ``runs`` sequential calls (after one warm-up call)."""
    await once()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await once()
        samples.append(time.perf_counter() - start)
    return samples


async def main(runs: int) -> None:
    port, ui_port = free_ports(2)
    data = Path("/tmp") / f"flov7-bench-{uuid.uuid4().hex[:6]}"
    settings = TemporalSettings(task_queue=QUEUE)
    async with EmbeddedDevServer(
        data, port=port, ui_port=ui_port, ui=False, in_memory=True
    ) as server:
        client = await Client.connect(server.target)
        flov7_worker = create_worker(client, settings)
        baseline_worker = Worker(
            client,
            task_queue=QUEUE + "-baseline",
            workflows=[BenchActivityChain],
            activities=[bench_step],
        )
        async with flov7_worker, baseline_worker:

            def flov7_chain(length: int) -> Callable[[], Awaitable[Any]]:
                document = transform_chain(length)

                async def once() -> Any:
                    handle = await start_execution(client, document, settings)
                    result = await handle.result()
                    assert result["status"] == "completed", result["error"]
                    assert result["node_results"][f"n{length - 1}"]["output"] == length - 1
                    return result

                return once

            def baseline(length: int) -> Callable[[], Awaitable[Any]]:
                async def once() -> Any:
                    value = await client.execute_workflow(
                        BenchActivityChain.run,
                        length,
                        id=f"bench-{uuid.uuid4().hex}",
                        task_queue=QUEUE + "-baseline",
                    )
                    assert value == length
                    return value

                return once

            scenarios = {
                "baseline-1-activity": baseline(1),
                "baseline-40-activities": baseline(40),
                "flov7-transform-10": flov7_chain(10),
                "flov7-transform-40": flov7_chain(40),
            }
            medians = {}
            for name, once in scenarios.items():
                samples = await timed(runs, once)
                medians[name] = statistics.median(samples)
                print(
                    f"{name:24s} median {medians[name] * 1000:8.1f} ms   "
                    f"(min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f}, n={runs})"
                )
    ratios = [
        ("flov7-transform-10", "baseline-1-activity", ""),
        ("flov7-transform-40", "baseline-1-activity", "   (target < 2)"),
        ("flov7-transform-40", "baseline-40-activities", ""),
    ]
    print()
    for name, against, note in ratios:
        print(f"{name} / {against:22s} = {medians[name] / medians[against]:5.2f}x{note}")
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    sys.exit(asyncio.run(main(parser.parse_args().runs)))
