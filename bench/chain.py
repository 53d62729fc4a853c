"""Sequential chains: Flov7 against hand-written Temporal workflows doing the same work.

Reproduce with::

    .venv/bin/python bench/chain.py               # 15 interleaved rounds, medians, ratios
    .venv/bin/python bench/chain.py --runs 30
    .venv/bin/python bench/chain.py --only api    # the api_call chains only
    .venv/bin/python bench/chain.py --stock       # the stock dev server (no tuning flag)
    .venv/bin/python bench/chain.py --only api --prefect-python /work/prefect-venv/bin/python

The last one adds Prefect 3, from a venv of its own (bench/requirements-prefect.txt says
how to make it, and why it cannot be the project's venv); FLOV7_BENCH_PREFECT_PYTHON
does the same as the flag.

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

I/O chains, against an HTTP server on 127.0.0.1 (its own process) that answers at once:

- flov7-api-N (N = 1, 10, 40): N ``api_call`` nodes in a row, defaults: local activities
  (engine/execution.py).
- flov7-api-N-activity: the same with ``"execution": "activity"`` on every node.
- hand-local-N / hand-activity-N: a hand-written workflow making the same N GET calls
  (httpx, one shared client) in a row as local activities / as regular activities.

With a Prefect Python, against the same HTTP server:

- prefect-api-10 / -40: a Prefect 3 flow making the same N GET calls in a row, one
  ``@task`` per call (one task run per Flov7 node), one shared ``httpx`` client, on
  Prefect's ephemeral local server (its default: a subprocess over SQLite), in one
  long-lived process (bench/prefect_chain.py) that times each flow call itself, so that
  neither its start nor the pipe to it is counted.

Targets (issue 11): flov7-api-40 at most 2x hand-local-40 and at least 3x faster than
hand-activity-40 and than prefect-api-40; flov7-api-10 at most 1.15x the hand-written
workflow making its calls the same way (-activity against hand-activity-10, the default
against hand-local-10).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
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
    after ``delay_seconds``, in a process of its own (this script with
    ``--quick-server``): serving costs every scenario the same, whichever process it
    runs in. In a thread of this process it shared the GIL with Flov7's worker and the
    hand-written one, but not with Prefect's process, which it then favoured."""

    BODY = b'{"ok": true}'

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.delay_seconds = delay_seconds
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """The URL every call goes to."""
        return f"http://127.0.0.1:{self.port}/quick"

    def __enter__(self) -> QuickServer:
        command = [sys.executable, __file__, "--quick-server", str(self.delay_seconds)]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self._process.kill()
            raise RuntimeError(f"the quick server did not start: {line!r}")
        self.port = int(line)
        return self

    def __exit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    @classmethod
    async def serve(cls, delay_seconds: float) -> None:
        """``--quick-server``: serve until terminated, the port first on stdout."""

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(cls.BODY)).encode() + b"\r\n\r\n" + cls.BODY
            )
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                while True:
                    request = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in request.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    if length:
                        await reader.readexactly(length)
                    if delay_seconds:
                        await asyncio.sleep(delay_seconds)
                    writer.write(head)
                    await writer.drain()
            writer.close()

        server = await asyncio.start_server(client, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()


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


# -- Prefect, in a venv of its own ---------------------------------------------------------

PREFECT_SCRIPT = Path(__file__).with_name("prefect_chain.py")
PREFECT_SETUP = "bench/requirements-prefect.txt"
PREFECT_LENGTHS = (10, 40)


@dataclass
class Measured:
    """A scenario's own measure of one run, taken instead of the parent's wall clock (the
    Prefect process times its flow call; the pipe to it is not part of the run)."""

    seconds: float


def prefect_version(python: str) -> str:
    """The Prefect version ``python`` imports, or exit with what is wrong and how to set
    up a Prefect venv."""
    try:
        probe = subprocess.run(
            [python, "-c", "import httpx, prefect; print(prefect.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        reason = str(error)
    else:
        if probe.returncode == 0:
            return probe.stdout.strip()
        reason = (probe.stderr.strip().splitlines() or [f"exit {probe.returncode}"])[-1]
    raise SystemExit(
        f"--prefect-python {python}: cannot import prefect and httpx ({reason}).\n"
        f"Make a Prefect venv as {PREFECT_SETUP} says, e.g.:\n"
        f"  python3 -m venv /work/prefect-venv && "
        f"/work/prefect-venv/bin/pip install -r {PREFECT_SETUP}"
    )


@dataclass
class PrefectRun:
    """What bench/prefect_chain.py reports for one flow run."""

    length: int
    seconds: float
    retries: int
    retry_wait: float


class PrefectChain:
    """bench/prefect_chain.py under a Prefect venv's Python: started once (Prefect's
    import, its ephemeral server and a warm-up run take 10-20 s, which must not be
    counted per run), then one flow run per :meth:`run`.

    It gets a PREFECT_HOME of its own and no PREFECT_* setting from this process, so that
    it runs offline on a fresh ephemeral server whatever the caller's Prefect profile;
    its log (Prefect logs each task run) goes to a file, shown if it fails."""

    READY_TIMEOUT = 300.0
    RUN_TIMEOUT = 120.0
    SETTLE_SECONDS = 1.5
    """How long Prefect runs on after each flow run before it is frozen (see _rest)."""

    def __init__(self, python: str, url: str) -> None:
        self.python = python
        self.url = url
        self.runs: list[PrefectRun] = []
        self._stack = contextlib.AsyncExitStack()
        self._process: asyncio.subprocess.Process | None = None
        self._log = Path()

    async def __aenter__(self) -> PrefectChain:
        home = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="prefect-")))
        self._log = home / "prefect.log"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        environment["PREFECT_HOME"] = str(home)
        log = self._stack.enter_context(self._log.open("wb"))
        self._process = await asyncio.create_subprocess_exec(
            self.python,
            str(PREFECT_SCRIPT),
            self.url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env=environment,
            # Its own process group: Prefect's server is a grandchild, stopped with it.
            start_new_session=True,
        )
        self._stack.push_async_callback(self._stop)
        try:
            await self._receive(self.READY_TIMEOUT)
        except BaseException:
            await self._stack.aclose()
            raise
        await self._rest()
        return self

    async def _rest(self) -> None:
        """Let Prefect's background services finish the last run's writes, then freeze its
        process group until its next run: its local server and services otherwise keep
        using CPU while the other scenarios are timed (they slowed the Temporal scenarios
        by about a quarter here). Frozen after it settles, not at once: its backlog would
        then meet the next run (and Prefect's SQLite lock stalls with it)."""
        await asyncio.sleep(self.SETTLE_SECONDS)
        self._signal(signal.SIGSTOP)

    def _signal(self, number: int) -> None:
        if self._process is not None and self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, number)

    async def __aexit__(self, *_: object) -> None:
        await self._stack.aclose()

    async def run(self, length: int) -> Measured:
        """One flow run of ``length`` calls, checked."""
        assert self._process is not None and self._process.stdin is not None
        self._signal(signal.SIGCONT)
        self._process.stdin.write(f"run {length}\n".encode())
        await self._process.stdin.drain()
        answer = await self._receive(self.RUN_TIMEOUT)
        await self._rest()
        assert answer["done"] == length, answer
        self.runs.append(
            PrefectRun(length, answer["seconds"], answer["retries"], answer["retry_wait"])
        )
        return Measured(answer["seconds"])

    async def _receive(self, wait_seconds: float) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), wait_seconds)
        except TimeoutError:
            line = b""
        answer: dict[str, Any] = json.loads(line) if line.strip() else {"error": "no answer"}
        if "error" in answer:
            tail = "\n".join(self._log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"{PREFECT_SCRIPT.name}: {answer['error']}; its log ends:\n{tail}")
        return answer

    async def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        self._signal(signal.SIGCONT)
        if process.returncode is None and process.stdin is not None:
            with contextlib.suppress(ConnectionError):
                process.stdin.write(b"quit\n")
                await process.stdin.drain()
                process.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 30)
        # Whatever of its group is left (its server, if it did not stop it), and it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()

    def report(self) -> None:
        """Per length: how many timed runs waited for a client retry (Prefect's ephemeral
        server answers 503 while its SQLite is locked by its own background writers), and
        the median of the runs that did not."""
        for length in PREFECT_LENGTHS:
            # The first run of each length is interleaved()'s warm-up, not in the medians.
            runs = [run for run in self.runs if run.length == length][1:]
            if not runs:
                continue
            retried = [run for run in runs if run.retries]
            clean = [run.seconds for run in runs if not run.retries]
            without = (
                f"; median without them {statistics.median(clean) * 1000:.1f} ms" if clean else ""
            )
            print(
                f"prefect-api-{length}: {len(retried)} of {len(runs)} runs waited for a client"
                f" retry (503, SQLite locked), {sum(r.retry_wait for r in retried):.1f} s in all"
                f"{without}"
            )


