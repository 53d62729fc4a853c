"""``flov7 load-test`` and the guide's ``test-temporal-load.py``, run for real.

The load tests run as subprocesses against the session's Temporal dev server, each on
a task queue of its own (so the command runs its own in-process worker), and their
reports are read back with the report's own model. Nothing here asserts on time.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from flov7.loadtest import LoadTestReport
from flov7.loadtest.drivers import RunSample
from flov7.loadtest.report import WorkerMemory, build_report
from flov7.loadtest.runner import BatchResult
from flov7.loadtest.stats import percentile, summarise
from flov7.temporal.devserver import EmbeddedDevServer

ROOT = Path(__file__).resolve().parents[1]
FLOV7 = [sys.executable, "-m", "flov7.cli"]

FAILING = {
    "id": "load-test-failing",
    "input": {"divisor": 0},
    "nodes": [
        {"id": "ok", "type": "transform", "data": {"mapping": {"n": 10}}},
        {
            "id": "divide",
            "type": "transform",
            "data": {"mapping": {"r": "inputs.n / input.divisor"}},
        },
    ],
    "edges": [{"id": "e1", "source": "ok", "target": "divide"}],
}


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str

    def report(self) -> LoadTestReport:
        return LoadTestReport.model_validate_json(self.stdout)


async def run(command: list[str], env: dict[str, str], cwd: Path) -> Finished:
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=240)
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


def environment(server: EmbeddedDevServer | None, tmp_path: Path) -> dict[str, str]:
    """No Flov7 variable of the shell; the session's server and a fresh task queue."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    env = {**base, "FLOV7_DATA_DIR": str(tmp_path / "data")}
    if server is not None:
        env["TEMPORAL_HOST"] = server.target
        env["TEMPORAL_TASK_QUEUE"] = f"load-test-{uuid.uuid4().hex[:8]}"
    return env


