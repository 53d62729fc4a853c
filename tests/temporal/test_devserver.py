"""The embedded dev server: start, stop, persistence, port clashes, no orphans.

These tests start their own servers (not the session one) since they stop and kill them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from flov7.config import load_settings
from flov7.temporal.devserver import (
    DevServerError,
    EmbeddedDevServer,
    find_temporal_binary,
    free_port,
    free_ports,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups and signals")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (dead, waiting to be reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    # Format: "pid (comm) state ..."; comm may contain spaces, so split after ')'.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def _wait_gone(pid: int, deadline_seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        await asyncio.sleep(0.1)
    return not _alive(pid)


def _server(
    data_dir: Path, *, namespace: str = "default", log_level: str = "warn"
) -> EmbeddedDevServer:
    """A headless server on fresh ports."""
    port, ui_port = free_ports(2)
    return EmbeddedDevServer(
        data_dir, port=port, ui_port=ui_port, ui=False, namespace=namespace, log_level=log_level
    )


def test_binary_is_found_in_the_interpreter_scripts_dir() -> None:
    binary = find_temporal_binary()
    assert binary.name == "temporal"
    assert os.access(binary, os.X_OK)


def test_command_line(tmp_path: Path) -> None:
    server = EmbeddedDevServer(
        tmp_path,
        port=1234,
        ui_port=2345,
        namespace="flov7",
        search_attributes=[("Flov7WorkflowId", "Keyword")],
    )
    cmd = server.command(Path("/bin/temporal"))
    assert cmd[:3] == ["/bin/temporal", "server", "start-dev"]
    joined = " ".join(cmd)
    assert "--ip 127.0.0.1 --port 1234" in joined
    assert "--ui-port 2345" in joined and "--headless" not in joined
    assert f"--db-filename {tmp_path.resolve() / 'temporal.db'}" in joined
    assert "--namespace flov7" in joined
    assert "--search-attribute Flov7WorkflowId=Keyword" in joined
    assert "--dynamic-config-value history.transferProcessorMaxPollRPS=10000" in joined
    assert server.target == "127.0.0.1:1234"
    assert server.ui_url == "http://127.0.0.1:2345"

    headless = EmbeddedDevServer(tmp_path, ui=False, in_memory=True)
    assert "--headless" in headless.command()
    assert "--db-filename" not in headless.command()
    assert headless.ui_url is None

    with pytest.raises(ValueError, match="Bad search attribute"):
        EmbeddedDevServer(tmp_path, search_attributes=[("x", "Keywords")])


def test_from_settings(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    tmp_path = clean_env
    monkeypatch.setenv("FLOV7_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLOV7_DEVSERVER_PORT", "17001")
    monkeypatch.setenv("FLOV7_DEVSERVER_UI", "false")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "ns")
    server = EmbeddedDevServer.from_settings(load_settings())
    assert server.data_dir == tmp_path / "data"
    assert (server.target, server.ui, server.namespace) == ("127.0.0.1:17001", False, "ns")


async def test_start_connect_stop(tmp_path: Path) -> None:
    server = _server(tmp_path / "data")
    async with server:
        assert server.running
        pid = server.pid
        assert pid is not None
        client = await Client.connect(server.target)
        assert await client.service_client.check_health()
        assert server.db_path is not None and server.db_path.is_file()
    assert not server.running
    assert not _alive(pid)
    log = (tmp_path / "data" / "temporal-server.log").read_text()
    assert "--- flov7" in log and "start-dev" in log
    await server.stop()  # idempotent


async def test_custom_namespace_is_created(tmp_path: Path) -> None:
    async with _server(tmp_path, namespace="flov7-test") as server:
        client = await Client.connect(server.target, namespace="flov7-test")
        # A namespace that does not exist would fail this call.
        await client.count_workflows()


async def test_runs_survive_a_restart(tmp_path: Path) -> None:
    workflow_id = f"persist-{uuid.uuid4()}"
    async with _server(tmp_path) as server:
        client = await Client.connect(server.target)
        # Nobody polls "nobody": the run just stays open, which is all we need.
        await client.start_workflow("SomeWorkflowName", id=workflow_id, task_queue="nobody")

    # Same data directory, new ports: the state is in temporal.db, not tied to the port.
    async with _server(tmp_path) as server:
        client = await Client.connect(server.target)
        description = await client.get_workflow_handle(workflow_id).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        assert description.workflow_type == "SomeWorkflowName"


async def test_port_in_use_is_reported_before_starting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = EmbeddedDevServer(tmp_path, port=port, ui=False)
        with pytest.raises(DevServerError) as info:
            await server.start()
    assert str(info.value) == (
        f"port {port} is in use: another Temporal server? set TEMPORAL_HOST=127.0.0.1:{port} "
        f"to use it, or FLOV7_DEVSERVER_PORT to pick another port"
    )
    assert server.pid is None


async def test_ui_port_in_use_is_reported(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ui_port = busy.getsockname()[1]
        server = EmbeddedDevServer(tmp_path, port=free_port(), ui_port=ui_port, ui=True)
        with pytest.raises(DevServerError, match=f"port {ui_port} \\(Temporal Web UI\\) is in use"):
            await server.start()


async def test_early_exit_reports_the_end_of_the_log(tmp_path: Path) -> None:
    server = _server(tmp_path, log_level="not-a-level")
    with pytest.raises(DevServerError) as info:
        await server.start()
    message = str(info.value)
    assert "exited with code" in message
    assert "Last lines of" in message and "not-a-level" in message
    assert not server.running


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from flov7.temporal.devserver import EmbeddedDevServer

    async def main() -> None:
        server = EmbeddedDevServer(Path(sys.argv[1]), port=int(sys.argv[2]), ui=False)
        await server.start()
        print(server.pid, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        str(tmp_path),
        str(free_port()),
        stdout=asyncio.subprocess.PIPE,
    )
    server_pid: int | None = None
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        assert line.strip().isdigit(), f"child said {line!r}"
        server_pid = int(line)
        assert _alive(server_pid)

        child.kill()  # SIGKILL: no cleanup code can run in the child
        await child.wait()

        assert await _wait_gone(server_pid), "the dev server outlived its killed parent"
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        if server_pid is not None and _alive(server_pid):
            os.killpg(server_pid, signal.SIGKILL)
