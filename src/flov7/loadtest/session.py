"""One load test, from options to report: :func:`run_load_test`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from flov7.config import Settings
from flov7.loadtest.answering_server import AnsweringServer
from flov7.loadtest.options import LoadTestOptions
from flov7.loadtest.report import LoadTestReport, build_report
from flov7.loadtest.runner import run_batch
from flov7.loadtest.targets import open_target
from flov7.loadtest.workload import Workload, default_workload, workload_from_file

__all__ = ["open_workload", "run_load_test"]

Progress = Callable[[str], None]


@contextlib.asynccontextmanager
async def open_workload(options: LoadTestOptions) -> AsyncIterator[Workload]:
    """The options' workflow file, or the built-in workflow with its answering server
    running (on ``options.http_port``) until exit."""
    if options.workflow_file is not None:
        yield workload_from_file(options.workflow_file)
        return
    async with AnsweringServer(options.http_port) as server:
        yield default_workload(server.url, server.allowlist_entry)


async def run_load_test(
    settings: Settings, options: LoadTestOptions, *, progress: Progress | None = None
) -> LoadTestReport:
    """Run the load test the options describe against what the settings name.

    Raises :class:`~flov7.loadtest.options.LoadTestError` for bad options or an invalid
    workflow file, :class:`~flov7.errors.NoWorkerError` /
    :class:`~flov7.errors.TemporalConnectionError` when the runs cannot go anywhere;
    failed runs are counted in the report, never raised.
    """
    options.check()
    say = progress or (lambda _: None)
    async with (
        open_workload(options) as workload,
        open_target(settings, options, workload) as target,
    ):
        say(f"load test: {target.via} -> {target.address}")
        if options.warmup:
            say(f"load test: {options.warmup} warm-up runs")
            await run_batch(target.driver, options.warmup, options.concurrency)
        say(f"load test: {options.workflows} runs, {options.concurrency} at a time")
        result = await run_batch(target.driver, options.workflows, options.concurrency)
        return build_report(
            result,
            via=target.via,
            target=target.address,
            task_queue=target.task_queue,
            workflow=workload.name,
            warmup=options.warmup,
            start_latency_measure=target.start_latency_measure,
            worker_memory=target.worker_memory(),
        )