# -- running --------------------------------------------------------------------------------

Once = Callable[[], Awaitable[Any]]


async def interleaved(rounds: int, scenarios: dict[str, Once]) -> dict[str, list[float]]:
    """Wall-clock seconds of each scenario (or what it returns as :class:`Measured`), one
    run of each per round (after one warm-up run of each), the order rotating from round
    to round."""
    for once in scenarios.values():
        await once()
    names = list(scenarios)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            result = await scenarios[name]()
            elapsed = time.perf_counter() - start
            samples[name].append(result.seconds if isinstance(result, Measured) else elapsed)
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
        devserver._DYNAMIC_CONFIG = ()  # type: ignore[assignment]  # inferred tuple[str]
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


async def main(runs: int, only: str, stock: bool, prefect_python: str | None) -> None:
    settings = TemporalSettings(task_queue=QUEUE)
    print(f"dev server: {'stock' if stock else 'Flov7 embedded flags'}; {runs} rounds")
    if only == "pure":
        prefect_python = None  # Prefect runs the api_call chains only.
    elif prefect_python:
        version = prefect_version(prefect_python)
        print(f"prefect: {version} ({prefect_python}), ephemeral local server over SQLite")
    else:
        print(
            "prefect: not run (give --prefect-python PATH or FLOV7_BENCH_PREFECT_PYTHON; "
            f"set-up in {PREFECT_SETUP})"
        )
    print()
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
            async with contextlib.AsyncExitStack() as stack:
                prefect = None
                if prefect_python:
                    prefect = await stack.enter_async_context(
                        PrefectChain(prefect_python, http.url)
                    )
                await stack.enter_async_context(flov7_worker)
                await stack.enter_async_context(hand_worker)

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
                        # Inside its group, not next to the other Prefect scenario: a Prefect
                        # run that follows another at once often meets its server's SQLite
                        # still busy with the first one's events (see PrefectChain.report).
                        if prefect is not None and n in PREFECT_LENGTHS:
                            scenarios[f"prefect-api-{n}"] = functools.partial(prefect.run, n)
                medians = report(await interleaved(runs, scenarios))
                if prefect is not None:
                    print()
                    prefect.report()
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
            ("prefect-api-10", "flov7-api-10", ""),
            ("prefect-api-40", "flov7-api-40", "   (target >= 3: Flov7 that much faster)"),
        ],
    )
    await asyncio.sleep(0.1)  # sdk-python#300: let the Rust threads settle before exit


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", choices=["all", "pure", "api"], default="all")
    parser.add_argument("--stock", action="store_true", help="stock dev server flags")
    parser.add_argument(
        "--prefect-python",
        metavar="PATH",
        default=os.environ.get("FLOV7_BENCH_PREFECT_PYTHON") or None,
        help=f"the Python of a Prefect venv ({PREFECT_SETUP}): adds prefect-api-10/-40",
    )
    parser.add_argument("--quick-server", type=float, metavar="DELAY", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.quick_server is not None:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(QuickServer.serve(arguments.quick_server))
        sys.exit(0)
    sys.exit(
        asyncio.run(main(arguments.runs, arguments.only, arguments.stock, arguments.prefect_python))
    )
