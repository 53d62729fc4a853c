"""``flov7 serve`` end to end, as a subprocess; binding refusal; the key and search
attribute commands.

The serve test starts the real thing (embedded Temporal dev server on free ports, a
worker, the API), runs a workflow through HTTP, stops it with SIGTERM and checks that
it exits 0 leaving no Temporal process behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flov7.api.server import BindingRefusedError, check_binding
from flov7.temporal.devserver import EmbeddedDevServer, free_ports

_FLOV7_VARIABLES = ("TEMPORAL_", "FLOV7_", "START_TEMPORAL_WORKER", "ENABLE_TEMPORAL_FEATURES")


def cli_env(data_dir: Path, **variables: str) -> dict[str, str]:
    """The environment of a flov7 subprocess: none of the shell's Flov7 variables."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_FLOV7_VARIABLES)}
    env["FLOV7_DATA_DIR"] = str(data_dir)
    env.update(variables)
    return env


def flov7(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flov7.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line mentions ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def wait_until(condition: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {within} s")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path, Path]]:
    """``flov7 serve`` running on free ports; yields (process, base URL, data dir, log)."""
    api_port, grpc_port, ui_port = free_ports(3)
    data_dir = tmp_path / "data"
    log = tmp_path / "serve.log"
    env = cli_env(
        data_dir,
        FLOV7_API_PORT=str(api_port),
        FLOV7_DEVSERVER_PORT=str(grpc_port),
        FLOV7_DEVSERVER_UI_PORT=str(ui_port),
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "flov7.cli", "serve"],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, f"http://127.0.0.1:{api_port}", data_dir, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def base_grpc_port(log: Path) -> int:
    """The embedded server's port, from the serve banner (``Temporal: embedded dev
    server 127.0.0.1:PORT``)."""
    for line in log.read_text().splitlines():
        if "embedded dev server 127.0.0.1:" in line:
            return int(line.split("127.0.0.1:", 1)[1].split(",")[0].split()[0])
    raise AssertionError(f"no embedded server in the banner:\n{log.read_text()}")


def test_serve_end_to_end(served: tuple[subprocess.Popen[bytes], str, Path, Path]) -> None:
    process, base, data_dir, log = served

    def healthy() -> bool:
        assert process.poll() is None, f"flov7 serve exited:\n{log.read_text()}"
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, 90, "flov7 serve answering /health")
    with httpx.Client(base_url=base, timeout=90) as client:
        temporal = client.get("/health/temporal")
        assert temporal.status_code == 200, temporal.text
        assert temporal.json()["embedded_server"] is True
        assert temporal.json()["worker_running"] is True
        document = {
            "id": "serve-e2e",
            "nodes": [
                {"id": "pause", "type": "delay", "data": {"delay_seconds": 0}},
                {"id": "double", "type": "transform", "data": {"mapping": {"x": "input.n * 2"}}},
            ],
            "edges": [{"id": "e", "source": "pause", "target": "double"}],
        }
        response = client.post(
            "/api/v1/workflow/execute",
            params={"wait": "true", "timeout": "60"},
            json={"workflow_data": document, "input": {"n": 21}},
        )
        assert response.status_code == 200, response.text
        assert response.json()["result"]["node_results"]["double"]["output"] == {"x": 42}
        listed = client.get("/api/v1/workflow/executions", params={"workflow_id": "serve-e2e"})
        assert listed.status_code == 200
        # An expected node failure (the SSRF guard refuses loopback: no allow-list here)
        # is one line of the server log, without a traceback (checked below).
        blocked = {
            "id": "serve-blocked",
            "nodes": [
                {"id": "blocked", "type": "api_call", "data": {"url": "http://127.0.0.1:9/"}}
            ],
        }
        failed = client.post(
            "/api/v1/workflow/execute",
            params={"wait": "true", "timeout": "60"},
            json={"workflow_data": blocked},
        )
        assert failed.json()["status"] == "failed", failed.text
        home = client.get("/", headers={"Accept": "application/json"}).json()
        assert home["docs"] == "/docs" and home["temporal_ui"].startswith("http://127.0.0.1:")
        assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
        # The web UI is the root page of the same server (tests/ui drive it in a browser).
        page = client.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 200 and 'src="/ui/static/js/app.js"' in page.text
    servers = processes_mentioning(str(data_dir / "temporal.db"))
    assert servers, "the embedded Temporal server should be running"
    # A second service of another data directory must not join this one's server.
    (other_api,) = free_ports(1)
    second = flov7(
        "serve",
        env=cli_env(
            data_dir.parent / "other-data",
            FLOV7_API_PORT=str(other_api),
            FLOV7_DEVSERVER_PORT=str(base_grpc_port(log)),
        ),
        cwd=data_dir.parent,
        timeout=90,
    )
    assert second.returncode == 2, second.stderr
    assert f"belongs to the data directory {data_dir}" in second.stderr
    assert "FLOV7_DATA_DIR" in second.stderr

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()
    wait_until(
        lambda: not processes_mentioning(str(data_dir / "temporal.db")),
        15,
        "the embedded Temporal server stopping",
    )
    output = log.read_text()
    assert "flov7 serve: API on http://127.0.0.1:" in output
    assert "Flov7 web UI: http://127.0.0.1:" in output
    assert f"data directory: {data_dir}" in output
    assert "serving this machine's clients only" in output
    assert "Traceback" not in output
    assert "Completing activity as failed" not in output
    failures = [line for line in output.splitlines() if "attempt 1 failed" in line]
    assert len(failures) == 1, output
    assert "execution serve-blocked" in failures[0] and "node 'blocked'" in failures[0]
    assert (data_dir / "flov7.db").is_file()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_serve_refuses_a_public_address_without_keys(tmp_path: Path, how: str) -> None:
    env = cli_env(tmp_path / "data")
    args = ["serve"]
    if how == "flag":
        args += ["--host", "0.0.0.0"]
    else:
        env["FLOV7_API_HOST"] = "0.0.0.0"
    result = flov7(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Refusing to listen on 0.0.0.0 without API keys" in result.stderr
    assert "--insecure-no-auth" in result.stderr
    # Refused before anything started: no Temporal server was launched.
    assert not (tmp_path / "data" / "temporal.db").exists()


def test_serve_reports_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = flov7(
            "serve", env=cli_env(tmp_path / "data", FLOV7_API_PORT=str(port)), cwd=tmp_path
        )
    assert result.returncode == 2
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "FLOV7_API_PORT" in result.stderr


@pytest.mark.parametrize(
    ("host", "keys", "allow"),
    [
        ("127.0.0.1", False, False),
        ("::1", False, False),
        ("localhost", False, False),
        ("0.0.0.0", True, False),
        ("0.0.0.0", False, True),
    ],
)
def test_binding_allowed(host: str, keys: bool, allow: bool) -> None:
    check_binding(host, keys_configured=keys, allow_unauthenticated=allow)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.10.10", "flov7.example.com"])
def test_binding_refused(host: str) -> None:
    with pytest.raises(BindingRefusedError, match="without API keys"):
        check_binding(host, keys_configured=False, allow_unauthenticated=False)


def test_api_key_commands(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data")
    created = flov7("api-key", "create", "ci", env=env, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("flov7_")
    assert "shown only once" in created.stderr
    key_id = key.split("_")[1]
    listed = flov7("api-key", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0
    assert key_id in listed.stdout and "ci" in listed.stdout
    assert key not in listed.stdout
    database = (tmp_path / "data" / "flov7.db").read_bytes()
    assert key.encode() not in database
    revoked = flov7("api-key", "revoke", key_id, env=env, cwd=tmp_path)
    assert revoked.returncode == 0
    again = flov7("api-key", "revoke", key_id, env=env, cwd=tmp_path)
    assert again.returncode == 1
    assert "no API key" in again.stderr


def test_setup_search_attributes_command(
    temporal_server: EmbeddedDevServer, tmp_path: Path
) -> None:
    env = cli_env(tmp_path / "data", TEMPORAL_HOST=temporal_server.target)
    for _ in range(2):  # idempotent
        result = flov7("setup-search-attributes", env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Flov7WorkflowId" in result.stdout
        assert "Flov7Status" in result.stdout
    assert "Already registered" in result.stdout


def test_setup_search_attributes_without_a_server(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    env = cli_env(
        tmp_path / "data",
        TEMPORAL_HOST=f"127.0.0.1:{port}",
        TEMPORAL_CONNECT_TIMEOUT_SECONDS="2",
    )
    result = flov7("setup-search-attributes", env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert f"127.0.0.1:{port}" in result.stderr


def test_serve_logs_json_lines_with_request_ids_and_serves_metrics(
    served: tuple[subprocess.Popen[bytes], str, Path, Path],
) -> None:
    """Off a terminal, `flov7 serve` logs JSON; each request once, without its query
    string (a key sent there must not be logged); /metrics answers."""
    process, base, _, log = served

    def healthy() -> bool:
        assert process.poll() is None, f"flov7 serve exited:\n{log.read_text()}"
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, 90, "flov7 serve answering /health")
    wrong_key = "query-string-key-9d0c4e"
    with httpx.Client(base_url=base, timeout=30) as client:
        probe = client.get(
            "/health", params={"api_key": wrong_key}, headers={"X-Request-ID": "probe-1"}
        )
        assert probe.headers["X-Request-ID"] == "probe-1"
        metrics = client.get("/metrics")
        assert metrics.status_code == 200
        assert 'flov7_http_requests_total{method="GET",route="/health",status="200"}' in (
            metrics.text
        )
    process.terminate()
    process.wait(timeout=60)
    text = log.read_text()
    assert wrong_key not in text
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    probes = [e for e in entries if e.get("request_id") == "probe-1"]
    assert [(e["event"], e["route"], e["status"]) for e in probes] == [
        ("http_request", "/health", 200)
    ]
