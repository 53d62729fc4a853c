"""Throughput of the 3-node workflow against a hand-written Temporal workflow.

Reproduce with::

    .venv/bin/python bench/throughput.py                 # 2 rounds, C = 10 and 50, 1 and 2 workers
    .venv/bin/python bench/throughput.py --rounds 3 --runs-per-slot 8
    .venv/bin/python bench/throughput.py --layout one-process --profile prof  # pyinstrument

Everything runs against one embedded dev server (in memory, with Flov7's embedded flags
and search attributes; ``--sqlite`` for the file the embedded server really uses) and one
local HTTP server that answers at once (:class:`flov7.loadtest.answering_server.AnsweringServer`),
both started here. Scenarios, each a closed loop of ``runs-per-slot x C`` runs at
concurrency C (after C warm-up runs), by :func:`flov7.loadtest.runner.run_batch`:

- ``baseline``: a hand-written workflow doing the same three steps (one regular activity
  making the HTTP call, the condition and the transform in workflow code), started with
  ``client.start_workflow`` and awaited with ``handle.result()``; its worker has the SDK's
  default slots: the ceiling a hand-written Temporal worker reaches here.
- ``flov7-client``: ``WorkflowExecution`` of the 3-node document (``api_call`` ->
  ``condition`` -> ``transform``) through the run service (``flov7 load-test --via
  client``), Flov7's worker with its settings (``TEMPORAL_*`` from the environment).
- ``flov7-api``: the same through the REST API, one ``POST /api/v1/workflow/execute
  ?wait=true`` per run (``--via api``).

Layouts:

- ``--layout processes`` (the default), as deployed: ``flov7 serve`` (the API, its SQLite
  store and a worker) in a process of its own, the baseline's worker in another (this
  script with ``--baseline-worker``); with ``--workers 2`` a ``flov7 worker`` and a
  second baseline worker join. This process only generates load: the callers' side
  (the Temporal client of ``baseline``, the run service's start and wait of
  ``flov7-client``, the HTTP client of ``flov7-api``) is measured but not charged.
- ``--layout one-process``: workers, API and load generator all in this process
  (``--profile`` needs it); every scenario is charged this process's CPU, the load
  generator's included.

Scenarios are interleaved, rounds repeated; the figure is the median runs/s over rounds,
the ratio Flov7 / baseline at the same concurrency and worker count (targets: >= 0.9
through the client, >= 0.8 through the API; zero failures). Around each batch the CPU
seconds of the server and of each process are read from ``/proc``: CPU per run is the
stable figure on a shared machine, and the CPU ratio (baseline / Flov7) the throughput
ratio to expect when the cores are the limit. Logging is at WARNING: Flov7's per-node
INFO lines are not written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from baseline_three_steps import TASK_QUEUE as BASELINE_QUEUE
from baseline_three_steps import BenchThreeSteps, bench_fetch
from flov7.backends import WorkerChoice, open_backend
from flov7.config import Flov7Settings, NodeSettings, Settings, TemporalSettings, settings_with
from flov7.loadtest.answering_server import AnsweringServer
from flov7.loadtest.drivers import ApiDriver, ClientDriver, RunDriver, RunSample
from flov7.loadtest.runner import BatchResult, run_batch
from flov7.loadtest.targets import serve_api
from flov7.loadtest.workload import Workload, default_workload
from flov7.runs.service import RunService
from flov7.store.database import Database
from flov7.temporal.client import task_queue_pollers
from flov7.temporal.devserver import EmbeddedDevServer, free_ports
from flov7.temporal.search_attributes import SEARCH_ATTRIBUTES

QUEUE = "bench-throughput"
TARGETS = {"flov7-client": 0.9, "flov7-api": 0.8}


class BaselineDriver:
    """A :class:`~flov7.loadtest.drivers.RunDriver` of the hand-written workflow."""

    def __init__(self, client: Client, url: str) -> None:
        self.client = client
        self.url = url

    async def run_once(self, index: int) -> RunSample:
        began = time.perf_counter()
        execution_id = f"bench-baseline-{uuid.uuid4().hex[:12]}"
        try:
            handle = await self.client.start_workflow(
                BenchThreeSteps.run, self.url, id=execution_id, task_queue=BASELINE_QUEUE
            )
            started = time.perf_counter() - began
            result = await handle.result()
        except Exception as exc:
            return RunSample(
                index, execution_id, "failed", time.perf_counter() - began, None, str(exc)
            )
        status = "completed" if result.get("value") == 42 else "failed"
        return RunSample(index, execution_id, status, time.perf_counter() - began, started)


@dataclasses.dataclass
class Figures:
    """runs/s of every round, and failures, per scenario."""

    rates: dict[tuple[str, int, int], list[float]] = dataclasses.field(default_factory=dict)
    failures: dict[tuple[str, int, int], int] = dataclasses.field(default_factory=dict)
    p95: dict[tuple[str, int, int], list[float]] = dataclasses.field(default_factory=dict)
    cpu: dict[tuple[str, int, int], list[float]] = dataclasses.field(default_factory=dict)
    """CPU ms per run, all processes (server, this one, the extra workers)."""

    def add(self, key: tuple[str, int, int], result: BatchResult, cpu_ms: float) -> None:
        self.cpu.setdefault(key, []).append(cpu_ms)
        self.rates.setdefault(key, []).append(result.throughput)
        self.failures[key] = self.failures.get(key, 0) + len(result.failed)
        ordered = sorted(s.end_to_end_seconds for s in result.samples)
        self.p95.setdefault(key, []).append(ordered[int(0.95 * (len(ordered) - 1))])

    def median(self, key: tuple[str, int, int]) -> float:
        return statistics.median(self.rates[key])


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclasses.dataclass(frozen=True)
class BenchEnv:
    """What every layout shares: the server, the workload, where the HTTP calls go."""

    client: Client
    server_pid: int
    settings: Settings
    workload: Workload
    allow: str
    """The ``FLOV7_OUTBOUND_ALLOWLIST`` entry of the answering server."""
    item_url: str
    """What the baseline's activity GETs (the workload's ``api_call`` URL)."""
    data: Path


@dataclasses.dataclass(frozen=True)
class Spent:
    """CPU ms per run of one batch: the system under test, and the load generator."""

    server: float
    workers: float
    load_generator: float
    load_generator_counted: bool

    @property
    def system(self) -> float:
        """What the scenario is charged: the Temporal server and its own processes."""
        return self.server + self.workers

    def describe(self) -> str:
        generator = "counted" if self.load_generator_counted else "not counted"
        return (
            f"server {self.server:5.1f}, workers/API {self.workers:5.1f}, "
            f"load generator {self.load_generator:5.1f} ({generator})"
        )


@dataclasses.dataclass
class CpuMeter:
    """CPU of the Temporal server, the load generator and each engine's processes."""

    server: int
    load_generator: int
    flov7: list[int] = dataclasses.field(default_factory=list)
    baseline: list[int] = dataclasses.field(default_factory=list)

    def read(self) -> dict[int, float]:
        pids = {self.server, self.load_generator, *self.flov7, *self.baseline}
        return {pid: cpu_seconds(pid) for pid in pids}

    def spent(self, scenario: str, before: dict[int, float], runs: int) -> Spent:
        after = self.read()

        def ms(pids: Iterable[int]) -> float:
            return sum(after[pid] - before[pid] for pid in set(pids)) * 1000 / runs

        own = self.baseline if scenario == "baseline" else self.flov7
        return Spent(
            server=ms([self.server]),
            workers=ms(own),
            load_generator=ms([self.load_generator]),
            load_generator_counted=self.load_generator in own,
        )


