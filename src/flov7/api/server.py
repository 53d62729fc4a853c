"""``flov7 serve``: the REST API, a worker, and the embedded Temporal server, in one process.

Start order: the store (migrated), the binding check, the listening socket (so that a
port in use fails before anything else starts), Temporal (the embedded dev server when
``TEMPORAL_HOST`` is unset, a worker when ``START_TEMPORAL_WORKER=true``), then uvicorn.
SIGTERM / Ctrl-C stop it in reverse: requests drain (5 s at most), the worker stops
(in-flight activities get 10 s), the embedded server stops last.

Without API keys the API only listens on the loopback: :func:`check_binding` refuses
any other address unless ``--insecure-no-auth`` / ``FLOV7_ALLOW_UNAUTHENTICATED=true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import socket
import sys
from collections.abc import Iterator
from typing import TextIO

import uvicorn

from flov7.api.auth import is_loopback
from flov7.api.edge import uvicorn_limits
from flov7.config import Settings
from flov7.errors import ConfigError
from flov7.runs.contract import ExecutionBackend
from flov7.store.database import Database, redacted_url
from flov7.store.repository import Repository

__all__ = ["BindingRefusedError", "bind_socket", "check_binding", "serve"]

_DRAIN_SECONDS = 5


class BindingRefusedError(ConfigError):
    """A non-loopback address without API keys: the API would be open to the network."""


def check_binding(host: str, *, keys_configured: bool, allow_unauthenticated: bool) -> None:
    """Refuse to listen beyond the loopback without API keys, unless told explicitly."""
    if keys_configured or allow_unauthenticated or is_loopback(host):
        return
    raise BindingRefusedError(
        f"Refusing to listen on {host} without API keys: anyone who can reach it could "
        "run workflows. Set FLOV7_API_KEYS or create a key with `flov7 api-key create "
        "NAME`; or listen on 127.0.0.1 (FLOV7_API_HOST); or, knowingly, pass "
        "--insecure-no-auth (FLOV7_ALLOW_UNAUTHENTICATED=true)."
    )


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (uvicorn listens on it)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(f"FLOV7_API_HOST: cannot resolve {host!r}: {exc.strerror}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Pick another port with "
            "FLOV7_API_PORT (or --port), or stop what uses it."
        ) from exc
    return sock


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling.

    uvicorn re-raises a caught SIGTERM once it has stopped, which would kill this
    process before the worker and the embedded Temporal server are stopped in order
    (and exit with a signal instead of 0). Here a signal only asks uvicorn to stop;
    the rest of :func:`serve` then shuts down the rest.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()

        def stop(sig: signal.Signals) -> None:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True  # a second Ctrl-C: don't wait for connections
            self.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


async def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    insecure_no_auth: bool = False,
    out: TextIO = sys.stderr,
) -> int:
    """Run the service until SIGTERM / Ctrl-C; return the exit code (0).

    Raises :class:`BindingRefusedError` / :class:`~flov7.errors.ConfigError` before
    starting anything when the address cannot or must not be used, and
    :class:`~flov7.errors.TemporalConnectionError` when Temporal cannot be reached.
    """
    from flov7.api.app import create_app
    from flov7.backends import open_backend

    if settings.flov7.enable_temporal_features:
        from flov7.temporal.telemetry import install_sdk_metrics

        install_sdk_metrics(settings.flov7)  # before the first Temporal client

    host = host or settings.flov7.api_host
    port = port or settings.flov7.api_port
    if insecure_no_auth and not settings.flov7.allow_unauthenticated:
        settings = dataclasses.replace(
            settings, flov7=settings.flov7.model_copy(update={"allow_unauthenticated": True})
        )
    url = settings.flov7.resolved_database_url
    async with Database.open(url) as database:
        env_keys = bool(settings.flov7.api_key_list)
        keys_configured = env_keys or await Repository(database).has_api_keys()
        check_binding(
            host,
            keys_configured=keys_configured,
            allow_unauthenticated=settings.flov7.allow_unauthenticated,
        )
        sock = bind_socket(host, port)
        try:
            async with open_backend(settings, database=database) as backend:
                app = create_app(settings, backend=backend, database=database)
                config = uvicorn.Config(
                    app,
                    log_config=None,  # keep flov7's logging setup
                    # Flov7 logs each request itself (api/telemetry.py), without the
                    # query string; uvicorn's access line would print it, keys and all.
                    access_log=False,
                    timeout_graceful_shutdown=_DRAIN_SECONDS,
                    lifespan="on",
                    server_header=False,
                    **uvicorn_limits(),  # bounded request line and headers (api/edge.py)
                )
                _banner(out, settings, backend, host, port, url, keys_configured)
                await _Server(config).serve(sockets=[sock])
                print("flov7 serve: stopping...", file=out)
        finally:
            sock.close()
    return 0


def _banner(
    out: TextIO,
    settings: Settings,
    backend: ExecutionBackend,
    host: str,
    port: int,
    url: str,
    keys_configured: bool,
) -> None:
    shown_host = f"[{host}]" if ":" in host else host
    lines = [f"flov7 serve: API on http://{shown_host}:{port} (OpenAPI docs at /docs)"]
    lines.append(f"  Flov7 web UI: http://{shown_host}:{port}/")
    info = backend.describe()
    if info.engine == "temporal":
        where = f"embedded dev server {info.target}" if info.embedded_server else info.target
        lines.append(f"  Temporal: {where}" + (f", Web UI {info.ui_url}" if info.ui_url else ""))
        worker = "running in this process" if info.worker_running else "not in this process"
        lines.append(f"  worker: {worker} (task queue '{settings.temporal.task_queue}')")
    else:
        lines.append("  engine: local (ENABLE_TEMPORAL_FEATURES=false): runs are in-process")
    lines.append(f"  data directory: {settings.flov7.data_dir}")
    lines.append(f"  store: {redacted_url(url)}")
    if keys_configured:
        lines.append("  auth: API keys required (Authorization: Bearer <key> or X-API-Key)")
    elif settings.flov7.allow_unauthenticated:
        lines.append("  auth: NONE, and open to every client (--insecure-no-auth)")
    else:
        lines.append("  auth: none (no API keys): serving this machine's clients only")
    lines.append("  Ctrl-C to stop.")
    print("\n".join(lines), file=out, flush=True)
