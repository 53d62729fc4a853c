"""The embedded server's persistence: SQLite file (``flov7 serve``, ``flov7 run``) vs memory.

Reproduce with::

    .venv/bin/python bench/persistence.py                       # 3 rounds of 200 runs
    .venv/bin/python bench/persistence.py --runs 300 --concurrency 50 --rounds 5

Two embedded dev servers run side by side in this process's children, started by
:class:`~flov7.temporal.devserver.EmbeddedDevServer` with Flov7's flags: one with its
state in a SQLite file (``--db-filename``, what Flov7 runs), one in memory. Each has a
Flov7 worker in this process. A round sends ``--runs`` one-node runs (a ``transform``,
so the cost is the server's and the workflow task's, not an activity's) with at most
``--concurrency`` in flight to one server, then the same to the other; rounds alternate
which goes first. Printed: runs/s per server (median over rounds) and file / memory.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from temporalio.client import Client

from flov7.config import TemporalSettings
from flov7.temporal.devserver import EmbeddedDevServer, free_ports
from flov7.temporal.executions import start_execution
from flov7.temporal.search_attributes import SEARCH_ATTRIBUTES
from flov7.temporal.worker import create_worker

QUEUE = "bench-persistence"
DOCUMENT: dict[str, Any] = {
    "id": "one-node",
    "nodes": [{"id": "n", "type": "transform", "data": {"mapping": {"y": "input.x + 1"}}}],
    "edges": [],
    "input": {"x": 1},
}


async def burst(client: Client, settings: TemporalSettings, runs: int, concurrency: int) -> float:
    """Runs per second of ``runs`` runs, at most ``concurrency`` at once."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            handle = await start_execution(client, DOCUMENT, settings)
            result = await handle.result()
            assert result["status"] == "completed", result

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(runs)))
    return runs / (time.perf_counter() - start)


async def main(runs: int, concurrency: int, rounds: int) -> None:
    settings = TemporalSettings(task_queue=QUEUE)
    with tempfile.TemporaryDirectory(prefix="flov7-persistence-") as tmp:
        servers = {}
        for name, in_memory in (("file", False), ("memory", True)):
            port, ui_port = free_ports(2)
            servers[name] = EmbeddedDevServer(
                Path(tmp) / name,
                port=port,
                ui_port=ui_port,
                ui=False,
                in_memory=in_memory,
                search_attributes=SEARCH_ATTRIBUTES,
            )
        for server in servers.values():
            await server.start()
        try:
            clients = {name: await Client.connect(s.target) for name, s in servers.items()}
            workers = [create_worker(client, settings) for client in clients.values()]
            for worker in workers:
                await worker.__aenter__()
            try:
                rates: dict[str, list[float]] = {name: [] for name in servers}
                for name in servers:  # warm-up: sandbox, caches, the servers' first runs
                    await burst(clients[name], settings, min(runs, 20), concurrency)
                for index in range(rounds):
                    order = list(servers) if index % 2 == 0 else list(reversed(servers))
                    for name in order:
                        rate = await burst(clients[name], settings, runs, concurrency)
                        rates[name].append(rate)
                        print(f"round {index + 1} {name:6s} {rate:6.1f} runs/s", flush=True)
            finally:
                for worker in workers:
                    await worker.__aexit__(None, None, None)
        finally:
            for server in servers.values():
                await server.stop()
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print()
    for name, median in medians.items():
        print(f"{name:6s} median {median:6.1f} runs/s   ({runs} runs, concurrency {concurrency})")
    print(f"file / memory = {medians['file'] / medians['memory']:.2f}x")
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.concurrency, args.rounds)))