async def wait_for_pollers(client: Client, queue: str, count: int) -> None:
    """Until ``count`` distinct workers poll ``queue``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        identities = {p.identity for p in await task_queue_pollers(client, queue)}
        if len(identities) >= count:
            return
        await asyncio.sleep(0.25)
    raise RuntimeError(f"fewer than {count} workers poll {queue}")


@contextlib.contextmanager
def worker_processes(
    env: BenchEnv, *, flov7_workers: int, baseline_workers: int, api_port: int | None = None
) -> Iterator[tuple[list[subprocess.Popen[bytes]], list[subprocess.Popen[bytes]]]]:
    """Worker processes for each engine: with ``api_port``, ``flov7 serve`` (the API and a
    worker, as deployed) first, then ``flov7_workers`` x ``flov7 worker``; and
    ``baseline_workers`` x this script with ``--baseline-worker``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FLOV7_",))}
    base.update(
        {
            "TEMPORAL_HOST": env.client.service_client.config.target_host,
            "TEMPORAL_TASK_QUEUE": QUEUE,
            "FLOV7_OUTBOUND_ALLOWLIST": env.allow,
            "FLOV7_METRICS_PORT": "0",
            "FLOV7_LOG_LEVEL": "WARNING",
        }
    )
    flov7 = str(Path(sys.executable).parent / "flov7")
    flov7_processes: list[subprocess.Popen[bytes]] = []
    baseline_processes: list[subprocess.Popen[bytes]] = []
    try:
        if api_port is not None:
            serve_env = {
                **base,
                "FLOV7_DATA_DIR": str(env.data / "serve"),
                "START_TEMPORAL_WORKER": "true",
            }
            command = [flov7, "serve", "--host", "127.0.0.1", "--port", str(api_port)]
            flov7_processes.append(
                subprocess.Popen(command, env=serve_env, stdout=subprocess.DEVNULL)
            )
        for index in range(flov7_workers):
            worker_env = {**base, "FLOV7_DATA_DIR": str(env.data / f"worker{index + 2}")}
            flov7_processes.append(
                subprocess.Popen([flov7, "worker"], env=worker_env, stdout=subprocess.DEVNULL)
            )
        target = base["TEMPORAL_HOST"]
        for _ in range(baseline_workers):
            baseline_processes.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--baseline-worker", target],
                    env=base,
                    stdout=subprocess.DEVNULL,
                )
            )
        yield flov7_processes, baseline_processes
    finally:
        processes = flov7_processes + baseline_processes
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def baseline_worker(target: str) -> None:
    """``--baseline-worker``: the baseline's worker alone, until SIGINT / SIGTERM."""
    client = await Client.connect(target)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    worker = Worker(
        client, task_queue=BASELINE_QUEUE, workflows=[BenchThreeSteps], activities=[bench_fetch]
    )
    async with worker:
        await stop.wait()
    await asyncio.sleep(0.1)  # sdk-python#300


