"""Large API responses through a workflow: Flov7 (payload store) against a hand-written one.

Reproduce with::

    .venv/bin/python bench/large_payload.py              # 1, 10, 50 MB, 3 runs each
    .venv/bin/python bench/large_payload.py --sizes 1 10 --runs 2

Everything runs in this process against one embedded dev server (in memory) and one
local HTTP server on 127.0.0.1 serving ``--sizes`` MB of JSON:

- flov7: ``WorkflowExecution`` of an ``api_call`` fetching the response and a
  ``transform`` counting its items, on a worker whose client stores payloads over
  256 KiB in a payload store (a temporary directory), as Flov7's embedded setup does;
- baseline: a hand-written workflow running one activity that fetches the same URL with
  httpx and returns the parsed JSON, its client using the same SDK ``ExternalStorage``
  with Flov7's file driver (without it the SDK refuses payloads over 2 MB).

Prints the median time of each, the ratio flov7 / baseline, and the peak RSS of this
process (worker included) after each size. Timings are noisy on a shared machine: trust
the same-process ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# The sandbox re-imports this module for the baseline workflow: pass the rest through.
with workflow.unsafe.imports_passed_through():
    import httpx

    from flov7.config import NodeSettings, Settings, TemporalSettings, settings_with
    from flov7.nodes.resources import node_resources
    from flov7.temporal.client import get_temporal_client
    from flov7.temporal.devserver import EmbeddedDevServer, free_ports
    from flov7.temporal.executions import start_execution
    from flov7.temporal.worker import create_worker

QUEUE = "bench-large"


@activity.defn(name="bench_fetch")
async def bench_fetch(url: str) -> Any:
    """The baseline's whole node: GET the URL, return the parsed JSON."""
    async with httpx.AsyncClient(timeout=120) as http:
        response = await http.get(url)
        return response.json()


@workflow.defn(name="BenchFetch")
class BenchFetch:
    """Hand-written baseline: one fetching activity, then count the items."""

    @workflow.run
    async def run(self, url: str) -> int:
        body = await workflow.execute_activity(
            bench_fetch, url, start_to_close_timeout=timedelta(seconds=300)
        )
        return len(body["items"])


def body_of(megabytes: int) -> bytes:
    record = {"pad": "x" * 80}
    count = megabytes * 1_000_000 // (len(json.dumps(record)) + 12)
    return json.dumps({"items": [{"i": i, **record} for i in range(count)]}).encode()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(sizes: list[int], runs: int) -> None:
    # The tests' real HTTP server on 127.0.0.1 (no framework needed); imported here, not
    # at module level, since the sandbox re-imports this module for the baseline.
    here = os.path.dirname(os.path.abspath(__file__))  # noqa: ASYNC240 (once, at start)
    sys.path.insert(0, os.path.join(here, "..", "tests"))
    from nodes.http_servers import RecordedRequest, Reply, TestHttpServer

    bodies = {size: body_of(size) for size in sizes}

    http_server = TestHttpServer()

    @http_server.route("/mb/", prefix=True)
    async def serve(request: RecordedRequest, _: TestHttpServer) -> Reply:
        size = int(request.path.rsplit("/", 1)[-1])
        return Reply(200, bodies[size], [("Content-Type", "application/json")])

    await http_server.start()

    port, ui_port = free_ports(2)
    store = Path(tempfile.mkdtemp(prefix="flov7-bench-payloads-"))
    temporal = TemporalSettings.from_values(task_queue=QUEUE, payload_store_dir=store)
    settings: Settings = settings_with(
        temporal=temporal,
        nodes=NodeSettings.from_values(
            outbound_allowlist="127.0.0.1", http_max_response_bytes=200 * 1024 * 1024
        ),
    )
    data = Path(tempfile.mkdtemp(prefix="flov7-bench-"))
    async with EmbeddedDevServer(
        data, port=port, ui_port=ui_port, ui=False, in_memory=True
    ) as server:
        client: Client = await get_temporal_client(temporal, target=server.target)
        async with node_resources(settings) as resources:
            flov7_worker = create_worker(client, temporal, resources=resources)
            baseline = Worker(
                client, task_queue=QUEUE + "-base", workflows=[BenchFetch], activities=[bench_fetch]
            )
            async with flov7_worker, baseline:
                print(
                    f"{'size':>6} {'flov7 s':>9} {'baseline s':>11} {'ratio':>6} "
                    f"{'peak RSS MB':>12}"
                )
                for size in sizes:
                    url = http_server.url_for(f"/mb/{size}")
                    document = {
                        "id": "bench-large",
                        "nodes": [
                            {"id": "fetch", "type": "api_call", "data": {"url": url}},
                            {
                                "id": "count",
                                "type": "transform",
                                "data": {"mapping": {"n": "len(inputs.body.items)"}},
                            },
                        ],
                        "edges": [{"id": "e", "source": "fetch", "target": "count"}],
                    }
                    ours: list[float] = []
                    theirs: list[float] = []
                    for _ in range(runs):
                        started = time.perf_counter()
                        handle = await start_execution(client, document, temporal)
                        result = await handle.result()
                        assert result["status"] == "completed", result.get("error")
                        ours.append(time.perf_counter() - started)
                        started = time.perf_counter()
                        await client.execute_workflow(
                            BenchFetch.run,
                            url,
                            id=f"base-{uuid.uuid4().hex}",
                            task_queue=QUEUE + "-base",
                        )
                        theirs.append(time.perf_counter() - started)
                    a, b = statistics.median(ours), statistics.median(theirs)
                    print(f"{size:>4}MB {a:>9.2f} {b:>11.2f} {a / b:>6.2f} {peak_rss_mb():>12.0f}")
    await http_server.stop()
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.sizes, args.runs)))
