"""What the runs go to, composed from the settings: a :class:`Target` with its driver.

- ``--via client``: the backend :func:`flov7.backends.open_backend` picks (the embedded
  dev server when ``TEMPORAL_HOST`` is unset, or the given server), and the run service
  over it, as ``flov7 run`` composes them.
- ``--via api`` with ``--api-url``: that API, over HTTP, nothing else here.
- ``--via api`` without: the same backend, the app of :func:`flov7.api.app.create_app`
  (with the settings' store) served by uvicorn on 127.0.0.1 in this process, as ``flov7
  serve`` composes them, and an HTTP client of it.

A worker runs in this process as the :class:`~flov7.loadtest.options.WorkerPolicy`
says; it is then allowed to reach what the workload needs (the answering server).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Literal

import httpx
import uvicorn

from flov7.api.app import create_app
from flov7.api.edge import uvicorn_limits
from flov7.api.server import bind_socket
from flov7.backends import WorkerChoice, open_backend
from flov7.config import Settings
from flov7.errors import EngineUnavailableError, NoWorkerError, TemporalConnectionError
from flov7.loadtest.drivers import ApiDriver, ClientDriver, RunDriver
from flov7.loadtest.memory import peak_rss_bytes
from flov7.loadtest.options import LoadTestOptions, Via, WorkerPolicy
from flov7.loadtest.report import WorkerMemory
from flov7.loadtest.workload import Workload
from flov7.runs.contract import ExecutionBackend
from flov7.runs.service import RunService
from flov7.store.database import Database

__all__ = ["Target", "open_target", "serve_api", "settings_for"]

_CLIENT_START = "until the start call returned (Temporal recorded the run)"
_API_START = (
    "from sending POST /execute?wait=true to the run's started_at as Temporal recorded "
    "it (this machine's clock against the server's)"
)
_WORKER_CHOICE = {
    WorkerPolicy.AUTO: WorkerChoice.IF_NONE,
    WorkerPolicy.ALWAYS: WorkerChoice.ALWAYS,
    WorkerPolicy.NEVER: WorkerChoice.NEVER,
}
_LIVE_WORKER_WAIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Target:
    """A driver of runs, and what the report says about where they went."""

    driver: RunDriver
    via: Literal["client", "api"]
    address: str
    task_queue: str | None
    worker_in_process: bool
    start_latency_measure: str

    def worker_memory(self) -> WorkerMemory:
        """The worker's peak memory so far, when this process runs it."""
        if self.worker_in_process:
            return WorkerMemory(
                measured="in-process",
                peak_rss_bytes=peak_rss_bytes(),
                detail="peak RSS of this process: the worker, the load generator"
                + (" and the API" if self.via == "api" else ""),
            )
        return WorkerMemory(
            measured="not-measured",
            detail="the runs went to workers of other processes: read their RSS there",
        )


def settings_for(settings: Settings, options: LoadTestOptions, workload: Workload) -> Settings:
    """The settings with the options' addresses, and the workload's hosts allowed."""
    temporal = settings.temporal
    changes: dict[str, object] = {}
    if options.temporal_address is not None:
        changes["host"] = options.temporal_address
    if options.task_queue is not None:
        changes["task_queue"] = options.task_queue
    if changes:
        temporal = temporal.model_copy(update=changes)
    nodes = settings.nodes
    missing = [entry for entry in workload.allowlist if entry not in nodes.outbound_allowlist]
    if missing:
        nodes = nodes.model_copy(
            update={"outbound_allowlist": (*nodes.outbound_allowlist, *missing)}
        )
    return dataclasses.replace(settings, temporal=temporal, nodes=nodes)