def write_profile(profiler: Any, directory: Path, name: str) -> None:
    """The profile as text and HTML in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.txt").write_text(profiler.output_text(unicode=False, show_all=False))
    (directory / f"{name}.html").write_text(profiler.output_html())


@contextlib.asynccontextmanager
async def profiled(directory: Path | None, name: str) -> AsyncIterator[None]:
    """pyinstrument over the block (async-aware), written to ``directory/name``."""
    if directory is None:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="disabled", interval=0.002)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        write_profile(profiler, directory, name)


async def run_rounds(
    args: argparse.Namespace,
    drivers: dict[str, RunDriver],
    meter: CpuMeter,
    workers: int,
    figures: Figures,
) -> None:
    """``args.rounds`` rounds of every scenario at every concurrency, interleaved."""
    for round_ in range(args.rounds):
        for concurrency in args.concurrency:
            runs = args.runs_per_slot * concurrency
            # Rotate the order each round: no scenario always goes first.
            names = list(drivers)
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                await run_batch(drivers[name], concurrency, concurrency)
                label = f"{name}-w{workers}-c{concurrency}-r{round_}"
                profile = args.profile if name != "baseline" else None
                before = meter.read()
                async with profiled(profile, label):
                    result = await run_batch(drivers[name], runs, concurrency)
                spent = meter.spent(name, before, runs)
                figures.add((name, workers, concurrency), result, spent.system)
                print(
                    f"  workers {workers}  c={concurrency:3d}  round {round_}  "
                    f"{name:13s} {result.throughput:6.2f} runs/s  "
                    f"{len(result.samples)} runs, {len(result.failed)} failed; "
                    f"CPU ms/run: {spent.describe()}",
                    flush=True,
                )


async def main(args: argparse.Namespace) -> int:
    port, ui_port = free_ports(2)
    data = Path("/tmp") / f"flov7-bench-throughput-{uuid.uuid4().hex[:6]}"
    figures = Figures()
    async with (
        EmbeddedDevServer(
            data,
            port=port,
            ui_port=ui_port,
            ui=False,
            in_memory=not args.sqlite,
            search_attributes=SEARCH_ATTRIBUTES,
        ) as server,
        AnsweringServer() as answering,
    ):
        workload = default_workload(answering.url, answering.allowlist_entry)
        temporal = TemporalSettings().model_copy(
            update={"host": server.target, "task_queue": QUEUE}
        )
        settings = settings_with(
            temporal=temporal,
            flov7=Flov7Settings.from_values(data_dir=data / "flov7", metrics_port=0),
            nodes=NodeSettings.from_values(outbound_allowlist=answering.allowlist_entry),
        )
        print(
            f"dev server {'SQLite file' if args.sqlite else 'in memory'} at {server.target}; "
            f"layout: {args.layout}; Flov7 worker slots: {temporal.max_concurrent_workflows} "
            f"workflow tasks, {temporal.max_concurrent_activities} activities; baseline: "
            "SDK defaults",
            flush=True,
        )
        assert server.pid is not None
        env = BenchEnv(
            client=await Client.connect(server.target),
            server_pid=server.pid,
            settings=settings,
            workload=workload,
            allow=answering.allowlist_entry,
            item_url=f"{answering.url}/item",
            data=data,
        )
        if args.layout == "processes":
            await _separate_processes(args, env, figures)
        else:
            await _one_process(args, env, figures)
    print()
    print(
        f"{'scenario':13s} {'workers':>7s} {'C':>4s} {'runs/s':>8s} {'p95 s':>7s} "
        f"{'ratio':>6s} {'target':>10s} {'CPU ms/run':>10s} {'CPU ratio':>9s} failures"
    )
    missed = 0
    for workers in args.workers:
        for concurrency in args.concurrency:
            ceiling = figures.median(("baseline", workers, concurrency))
            baseline_cpu = statistics.median(figures.cpu[("baseline", workers, concurrency)])
            for name in ("baseline", "flov7-client", "flov7-api"):
                key = (name, workers, concurrency)
                rate = figures.median(key)
                ratio = rate / ceiling
                target = TARGETS.get(name)
                verdict = ""
                if target is not None:
                    ok = ratio >= target and figures.failures[key] == 0
                    missed += not ok
                    verdict = f">= {target:.1f} {'ok' if ok else 'MISSED'}"
                cpu = statistics.median(figures.cpu[key])
                print(
                    f"{name:13s} {workers:7d} {concurrency:4d} {rate:8.2f} "
                    f"{statistics.median(figures.p95[key]):7.2f} {ratio:6.2f}x "
                    f"{verdict:>10s} {cpu:10.1f} {baseline_cpu / cpu:8.2f}x "
                    f"{figures.failures[key]}"
                )
    print(
        f"\n(runs/s and CPU: medians over {args.rounds} rounds; ratio: against the baseline at "
        "the same workers and concurrency; CPU ratio: baseline CPU per run / this CPU per "
        "run of the server and the scenario's own processes, the throughput ratio to expect "
        "when the cores are the limit)"
    )
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit
    return 1 if missed and args.strict else 0


async def _one_process(args: argparse.Namespace, env: BenchEnv, figures: Figures) -> None:
    """Workers, API and load generator in this process (``--layout one-process``)."""
    client, settings, workload = env.client, env.settings, env.workload
    baseline = Worker(
        client, task_queue=BASELINE_QUEUE, workflows=[BenchThreeSteps], activities=[bench_fetch]
    )
    async with (
        Database.open(settings.flov7.resolved_database_url) as database,
        open_backend(settings, database=database, worker=WorkerChoice.ALWAYS) as backend,
        serve_api(settings, backend, database) as api_url,
        httpx.AsyncClient(
            base_url=api_url, limits=httpx.Limits(max_connections=200), timeout=90
        ) as http,
        baseline,
    ):
        drivers: dict[str, RunDriver] = {
            "baseline": BaselineDriver(client, env.item_url),
            "flov7-client": ClientDriver(RunService(backend), workload, timeout_seconds=120),
            "flov7-api": ApiDriver(http, workload, timeout_seconds=120),
        }
        for workers in args.workers:
            with contextlib.ExitStack() as stack:
                meter = CpuMeter(env.server_pid, load_generator=os.getpid())
                # Both engines' workers and the API live in this process: each scenario
                # is charged this process's CPU (the load generator's included).
                meter.flov7 = meter.baseline = [os.getpid()]
                if workers == 2:
                    flov7_worker, baseline_worker_ = stack.enter_context(
                        worker_processes(env, flov7_workers=1, baseline_workers=1)
                    )
                    meter.flov7 = [os.getpid(), flov7_worker[0].pid]
                    meter.baseline = [os.getpid(), baseline_worker_[0].pid]
                await wait_for_pollers(client, QUEUE, workers)
                await wait_for_pollers(client, BASELINE_QUEUE, workers)
                await run_rounds(args, drivers, meter, workers, figures)


async def _separate_processes(args: argparse.Namespace, env: BenchEnv, figures: Figures) -> None:
    """``flov7 serve`` (API and worker) and the baseline's worker in processes of their
    own, as deployed; this process only generates load (``--layout processes``)."""
    client, settings, workload = env.client, env.settings, env.workload
    (api_port,) = free_ports(1)
    api_url = f"http://127.0.0.1:{api_port}"
    for workers in args.workers:
        with worker_processes(
            env, flov7_workers=workers - 1, baseline_workers=workers, api_port=api_port
        ) as (flov7_processes, baseline_processes):
            # Only the run service's client side here: no worker in this process.
            async with (
                open_backend(settings, worker=WorkerChoice.NEVER) as backend,
                httpx.AsyncClient(
                    base_url=api_url, limits=httpx.Limits(max_connections=200), timeout=90
                ) as http,
            ):
                await wait_for_api(http)
                await wait_for_pollers(client, QUEUE, workers)
                await wait_for_pollers(client, BASELINE_QUEUE, workers)
                drivers: dict[str, RunDriver] = {
                    "baseline": BaselineDriver(client, env.item_url),
                    "flov7-client": ClientDriver(
                        RunService(backend), workload, timeout_seconds=120
                    ),
                    "flov7-api": ApiDriver(http, workload, timeout_seconds=120),
                }
                meter = CpuMeter(
                    env.server_pid,
                    load_generator=os.getpid(),
                    flov7=[process.pid for process in flov7_processes],
                    baseline=[process.pid for process in baseline_processes],
                )
                await run_rounds(args, drivers, meter, workers, figures)


async def wait_for_api(http: httpx.AsyncClient) -> None:
    """Until ``flov7 serve`` answers ``/health``."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get("/health")).status_code == 200:
                return
        await asyncio.sleep(0.25)
    raise RuntimeError("flov7 serve did not answer /health within 90 s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs-per-slot", type=int, default=6, help="runs = this x C")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    parser.add_argument("--sqlite", action="store_true", help="the dev server on a SQLite file")
    parser.add_argument(
        "--layout",
        choices=["processes", "one-process"],
        default="processes",
        help="processes (default): flov7 serve and the baseline's worker in processes of "
        "their own, this one only generating load; one-process: everything here (--profile)",
    )
    parser.add_argument("--profile", type=Path, help="write pyinstrument reports there")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--baseline-worker", metavar="TARGET", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.baseline_worker:
        sys.exit(asyncio.run(baseline_worker(arguments.baseline_worker)))
    if arguments.profile and arguments.layout != "one-process":
        parser.error("--profile profiles this process: use it with --layout one-process")
    sys.exit(asyncio.run(main(arguments)))
