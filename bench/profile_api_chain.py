"""Where a 40-node ``api_call`` chain spends this process's CPU, against the hand-written one.

Reproduce with::

    .venv/bin/python bench/profile_api_chain.py                 # CPU per run, interleaved
    .venv/bin/python bench/profile_api_chain.py --profile DIR   # and pyinstrument profiles

It reuses ``bench/chain.py``'s server, documents and hand-written workflows: one
embedded dev server (in memory, Flov7's flags), a Flov7 worker and a hand-written worker
in this process, an HTTP server on 127.0.0.1 in a process of its own.

Wall time on a shared 2-core machine moves with the neighbours' load; this process's
CPU time per run (``time.process_time``: every thread of it and the SDK's Rust core;
not the HTTP server nor the Temporal server, each in its own process) moves much less, and it is
the cost Flov7 adds. ``flov7-api-40`` minus ``hand-local-40``, divided by 40, is
Flov7's own CPU per I/O node beyond a hand-written local activity making the same GET.

Then, for one more batch of each scenario (``pip install pyinstrument py-spy yappi``):

- ``--profile DIR``: pyinstrument, the event loop's thread only (the activities), as
  text and HTML;
- ``--py-spy DIR`` (``--gil``: only samples of the thread holding the GIL): every thread
  (the SDK runs workflow activations in a thread pool), collapsed stacks;
- ``--yappi DIR``: CPU time of every thread per function, and who calls the builtins the
  workflow sandbox wraps (``isinstance``...) while an activation runs. Its overhead
  inflates every figure: compare the two scenarios with each other.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from temporalio.worker import Worker

import chain  # bench/chain.py: Python puts this script's folder first on sys.path
from flov7.config import TemporalSettings
from flov7.nodes.resources import node_resources
from flov7.temporal.worker import create_worker

Once = Callable[[], Awaitable[Any]]
SPY_FLAGS: list[str] = []


async def measure(
    rounds: int, batch: int, scenarios: dict[str, Once]
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """CPU and wall ms per run of each scenario: ``batch`` runs in a row, ``rounds``
    times, the scenarios interleaved (rotating order) so that drift hits them alike."""
    for once in scenarios.values():
        await once()
    names = list(scenarios)
    cpu: dict[str, list[float]] = {name: [] for name in names}
    wall: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start, started = time.process_time(), time.perf_counter()
            for _ in range(batch):
                await scenarios[name]()
            cpu[name].append((time.process_time() - start) * 1000 / batch)
            wall[name].append((time.perf_counter() - started) * 1000 / batch)
    return cpu, wall


async def profile(directory: Path, batch: int, scenarios: dict[str, Once]) -> None:
    """One pyinstrument profile per scenario, ``batch`` runs each."""
    from pyinstrument import Profiler

    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a bench: nothing else runs)
    for name, once in scenarios.items():
        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        for _ in range(batch):
            await once()
        profiler.stop()
        (directory / f"{name}.txt").write_text(
            profiler.output_text(unicode=False, color=False, show_all=False)
        )
        (directory / f"{name}.html").write_text(profiler.output_html())
        profiler.last_session.save(str(directory / f"{name}.pyisession"))
        print(f"profile of {name}: {directory / name}.txt")


async def spy(directory: Path, batch: int, scenarios: dict[str, Once]) -> None:
    """One py-spy recording per scenario, ``batch`` runs each: every thread of this
    process (the SDK runs workflow activations in a thread pool, which pyinstrument on
    the event loop's thread does not see), on-CPU samples only, collapsed stacks."""
    import os
    import signal
    import subprocess

    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a bench: nothing else runs)
    py_spy = Path(sys.executable).parent / "py-spy"
    for name, once in scenarios.items():
        output = directory / f"{name}.collapsed"
        recorder = subprocess.Popen(  # noqa: ASYNC220 (started once, not waited on here)
            [
                str(py_spy),
                "record",
                "--pid",
                str(os.getpid()),
                "--format",
                "raw",
                "--rate",
                "500",
                "--nonblocking",
                "--threads",
                *SPY_FLAGS,
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(1.0)  # let py-spy attach
        for _ in range(batch):
            await once()
        recorder.send_signal(signal.SIGINT)
        await asyncio.to_thread(recorder.wait)
        print(f"py-spy of {name}: {output}")


async def deterministic(directory: Path, batch: int, scenarios: dict[str, Once]) -> None:
    """One yappi profile per scenario, ``batch`` runs each: CPU time of every thread
    (the workflow threads included), per function. Its overhead inflates every figure;
    compare the scenarios' functions with one another, not with the CPU per run."""
    import yappi

    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a bench: nothing else runs)
    yappi.set_clock_type("cpu")
    for name, once in scenarios.items():
        yappi.clear_stats()
        yappi.start(builtins=False, profile_threads=True)
        for _ in range(batch):
            await once()
        yappi.stop()
        stats = yappi.get_func_stats()
        rows = [
            (stat.ttot / batch * 1000, stat.tsub / batch * 1000, stat.ncall / batch, stat.full_name)
            for stat in stats
        ]
        rows.sort(reverse=True)
        with (directory / f"{name}.yappi.txt").open("w") as out:
            out.write("ms/run inclusive, ms/run own, calls/run, function\n")
            for total, own, calls, function in rows:
                out.write(f"{total:9.3f} {own:9.3f} {calls:9.1f}  {function}\n")
        # Who calls the sandbox's wrapped builtins (isinstance, issubclass, ...): while a
        # workflow activation runs, every call to them in the process goes through it.
        callers = []
        for stat in stats:
            for child in stat.children:
                if "_ThreadLocalCallable.__call__" in child.full_name:
                    callers.append((child.ncall / batch, child.ttot / batch * 1000, stat.full_name))
        callers.sort(reverse=True)
        with (directory / f"{name}.builtins-callers.txt").open("w") as out:
            out.write("calls/run, ms/run inclusive, caller of a sandbox-wrapped builtin\n")
            for calls, total, function in callers:
                out.write(f"{calls:9.1f} {total:9.3f}  {function}\n")
        print(f"yappi of {name}: {directory / name}.yappi.txt")


async def main(
    rounds: int,
    batch: int,
    length: int,
    directory: Path | None,
    spy_directory: Path | None,
    yappi_directory: Path | None = None,
) -> None:
    settings = TemporalSettings(task_queue=chain.QUEUE)
    async with (
        chain.embedded_server() as client,
        node_resources(chain.LOOPBACK) as resources,
        httpx.AsyncClient() as http_client,
    ):
        flov7_worker = create_worker(client, settings, resources=resources)
        hand_worker = Worker(
            client,
            task_queue=chain.HAND_QUEUE,
            workflows=[chain.BenchHttpChain],
            activities=[chain.HandCalls(http_client).get],
        )
        with chain.quick_server() as http:
            async with flov7_worker, hand_worker:

                async def hand() -> Any:
                    done = await client.execute_workflow(
                        chain.BenchHttpChain.run,
                        args=[http.url, length, True],
                        id=f"bench-{uuid.uuid4().hex}",
                        task_queue=chain.HAND_QUEUE,
                    )
                    assert done == length

                scenarios: dict[str, Once] = {
                    f"flov7-api-{length}": chain.flov7_run(
                        client, settings, chain.api_chain(http.url, length)
                    ),
                    f"hand-local-{length}": hand,
                }
                cpu, wall = await measure(rounds, batch, scenarios)
                flov7_name, hand_name = f"flov7-api-{length}", f"hand-local-{length}"
                for what, samples in (("CPU", cpu), ("wall", wall)):
                    medians = {name: statistics.median(values) for name, values in samples.items()}
                    for name, values in samples.items():
                        print(
                            f"{name:18s} {what:4s} per run: median {medians[name]:7.1f} ms "
                            f"(min {min(values):.1f}, max {max(values):.1f}, n={len(values)})"
                        )
                    flov7, hand_ = medians[flov7_name], medians[hand_name]
                    print(
                        f"flov7 / hand {what}: {flov7 / hand_:.2f}x; Flov7's extra {what} per "
                        f"node: {(flov7 - hand_) / length:.2f} ms"
                    )
                if directory is not None:
                    await profile(directory, batch, scenarios)
                if spy_directory is not None:
                    await spy(spy_directory, batch, scenarios)
                if yappi_directory is not None:
                    await deterministic(yappi_directory, batch, scenarios)
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=5, help="runs per sample")
    parser.add_argument("--length", type=int, default=40, help="api_call nodes per chain")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="DIR", dest="spy")
    parser.add_argument("--yappi", type=Path, default=None, metavar="DIR")
    parser.add_argument(
        "--gil", action="store_true", help="py-spy: only samples of the thread holding the GIL"
    )
    arguments = parser.parse_args()
    if arguments.gil:
        SPY_FLAGS.append("--gil")
    asyncio.run(
        main(
            arguments.rounds,
            arguments.batch,
            arguments.length,
            arguments.profile,
            arguments.spy,
            arguments.yappi,
        )
    )
