"""Flov7's own cost per run and per node, next to a hand-written Temporal workflow.

Reproduce with::

    .venv/bin/python bench/overhead.py                     # 15 runs of each, 200 at c=20
    .venv/bin/python bench/overhead.py --runs 30 --burst 300 --concurrency 50

Everything runs in this process against one embedded dev server (in memory, Flov7's
flags) and a local HTTP server on 127.0.0.1 that answers at once:

- ``flov7-api-1`` / ``flov7-api-10``: ``WorkflowExecution`` over a chain of 1 / 10
  ``api_call`` nodes (GET, JSON answer), started through the Temporal client.
- ``hand-api-1`` / ``hand-api-10``: a hand-written workflow making the same GETs as
  regular activities, one after the other, on a worker with the same slot settings
  (an activity using one shared ``httpx.AsyncClient``, returning status, headers and
  the parsed body, as the node does).
- ``flov7-3node`` / ``hand-3node`` throughput: ``--burst`` runs, ``--concurrency`` at
  once, of api_call -> condition -> transform, against the hand-written workflow doing
  one activity then the same two steps inline.

Scenarios are interleaved (one run of each in turn) so that load from elsewhere on the
machine hits all alike. Printed: medians, Flov7's cost per run (1-node chains) and per
node ((10-node - 1-node) / 9) against the hand-written ones, and the ratios. Target:
``flov7-api-10 / hand-api-10`` at most 1.15x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

QUEUE = "bench-overhead"
BODY = b'{"ok": true, "status": "approved", "amount": 42, "items": [1, 2, 3]}'


async def serve_http() -> tuple[asyncio.Server, int]:
    """A keep-alive HTTP/1.1 server answering every request with :data:`BODY` at once."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client closed the connection, or the benchmark is over
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


_http: Any = None  # the hand-written activity's shared client (set in main)


@activity.defn(name="bench_get")
async def bench_get(url: str) -> dict[str, Any]:
    """The hand-written I/O step: one GET, the answer as the node reports it."""
    response = await _http.get(url)
    return {
        "status_code": response.status_code,
        "headers": dict(response.headers),
        "body": response.json(),
    }


@workflow.defn(name="BenchHttpChain")
class BenchHttpChain:
    """``length`` GETs in a row as regular activities (the hand-written baseline)."""

    @workflow.run
    async def run(self, url: str, length: int) -> dict[str, Any]:
        outputs = {}
        for index in range(length):
            outputs[f"n{index}"] = await workflow.execute_activity(
                bench_get, url, start_to_close_timeout=timedelta(seconds=30)
            )
        return outputs


@workflow.defn(name="BenchThreeSteps")
class BenchThreeSteps:
    """api_call -> condition -> transform, written by hand."""

    @workflow.run
    async def run(self, url: str) -> dict[str, Any]:
        fetched = await workflow.execute_activity(
            bench_get, url, start_to_close_timeout=timedelta(seconds=30)
        )
        approved = fetched["status_code"] == 200
        result = {"amount": fetched["body"]["amount"] * 2} if approved else None
        return {"fetch": fetched, "check": approved, "shape": result}


