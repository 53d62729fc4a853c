"""The ``flov7`` command line.

Commands: ``run`` (execute a workflow file), ``cancel``, ``event``, ``schedule``,
``validate``, ``worker``, ``dev-server``, ``serve`` (the REST API),
``setup-search-attributes``, ``api-key``, ``load-test``.
Results go to stdout, progress and logs to stderr.

Exit codes: 0 success; 1 the run failed, was cancelled, or the document is invalid;
2 usage error; 3 Temporal unreachable or no worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from flov7 import __version__
from flov7.cli_load_test import add_load_test_parser, load_test
from flov7.cli_triggers import (
    add_event_parser,
    add_schedule_parser,
    manage_schedules,
    send_event,
)
from flov7.errors import (
    ConfigError,
    EngineUnavailableError,
    Flov7Error,
    InvalidWorkflowError,
    NoWorkerError,
    TemporalConnectionError,
)

# The settings, the validator (every node type) and Temporal's SDK are imported by the
# commands that use them, not here: `flov7 --help` and a usage error need none of them.
if TYPE_CHECKING:
    from flov7.config import Settings
    from flov7.observability.metrics import MetricsServer
    from flov7.runs.contract import ExecutionBackend

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also what ``--help`` shows)."""
    parser = argparse.ArgumentParser(
        prog="flov7",
        description="Flov7: workflow automation on Temporal. Without TEMPORAL_HOST, an "
        "embedded Temporal dev server is started (data in FLOV7_DATA_DIR, default .flov7/).",
    )
    parser.add_argument("--version", action="version", version=f"flov7 {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="execute a workflow file and print its result",
        description="Execute a workflow JSON file (on Temporal, or in-process with "
        "ENABLE_TEMPORAL_FEATURES=false, where the run is recorded in the store like an "
        "API run), show per-node progress on stderr, print the result JSON on stdout. "
        "Exit 0 when the run completed, 1 when it failed or was cancelled (the failing "
        "node's error is shown), 3 when Temporal or a worker cannot be reached. Ctrl-C "
        "cancels the run. When the run goes to a worker of another process, that "
        "worker's settings (allow-list, databases, credentials) apply, not this shell's.",
    )
    run.add_argument("file", type=Path, help="workflow document (JSON)")
    run.add_argument(
        "--input",
        dest="run_input",
        help="run input as a JSON object, merged over the document's own 'input'",
    )
    run.add_argument(
        "--execution-id",
        help="Temporal workflow id for this run (default: the workflow id plus a random suffix)",
    )
    run.add_argument(
        "--worker",
        choices=["auto", "always", "never"],
        default="auto",
        help="run a worker in this process: 'auto' (default) when the "
        "embedded server is used and nobody polls the task queue",
    )
    run.add_argument(
        "--quiet",
        action="store_true",
        help="no progress lines or validation warnings; logs errors only",
    )
    run.add_argument(
        "--output",
        choices=["full", "summary"],
        default="full",
        help="'full' prints the whole result document; 'summary' only status "
        "and the outputs of the nodes that ended the run (every completed node no "
        "completed node follows)",
    )

    cancel = commands.add_parser(
        "cancel",
        help="cancel a run (or terminate it with --terminate)",
        description="Cancel a run by its execution id: nothing new starts, nodes in "
        "flight are cancelled, and the run ends 'cancelled'. With --terminate, end it at "
        "once without waiting for anything it runs (for a run that does not stop). Exit "
        "0 when asked, 1 when the run is unknown or closed already, 3 when the engine "
        "cannot be reached.",
    )
    cancel.add_argument("execution_id", help="the run's execution id")
    cancel.add_argument(
        "--terminate", action="store_true", help="end the run now (Temporal's terminate)"
    )
    cancel.add_argument("--reason", help="why (shown in the run's history)")

    add_event_parser(commands)
    add_schedule_parser(commands)
    add_load_test_parser(commands)
    rerun = commands.add_parser(
        "rerun",
        help="run a closed run again from its failed node",
        description="Start a new run of a closed run's stored workflow that keeps the "
        "recorded output of every node upstream of the restart point (they are not "
        "executed again), follow it and print its result JSON. Exit 0 when it completed, "
        "1 when it failed, or when the run is open, unknown or ran an inline document, "
        "3 when the engine cannot be reached.",
    )
    rerun.add_argument("execution_id", help="the closed run's execution id")
    rerun.add_argument(
        "--from",
        dest="start_from",
        default="failed",
        metavar="failed|start|NODE",
        help="where to restart: the failed nodes (default), the start, or a node id",
    )
    rerun.add_argument(
        "--latest",
        action="store_true",
        help="run the workflow's latest version (default: the version the run ran)",
    )
    rerun.add_argument("--input", dest="run_input", help="run input instead of the original's")
    rerun.add_argument("--quiet", action="store_true", help="no progress lines")

    validate = commands.add_parser(
        "validate",
        help="check a workflow file and print the report",
        description="Validate a workflow JSON file without running it. Exit 1 when invalid.",
    )
    validate.add_argument("file", type=Path)
    validate.add_argument("--json", action="store_true", help="print the report as JSON")

    commands.add_parser(
        "worker",
        help="run a worker (and the embedded server when TEMPORAL_HOST is unset)",
        description="Poll the task queue (TEMPORAL_TASK_QUEUE) and run workflows until "
        "interrupted. Start several on the same queue to scale out. Serves its Prometheus "
        "metrics on FLOV7_METRICS_HOST:FLOV7_METRICS_PORT/metrics (default "
        "127.0.0.1:9464; 0 turns it off), and the Temporal SDK's on "
        "FLOV7_TEMPORAL_METRICS_PORT when set.",
    )
    commands.add_parser(
        "dev-server",
        help="run the embedded Temporal dev server alone",
        description="Run the embedded Temporal dev server (SQLite in FLOV7_DATA_DIR, UI on "
        "FLOV7_DEVSERVER_UI_PORT) until interrupted.",
    )
    serve = commands.add_parser(
        "serve",
        help="run the REST API, with a worker and (without TEMPORAL_HOST) the embedded server",
        description="Serve the REST API on FLOV7_API_HOST:FLOV7_API_PORT (default "
        "127.0.0.1:8002), with a worker when START_TEMPORAL_WORKER=true and the embedded "
        "Temporal dev server when TEMPORAL_HOST is unset, until SIGTERM / Ctrl-C. Without "
        "API keys (FLOV7_API_KEYS, `flov7 api-key create`) it only listens on the loopback. "
        "Prometheus metrics on GET /metrics.",
    )
    serve.add_argument("--host", help="address to listen on (default: FLOV7_API_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default: FLOV7_API_PORT)")
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="listen beyond the loopback without API keys (anyone reaching the port can "
        "run workflows); same as FLOV7_ALLOW_UNAUTHENTICATED=true",
    )
    commands.add_parser(
        "setup-search-attributes",
        help="register Flov7's search attributes on the Temporal namespace",
        description="Register Flov7WorkflowId, Flov7Status and Flov7Version on "
        "TEMPORAL_NAMESPACE (operator permission needed), so that the API can list runs "
        "by workflow and status. Idempotent. The embedded dev server needs no setup.",
    )
    api_key = commands.add_parser(
        "api-key",
        help="create, list or revoke API keys (only their hashes are stored)",
        description="API keys stored in the service's store (FLOV7_DATABASE_URL). Once any "
        "key exists, every /api request needs one.",
    )
    key_actions = api_key.add_subparsers(dest="key_action", required=True, metavar="ACTION")
    create = key_actions.add_parser(
        "create", help="make a key; prints it once on stdout (only its hash is kept)"
    )
    create.add_argument("name", help="what the key is for, e.g. 'ci' or 'alice'")
    key_actions.add_parser("list", help="list keys (id, name, created, last used)")
    revoke = key_actions.add_parser("revoke", help="delete a key")
    revoke.add_argument("key_id", help="the key's id (see `flov7 api-key list`)")
    encryption_key = commands.add_parser(
        "encryption-key",
        help="print a new payload encryption key (an entry for FLOV7_ENCRYPTION_KEYS)",
        description="Print a fresh AES-256 key as 'id:base64key'. To rotate, put it first "
        "in FLOV7_ENCRYPTION_KEYS and keep the old keys after it (they still decrypt).",
    )
    encryption_key.add_argument("--id", dest="key_id", help="the key's id (default: random)")
    return parser


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the ``flov7`` console script."""
    args = build_parser().parse_args(argv)
    from flov7.config import get_settings

    try:
        settings = get_settings()
    except ConfigError as exc:
        if args.command != "validate":
            _fail(str(exc), EXIT_USAGE)
        # Validation reads no setting: a malformed TEMPORAL_* value is not its business.
        print(f"warning: {exc} (validate reads no setting, so it goes on)", file=sys.stderr)
        sys.exit(asyncio.run(_validate(args, None)))
    from flov7.observability.logging import configure_logging, register_secrets
    from flov7.observability.tracing import configure_tracing

    configure_logging(_log_level(args, settings), settings.flov7.log_format)
    register_secrets(settings.secret_values())
    configure_tracing(settings.flov7.otlp_endpoint)  # before any client or app is made
    handlers = {
        "run": _run,
        "cancel": _cancel,
        "event": send_event,
        "schedule": manage_schedules,
        "rerun": _rerun,
        "validate": _validate,
        "worker": _worker,
        "dev-server": _dev_server,
        "serve": _serve,
        "setup-search-attributes": _setup_search_attributes,
        "api-key": _api_key,
        "encryption-key": _encryption_key,
        "load-test": load_test,
    }
    code = asyncio.run(_guarded(handlers[args.command](args, settings)))
    sys.exit(code)


def _log_level(args: argparse.Namespace, settings: Settings) -> str:
    """``TEMPORAL_DEBUG=true`` (the guide's switch) means DEBUG for Flov7 and the SDK;
    ``--quiet`` leaves errors only; otherwise ``FLOV7_LOG_LEVEL``."""
    if settings.temporal.debug:
        return "DEBUG"
    if getattr(args, "quiet", False):
        return "ERROR"
    return settings.flov7.log_level


async def _guarded(coroutine: Any) -> int:
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.service import RPCError, RPCStatusCode

    try:
        code = int(await coroutine)
    except (TemporalConnectionError, NoWorkerError, EngineUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_UNAVAILABLE
    except InvalidWorkflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for issue in exc.report.issues:
            print(f"  error {_describe(issue.as_dict())}", file=sys.stderr)
        code = EXIT_FAILED
    except Flov7Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_FAILED
    except WorkflowAlreadyStartedError as exc:
        print(
            f"error: execution id '{exc.workflow_id}' is already taken by another run; "
            "choose another --execution-id (or leave it out for a fresh one)",
            file=sys.stderr,
        )
        code = EXIT_FAILED
    except RPCError as exc:
        print(f"error: Temporal refused the request: {exc.message}", file=sys.stderr)
        code = EXIT_UNAVAILABLE if exc.status == RPCStatusCode.UNAVAILABLE else EXIT_FAILED
    # sdk-python#300: let the SDK's Rust threads settle before the interpreter exits,
    # or a successful command can still die with SIGSEGV / SIGABRT at exit.
    await asyncio.sleep(0.1)
    return code


def _fail(message: str, code: int) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def _load_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}", EXIT_USAGE)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            EXIT_USAGE,
        )
    if not isinstance(document, dict):
        _fail(f"{path} must hold a JSON object (a workflow document)", EXIT_USAGE)
    return document


async def _validate(args: argparse.Namespace, settings: Settings | None) -> int:
    from flov7.engine.validate import validate_workflow

    report = validate_workflow(_load_document(args.file))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(f"{args.file}: {'valid' if report.valid else 'INVALID'}")
        for issue in report.issues:
            print(f"  error   {_describe(issue.as_dict())}")
        for warning in report.warnings:
            print(f"  warning {_describe(warning.as_dict())}")
    return EXIT_OK if report.valid else EXIT_FAILED


def _describe(issue: dict[str, Any]) -> str:
    where = []
    if "node_id" in issue:
        where.append(f"node '{issue['node_id']}'")
    if "edge_id" in issue:
        where.append(f"edge '{issue['edge_id']}'")
    if "field" in issue:
        where.append(issue["field"])
    prefix = " ".join(where)
    return f"{prefix}: {issue['message']}" if prefix else issue["message"]


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    """Start the file's run through the run service and follow it to its end, on the
    engine the settings pick (the same path as a run started through the API)."""
    from flov7.backends import WorkerChoice, open_backend
    from flov7.cli_progress import ProgressPrinter
    from flov7.engine.validate import validate_workflow
    from flov7.runs.service import RunService

    document = _load_document(args.file)
    run_input = _parse_input(args.run_input)
    report = validate_workflow(document)
    if not report.valid:
        print(f"{args.file}: INVALID, not started", file=sys.stderr)
        for issue in report.issues:
            print(f"  error {_describe(issue.as_dict())}", file=sys.stderr)
        return EXIT_FAILED
    if not args.quiet:
        # Likely mistakes that do not stop the run (inputs.data after an api_call).
        for warning in report.warnings:
            print(f"  warning {_describe(warning.as_dict())}", file=sys.stderr)
    worker = {
        "always": WorkerChoice.ALWAYS,
        "never": WorkerChoice.NEVER,
        "auto": (
            WorkerChoice.IF_NONE if settings.temporal.uses_embedded_server else WorkerChoice.NEVER
        ),
    }[args.worker]
    progress = ProgressPrinter(sys.stderr, enabled=not args.quiet)
    async with open_backend(settings, worker=worker) as backend:
        info = backend.describe()
        if info.engine == "temporal" and not info.worker_running:
            # Only a run handed to another process needs a live worker first. This
            # process's own worker takes the run whenever its pollers register: waiting
            # to see them cost up to half a second of every cold `flov7 run`.
            progress.handed_to(await _live_workers(backend))
        service = RunService(backend)
        started = await service.start(
            document, run_input=run_input, execution_id=args.execution_id, via="cli"
        )
        execution_id = started.execution_id
        if not started.ref.created:
            progress.joined(execution_id)
        if info.engine == "temporal":
            progress.started(execution_id, info.target or "Temporal", info.ui_url)
        else:
            progress.started_locally(execution_id)
        with _cancel_on_interrupt(
            lambda: asyncio.ensure_future(service.stop(execution_id, "interrupted (Ctrl-C)"))
        ):
            final = await service.follow(execution_id, on_status=progress.update)
    if final.result is None:
        reason = (final.error or {}).get("message") or f"the run ended {final.status}"
        print(f"error: {reason}", file=sys.stderr)
        return EXIT_FAILED
    result = final.result
    progress.finished(result)
    print(json.dumps(_shape_output(result, args.output, document), indent=2, default=str))
    return EXIT_OK if result.get("status") == "completed" else EXIT_FAILED


async def _live_workers(backend: ExecutionBackend) -> list[str]:
    """The live workers of the task queue; :class:`NoWorkerError` when there is none.

    Waits a few seconds for one that is still starting (this process's own worker
    registers its pollers a moment after it starts)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while True:
        health = await backend.health()
        live = [poller.identity for poller in health.pollers if poller.live]
        if live:
            return sorted(set(live))
        if not health.reachable:
            raise TemporalConnectionError(health.reason or "Temporal cannot be reached")
        if loop.time() >= deadline:
            raise NoWorkerError(
                f"No worker is polling task queue '{health.task_queue}' on {health.target}: "
                "start one with `flov7 worker`, or set START_TEMPORAL_WORKER=true"
            )
        await asyncio.sleep(0.25)


async def _cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Cancel (or terminate) a run, on the engine the settings pick."""
    from flov7.backends import WorkerChoice, open_backend
    from flov7.runs.service import RunService

    async with open_backend(settings, worker=WorkerChoice.NEVER) as backend:
        service = RunService(backend)
        reason = args.reason or (
            "terminated from the command line"
            if args.terminate
            else "cancelled from the command line"
        )
        await service.stop(args.execution_id, reason, terminate=args.terminate)
    if args.terminate:
        print(f"run {args.execution_id} terminated", file=sys.stderr)
    else:
        print(
            f"run {args.execution_id}: cancel requested (nodes in flight are cancelled; "
            "use --terminate to end it without waiting)",
            file=sys.stderr,
        )
    return EXIT_OK


async def _rerun(args: argparse.Namespace, settings: Settings) -> int:
    """Rerun a closed run through the run service (recorded in the store like an API run)."""
    from flov7.api.runs import recorder
    from flov7.backends import WorkerChoice, open_backend
    from flov7.cli_progress import ProgressPrinter
    from flov7.runs.rerun import RerunRefused, prepare_rerun
    from flov7.runs.service import RunService
    from flov7.store.database import Database
    from flov7.store.repository import Repository

    progress = ProgressPrinter(sys.stderr, enabled=not args.quiet)
    worker = WorkerChoice.IF_NONE if settings.temporal.uses_embedded_server else WorkerChoice.NEVER
    async with (
        Database.open(settings.flov7.resolved_database_url) as database,
        open_backend(settings, database=database, worker=worker) as backend,
    ):
        repository = Repository(database)
        try:
            prepared = await prepare_rerun(
                backend,
                repository,
                args.execution_id,
                start_from=args.start_from,
                version="latest" if args.latest else "same",
                run_input=_parse_input(args.run_input),
            )
        except RerunRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        service = RunService(backend, on_started=recorder(repository))
        started = await service.start(
            prepared.document,
            run_input=prepared.run_input or None,
            workflow_id=prepared.workflow_id,
            version=prepared.version,
            rerun_of=prepared.rerun_of,
        )
        print(f"rerun of {args.execution_id}: {started.execution_id}", file=sys.stderr)
        final = await service.follow(started.execution_id, on_status=progress.update)
    if final.result is None:
        reason = (final.error or {}).get("message") or f"the run ended {final.status}"
        print(f"error: {reason}", file=sys.stderr)
        return EXIT_FAILED
    progress.finished(final.result)
    print(json.dumps(final.result, indent=2, default=str))
    return EXIT_OK if final.result.get("status") == "completed" else EXIT_FAILED


def _shape_output(result: dict[str, Any], mode: str, document: Any) -> dict[str, Any]:
    if mode == "full":
        return result
    # The nodes that ended the run: completed nodes none of whose children completed
    # (every end of a run with parallel branches, not only the last one to finish).
    from flov7.engine.graph import Graph
    from flov7.spec import parse_workflow

    nodes = result.get("node_results") or {}
    graph = Graph.from_spec(parse_workflow(document))
    done = [n for n in result.get("execution_path") or [] if nodes[n]["status"] == "completed"]
    ends = [
        n
        for n in done
        if not any(nodes.get(c, {}).get("status") == "completed" for c in graph.children(n))
    ]
    return {
        "status": result.get("status"),
        "execution_id": result.get("execution_id"),
        "error": result.get("error"),
        "outputs": {n: nodes[n]["output"] for n in ends},
    }


def _parse_input(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"--input is not valid JSON: {exc.msg} at column {exc.colno}", EXIT_USAGE)
    if not isinstance(value, dict):
        _fail("--input must be a JSON object, e.g. --input '{\"customer\": 7}'", EXIT_USAGE)
    return value


@contextlib.contextmanager
def _cancel_on_interrupt(on_interrupt: Any) -> Any:
    """First Ctrl-C / SIGTERM cancels the run (and waits for it); the second one aborts."""
    loop = asyncio.get_running_loop()
    hits = {"count": 0}

    def handle() -> None:
        hits["count"] += 1
        if hits["count"] == 1:
            print("\ncancelling the run (Ctrl-C again to quit without waiting)...", file=sys.stderr)
            on_interrupt()
        else:
            raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handle)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _wait_for_stop() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from flov7.observability.metrics import serve_metrics
    from flov7.temporal.telemetry import install_sdk_metrics

    sdk_metrics = install_sdk_metrics(settings.flov7)  # before the first client
    port = settings.flov7.metrics_port
    metrics = serve_metrics(settings.flov7.metrics_host, port) if port else None
    try:
        return await _run_worker(settings, metrics, sdk_metrics)
    finally:
        if metrics is not None:
            metrics.close()


async def _run_worker(
    settings: Settings, metrics: MetricsServer | None, sdk_metrics: str | None
) -> int:
    from flov7.temporal.environment import WorkerMode, temporal_environment

    if metrics is not None:
        where = f"http://{settings.flov7.metrics_host}:{metrics.port}/metrics"
        sdk = f", Temporal SDK metrics on http://{sdk_metrics}/metrics" if sdk_metrics else ""
        print(f"flov7 worker: metrics on {where}{sdk}", file=sys.stderr)
    async with temporal_environment(settings, worker=WorkerMode.ALWAYS) as env:
        where = f"embedded server {env.target}" if env.server else env.target
        ui = f", Web UI {env.server.ui_url}" if env.server and env.server.ui_url else ""
        print(
            f"flov7 worker: polling '{settings.temporal.task_queue}' on {where}{ui}. "
            "Ctrl-C to stop.",
            file=sys.stderr,
        )
        await _wait_for_stop()
        print("flov7 worker: stopping...", file=sys.stderr)
    return EXIT_OK


async def _dev_server(args: argparse.Namespace, settings: Settings) -> int:
    from flov7.temporal.client import get_temporal_client
    from flov7.temporal.devserver import EmbeddedDevServer
    from flov7.temporal.ownership import claim_data_dir

    async with EmbeddedDevServer.from_settings(settings) as server:
        # Claimed for this data directory, as `flov7 serve` would: a service of another
        # one refuses to join it.
        client = await get_temporal_client(settings.temporal, target=server.target)
        await claim_data_dir(client, settings.flov7.data_dir)
        print(
            f"Temporal dev server on {server.target} (UI: {server.ui_url or 'off'}, "
            f"data: {server.db_path}). Ctrl-C to stop.",
            file=sys.stderr,
        )
        await _wait_for_stop()
    return EXIT_OK


async def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from flov7.api.server import serve
    from flov7.store.database import StoreError

    if args.port is not None and not 1 <= args.port <= 65535:
        _fail(f"--port must be between 1 and 65535, got {args.port}", EXIT_USAGE)
    try:
        return await serve(
            settings, host=args.host, port=args.port, insecure_no_auth=args.insecure_no_auth
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE


async def _encryption_key(args: argparse.Namespace, settings: Settings) -> int:
    from flov7.security.encryption import new_key_spec

    print(new_key_spec(args.key_id))
    return EXIT_OK


async def _setup_search_attributes(args: argparse.Namespace, settings: Settings) -> int:
    from temporalio.service import RPCError

    from flov7.temporal.client import get_temporal_client
    from flov7.temporal.search_attributes import SEARCH_ATTRIBUTES, register_search_attributes

    client = await get_temporal_client(settings.temporal)
    try:
        added = await register_search_attributes(client)
    except RPCError as exc:
        print(f"error: cannot register search attributes: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    names = ", ".join(f"{name} ({kind})" for name, kind in SEARCH_ATTRIBUTES)
    if added:
        print(f"Registered on namespace '{client.namespace}': {', '.join(added)}")
    else:
        print(f"Already registered on namespace '{client.namespace}': {names}")
    return EXIT_OK


_NO_STORED_KEYS = (
    "No API keys in the store. Without any key (and no FLOV7_API_KEYS, which are not "
    "listed here) the API serves clients on this machine (loopback) only. Create one "
    "with `flov7 api-key create NAME`."
)
_LAST_KEY_REVOKED = (
    "That was the last stored API key. A running `flov7 serve` keeps requiring keys "
    "until it restarts (it never switches authentication off by itself), so it now "
    "refuses every request unless FLOV7_API_KEYS are set. Restarted without keys, it "
    "serves loopback clients only; or create a new key with `flov7 api-key create NAME`."
)


async def _api_key(args: argparse.Namespace, settings: Settings) -> int:
    from flov7.api.auth import create_api_key
    from flov7.store.database import Database, StoreError
    from flov7.store.repository import Repository

    try:
        async with Database.open(settings.flov7.resolved_database_url) as database:
            repository = Repository(database)
            if args.key_action == "create":
                record, key = await create_api_key(repository, args.name)
                print(key)
                print(
                    f"Created API key '{record.name}' (id {record.id}). It is shown only "
                    "once: store it now. Send it as `Authorization: Bearer <key>`.",
                    file=sys.stderr,
                )
            elif args.key_action == "list":
                records = await repository.list_api_keys()
                for item in records:
                    used = item.last_used_at.isoformat() if item.last_used_at else "never"
                    print(
                        f"{item.id}  {item.name}  created {item.created_at.isoformat()}  "
                        f"last used {used}"
                    )
                if not records:
                    print(_NO_STORED_KEYS, file=sys.stderr)
            elif not await repository.delete_api_key(args.key_id):
                print(f"error: no API key with id '{args.key_id}'", file=sys.stderr)
                return EXIT_FAILED
            else:
                print(f"Revoked API key {args.key_id}", file=sys.stderr)
                if not await repository.has_api_keys():
                    print(_LAST_KEY_REVOKED, file=sys.stderr)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_OK


if __name__ == "__main__":
    main()
