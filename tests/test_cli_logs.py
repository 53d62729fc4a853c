"""Logs a person can read: an expected node failure is one line, no traceback."""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from flov7.observability.logging import ExpectedActivityFailureFilter
from flov7.temporal.devserver import EmbeddedDevServer
from test_cli import flov7


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"no such order")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def not_found_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def workflow_404(tmp_path: Path) -> Iterator[Path]:
    with not_found_server() as base:
        path = tmp_path / "fetch.json"
        node = {"id": "fetch", "type": "api_call", "data": {"url": f"{base}/orders/7"}}
        path.write_text(json.dumps({"id": "logs-404", "nodes": [node]}))
        yield path


@pytest.fixture
def external(temporal_server: EmbeddedDevServer, tmp_path: Path) -> dict[str, str]:
    """The session's server, on a task queue of this test's own (as in test_cli)."""
    return {
        "TEMPORAL_HOST": temporal_server.target,
        "TEMPORAL_TASK_QUEUE": f"logs-{uuid.uuid4().hex[:8]}",
        "FLOV7_DATA_DIR": str(tmp_path / "data"),
    }


def run_env(external: dict[str, str], **extra: str) -> dict[str, str]:
    return {**external, "FLOV7_OUTBOUND_ALLOWLIST": "127.0.0.1", **extra}


def test_an_http_404_is_one_line_with_execution_node_attempt_and_cause(
    external: dict[str, str], workflow_404: Path
) -> None:
    execution = f"logs-{uuid.uuid4().hex[:8]}"
    result = flov7(
        "run",
        str(workflow_404),
        "--worker",
        "always",
        "--execution-id",
        execution,
        env=run_env(external),
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Completing activity as failed" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "attempt 1 failed" in line]
    assert len(lines) == 1, result.stderr
    (line,) = lines
    for part in (f"execution {execution}", "node 'fetch'", "attempt 1", "HttpClientError"):
        assert part in line
    assert "404" in line


def test_a_blocked_url_is_one_line_too(external: dict[str, str], tmp_path: Path) -> None:
    """The SSRF guard's refusal is an expected failure: no traceback either."""
    path = tmp_path / "blocked.json"
    node = {"id": "meta", "type": "api_call", "data": {"url": "http://169.254.169.254/latest"}}
    path.write_text(json.dumps({"id": "logs-blocked", "nodes": [node]}))
    result = flov7("run", str(path), "--worker", "always", env=run_env(external))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "attempt 1 failed" in line]
    assert len(lines) == 1, result.stderr
    assert "node 'meta'" in lines[0] and "169.254.169.254" in lines[0]


def test_quiet_leaves_only_the_result_and_the_error(
    external: dict[str, str], workflow_404: Path
) -> None:
    result = flov7("run", "--quiet", "--worker", "always", str(workflow_404), env=run_env(external))
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        line for line in result.stderr.splitlines() if line.startswith("error: node 'fetch'")
    ], result.stderr
    assert json.loads(result.stdout)["status"] == "failed"


def test_temporal_debug_turns_on_debug_logs_with_the_sdk_traceback(
    external: dict[str, str], workflow_404: Path
) -> None:
    result = flov7(
        "run",
        str(workflow_404),
        "--worker",
        "always",
        env=run_env(external, TEMPORAL_DEBUG="true", FLOV7_LOG_FORMAT="text"),
    )
    assert result.returncode == 1
    assert " DEBUG " in result.stderr
    assert "Completing activity as failed" in result.stderr
    assert "Traceback" in result.stderr


def _record(message: str, error: BaseException | None) -> logging.LogRecord:
    exc_info = (type(error), error, None) if error is not None else None
    return logging.LogRecord("temporalio.activity", logging.WARNING, "", 0, message, (), exc_info)


def test_the_filter_drops_only_the_sdk_record_of_an_application_error() -> None:
    keep = ExpectedActivityFailureFilter()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    try:
        assert not keep.filter(_record("Completing activity as failed", ApplicationError("x")))
        assert keep.filter(_record("Completing activity as failed", RuntimeError("bug")))
        assert keep.filter(_record("Something else", ApplicationError("x")))
        root.setLevel(logging.DEBUG)
        assert keep.filter(_record("Completing activity as failed", ApplicationError("x")))
    finally:
        root.setLevel(level)
