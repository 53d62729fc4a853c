"""Sequential chains: Flov7 against hand-written Temporal workflows doing the same work.

Reproduce with::

    .venv/bin/python bench/chain.py               # 15 interleaved rounds, medians, ratios
    .venv/bin/python bench/chain.py --runs 30
    .venv/bin/python bench/chain.py --only api    # the api_call chains only
    .venv/bin/python bench/chain.py --stock       # the stock dev server (no tuning flag)

Everything runs in this process against one embedded dev server (in memory, started
with the same flags as Flov7's embedded server, or with ``--stock`` without its
``transferProcessorMaxPollRPS`` tuning, as a stock ``temporal server start-dev``), with
one Flov7 worker (default settings) and one worker hosting the hand-written workflows.
Scenarios run interleaved (one run of each per round, in a rotating order), so that
drift on a noisy machine hits all alike.

Pure chains:

- flov7-transform-10 / -40: ``WorkflowExecution`` over a chain of N ``transform``
  nodes (evaluated inside the workflow: no activity).
- hand-1-activity / hand-40-activities: a hand-written workflow running 1 or 40 trivial
  activities in a row.

I/O chains, against an HTTP server on 127.0.0.1 (its own thread) that answers at once:

- flov7-api-N (N = 1, 10, 40): N ``api_call`` nodes in a row, defaults: local activities
  (engine/execution.py).
- flov7-api-N-activity: the same with ``"execution": "activity"`` on every node.
- hand-local-N / hand-activity-N: a hand-written workflow making the same N GET calls
  (httpx, one shared client) in a row as local activities / as regular activities.

Targets (issue 11): flov7-api-40 at most 2x hand-local-40 and at least 3x faster than
hand-activity-40; flov7-api-10 at most 1.15x the hand-written workflow making its calls
the same way (-activity against hand-activity-10, the default against hand-local-10).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# The sandbox re-imports this module for the hand-written workflows: what they do not
# use is passed through (httpx touches urllib.request at import, which it forbids).
with workflow.unsafe.imports_passed_through():
    import httpx

    from flov7.config import NodeSettings, TemporalSettings, settings_with
    from flov7.nodes.resources import node_resources
    from flov7.temporal import devserver
    from flov7.temporal.devserver import EmbeddedDevServer, free_ports
    from flov7.temporal.executions import start_execution
    from flov7.temporal.worker import create_worker

QUEUE = "bench-chain"
HAND_QUEUE = QUEUE + "-hand"
LENGTHS = (1, 10, 40)


# -- a local HTTP server, in a thread of its own --------------------------------------


class QuickServer:
    """A minimal HTTP/1.1 keep-alive server on 127.0.0.1 answering ``{"ok": true}``,
    after ``delay_seconds``. Runs its own event loop in a thread, so that serving does
    not compete with the workers' event loop for time slices (it still shares the GIL)."""

    BODY = b'{"ok": true}'

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.delay_seconds = delay_seconds
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The URL every call goes to."""
        return f"http://127.0.0.1:{self.port}/quick"

    def __enter__(self) -> QuickServer:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=5)

    def _serve_forever(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(self.BODY)).encode() + b"\r\n\r\n" + self.BODY
        )
        # Cancelled: the server stops with keep-alive connections still open.
        with contextlib.suppress(
            ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError
        ):
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in request.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if self.delay_seconds:
                    await asyncio.sleep(self.delay_seconds)
                writer.write(head)
                await writer.drain()
        writer.close()


# -- hand-written baselines -------------------------------------------------------------


@activity.defn(name="bench_step")
async def bench_step(value: int) -> int:
    """The trivial work one pure chain step does."""
    return value + 1


class HandCalls:
    """The hand-written workflows' HTTP activity, with one shared ``httpx`` client (as
    Flov7's worker shares one)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @activity.defn(name="bench_get")
    async def get(self, url: str) -> dict[str, Any]:
        """One GET: status and parsed JSON body, as an ``api_call`` node outputs."""
        response = await self.client.get(url)
        return {"status_code": response.status_code, "body": response.json()}


@workflow.defn(name="BenchActivityChain")
class BenchActivityChain:
    """``length`` trivial activities in a row."""

    @workflow.run
    async def run(self, length: int) -> int:
        value = 0
        for _ in range(length):
            value = await workflow.execute_activity(
                bench_step, value, start_to_close_timeout=timedelta(seconds=30)
            )
        return value


@workflow.defn(name="BenchHttpChain")
class BenchHttpChain:
    """``length`` GET calls in a row, as regular or local activities."""

    @workflow.run
    async def run(self, url: str, length: int, local: bool) -> int:
        done = 0
        for _ in range(length):
            if local:
                result = await workflow.execute_local_activity(
                    "bench_get", url, start_to_close_timeout=timedelta(seconds=30)
                )
            else:
                result = await workflow.execute_activity(
                    "bench_get", url, start_to_close_timeout=timedelta(seconds=30)
                )
            done += result["status_code"] == 200
        return done


# -- Flov7 documents ----------------------------------------------------------------------


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


def api_chain(url: str, length: int, execution: str | None = None) -> dict[str, Any]:
    """A Flov7 document: ``length`` ``api_call`` nodes in a row, all GET ``url``."""
    extra = {"execution": execution} if execution else {}
    nodes = [
        {"id": f"n{i}", "type": "api_call", "data": {"url": url}, **extra} for i in range(length)
    ]
    edges = [{"id": f"e{i}", "source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, length)]
    return {"id": f"api-chain-{length}", "nodes": nodes, "edges": edges}


# -- running --------------------------------------------------------------------------------

Once = Callable[[], Awaitable[Any]]


async def interleaved(rounds: int, scenarios: dict[str, Once]) -> dict[str, list[float]]:
    """Wall-clock seconds of each scenario, one run of each per round (after one warm-up
    run of each), the order rotating from round to round."""
    for once in scenarios.values():
        await once()
    names = list(scenarios)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            await scenarios[name]()
            samples[name].append(time.perf_counter() - start)
    return samples


def report(samples: dict[str, list[float]]) -> dict[str, float]:
    """Print one line per scenario; return the medians."""
    medians = {}
    for name, values in samples.items():
        medians[name] = statistics.median(values)
        print(
            f"{name:24s} median {medians[name] * 1000:8.1f} ms   "
            f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}, n={len(values)})"
        )
    return medians


