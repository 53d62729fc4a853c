"""Which data directory an embedded Temporal dev server belongs to.

The embedded server keeps its state in ``<FLOV7_DATA_DIR>/temporal.db``. A second
``flov7`` process finding a server already on ``FLOV7_DEVSERVER_PORT`` would
otherwise join it silently, even when it was started for another data directory (and
so another store, other stored workflows, other API keys). The owner records its
data directory in the namespace's ``data`` map, where Temporal keeps it with the
namespace; a joiner reads it back and compares.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio.api.namespace.v1 import UpdateNamespaceInfo
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client

from flov7.errors import ConfigError

__all__ = ["DATA_DIR_KEY", "check_data_dir", "claim_data_dir"]

DATA_DIR_KEY = "flov7-data-dir"
"""The namespace ``data`` entry that names the owning data directory."""

_RPC_TIMEOUT = timedelta(seconds=10)


async def claim_data_dir(client: Client, data_dir: Path) -> None:
    """Record ``data_dir`` as the owner of the server ``client`` talks to."""
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=client.namespace,
            update_info=UpdateNamespaceInfo(data={DATA_DIR_KEY: str(data_dir)}),
        ),
        timeout=_RPC_TIMEOUT,
    )


async def owner_data_dir(client: Client) -> str | None:
    """The data directory that owns the server, or None when no Flov7 claimed it."""
    response = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace), timeout=_RPC_TIMEOUT
    )
    return response.namespace_info.data.get(DATA_DIR_KEY) or None


async def check_data_dir(client: Client, data_dir: Path, target: str) -> None:
    """Raise :class:`~flov7.errors.ConfigError` when the running server belongs to
    another data directory than ``data_dir``."""
    owner = await owner_data_dir(client)
    if owner is not None and Path(owner) != data_dir:
        raise ConfigError(
            f"The embedded Temporal dev server on {target} belongs to the data directory "
            f"{owner} (another flov7 process started it), not to this one ({data_dir}). "
            "Run this flov7 with FLOV7_DATA_DIR set to that directory, stop the other "
            "one, or give this one its own server with FLOV7_DEVSERVER_PORT (and "
            "FLOV7_DEVSERVER_UI_PORT)."
        )
