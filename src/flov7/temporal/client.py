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
    "tls_hint",
]

# One client per (target, namespace, connection settings) per event loop. A Temporal client
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

    Clients are told apart by target, namespace, TLS files, server name, API key and
    encryption keys (the first call decides the connect timeout; see
    :func:`clear_client_cache`). A failed connection is not cached; its error says
    which ``TEMPORAL_*`` setting to change when TLS is the problem (:func:`tls_hint`).

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
    key = (address, settings.namespace, _connection_identity(settings))
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


def _connection_identity(settings: TemporalSettings) -> str:
    """Tells clients of different TLS, API key, encryption or payload store settings
    apart (a digest: no secret is kept in the cache key)."""
    secrets = [settings.api_key, settings.encryption_keys]
    parts = [
        str(settings.payload_store_path),
        str(settings.payload_store_threshold_bytes),
        str(settings.max_large_output_bytes),
        str(settings.uses_tls),
        str(settings.tls_ca_path),
        str(settings.tls_cert_path),
        str(settings.tls_key_path),
        str(settings.tls_server_name),
        *(secret.get_secret_value() if secret is not None else "" for secret in secrets),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


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
            # FLOV7_ENCRYPTION_KEYS: payloads leave this process encrypted (codec.py);
            # FLOV7_PAYLOAD_STORE_DIR: large ones go by reference (payload_storage.py).
            data_converter=data_converter(settings),
            interceptors=tracing_interceptors(),
        )
    except Exception as exc:  # the bridge raises a bare RuntimeError
        hint = tls_hint(str(exc), settings) if external else None
        raise TemporalConnectionError(
            f"Failed to connect to Temporal server at {address} "
            f"(namespace {settings.namespace}): {exc}. "
            + (hint or "Check TEMPORAL_HOST and that the server is running.")
        ) from exc


def tls_hint(error: str, settings: TemporalSettings) -> str | None:
    """What to do about a failed TLS connection, from the SDK's (rustls) error text.

    The bridge's messages name the TLS problem precisely but in Rust's words; this says
    which setting to change.
    """
    if "UnknownIssuer" in error or "BadSignature" in error:
        where = settings.tls_ca_path or "the system's trusted roots"
        return (
            f"The server's TLS certificate is not signed by a CA in {where}: set "
            "TEMPORAL_TLS_CA_PATH to the CA certificate that signed it."
        )
    if "Expired" in error or "NotValidYet" in error:
        return (
            "The server's TLS certificate has expired (or is not valid yet): renew the "
            "server's certificate (and check this machine's clock)."
        )
    if "NotValidForName" in error:
        return (
            "The server's TLS certificate is not valid for the name Flov7 connected to: "
            "set TEMPORAL_TLS_SERVER_NAME to a name the certificate holds."
        )
    if "InvalidContentType" in error or "CorruptMessage" in error:
        return (
            "The server does not speak TLS on this port: unset TEMPORAL_TLS and the "
            "TEMPORAL_TLS_* paths, or use the server's TLS port."
        )
    # With TLS 1.3 a server that wants a client certificate asks for it after the
    # handshake, so a missing or refused one shows up as the first call's connection
    # being closed (the exact words vary with timing).
    closed = ("close_notify", "CertificateRequired", "connection closed", "transport error")
    if settings.uses_tls and any(marker in error for marker in closed):
        if settings.tls_cert_path is None:
            return (
                "The server closed the TLS connection: it requires a client certificate "
                "(mTLS): set TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH."
            )
        return (
            "The server refused this client's TLS certificate: check that "
            "TEMPORAL_TLS_CERT_PATH is signed by a CA the server trusts."
        )
    if not settings.uses_tls and ("broken pipe" in error or "transport error" in error):
        return (
            "The connection broke at once: if the server expects TLS (Temporal Cloud, an "
            "mTLS frontend), set TEMPORAL_TLS=true (and TEMPORAL_TLS_CA_PATH / "
            "TEMPORAL_TLS_CERT_PATH as needed). Otherwise check that the server is running."
        )
    return None


def _tls_config(settings: TemporalSettings) -> bool | TLSConfig:
    if not settings.uses_tls:
        return False
    if (
        settings.tls_cert_path is None
        and settings.tls_ca_path is None
        and settings.tls_server_name is None
    ):
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
        domain=settings.tls_server_name,
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
