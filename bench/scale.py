"""How time and memory grow with workflow size and with concurrent runs.

Reproduce with::

    .venv/bin/python bench/scale.py                       # 100 .. 20,000 nodes
    .venv/bin/python bench/scale.py --sizes 100 1000 --concurrency 1 10

Everything runs in this process against one embedded dev server (in memory) with a
payload store in a temporary directory (as Flov7's embedded setup has by default):

- chains of N pure ``transform`` nodes (100, 1,000, 5,000, 20,000): time of one run and
  the ratio to the 100-node chain (the baseline), with the peak RSS of the process;
- a fan-out of 200 ``api_call`` nodes against a local server that answers at once;
- C concurrent runs of the 1,000-node chain: time for all, ratio to C x one run.

Timings are noisy on a shared machine: read the same-process ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flov7.config import NodeSettings, TemporalSettings, settings_with
from flov7.nodes.resources import node_resources
from flov7.temporal.client import get_temporal_client
from flov7.temporal.devserver import EmbeddedDevServer, free_ports
from flov7.temporal.executions import start_execution
from flov7.temporal.worker import create_worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from nodes.http_servers import TestHttpServer

QUEUE = "bench-scale"


def chain(count: int) -> dict[str, Any]:
    nodes = [{"id": "n0", "type": "transform", "data": {"mapping": {"v": "0"}}}] + [
        {"id": f"n{i}", "type": "transform", "data": {"mapping": {"v": "inputs.v + 1"}}}
        for i in range(1, count)
    ]
    edges = [{"id": f"e{i}", "source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, count)]
    return {"id": f"chain-{count}", "nodes": nodes, "edges": edges}


def fan_out(url: str, count: int) -> dict[str, Any]:
    return {
        "id": f"fan-{count}",
        "nodes": [{"id": f"c{i}", "type": "api_call", "data": {"url": url}} for i in range(count)],
        "edges": [],
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(sizes: list[int], fan: int, concurrency: list[int]) -> None:
    port, ui_port = free_ports(2)
    store = Path(tempfile.mkdtemp(prefix="flov7-bench-payloads-"))
    temporal = TemporalSettings.from_values(
        task_queue=QUEUE, payload_store_dir=store, workflow_timeout_minutes=30
    )
    settings = settings_with(
        temporal=temporal, nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1")
    )
    data = Path(tempfile.mkdtemp(prefix="flov7-bench-"))
    async with (
        EmbeddedDevServer(data, port=port, ui_port=ui_port, ui=False, in_memory=True) as server,
        TestHttpServer() as http,
    ):
        client = await get_temporal_client(temporal, target=server.target)
        async with (
            node_resources(settings) as resources,
            create_worker(client, temporal, resources=resources),
        ):

            async def once(document: dict[str, Any]) -> tuple[float, dict[str, Any]]:
                started = time.perf_counter()
                handle = await start_execution(client, document, temporal)
                result = await handle.result()
                return time.perf_counter() - started, result

            print(
                f"{'workload':>24} {'seconds':>8} {'ratio':>7} {'status':>10} {'peak RSS MB':>12}"
            )
            base: float | None = None
            for size in sizes:
                seconds, result = await once(chain(size))
                base = base or seconds
                print(
                    f"{f'chain {size}':>24} {seconds:>8.2f} {seconds / base:>7.1f} "
                    f"{result['status']:>10} {peak_rss_mb():>12.0f}"
                )
            seconds, result = await once(fan_out(http.url_for("/json"), fan))
            print(
                f"{f'api_call fan-out {fan}':>24} {seconds:>8.2f} {'':>7} "
                f"{result['status']:>10} {peak_rss_mb():>12.0f}"
            )
            one, _ = await once(chain(1000))
            for c in concurrency:
                started = time.perf_counter()
                results = await asyncio.gather(*(once(chain(1000)) for _ in range(c)))
                seconds = time.perf_counter() - started
                ok = sum(r["status"] == "completed" for _, r in results)
                print(
                    f"{f'{c} x chain 1000':>24} {seconds:>8.2f} {seconds / (c * one):>7.2f} "
                    f"{f'{ok}/{c} ok':>10} {peak_rss_mb():>12.0f}"
                )
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000, 20000])
    parser.add_argument("--fan-out", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.sizes, args.fan_out, args.concurrency)))