def assert_ordered(latency: object) -> None:
    values = [getattr(latency, name) for name in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
    assert all(value is not None and value >= 0 for value in values)
    assert values == sorted(values)


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("via", ["client", "api"])
async def test_every_run_completes_and_is_reported(
    via: str, temporal_server: EmbeddedDevServer, tmp_path: Path
) -> None:
    env = environment(temporal_server, tmp_path)
    command = [*FLOV7, "load-test", "--workflows", "6", "--concurrent", "3", "--via", via]
    finished = await run([*command, "--json"], env, tmp_path)

    assert finished.code == 0, finished.stderr
    document = json.loads(finished.stdout)  # one JSON object, nothing else on stdout
    assert set(document) >= {
        "throughput_runs_per_second",
        "start_latency",
        "end_to_end",
        "failed",
        "worker_memory",
    }
    report = finished.report()
    assert report.via == via
    assert (report.workflows, report.concurrency, report.completed, report.failed) == (6, 3, 6, 0)
    assert report.failures == []
    assert report.task_queue == env["TEMPORAL_TASK_QUEUE"]
    assert report.workflow.startswith("built-in")
    assert report.end_to_end.count == report.start_latency.count == 6
    assert_ordered(report.end_to_end)
    assert_ordered(report.start_latency)
    assert report.start_latency.p50_ms <= report.end_to_end.max_ms  # type: ignore[operator]
    assert report.throughput_runs_per_second > 0
    # Nobody else polls the fresh queue: the worker ran in the command's process.
    assert report.worker_memory.measured == "in-process"
    assert (report.worker_memory.peak_rss_bytes or 0) > 10 * 2**20
    if via == "api":
        assert "in-process API" in report.target
    else:
        assert report.target == temporal_server.target


@pytest.mark.asyncio(loop_scope="session")
async def test_failed_runs_are_counted_and_fail_the_command(
    temporal_server: EmbeddedDevServer, tmp_path: Path
) -> None:
    workflow = tmp_path / "failing.json"
    workflow.write_text(json.dumps(FAILING))
    env = environment(temporal_server, tmp_path)
    command = [*FLOV7, "load-test", "--workflows", "6", "--concurrent", "3"]

    finished = await run([*command, "--workflow", str(workflow), "--json"], env, tmp_path)

    assert finished.code == 1, finished.stderr
    report = finished.report()
    assert (report.workflows, report.completed, report.failed) == (6, 0, 6)
    assert not report.ok
    assert report.workflow == str(workflow)
    assert len(report.failures) == 6
    assert {failure.status for failure in report.failures} == {"failed"}
    assert all("division by zero" in (failure.error or "") for failure in report.failures)
    assert sorted(failure.index for failure in report.failures) == list(range(6))
    assert "6 of 6 runs failed" in finished.stderr


@pytest.mark.asyncio(loop_scope="session")
async def test_an_invalid_workflow_file_is_a_usage_error_before_anything_starts(
    tmp_path: Path,
) -> None:
    workflow = tmp_path / "invalid.json"
    workflow.write_text(json.dumps({"id": "x", "nodes": [{"id": "a", "type": "nope"}]}))
    env = environment(None, tmp_path)
    env["TEMPORAL_HOST"] = "127.0.0.1:1"  # nothing listens: never reached

    finished = await run([*FLOV7, "load-test", "--workflow", str(workflow)], env, tmp_path)

    assert finished.code == 2, finished.stderr
    assert "is not a valid workflow" in finished.stderr
    assert finished.stdout == ""


@pytest.mark.asyncio(loop_scope="session")
async def test_the_guide_script_tells_its_options(tmp_path: Path) -> None:
    script = ROOT / "test-temporal-load.py"
    finished = await run([sys.executable, str(script), "--help"], os.environ.copy(), tmp_path)

    assert finished.code == 0, finished.stderr
    for option in ("--workflows", "--concurrent", "--via", "--workflow", "--json", "--api-url"):
        assert option in finished.stdout


def test_percentiles_interpolate_between_ranks() -> None:
    ordered = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert percentile(ordered, 0.5) == 3.0
    assert percentile(ordered, 0.95) == pytest.approx(4.8)
    assert percentile(ordered, 1.0) == 5.0
    assert percentile([7.0], 0.99) == 7.0
    summary = summarise([5.0, 1.0, 3.0])
    assert (summary.count, summary.p50, summary.max, summary.mean) == (3, 3.0, 5.0, 3.0)
    assert summarise([]).p50 is None


def test_the_text_report_names_every_figure_and_each_failure() -> None:
    samples = (
        RunSample(0, "a-1", "completed", 0.5, 0.05),
        RunSample(1, "a-2", "failed", 0.7, 0.04, "node 'x': boom"),
        RunSample(2, None, "start_failed", 0.1, None, "RPCError: unavailable"),
    )
    report = build_report(
        BatchResult(samples=samples, wall_seconds=1.5, concurrency=2),
        via="client",
        target="127.0.0.1:7233",
        task_queue="q",
        workflow="w.json",
        warmup=0,
        start_latency_measure="until the start call returned",
        worker_memory=WorkerMemory(measured="not-measured", detail="elsewhere"),
    )

    assert (report.completed, report.failed, report.throughput_runs_per_second) == (1, 2, 2.0)
    assert report.start_latency.count == 2  # the run that never started has none
    text = report.render()
    for expected in (
        "3 runs of w.json, 2 at a time, via client",
        "completed 1, failed 2",
        "2.00 runs/s",
        "start latency",
        "end to end",
        "p99",
        "worker peak RSS not measured (elsewhere)",
        "FAILED run 1 a-2: failed: node 'x': boom",
        "FAILED run 2 (not started): start_failed: RPCError: unavailable",
    ):
        assert expected in text


@pytest.mark.asyncio(loop_scope="session")
async def test_without_any_worker_the_command_says_so(
    temporal_server: EmbeddedDevServer, tmp_path: Path
) -> None:
    env = environment(temporal_server, tmp_path)  # a fresh task queue: nobody polls it
    command = [*FLOV7, "load-test", "--workflows", "2", "--worker", "never"]

    finished = await run(command, env, tmp_path)

    assert finished.code == 3, finished.stderr
    assert "No worker polls task queue" in finished.stderr
    assert finished.stdout == ""


def test_the_load_test_sits_at_the_command_line_level() -> None:
    """flov7.loadtest composes the layers below it; only the CLI imports it."""
    source = ROOT / "src" / "flov7"
    importers = []
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source)
        names = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
        if relative.parts[0] == "loadtest":
            assert not [n for n in names if n.startswith("flov7.cli")], relative
        elif any(n == "flov7.loadtest" or n.startswith("flov7.loadtest.") for n in names):
            importers.append(str(relative))
    assert importers == ["cli_load_test.py"]


@pytest.mark.asyncio(loop_scope="session")
async def test_an_api_that_does_not_answer_is_unavailable(tmp_path: Path) -> None:
    env = environment(None, tmp_path)
    command = [*FLOV7, "load-test", "--via", "api", "--api-url", "http://127.0.0.1:1"]

    finished = await run(command, env, tmp_path)

    assert finished.code == 3, finished.stderr
    assert "http://127.0.0.1:1 cannot be reached" in finished.stderr
