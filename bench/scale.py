"""How time and memory grow with workflow size and with concurrent runs.

Reproduce with::

    .venv/bin/python bench/scale.py                       # 100 .. 20,000 nodes
    .venv/bin/python bench/scale.py --sizes 100 1000 --concurrency 1 10
    .venv/bin/python bench/scale.py --sizes 20000 --shape wide --fan-out 0 --concurrency

One embedded dev server (in memory) with a payload store in a temporary directory (as
Flov7's embedded setup has by default). Each run of a size happens in a fresh child
process (a worker and a client for Temporal, a ``LocalRuntime`` for the local runtime),
so that the peak RSS printed is that run's, not the largest so far:

- documents of N pure ``transform`` nodes (100, 1,000, 5,000, 20,000), as a chain or,
  with ``--shape wide``, one root, N-2 parallel nodes and one join: time of one run
  (start to result), the ratio to the smallest size, the child's peak RSS, and on
  Temporal the workflow tasks of the run and how many of them failed or timed out
  (a task that fails is replayed from the start: there must be none);
- a fan-out of 200 ``api_call`` nodes against a local server that answers at once;
- C concurrent runs of the 1,000-node chain: time for all, ratio to C x one run.

Timings are noisy on a shared machine: read the same-process ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from flov7.config import NodeSettings, TemporalSettings, settings_with
from flov7.nodes.resources import node_resources
from flov7.temporal.client import get_temporal_client
from flov7.temporal.devserver import EmbeddedDevServer, free_ports
from flov7.temporal.executions import result_of_closed_run, start_execution
from flov7.temporal.worker import create_worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

QUEUE = "bench-scale"
STATUS_QUERY = "get_status"
RUNTIMES = ("temporal", "local")


def chain(count: int) -> dict[str, Any]:
    """``count`` transform nodes in a row, each adding one to its parent's ``v``."""
    nodes = [{"id": "n0", "type": "transform", "data": {"mapping": {"v": "0"}}}] + [
        {"id": f"n{i}", "type": "transform", "data": {"mapping": {"v": "inputs.v + 1"}}}
        for i in range(1, count)
    ]
    edges = [{"id": f"e{i}", "source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, count)]
    return {"id": f"chain-{count}", "nodes": nodes, "edges": edges}


def wide(count: int) -> dict[str, Any]:
    """One root, ``count - 2`` parallel transform nodes, one join reading them all."""
    middle = [f"m{i}" for i in range(count - 2)]
    nodes = [
        {"id": "root", "type": "transform", "data": {"mapping": {"v": "1"}}},
        *({"id": m, "type": "transform", "data": {"mapping": {m: "inputs.v + 1"}}} for m in middle),
        {"id": "join", "type": "transform", "data": {"mapping": {"n": "len(inputs)"}}},
    ]
    edges = [{"id": f"a{m}", "source": "root", "target": m} for m in middle] + [
        {"id": f"b{m}", "source": m, "target": "join"} for m in middle
    ]
    return {"id": f"wide-{count}", "nodes": nodes, "edges": edges}


SHAPES = {"chain": chain, "wide": wide}


def fan_out(url: str, count: int) -> dict[str, Any]:
    return {
        "id": f"fan-{count}",
        "nodes": [{"id": f"c{i}", "type": "api_call", "data": {"url": url}} for i in range(count)],
        "edges": [],
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settings(store: Path) -> TemporalSettings:
    return TemporalSettings.from_values(
        task_queue=QUEUE, payload_store_dir=store, workflow_timeout_minutes=30
    )


async def _result(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    try:
        result = await handle.result()
    except WorkflowFailureError as exc:
        document = await result_of_closed_run(handle, exc)
        if document is None:
            return {"status": f"error: {exc.cause or exc}"}
        return document
    return dict(result)


async def _task_counts(handle: WorkflowHandle[Any, Any]) -> dict[str, int]:
    """Workflow tasks of the run's history: completed, failed, timed out; all events."""
    counts = {"tasks": 0, "task_failures": 0, "events": 0}
    async for event in handle.fetch_history_events():
        counts["events"] += 1
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            counts["tasks"] += 1
        elif event.event_type in (
            EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        ):
            counts["task_failures"] += 1
    return counts


async def child_temporal(document: dict[str, Any], target: str, store: Path) -> dict[str, Any]:
    """One run on Temporal with its own worker: the measures of :func:`child`."""
    temporal = _settings(store)
    client = await get_temporal_client(temporal, target=target)
    queue = f"{QUEUE}-{os.getpid()}"
    temporal = temporal.model_copy(update={"task_queue": queue})
    async with create_worker(client, temporal):
        started = time.perf_counter()
        handle = await start_execution(client, document, temporal)
        result = await _result(handle)
        seconds = time.perf_counter() - started
        counts: dict[str, Any] = dict(await _task_counts(handle))
        # The closed run's status: the worker replays its whole history to answer.
        status_started = time.perf_counter()
        try:
            answer: Any = len(json.dumps(await handle.query(STATUS_QUERY)))
        except Exception as exc:  # reported, not raised
            answer = f"{type(exc).__name__}: {str(exc)[:80]}"
        counts["status_query"] = answer
        counts["status_query_seconds"] = time.perf_counter() - status_started
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit
    return {"seconds": seconds, **_outcome(result), **counts}


async def child_local(document: dict[str, Any], store: Path) -> dict[str, Any]:
    """One run on the local runtime: the measures of :func:`child`."""
    from flov7.local.runtime import LocalRuntime

    # The defaults a Flov7 process with this payload store stamps (local/backend.py):
    # the same result limits as on Temporal.
    runtime = LocalRuntime(defaults=_settings(store).execution_defaults())
    started = time.perf_counter()
    result = await runtime.run(document)
    return {"seconds": time.perf_counter() - started, **_outcome(result)}


def _outcome(result: dict[str, Any]) -> dict[str, Any]:
    error = result.get("error") or {}
    return {
        "status": str(result.get("status")),
        "error": error.get("type") if isinstance(error, dict) else None,
        "result_bytes": len(json.dumps(result)),
    }


def child(runtime: str, shape: str, size: int, target: str, store: Path) -> dict[str, Any]:
    """Run one document in this (fresh) process; the measures, peak RSS included."""
    document = SHAPES[shape](size)
    if runtime == "temporal":
        measures = asyncio.run(child_temporal(document, target, store))
    else:
        measures = asyncio.run(child_local(document, store))
    return {**measures, "peak_rss_mb": peak_rss_mb()}


def run_child(
    runtime: str, shape: str, size: int, target: str, store: Path, timeout: float
) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        runtime,
        "--shape",
        shape,
        "--sizes",
        str(size),
        "--target",
        target,
        "--store",
        str(store),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": f"over {timeout:.0f}s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": f"exit {done.returncode}: {tail[:60]}"}
    return dict(json.loads(lines[-1]))


def print_sizes(
    sizes: list[int], shape: str, runtimes: list[str], target: str, store: Path, timeout: float
) -> None:
    print(
        f"{'workload':>24} {'runtime':>9} {'seconds':>8} {'ratio':>6} {'status':>10} "
        f"{'peak RSS MB':>11} {'tasks':>6} {'failed':>6} {'result KB':>9} {'get_status':>14}"
    )
    for runtime in runtimes:
        base: float | None = None
        for size in sizes:
            m = run_child(runtime, shape, size, target, store, timeout)
            seconds = m.get("seconds")
            status = str(m["status"]) + (f" ({m['error']})" if m.get("error") else "")
            if seconds is None:
                print(f"{f'{shape} {size}':>24} {runtime:>9} {'-':>8} {'':>6} {status}")
                continue
            base = base or seconds
            print(
                f"{f'{shape} {size}':>24} {runtime:>9} {seconds:>8.2f} {seconds / base:>6.1f} "
                f"{status:>10} {m['peak_rss_mb']:>11.0f} {m.get('tasks', '-'):>6} "
                f"{m.get('task_failures', '-'):>6} {m['result_bytes'] / 1024:>9.0f} "
                f"{_status_column(m):>14}",
                flush=True,
            )


def _status_column(measures: dict[str, Any]) -> str:
    """The closed run's ``get_status`` answer: KB and seconds, or the error."""
    answer = measures.get("status_query")
    if answer is None:
        return "-"
    if isinstance(answer, str):
        return answer
    return f"{answer / 1024:.0f} KB {measures['status_query_seconds']:.1f}s"


async def in_process(
    client: Client, temporal: TemporalSettings, fan: int, concurrency: list[int]
) -> None:
    """The api_call fan-out and the concurrent 1,000-node chains, in this process."""
    from nodes.http_servers import TestHttpServer

    settings = settings_with(
        temporal=temporal, nodes=NodeSettings.from_values(outbound_allowlist="127.0.0.1")
    )
    async with (
        TestHttpServer() as http,
        node_resources(settings) as resources,
        create_worker(client, temporal, resources=resources),
    ):

        async def once(document: dict[str, Any]) -> tuple[float, dict[str, Any]]:
            started = time.perf_counter()
            handle = await start_execution(client, document, temporal)
            result = await _result(handle)
            return time.perf_counter() - started, result

        if fan:
            seconds, result = await once(fan_out(http.url_for("/json"), fan))
            print(
                f"{f'api_call fan-out {fan}':>24} {'temporal':>9} {seconds:>8.2f} {'':>6} "
                f"{result['status']:>10} {peak_rss_mb():>11.0f}"
            )
        if not concurrency:
            return
        one, _ = await once(chain(1000))
        for c in concurrency:
            started = time.perf_counter()
            results = await asyncio.gather(*(once(chain(1000)) for _ in range(c)))
            seconds = time.perf_counter() - started
            ok = sum(r["status"] == "completed" for _, r in results)
            print(
                f"{f'{c} x chain 1000':>24} {'temporal':>9} {seconds:>8.2f} "
                f"{seconds / (c * one):>6.2f} {f'{ok}/{c} ok':>10} {peak_rss_mb():>11.0f}"
            )


async def main(args: argparse.Namespace) -> None:
    port, ui_port = free_ports(2)
    store = Path(tempfile.mkdtemp(prefix="flov7-bench-payloads-"))
    temporal = _settings(store)
    data = Path(tempfile.mkdtemp(prefix="flov7-bench-"))
    async with EmbeddedDevServer(
        data, port=port, ui_port=ui_port, ui=False, in_memory=True
    ) as server:
        # The children block this thread (the server's parent-death signal is per thread:
        # it must stay alive, which it does); the event loop has nothing else to do.
        print_sizes(args.sizes, args.shape, args.runtimes, server.target, store, args.timeout)
        if args.fan_out or args.concurrency:
            client = await get_temporal_client(temporal, target=server.target)
            await in_process(client, temporal, args.fan_out, args.concurrency)
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000, 20000])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="chain")
    parser.add_argument("--runtimes", choices=RUNTIMES, nargs="+", default=list(RUNTIMES))
    parser.add_argument("--fan-out", type=int, default=200, help="api_call nodes; 0: none")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 10])
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument("--child", choices=RUNTIMES, help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.child:
        measures = child(parsed.child, parsed.shape, parsed.sizes[0], parsed.target, parsed.store)
        print(json.dumps(measures), flush=True)
    else:
        asyncio.run(main(parsed))
