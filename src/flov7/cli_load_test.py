"""``flov7 load-test``: the guide's load test (``python test-temporal-load.py
--workflows 100 --concurrent 10``) as a command. The work is :mod:`flov7.loadtest`'s.

The report goes to stdout (text, or one JSON object with ``--json``), progress to stderr.
Exit 0 when every run completed, 1 when any failed, 2 for a bad option or workflow
file, 3 when Temporal, a worker or the API cannot be reached.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flov7.config import Settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

_DESCRIPTION = (
    "Start N runs of a workflow, C at a time, through the Temporal client (--via client: "
    "the run service, as `flov7 run`) or the REST API (--via api: POST "
    "/api/v1/workflow/execute?wait=true per run), and report throughput (runs/s), start "
    "latency and end-to-end p50/p95/p99, failures, and the worker's peak memory (RSS of "
    "this process when the worker runs here). Default workflow: api_call -> condition -> "
    "transform against a local HTTP server on 127.0.0.1 that the load test starts. Against "
    "TEMPORAL_HOST (or --temporal-address) when set, else the embedded dev server; a worker "
    "runs in this process when none polls the task queue (--worker). With --via api and no "
    "--api-url, the API runs in this process on 127.0.0.1 with the settings' store. Exit 0 "
    "when every run completed, 1 when any failed, 2 for a bad option or file, 3 when "
    "Temporal, a worker or the --api-url cannot be reached."
)


def add_load_test_parser(commands: Any) -> None:
    """``flov7 load-test --workflows N --concurrent C [--via api|client] ...``."""
    parser = commands.add_parser(
        "load-test",
        help="run N workflows, C at a time, and report throughput and latency",
        description=_DESCRIPTION,
    )
    parser.add_argument(
        "--workflows", type=int, default=100, metavar="N", help="runs to measure (default 100)"
    )
    parser.add_argument(
        "--concurrent",
        "--concurrency",
        dest="concurrency",
        type=int,
        default=10,
        metavar="C",
        help="runs in flight at once (default 10)",
    )
    parser.add_argument(
        "--via",
        choices=["client", "api"],
        default="client",
        help="start and follow runs through the Temporal client (default) or the REST API",
    )
    parser.add_argument(
        "--workflow",
        type=Path,
        metavar="FILE",
        help="a workflow document to run instead of the built-in 3-node one (its nodes' "
        "hosts must be allowed on the worker: FLOV7_OUTBOUND_ALLOWLIST)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--temporal-address",
        metavar="HOST:PORT",
        help="Temporal frontend (default: TEMPORAL_HOST, else the embedded dev server)",
    )
    parser.add_argument("--task-queue", help="task queue (default: TEMPORAL_TASK_QUEUE)")
    parser.add_argument(
        "--api-url",
        metavar="URL",
        help="with --via api: a running Flov7 API, e.g. http://127.0.0.1:8002 (default: "
        "one in this process); its workers must allow the built-in workflow's server "
        "(--http-port, FLOV7_OUTBOUND_ALLOWLIST=127.0.0.1:PORT)",
    )
    parser.add_argument(
        "--api-key", help="API key for --api-url (default: the first of FLOV7_API_KEYS)"
    )
    parser.add_argument(
        "--worker",
        choices=["auto", "always", "never"],
        default="auto",
        help="run a worker in this process: 'auto' (default) when nobody polls the task "
        "queue (always with an embedded server this command starts)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        metavar="K",
        help="runs before the measured ones, not counted (default 0)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="a run not closed this long after its start counts as failed (default 120)",
    )
    parser.add_argument(
        "--verbose",
        dest="quiet",
        action="store_false",
        help="log at FLOV7_LOG_LEVEL (default: errors only: a run's per-node INFO lines "
        "cost CPU the load test would count)",
    )
    parser.set_defaults(quiet=True)
    parser.add_argument(
        "--http-port",
        type=int,
        default=0,
        metavar="PORT",
        help="port of the built-in workflow's HTTP server on 127.0.0.1 (default: a free one)",
    )


async def load_test(args: argparse.Namespace, settings: Settings) -> int:
    """Handler of ``flov7 load-test``."""
    from flov7.loadtest import LoadTestError, LoadTestOptions, Via, WorkerPolicy, run_load_test

    options = LoadTestOptions(
        workflows=args.workflows,
        concurrency=args.concurrency,
        via=Via(args.via),
        workflow_file=args.workflow,
        temporal_address=args.temporal_address,
        task_queue=args.task_queue,
        api_url=args.api_url,
        api_key=args.api_key,
        worker=WorkerPolicy(args.worker),
        warmup=args.warmup,
        run_timeout_seconds=args.timeout,
        http_port=args.http_port,
    )
    try:
        report = await run_load_test(
            settings, options, progress=lambda line: print(line, file=sys.stderr)
        )
    except LoadTestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(report.model_dump_json(indent=2) if args.json else report.render())
    if not report.ok:
        print(f"error: {report.failed} of {report.workflows} runs failed", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
