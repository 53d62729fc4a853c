"""Connecting to Temporal: :func:`get_temporal_client` and a worker-presence check.

As in the integration guide::

    client = await get_temporal_client()
    handle = await client.start_workflow(WorkflowExecution.run, document, id=..., task_queue=...)

The address is ``TEMPORAL_HOST`` or, when that is unset, the embedded dev server that
``flov7 worker`` / ``serve`` / ``dev-server`` runs on ``127.0.0.1:FLOV7_DEVSERVER_PORT``.
TLS and the API key apply to an external ``TEMPORAL_HOST`` only: the embedded server
speaks plain gRPC on the loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import weakref
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import TLSConfig

from flov7.config import TemporalSettings, get_settings
from flov7.errors import ConfigError, NoWorkerError, TemporalConnectionError
from flov7.temporal.codec import data_converter
from flov7.temporal.tracing import tracing_interceptors

__all__ = [
    "clear_client_cache",
    "ensure_task_queue_has_pollers",
    "get_temporal_client",
    "is_live",
    "live_pollers",
    "resolve_target",
    "task_queue_pollers",
]

# One client per (target, namespace, encryption keys) per event loop. A Temporal client
# multiplexes any number of concurrent calls over one gRPC connection, so sharing it is
# the intended use; per loop because tests (and the odd ``asyncio.run`` in a CLI) use
# several loops, and a client's pending calls belong to the loop that made them. Values
# are connect tasks, so that concurrent first callers share one connection attempt.
_ClientKey = tuple[str, str, str]
_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[_ClientKey, asyncio.Task[Client]]
] = weakref.WeakKeyDictionary()


def resolve_target(settings: TemporalSettings | None = None) -> str:
    """The address Flov7 connects to: ``TEMPORAL_HOST``, else the embedded server's."""
    settings = settings or get_settings().temporal
    if settings.host is not None:
        return settings.host
    return f"127.0.0.1:{get_settings().flov7.devserver_port}"


async def get_temporal_client(
    settings: TemporalSettings | None = None, *, target: str | None = None
) -> Client:
    """A connected Temporal client, shared per (target, namespace) within the event loop.

    The first call for a (target, namespace) decides its TLS / API key / timeout; later
    calls with other settings for the same pair get that client (see
    :func:`clear_client_cache`). A failed connection is not cached.

    Args:
        settings: Defaults to the process settings (``TEMPORAL_*`` from env / ``.env``).
        target: ``host:port`` overriding :func:`resolve_target`, e.g. an
            :class:`~flov7.temporal.devserver.EmbeddedDevServer`'s ``target``.

    Raises:
        TemporalConnectionError: the server cannot be reached (the message says where).
        ConfigError: a TLS file cannot be read.
    """
    settings = settings or get_settings().temporal
    address = target or resolve_target(settings)
    key = (address, settings.namespace, _codec_identity(settings))
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    task = per_loop.get(key)
    if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
        task = loop.create_task(_connect(settings, address))
        per_loop[key] = task
    try:
        # shield: one caller being cancelled must not cancel the attempt others await.
        return await asyncio.shield(task)
    except TemporalConnectionError:
        # Don't cache failures: the next call tries again (the server may be up by then).
        if per_loop.get(key) is task:
            del per_loop[key]
        raise


def _codec_identity(settings: TemporalSettings) -> str:
    """Tells clients of different encryption keys apart (a digest, not the keys)."""
    if settings.encryption_keys is None:
        return ""
    secret = settings.encryption_keys.get_secret_value().encode()
    return hashlib.sha256(secret).hexdigest()[:16]


def clear_client_cache() -> None:
    """Forget every cached client (tests; after changing settings)."""
    _clients.clear()


async def _connect(settings: TemporalSettings, address: str) -> Client:
    external = settings.host is not None
    tls: bool | TLSConfig = False
    api_key: str | None = None
    if external:
        tls = _tls_config(settings)
        api_key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    try:
        return await Client.connect(
            address,
            namespace=settings.namespace,
            api_key=api_key,
            tls=tls,
            connect_timeout=settings.connect_timeout,
            # FLOV7_ENCRYPTION_KEYS: payloads leave this process encrypted (codec.py).
            data_converter=data_converter(settings),
            interceptors=tracing_interceptors(),
        )
    except Exception as exc:  # the bridge raises a bare RuntimeError
        raise TemporalConnectionError(
            f"Failed to connect to Temporal server at {address} "
            f"(namespace {settings.namespace}): {exc}. "
            f"Check TEMPORAL_HOST and that the server is running."
        ) from exc


def _tls_config(settings: TemporalSettings) -> bool | TLSConfig:
    if not settings.uses_tls:
        return False
    if settings.tls_cert_path is None and settings.tls_ca_path is None:
        return True  # system roots, no client certificate (API key or plain TLS)

    def read(path: Path | None, variable: str) -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{variable}: cannot read '{path}': {exc}") from exc

    return TLSConfig(
        server_root_ca_cert=read(settings.tls_ca_path, "TEMPORAL_TLS_CA_PATH"),
        client_cert=read(settings.tls_cert_path, "TEMPORAL_TLS_CERT_PATH"),
        client_private_key=read(settings.tls_key_path, "TEMPORAL_TLS_KEY_PATH"),
    )


async def task_queue_pollers(client: Client, task_queue: str) -> list[PollerInfo]:
    """Workers that recently polled ``task_queue`` for workflow tasks.

    The server remembers a poller for a few minutes after its last poll, so a worker
    stopped moments ago still counts; a live one is listed within a second of starting.
    """
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=10),
    )
    return list(response.pollers)


def is_live(poller: PollerInfo, window_seconds: float, *, now: datetime | None = None) -> bool:
    """Whether ``poller`` polled within the last ``window_seconds``.

    Temporal keeps listing a poller for minutes after its process exited; only a recent
    last access says that a worker is there now.
    """
    if not poller.HasField("last_access_time"):
        return False
    seen = poller.last_access_time.ToDatetime(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - seen).total_seconds() <= window_seconds


async def live_pollers(client: Client, task_queue: str, window_seconds: float) -> list[PollerInfo]:
    """The pollers of ``task_queue`` seen within ``window_seconds``."""
    now = datetime.now(UTC)
    pollers = await task_queue_pollers(client, task_queue)
    return [poller for poller in pollers if is_live(poller, window_seconds, now=now)]


async def ensure_task_queue_has_pollers(
    client: Client, task_queue: str, *, wait_seconds: float = 5.0
) -> None:
    """Raise :class:`NoWorkerError` unless a worker polls ``task_queue``.

    A run started with no worker just sits there; this turns that into an error the
    user can act on. Waits up to ``wait_seconds`` for a worker that is still starting
    (``0`` checks once).
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        if await task_queue_pollers(client, task_queue):
            return
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
    host = client.service_client.config.target_host
    raise NoWorkerError(
        f"No worker is polling task queue '{task_queue}' on {host}: "
        f"start one with `flov7 worker`, or set START_TEMPORAL_WORKER=true"
    )
