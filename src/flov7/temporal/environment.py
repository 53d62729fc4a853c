"""Everything a Flov7 process needs from Temporal, started in the right order.

- ``TEMPORAL_HOST`` set: connect to that server.
- unset: use the embedded dev server on ``FLOV7_DEVSERVER_PORT``; start it as a child
  process unless one (started by another ``flov7`` process) already answers there.
- optionally run a worker in this process, always or only when nobody else polls.

Leaving the context stops what it started, worker first, server last.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from enum import StrEnum

from temporalio.client import Client
from temporalio.worker import Worker

from flov7.config import Settings
from flov7.errors import TemporalConnectionError
from flov7.nodes.resources import node_resources
from flov7.store.workflow_source import StoreWorkflowSource
from flov7.temporal.client import get_temporal_client, live_pollers
from flov7.temporal.devserver import EmbeddedDevServer
from flov7.temporal.ownership import check_data_dir, claim_data_dir
from flov7.temporal.worker import create_worker

# node_resources lives in flov7.nodes.resources (the local runtime needs it without
# importing temporal/); re-exported here for existing callers.
__all__ = ["TemporalEnvironment", "WorkerMode", "node_resources", "temporal_environment"]

log = logging.getLogger(__name__)


class WorkerMode(StrEnum):
    """Whether this process runs a worker."""

    ALWAYS = "always"
    NEVER = "never"
    IF_NONE = "if-none"
    """Only when no other worker polls the task queue."""


@dataclass
class TemporalEnvironment:
    """A connected client, plus the server and worker this process started, if any."""

    client: Client
    target: str
    server: EmbeddedDevServer | None = None
    worker: Worker | None = None


@contextlib.asynccontextmanager
async def temporal_environment(
    settings: Settings,
    *,
    worker: WorkerMode = WorkerMode.NEVER,
    search_attributes: Iterable[tuple[str, str]] | None = None,
    same_data_dir: bool = False,
) -> AsyncIterator[TemporalEnvironment]:
    """Connect (starting the embedded server when needed) and maybe run a worker.

    ``search_attributes`` (``(name, type)`` pairs; default: Flov7's) are registered on
    the embedded server when this call starts it; an external cluster needs
    ``flov7 setup-search-attributes``. An embedded server this call starts is claimed
    for ``FLOV7_DATA_DIR``; with ``same_data_dir`` (``flov7 serve``), joining one that
    another data directory claimed is refused with a
    :class:`~flov7.errors.ConfigError`.
    """
    async with contextlib.AsyncExitStack() as stack:
        server: EmbeddedDevServer | None = None
        target = settings.temporal.host
        if target is None:
            target = f"127.0.0.1:{settings.flov7.devserver_port}"
            try:
                client = await get_temporal_client(settings.temporal, target=target)
                log.info("Using the Temporal dev server already running at %s", target)
                if same_data_dir:
                    await check_data_dir(client, settings.flov7.data_dir, target)
            except TemporalConnectionError:
                server = EmbeddedDevServer.from_settings(
                    settings, search_attributes=search_attributes
                )
                await stack.enter_async_context(server)
                log.info(
                    "Started the embedded Temporal dev server at %s (UI: %s, data: %s)",
                    server.target,
                    server.ui_url or "off",
                    server.db_path,
                )
                client = await get_temporal_client(settings.temporal, target=target)
                await claim_data_dir(client, settings.flov7.data_dir)
        else:
            client = await get_temporal_client(settings.temporal)
        environment = TemporalEnvironment(client=client, target=target, server=server)
        if worker == WorkerMode.ALWAYS or (
            worker == WorkerMode.IF_NONE
            and (
                server is not None
                or not await live_pollers(
                    client, settings.temporal.task_queue, settings.flov7.worker_liveness_seconds
                )
            )
        ):
            resources = await stack.enter_async_context(node_resources(settings))
            # workflow nodes read stored workflows; the store opens on first use only.
            source = StoreWorkflowSource(settings.flov7.resolved_database_url)
            stack.push_async_callback(source.aclose)
            environment.worker = create_worker(
                client, settings.temporal, resources=resources, workflow_source=source
            )
            await stack.enter_async_context(environment.worker)
            log.info("Worker polling task queue '%s'", settings.temporal.task_queue)
        yield environment
