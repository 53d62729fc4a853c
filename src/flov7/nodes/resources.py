"""Per-worker resources of the I/O nodes: one HTTP client, credentials, shared objects.

A worker (or the local runtime) opens one :class:`NodeResources` for its lifetime with
:func:`node_resources` and every activity gets it as ``context.resources``. It is built
from the node settings of the process's settings tree (``settings.nodes``): nothing here
reads the environment.
Sharing matters: one ``httpx.AsyncClient`` keeps a connection pool (no TCP/TLS
handshake per node), and the database node keeps one engine per database through
:meth:`NodeResources.shared` instead of one per run.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar, cast

import httpx

from flov7.config import Settings
from flov7.errors import NodeExecutionError
from flov7.nodes.base import ActivityContext
from flov7.nodes.credentials import CredentialStore
from flov7.nodes.http import build_http_client
from flov7.nodes.settings import NodeSettings
from flov7.security.approvals import ApprovalSigner

__all__ = ["NodeResources", "node_resources", "require_resources"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class NodeResources:
    """What I/O nodes share on one worker. Build it with :meth:`open`."""

    def __init__(
        self,
        settings: NodeSettings,
        http: httpx.AsyncClient,
        credentials: CredentialStore,
    ) -> None:
        self.settings = settings
        """The node settings (limits, databases, LLM endpoint...)."""
        self.http = http
        """The shared, SSRF-guarded, pooled HTTP client."""
        self.credentials = credentials
        """Named credentials: ``credentials.get(name, BearerCredential)``."""
        self.approvals: Callable[[], ApprovalSigner] | None = None
        """The signer of ``approval`` links, made on first use (set by
        :func:`node_resources`; the data dir's key file is only created when needed)."""
        self._shared: dict[str, Any] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: NodeSettings) -> AsyncIterator[NodeResources]:
        """Build the resources from node ``settings`` (``settings.nodes`` of the tree).

        Leaving the context closes the shared objects, newest first, then the client.
        """
        resources = cls(
            settings,
            build_http_client(
                settings.outbound_policy(), max_connections=settings.http_max_connections
            ),
            CredentialStore(settings.credentials, extra_secrets=settings.secret_values()),
        )
        try:
            yield resources
        finally:
            await resources.aclose()

    def shared(self, key: str, factory: Callable[[NodeResources], T]) -> T:
        """The object stored under ``key``, created by ``factory(self)`` on first use.

        One per worker (e.g. ``resources.shared("databases", DatabaseRegistry)``); closed
        at shutdown if it has an ``async aclose()``. ``factory`` must not await: two
        activities asking at once then still get the same object.
        """
        if key not in self._shared:
            self._shared[key] = factory(self)
        return cast(T, self._shared[key])

    def redact(self, text: str) -> str:
        """``text`` with every configured secret value replaced by ``***``."""
        return self.credentials.redact(text)

    def redact_value(self, value: Any) -> Any:
        """A JSON value with every configured secret value replaced by ``***``."""
        return self.credentials.redact_value(value)

    def redact_error(self, error: NodeExecutionError) -> NodeExecutionError:
        """A copy of ``error`` with secrets redacted from its message and details."""
        return NodeExecutionError(
            self.redact(error.message),
            error_type=error.error_type,
            retryable=error.retryable,
            details=self.redact_value(error.details),
            retry_after_seconds=error.retry_after_seconds,
        )

    @contextlib.contextmanager
    def redacting_errors(self) -> Iterator[None]:
        """Let no secret out through an exception raised in the block.

        A :class:`NodeExecutionError` is re-raised redacted; any other exception
        becomes a retryable one (as the activity wrapper would treat it), redacted too.
        Both are raised ``from None``: Temporal records an exception's ``__cause__``
        chain in the run's history, and a library's message there (an HTTP library
        quoting an illegal header value, say) could hold a secret.
        """
        try:
            yield
        except NodeExecutionError as exc:
            raise self.redact_error(exc) from None
        except Exception as exc:
            raise NodeExecutionError(
                self.redact(f"{type(exc).__name__}: {exc}"), error_type=type(exc).__name__
            ) from None

    async def aclose(self) -> None:
        """Close the shared objects (newest first), then the HTTP client."""
        for key, value in reversed(list(self._shared.items())):
            aclose = getattr(value, "aclose", None)
            if aclose is None:
                continue
            try:
                await aclose()
            except Exception:  # One failing close must not leak the others.
                log.exception("Closing the shared node resource %r failed", key)
        self._shared.clear()
        await self.http.aclose()


@contextlib.asynccontextmanager
async def node_resources(settings: Settings) -> AsyncIterator[NodeResources]:
    """Per-worker :class:`NodeResources` for I/O nodes, from ``settings.nodes``.

    The node settings (``FLOV7_OUTBOUND_ALLOWLIST``, credentials, ...) were read with the
    rest of the tree when the process started (:func:`flov7.config.load_settings`), so a
    bad one already stopped the start with a :class:`~flov7.errors.ConfigError` instead
    of failing nodes later. Used by Temporal workers and the local runtime alike.
    """
    async with NodeResources.open(settings.nodes) as resources:
        resources.approvals = functools.cache(settings.flov7.approval_signer)
        yield resources


def require_resources(context: ActivityContext, node_type: str) -> NodeResources:
    """``context.resources``, or a clear non-retryable error when the worker has none."""
    resources = context.resources
    if not isinstance(resources, NodeResources):
        raise NodeExecutionError(
            f"The {node_type} node needs the worker's node resources (HTTP client, "
            "credentials), but this worker was started without them: create it inside "
            "flov7.nodes.resources.node_resources() (or NodeResources.open())",
            error_type="WorkerMisconfigured",
            retryable=False,
        )
    return resources