@contextlib.asynccontextmanager
async def open_target(
    settings: Settings, options: LoadTestOptions, workload: Workload
) -> AsyncIterator[Target]:
    """The target the options name, started; everything it started stops on exit.

    Raises :class:`~flov7.errors.NoWorkerError` when no worker would run the runs, and
    :class:`~flov7.errors.TemporalConnectionError` when Temporal cannot be reached.
    """
    settings = settings_for(settings, options, workload)
    timeout = options.run_timeout_seconds
    if options.via == Via.API and options.api_url is not None:
        key = options.api_key or next(iter(settings.flov7.api_key_list), None)
        async with _http_client(options.api_url, key, options.concurrency) as http:
            await _require_api(http, options.api_url)
            yield Target(
                ApiDriver(http, workload, timeout_seconds=timeout),
                "api",
                options.api_url,
                None,
                worker_in_process=False,
                start_latency_measure=_API_START,
            )
        return
    choice = _WORKER_CHOICE[options.worker]
    async with contextlib.AsyncExitStack() as stack:
        database: Database | None = None
        if options.via == Via.API:
            url = settings.flov7.resolved_database_url
            database = await stack.enter_async_context(Database.open(url))
        backend = await stack.enter_async_context(
            open_backend(settings, database=database, worker=choice)
        )
        info = backend.describe()
        # A worker this process started may not be running yet (it has an identity);
        # the local engine runs every run in this process.
        in_process = (
            info.worker_running or info.worker_identity is not None or info.engine != "temporal"
        )
        if not in_process:
            await _require_live_worker(backend)
        address = info.target or info.engine
        queue = settings.temporal.task_queue if info.engine == "temporal" else None
        if options.via == Via.CLIENT:
            driver: RunDriver = ClientDriver(RunService(backend), workload, timeout_seconds=timeout)
            via: Literal["client", "api"] = "client"
            measure = _CLIENT_START
        else:
            assert database is not None
            base_url = await stack.enter_async_context(serve_api(settings, backend, database))
            key = next(iter(settings.flov7.api_key_list), None)
            http = await stack.enter_async_context(_http_client(base_url, key, options.concurrency))
            driver = ApiDriver(http, workload, timeout_seconds=timeout)
            via, measure = "api", _API_START
            address = f"{base_url} (in-process API) on {address}"
        yield Target(driver, via, address, queue, in_process, measure)


async def _require_live_worker(backend: ExecutionBackend) -> None:
    """Wait a few seconds for a live worker of the task queue; NoWorkerError if none."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _LIVE_WORKER_WAIT_SECONDS
    while True:
        health = await backend.health()
        if any(poller.live for poller in health.pollers):
            return
        if not health.reachable:
            raise TemporalConnectionError(health.reason or "Temporal cannot be reached")
        if loop.time() >= deadline:
            raise NoWorkerError(
                f"No worker polls task queue '{health.task_queue}' on {health.target}: "
                "start one with `flov7 worker`, or use --worker always"
            )
        await asyncio.sleep(0.25)


async def _require_api(http: httpx.AsyncClient, url: str) -> None:
    """EngineUnavailableError unless the API at ``url`` answers its liveness probe."""
    try:
        response = await http.get("/health", timeout=10.0)
    except httpx.HTTPError as exc:
        raise EngineUnavailableError(f"The Flov7 API at {url} cannot be reached: {exc}") from exc
    if response.status_code != 200:
        raise EngineUnavailableError(
            f"The Flov7 API at {url} answers GET /health with HTTP {response.status_code}"
        )


@contextlib.asynccontextmanager
async def _http_client(
    base_url: str, api_key: str | None, concurrency: int
) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limits = httpx.Limits(max_connections=concurrency + 5, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url.rstrip("/"), headers=headers, limits=limits, timeout=90.0
    ) as http:
        yield http


class _InProcessServer(uvicorn.Server):
    """uvicorn that leaves signals alone: the load test's process owns them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_api(
    settings: Settings, backend: ExecutionBackend, database: Database
) -> AsyncIterator[str]:
    """The Flov7 app on ``backend``, served on a free 127.0.0.1 port; yields its base URL."""
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(settings, backend=backend, database=database)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=5,
        **uvicorn_limits(),
    )
    server = _InProcessServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                await task  # it failed to start: raise its error
                raise TemporalConnectionError("the in-process API stopped while starting")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
