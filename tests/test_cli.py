"""The ``flov7`` command, run as a user would: a subprocess with an environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from flov7.temporal.devserver import EmbeddedDevServer, free_ports

from support.cases import WORKFLOWS

FLOV7 = [sys.executable, "-m", "flov7.cli"]


def flov7(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    return subprocess.run(
        [*FLOV7, *args],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def external(temporal_server: EmbeddedDevServer, tmp_path: Path) -> dict[str, str]:
    """Settings pointing at the session's server, on a task queue of this test's own."""
    return {
        "TEMPORAL_HOST": temporal_server.target,
        "TEMPORAL_TASK_QUEUE": f"cli-{uuid.uuid4().hex[:8]}",
        "FLOV7_DATA_DIR": str(tmp_path / "data"),
    }


def test_help_lists_the_commands() -> None:
    out = flov7("--help").stdout
    for command in ("run", "rerun", "validate", "worker", "dev-server"):
        assert command in out


def test_validate_valid_and_invalid(tmp_path: Path) -> None:
    ok = flov7("validate", str(WORKFLOWS / "branching.json"))
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout

    bad = flov7("validate", str(WORKFLOWS / "invalid" / "cycle.json"))
    assert bad.returncode == 1
    assert "Cycle between nodes: b -> c -> b" in bad.stdout

    as_json = flov7("validate", "--json", str(WORKFLOWS / "invalid" / "bad_config.json"))
    report = json.loads(as_json.stdout)
    assert report["valid"] is False
    assert {i["field"] for i in report["issues"]} >= {"data.url", "data.method"}


def test_unreadable_or_malformed_files_are_usage_errors(tmp_path: Path) -> None:
    missing = flov7("validate", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"nodes": [')
    result = flov7("run", str(broken))
    assert result.returncode == 2 and "not valid JSON" in result.stderr


def test_run_prints_progress_and_result(external: dict[str, str]) -> None:
    result = flov7(
        "run",
        str(WORKFLOWS / "branching.json"),
        "--input",
        '{"amount": 5}',
        "--worker",
        "always",
        env=external,
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["status"] == "completed"
    assert document["node_results"]["done"]["output"] == {"note": "auto small"}
    assert "small_note (transform) completed" in result.stderr
    assert "big (transform) skipped" in result.stderr


def test_failed_run_exits_1_with_the_node_error(external: dict[str, str]) -> None:
    result = flov7("run", str(WORKFLOWS / "on_error_fail.json"), "--worker", "always", env=external)
    assert result.returncode == 1
    assert "node 'divide'" in result.stderr and "division by zero" in result.stderr
    assert json.loads(result.stdout)["status"] == "failed"


def test_invalid_document_is_not_started(external: dict[str, str]) -> None:
    result = flov7("run", str(WORKFLOWS / "invalid" / "unknown_type.json"), env=external)
    assert result.returncode == 1
    assert "not started" in result.stderr and "send_fax" in result.stderr


def test_bad_input_json_is_a_usage_error(external: dict[str, str]) -> None:
    result = flov7("run", str(WORKFLOWS / "linear.json"), "--input", "[1]", env=external)
    assert result.returncode == 2 and "--input must be a JSON object" in result.stderr


def test_unreachable_server_says_check_temporal_host() -> None:
    port = free_ports(1)[0]
    result = flov7(
        "run", str(WORKFLOWS / "linear.json"), env={"TEMPORAL_HOST": f"127.0.0.1:{port}"}
    )
    assert result.returncode == 3
    assert f"Failed to connect to Temporal server at 127.0.0.1:{port}" in result.stderr
    assert "TEMPORAL_HOST" in result.stderr


def test_no_worker_on_the_queue_is_reported_not_waited_on(external: dict[str, str]) -> None:
    result = flov7("run", str(WORKFLOWS / "linear.json"), "--worker", "never", env=external)
    assert result.returncode == 3
    assert "No worker is polling task queue" in result.stderr
    assert "flov7 worker" in result.stderr


def test_bad_setting_is_reported_by_name() -> None:
    result = flov7(
        "run", str(WORKFLOWS / "linear.json"), env={"TEMPORAL_NODE_TIMEOUT_MINUTES": "-1"}
    )
    assert result.returncode == 2
    assert "TEMPORAL_NODE_TIMEOUT_MINUTES must be greater than 0" in result.stderr


def test_validate_goes_on_when_an_unrelated_setting_is_malformed() -> None:
    """Validation reads no setting: it warns about the bad one and still validates."""
    result = flov7(
        "validate", str(WORKFLOWS / "linear.json"), env={"TEMPORAL_NODE_TIMEOUT_MINUTES": "-1"}
    )
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert "warning: " in result.stderr
    assert "TEMPORAL_NODE_TIMEOUT_MINUTES must be greater than 0" in result.stderr


def test_embedded_defaults_start_and_stop_their_own_server(tmp_path: Path) -> None:
    """No TEMPORAL_HOST: the run gets an embedded server and worker, stopped afterwards."""
    port, ui_port = free_ports(2)
    data = tmp_path / "data"
    result = flov7(
        "run",
        str(WORKFLOWS / "diamond.json"),
        env={
            "FLOV7_DEVSERVER_PORT": str(port),
            "FLOV7_DEVSERVER_UI_PORT": str(ui_port),
            "FLOV7_DATA_DIR": str(data),
        },
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["node_results"]["join"]["output"]["sum"] == 24
    assert (data / "temporal.db").exists()
    leftovers = subprocess.run(
        ["pgrep", "-f", str(data / "temporal.db")], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == "", "the embedded server outlived flov7 run"


def test_dev_server_and_worker_commands_run_until_signalled(tmp_path: Path) -> None:
    """`flov7 dev-server` serves; `flov7 worker` polls it; SIGTERM stops both cleanly."""
    import signal
    import time

    port, ui_port = free_ports(2)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    env = {
        **base,
        "FLOV7_DEVSERVER_PORT": str(port),
        "FLOV7_DEVSERVER_UI_PORT": str(ui_port),
        "FLOV7_DATA_DIR": str(tmp_path / "data"),
    }
    server = subprocess.Popen([*FLOV7, "dev-server"], env=env, stderr=subprocess.PIPE, text=True)
    worker = None
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        for _ in range(100):
            if "Temporal dev server on" in line:
                break
            line = server.stderr.readline()
        assert f"127.0.0.1:{port}" in line
        worker = subprocess.Popen([*FLOV7, "worker"], env=env, stderr=subprocess.PIPE, text=True)
        assert worker.stderr is not None
        banner = worker.stderr.readline()
        for _ in range(100):
            if "flov7 worker: polling" in banner:
                break
            banner = worker.stderr.readline()
        assert "flov7-workflow-task-queue" in banner and f"127.0.0.1:{port}" in banner
        # A run on the shared server is picked up by that worker (no in-process worker).
        result = flov7(
            "run",
            str(WORKFLOWS / "linear.json"),
            "--worker",
            "never",
            env={k: v for k, v in env.items() if k not in base},
        )
        assert result.returncode == 0, result.stderr
        # It says so, naming that worker, and that this shell's settings do not apply there.
        assert f"run handed to {worker.pid}@" in result.stderr
        assert "FLOV7_OUTBOUND_ALLOWLIST" in result.stderr
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    assert code == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = subprocess.run(
            ["pgrep", "-f", str(tmp_path / "data")], capture_output=True, text=True, check=False
        )
        if not left.stdout.strip():
            break
        time.sleep(0.2)
    assert not left.stdout.strip(), "the Temporal server outlived flov7 dev-server"


def test_python_m_worker_module_runs_a_worker(external: dict[str, str]) -> None:
    """The guide's `python temporal-worker.py` is `python -m flov7.temporal.worker` here."""
    import signal

    base = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FLOV7_"))}
    worker = subprocess.Popen(
        [sys.executable, "-m", "flov7.temporal.worker"],
        env={**base, **external},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stderr is not None
        banner = worker.stderr.readline()
        for _ in range(100):
            if "flov7 worker: polling" in banner or not banner:
                break
            banner = worker.stderr.readline()
        assert external["TEMPORAL_TASK_QUEUE"] in banner
        # The run is picked up by that worker: none is started for it in-process.
        result = flov7("run", str(WORKFLOWS / "linear.json"), "--worker", "never", env=external)
        assert result.returncode == 0, result.stderr
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()


def test_a_reused_execution_id_follows_the_existing_run(external: dict[str, str]) -> None:
    execution_id = f"reused-{uuid.uuid4().hex[:8]}"
    args = (
        "run",
        str(WORKFLOWS / "linear.json"),
        "--worker",
        "always",
        "--execution-id",
        execution_id,
    )
    first = flov7(*args, env=external)
    assert first.returncode == 0, first.stderr
    again = flov7(*args, env=external)
    assert again.returncode == 0, again.stderr
    assert f"run {execution_id} already exists: following it" in again.stderr
    assert json.loads(again.stdout)["run_id"] == json.loads(first.stdout)["run_id"]


def test_absurdly_nested_documents_are_refused_before_anything_walks_them(tmp_path: Path) -> None:
    nested: Any = "x"
    for _ in range(300):
        nested = {"k": nested}
    path = tmp_path / "deep.json"
    path.write_text(
        json.dumps({"nodes": [{"id": "a", "type": "transform", "data": {"mapping": nested}}]})
    )
    result = flov7("validate", str(path))
    assert result.returncode == 1
    assert "deeper than 64 levels" in result.stdout
    assert "Traceback" not in result.stderr


async def test_cancel_command_terminates_and_cancels(
    temporal_client: Any, external: dict[str, str]
) -> None:
    """`flov7 cancel ID --terminate` ends a run that nothing would pick up; asking again
    says it is closed; an unknown id says so."""
    from temporalio.client import WorkflowExecutionStatus

    from flov7.config import TemporalSettings
    from flov7.temporal.executions import start_execution

    queue = external["TEMPORAL_TASK_QUEUE"]  # nobody polls it: the run stays pending
    document = json.loads((WORKFLOWS / "diamond.json").read_text())
    handle = await start_execution(temporal_client, document, TemporalSettings(task_queue=queue))
    ended = flov7("cancel", handle.id, "--terminate", "--reason", "stuck", env=external)
    assert ended.returncode == 0, ended.stderr
    assert f"run {handle.id} terminated" in ended.stderr
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    again = flov7("cancel", handle.id, env=external)
    assert again.returncode == 1
    assert "is closed (terminated): nothing to cancel" in again.stderr
    unknown = flov7("cancel", f"nope-{uuid.uuid4().hex[:8]}", env=external)
    assert unknown.returncode == 1 and "No execution" in unknown.stderr


async def test_a_local_run_is_recorded_like_an_api_run(tmp_path: Path) -> None:
    """ENABLE_TEMPORAL_FEATURES=false: `flov7 run` goes through the run service, so its
    run is in the store, where the local API lists it."""
    from flov7.store.database import Database
    from flov7.store.repository import Repository

    data = tmp_path / "data"
    execution_id = f"local-cli-{uuid.uuid4().hex[:8]}"
    result = flov7(
        "run",
        str(WORKFLOWS / "diamond.json"),
        "--execution-id",
        execution_id,
        env={"ENABLE_TEMPORAL_FEATURES": "false", "FLOV7_DATA_DIR": str(data)},
    )
    assert result.returncode == 0, result.stderr
    assert "started in-process" in result.stderr
    async with Database.open(f"sqlite+aiosqlite:///{data / 'flov7.db'}") as database:
        record = await Repository(database).get_execution(execution_id, with_outcome=True)
    assert record is not None
    assert (record.engine, record.status) == ("local", "completed")
    assert record.result is not None
    assert record.result["node_results"]["join"]["output"]["sum"] == 24


def test_api_key_list_and_revoke_say_what_no_keys_means(tmp_path: Path) -> None:
    env = {"FLOV7_DATA_DIR": str(tmp_path / "data")}
    empty = flov7("api-key", "list", env=env)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout == ""
    assert "No API keys in the store" in empty.stderr
    assert "loopback" in empty.stderr and "flov7 api-key create" in empty.stderr

    created = flov7("api-key", "create", "ci", env=env)
    assert created.returncode == 0, created.stderr
    listed = flov7("api-key", "list", env=env)
    assert "ci" in listed.stdout and "No API keys" not in listed.stderr
    key_id = listed.stdout.split()[0]

    first = flov7("api-key", "create", "ops", env=env)
    assert first.returncode == 0
    one_left = flov7("api-key", "revoke", key_id, env=env)
    assert one_left.returncode == 0
    assert "last stored API key" not in one_left.stderr  # 'ops' is still there

    ops_id = flov7("api-key", "list", env=env).stdout.split()[0]
    last = flov7("api-key", "revoke", ops_id, env=env)
    assert last.returncode == 0, last.stderr
    assert "That was the last stored API key" in last.stderr
    assert "until it restarts" in last.stderr


def test_summary_shows_every_end_node(tmp_path: Path) -> None:
    """Two parallel branches end the run: the summary shows both, not the last one only."""
    document = {
        "id": "two-ends",
        "nodes": [
            {"id": "start", "type": "transform", "data": {"mapping": {"n": "3"}}},
            {"id": "double", "type": "transform", "data": {"mapping": {"n": "inputs.n * 2"}}},
            {"id": "square", "type": "transform", "data": {"mapping": {"n": "inputs.n ** 2"}}},
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "double"},
            {"id": "e2", "source": "start", "target": "square"},
        ],
    }
    path = tmp_path / "two_ends.json"
    path.write_text(json.dumps(document))
    result = flov7(
        "run",
        str(path),
        "--output",
        "summary",
        "--quiet",
        env={"ENABLE_TEMPORAL_FEATURES": "false", "FLOV7_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed"
    assert summary["outputs"] == {"double": {"n": 6}, "square": {"n": 9}}


def test_run_shows_the_validation_warnings_before_running(tmp_path: Path) -> None:
    """The guide's `inputs.data` after a node without `data` runs, but says so first."""
    document = {
        "id": "warned",
        "nodes": [
            {"id": "price", "type": "transform", "data": {"mapping": {"amount": "3"}}},
            {"id": "shape", "type": "transform", "data": {"mapping": {"result": "inputs.data"}}},
        ],
        "edges": [{"id": "e1", "source": "price", "target": "shape"}],
    }
    path = tmp_path / "warned.json"
    path.write_text(json.dumps(document))
    env = {"ENABLE_TEMPORAL_FEATURES": "false", "FLOV7_DATA_DIR": str(tmp_path / "data")}
    result = flov7("run", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert "warning node 'shape' data.mapping.result: transform outputs have no 'data'" in (
        result.stderr
    )
    quiet = flov7("run", "--quiet", str(path), env=env)
    assert "warning" not in quiet.stderr


async def test_rerun_command_keeps_what_succeeded(tmp_path: Path) -> None:
    """`flov7 rerun` (local engine): the upstream node keeps its recorded output, the
    failed node runs again with the new input; refusals exit 1."""
    from flov7.api.runs import recorder
    from flov7.config import Flov7Settings, Settings, TemporalSettings
    from flov7.local.backend import LocalBackend
    from flov7.runs.service import RunService
    from flov7.store.database import Database
    from flov7.store.repository import Repository

    data = tmp_path / "data"
    document = {
        "id": "divide",
        "input": {"d": 0},
        "nodes": [
            {"id": "a", "type": "transform", "data": {"mapping": {"v": "12"}}},
            {"id": "b", "type": "transform", "data": {"mapping": {"q": "inputs.v // input.d"}}},
        ],
        "edges": [{"id": "e", "source": "a", "target": "b"}],
    }
    settings = Settings(
        temporal=TemporalSettings(_env_file=None),
        flov7=Flov7Settings(_env_file=None, data_dir=data, enable_temporal_features=False),
    )
    async with Database.open(f"sqlite+aiosqlite:///{data / 'flov7.db'}") as database:
        repository = Repository(database)
        await repository.create_workflow("divide", document)
        async with LocalBackend(settings, database=database) as backend:
            service = RunService(backend, on_started=recorder(repository))
            started = await service.start(document, workflow_id="divide", version=1)
            original = await service.follow(started.execution_id)
    assert original.status == "failed"

    env = {"ENABLE_TEMPORAL_FEATURES": "false", "FLOV7_DATA_DIR": str(data)}
    result = flov7("rerun", started.execution_id, "--input", '{"d": 4}', "--quiet", env=env)

    assert result.returncode == 0, result.stderr
    rerun = json.loads(result.stdout)
    assert rerun["status"] == "completed"
    assert rerun["rerun_of"] == started.execution_id
    assert rerun["node_results"]["a"]["reused_from"] == started.execution_id
    assert rerun["node_results"]["b"]["output"] == {"q": 3}
    unknown_node = flov7("rerun", started.execution_id, "--from", "nope", env=env)
    assert unknown_node.returncode == 1
    assert "'nope' is not a node" in unknown_node.stderr