def print_ratios(medians: dict[str, float], ratios: list[tuple[str, str, str]]) -> None:
    """``a / b = r`` lines, with the target of each, for the scenarios that ran."""
    print()
    for name, against, note in ratios:
        if name in medians and against in medians:
            ratio = medians[name] / medians[against]
            print(f"{name:22s} / {against:22s} = {ratio:5.2f}x{note}")


@contextlib.asynccontextmanager
async def embedded_server(*, stock: bool = False) -> AsyncIterator[Client]:
    """The dev server (in memory, Flov7's flags; ``stock``: none) and a client of it."""
    if stock:
        # Bench only: drop the embedded server's dynamic-config tuning (a private tuple).
        devserver._DYNAMIC_CONFIG = ()
    port, ui_port = free_ports(2)
    data = Path("/tmp") / f"flov7-bench-{uuid.uuid4().hex[:6]}"
    async with EmbeddedDevServer(
        data, port=port, ui_port=ui_port, ui=False, in_memory=True
    ) as server:
        yield await Client.connect(server.target)


@contextlib.contextmanager
def quick_server(delay_seconds: float = 0.0) -> Iterator[QuickServer]:
    """:class:`QuickServer` as a context manager."""
    with QuickServer(delay_seconds) as server:
        yield server


LOOPBACK = settings_with(nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1"))
"""Settings whose ``api_call`` nodes may reach 127.0.0.1 (refused by default)."""


def flov7_run(client: Client, settings: TemporalSettings, document: dict[str, Any]) -> Once:
    """One Flov7 run of ``document`` to its end, checked."""
    last = document["nodes"][-1]["id"]

    async def once() -> Any:
        handle = await start_execution(client, document, settings)
        result = await handle.result()
        assert result["status"] == "completed", result["error"]
        assert result["node_results"][last]["status"] == "completed"
        return result

    return once


async def main(runs: int, only: str, stock: bool) -> None:
    settings = TemporalSettings(task_queue=QUEUE)
    print(f"dev server: {'stock' if stock else 'Flov7 embedded flags'}; {runs} rounds\n")
    async with (
        embedded_server(stock=stock) as client,
        node_resources(LOOPBACK) as resources,
        httpx.AsyncClient() as http_client,
    ):
        flov7_worker = create_worker(client, settings, resources=resources)
        hand_worker = Worker(
            client,
            task_queue=HAND_QUEUE,
            workflows=[BenchActivityChain, BenchHttpChain],
            activities=[bench_step, HandCalls(http_client).get],
        )
        with quick_server() as http:
            async with flov7_worker, hand_worker:

                def hand_pure(length: int) -> Once:
                    async def once() -> Any:
                        value = await client.execute_workflow(
                            BenchActivityChain.run,
                            length,
                            id=f"bench-{uuid.uuid4().hex}",
                            task_queue=HAND_QUEUE,
                        )
                        assert value == length

                    return once

                def hand_http(length: int, *, local: bool) -> Once:
                    async def once() -> Any:
                        done = await client.execute_workflow(
                            BenchHttpChain.run,
                            args=[http.url, length, local],
                            id=f"bench-{uuid.uuid4().hex}",
                            task_queue=HAND_QUEUE,
                        )
                        assert done == length

                    return once

                scenarios: dict[str, Once] = {}
                if only in ("all", "pure"):
                    scenarios |= {
                        "hand-1-activity": hand_pure(1),
                        "hand-40-activities": hand_pure(40),
                        "flov7-transform-10": flov7_run(client, settings, transform_chain(10)),
                        "flov7-transform-40": flov7_run(client, settings, transform_chain(40)),
                    }
                if only in ("all", "api"):
                    for n in LENGTHS:
                        scenarios |= {
                            f"flov7-api-{n}": flov7_run(client, settings, api_chain(http.url, n)),
                            f"hand-local-{n}": hand_http(n, local=True),
                            f"flov7-api-{n}-activity": flov7_run(
                                client, settings, api_chain(http.url, n, "activity")
                            ),
                            f"hand-activity-{n}": hand_http(n, local=False),
                        }
                medians = report(await interleaved(runs, scenarios))
    print_ratios(
        medians,
        [
            ("flov7-transform-10", "hand-1-activity", ""),
            ("flov7-transform-40", "hand-1-activity", "   (target < 2)"),
            ("flov7-transform-40", "hand-40-activities", ""),
            ("flov7-api-1", "hand-local-1", ""),
            ("flov7-api-1-activity", "hand-activity-1", ""),
            ("flov7-api-10", "hand-local-10", "   (target <= 1.15)"),
            ("flov7-api-10-activity", "hand-activity-10", "   (target <= 1.15)"),
            ("flov7-api-40", "hand-local-40", "   (target <= 2)"),
            ("flov7-api-40-activity", "hand-activity-40", ""),
            ("hand-activity-40", "flov7-api-40", "   (target >= 3: Flov7 that much faster)"),
        ],
    )
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", choices=["all", "pure", "api"], default="all")
    parser.add_argument("--stock", action="store_true", help="stock dev server flags")
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.runs, arguments.only, arguments.stock)))