def api_chain(url: str, length: int) -> dict[str, Any]:
    """A Flov7 document: ``length`` GETs of ``url`` in a row."""
    nodes = [
        {"id": f"n{i}", "type": "api_call", "data": {"url": url, "method": "GET"}}
        for i in range(length)
    ]
    edges = [{"id": f"e{i}", "source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, length)]
    return {"id": f"api-chain-{length}", "nodes": nodes, "edges": edges}


def three_nodes(url: str) -> dict[str, Any]:
    """The issue's 3-node workflow: api_call -> condition -> transform."""
    return {
        "id": "three-nodes",
        "nodes": [
            {"id": "fetch", "type": "api_call", "data": {"url": url, "method": "GET"}},
            {
                "id": "check",
                "type": "condition",
                "data": {"condition": "inputs.status_code == 200"},
            },
            {
                "id": "shape",
                "type": "transform",
                "data": {"mapping": {"amount": "nodes.fetch.output.body.amount * 2"}},
            },
        ],
        "edges": [
            {"id": "e1", "source": "fetch", "target": "check"},
            {"id": "e2", "source": "check", "target": "shape", "sourceHandle": "true"},
        ],
    }


async def interleaved(
    runs: int, scenarios: dict[str, Callable[[], Awaitable[Any]]]
) -> dict[str, list[float]]:
    """Wall-clock seconds of ``runs`` calls of each scenario, one of each in turn."""
    for once in scenarios.values():  # warm-up: sandbox, connections, caches
        await once()
    samples: dict[str, list[float]] = {name: [] for name in scenarios}
    for _ in range(runs):
        for name, once in scenarios.items():
            start = time.perf_counter()
            await once()
            samples[name].append(time.perf_counter() - start)
    return samples


async def throughput(once: Callable[[], Awaitable[Any]], burst: int, concurrency: int) -> float:
    """Runs per second of ``burst`` calls with at most ``concurrency`` in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def gated() -> None:
        async with gate:
            await once()

    start = time.perf_counter()
    await asyncio.gather(*(gated() for _ in range(burst)))
    return burst / (time.perf_counter() - start)


async def main(runs: int, burst: int, concurrency: int, rounds: int) -> None:
    global _http
    import httpx

    http_server, http_port = await serve_http()
    url = f"http://127.0.0.1:{http_port}/order"
    # Flov7's SSRF guard refuses loopback targets unless allowed.
    os.environ["FLOV7_OUTBOUND_ALLOWLIST"] = f"127.0.0.1:{http_port}"
    from flov7.config import get_settings
    from flov7.nodes.resources import node_resources
    from flov7.temporal.devserver import EmbeddedDevServer, free_ports
    from flov7.temporal.executions import start_execution
    from flov7.temporal.search_attributes import SEARCH_ATTRIBUTES
    from flov7.temporal.worker import create_worker

    settings = get_settings()
    temporal = settings.temporal.model_copy(update={"task_queue": QUEUE})
    port, ui_port = free_ports(2)
    _http = httpx.AsyncClient()
    with tempfile.TemporaryDirectory(prefix="flov7-overhead-") as tmp:
        server = EmbeddedDevServer(
            Path(tmp),
            port=port,
            ui_port=ui_port,
            ui=False,
            in_memory=True,
            search_attributes=SEARCH_ATTRIBUTES,
        )
        async with server, node_resources(settings) as resources:
            client = await Client.connect(server.target)
            flov7_worker = create_worker(client, temporal, resources=resources)
            hand_worker = Worker(
                client,
                task_queue=QUEUE + "-hand",
                workflows=[BenchHttpChain, BenchThreeSteps],
                activities=[bench_get],
                # The same slots as Flov7's worker: they decide eager activity dispatch.
                max_concurrent_workflow_tasks=temporal.max_concurrent_workflows,
                max_concurrent_activities=temporal.max_concurrent_activities,
            )
            async with flov7_worker, hand_worker:

                def flov7_run(document: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
                    async def once() -> Any:
                        handle = await start_execution(client, document, temporal)
                        result = await handle.result()
                        assert result["status"] == "completed", result.get("error")
                        return result

                    return once

                def hand_chain(length: int) -> Callable[[], Awaitable[Any]]:
                    async def once() -> Any:
                        return await client.execute_workflow(
                            BenchHttpChain.run,
                            args=[url, length],
                            id=f"hand-{uuid.uuid4().hex}",
                            task_queue=QUEUE + "-hand",
                        )

                    return once

                async def hand_three() -> Any:
                    return await client.execute_workflow(
                        BenchThreeSteps.run,
                        url,
                        id=f"hand3-{uuid.uuid4().hex}",
                        task_queue=QUEUE + "-hand",
                    )

                samples = await interleaved(
                    runs,
                    {
                        "hand-api-1": hand_chain(1),
                        "flov7-api-1": flov7_run(api_chain(url, 1)),
                        "hand-api-10": hand_chain(10),
                        "flov7-api-10": flov7_run(api_chain(url, 10)),
                    },
                )
                rates: dict[str, list[float]] = {"hand-3node": [], "flov7-3node": []}
                flov7_three = flov7_run(three_nodes(url))
                for _ in range(rounds):
                    rates["hand-3node"].append(await throughput(hand_three, burst, concurrency))
                    rates["flov7-3node"].append(await throughput(flov7_three, burst, concurrency))
    await _http.aclose()
    http_server.close()
    median = {name: statistics.median(values) for name, values in samples.items()}
    for name, values in samples.items():
        print(
            f"{name:13s} median {median[name] * 1000:7.1f} ms   "
            f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}, n={runs})"
        )
    rate = {name: statistics.median(values) for name, values in rates.items()}
    for name in rates:
        print(
            f"{name:13s} median {rate[name]:7.1f} runs/s "
            f"({burst} runs, concurrency {concurrency}, {rounds} rounds)"
        )
    per_node = {
        who: (median[f"{who}-api-10"] - median[f"{who}-api-1"]) / 9 for who in ("flov7", "hand")
    }
    print()
    print(
        f"per run  (1-node chain): flov7 {median['flov7-api-1'] * 1000:.1f} ms, "
        f"hand {median['hand-api-1'] * 1000:.1f} ms = "
        f"{median['flov7-api-1'] / median['hand-api-1']:.2f}x"
    )
    print(
        f"per node (10 - 1) / 9  : flov7 {per_node['flov7'] * 1000:.1f} ms, "
        f"hand {per_node['hand'] * 1000:.1f} ms = {per_node['flov7'] / per_node['hand']:.2f}x"
    )
    print(
        f"flov7-api-10 / hand-api-10 = {median['flov7-api-10'] / median['hand-api-10']:.2f}x"
        "   (target <= 1.15)"
    )
    print(
        f"flov7-3node / hand-3node throughput = "
        f"{rate['flov7-3node'] / rate['hand-3node']:.2f}x   (target >= 0.9)"
    )
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.burst, args.concurrency, args.rounds)))
